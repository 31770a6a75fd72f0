"""The bank side of Moneybird: financial statements, the mutation filters, link_booking and
unlink_booking, judged by what the sandbox Moneybird holds afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connector.errors import AuthError
from connector.moneybird import bank
from connector.moneybird.bank import BankLine, mutation_of
from connector.moneybird.client import Ambiguous, MoneybirdClient, NotFound, Rejected
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from connector.sandbox.seed import FIN_BANK, FIN_MOLLIE, LEDGER_FEES, LEDGER_HIGH, MB_RATE_21

NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
KRUISPOSTEN = "410000000000002300"


@pytest.fixture
def client(moneybird: MoneybirdSandbox) -> Iterator[MoneybirdClient]:
    mb = MoneybirdClient(
        moneybird.api_url, moneybird.administration_id, moneybird.token, sleep=lambda _s: None
    )
    yield mb
    mb.close()


def settlement(client: MoneybirdClient, reference: str = "1234567.2611.01") -> list[str]:
    """A Mollie settlement's parts on the Mollie account: a payment, a refund and a fee."""
    answer = client.create_financial_statement(
        FIN_MOLLIE,
        reference,
        date(2026, 11, 3),
        [
            BankLine(date(2026, 11, 2), Decimal("50.00"), "WC-1001", "A. de Vries", "tr_A1"),
            BankLine(date(2026, 11, 2), Decimal("-12.10"), "Refund WC-998", "B. Jansen", "re_B2"),
            BankLine(date(2026, 11, 3), Decimal("-0.29"), "Fees", "Mollie", "fee_C3", reference),
        ],
    )
    return [m.id for m in bank.statement_mutations(answer)]


def open_invoice(client: MoneybirdClient, moneybird: MoneybirdSandbox, total: str) -> str:
    """A finalized sales invoice of `total` incl. VAT, unpaid."""
    contact = moneybird.add_contact(firstname="Anna", lastname="de Vries")
    invoice = client.create_invoice({"sales_invoice": {
        "contact_id": contact["id"], "reference": f"WC-{total}", "invoice_date": "2026-11-01",
        "currency": "EUR", "prices_are_incl_tax": True,
        "details_attributes": [{"description": "Koffie", "amount": "1", "price": total,
                                "tax_rate_id": MB_RATE_21, "ledger_account_id": LEDGER_HIGH}]}})  # fmt: skip
    client.send_invoice(invoice["id"], "Manual")
    return str(invoice["id"])


def test_a_statement_of_three_mutations_reads_back_through_each_filter(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    ids = settlement(client)
    assert len(ids) == 3 and len(set(ids)) == 3
    held = moneybird.financial_mutations
    assert [held[i]["amount"] for i in ids] == ["50.00", "-12.10", "-0.29"]
    assert [held[i]["account_servicer_transaction_id"] for i in ids] == ["tr_A1", "re_B2", "fee_C3"]
    assert held[ids[2]]["batch_reference"] == "1234567.2611.01"
    assert held[ids[1]]["contra_account_name"] == "B. Jansen"

    def found(**terms: Any) -> list[str]:
        return [str(row["id"]) for row in client.financial_mutations(terms)]

    mollie = {"period": NOVEMBER, "financial_account_id": FIN_MOLLIE}
    assert found(**mollie, state="unprocessed") == ids
    assert found(**mollie, state="processed") == []
    assert found(**mollie, mutation_type="credit") == [ids[0]]
    assert found(**mollie, mutation_type="debit") == ids[1:]
    # Bounds on the absolute amount: the refund of 12.10 only.
    assert found(**mollie, amount_from=Decimal("12.00"), amount_to=Decimal("13.00")) == [ids[1]]
    assert found(**mollie, amount_from=Decimal("-0.29"), amount_to=Decimal("50")) == ids
    assert found(
        period=(date(2026, 11, 3), date(2026, 11, 3)), financial_account_id=FIN_MOLLIE
    ) == [ids[2]]
    assert found(period=NOVEMBER, financial_account_id=FIN_BANK) == []
    refund = mutation_of(client.financial_mutation(ids[1]))
    assert refund.amount == Decimal("-12.10") and refund.amount_open == Decimal("-12.10")
    assert refund.account_servicer_transaction_id == "re_B2" and not refund.processed
    assert refund.financial_account_id == FIN_MOLLIE and refund.date == date(2026, 11, 2)


def test_a_second_statement_under_the_same_reference_is_refused_and_adds_nothing(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    settlement(client)
    with pytest.raises(Rejected, match="reference has already been taken"):
        settlement(client)
    assert len(moneybird.financial_mutations) == 3
    assert len(moneybird.financial_statements) == 1
    # Unique per financial account: the bank account may use the same number.
    client.create_financial_statement(
        FIN_BANK,
        "1234567.2611.01",
        date(2026, 11, 3),
        [BankLine(date(2026, 11, 3), Decimal(1), "x")],
    )
    assert len(moneybird.financial_mutations) == 4


@pytest.mark.parametrize("answer", ["mutation", "integer"])
def test_link_booking_pays_the_invoice_whichever_answer_moneybird_gives(
    client: MoneybirdClient, moneybird: MoneybirdSandbox, answer: str
) -> None:
    moneybird.link_booking_answer = answer
    payment, _refund, fee = settlement(client)
    invoice_id = open_invoice(client, moneybird, "50.00")
    linked = client.link_booking(payment, "SalesInvoice", invoice_id, Decimal("50.00"))
    if answer == "integer":  # before 2026-10-13: no mutation in the answer, only its id known
        assert linked == payment
    else:
        assert isinstance(linked, dict) and mutation_of(linked).processed
    invoice = moneybird.invoices[invoice_id]
    assert invoice["state"] == "paid" and invoice["total_unpaid"] == "0.00"
    assert invoice["payments"][0]["financial_mutation_id"] == payment
    assert invoice["payments"][0]["financial_account_id"] == FIN_MOLLIE
    assert moneybird.financial_mutations[payment]["state"] == "processed"
    # A fee of 0.29 going out, booked as a cost: positive, with the mutation.
    client.link_booking(fee, "LedgerAccount", LEDGER_FEES, Decimal("0.29"), description="Fees")
    held = moneybird.financial_mutations[fee]
    assert held["state"] == "processed" and held["amount_open"] == "0.00"
    assert held["ledger_account_bookings"][0]["price"] == "-0.29"


def test_a_ledger_booking_against_the_mutation_takes_a_negative_amount(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    # Moneybird's own example: -95 out is 100 of costs and 5 received back.
    answer = client.create_financial_statement(
        FIN_BANK, "2026-11", date(2026, 11, 30), [BankLine(date(2026, 11, 5), Decimal(-95), "x")]
    )
    (mutation,) = bank.statement_mutations(answer)
    half = client.link_booking(mutation.id, "LedgerAccount", LEDGER_FEES, Decimal(100))
    assert isinstance(half, dict) and mutation_of(half).amount_open == Decimal(5)
    done = client.link_booking(mutation.id, "LedgerAccount", LEDGER_HIGH, Decimal(-5))
    assert isinstance(done, dict) and mutation_of(done).processed


def test_unlinking_undoes_each_kind_of_link(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    payment, _refund, fee = settlement(client)
    invoice_id = open_invoice(client, moneybird, "50.00")
    linked = client.link_booking(payment, "SalesInvoice", invoice_id, Decimal("50.00"))
    assert isinstance(linked, dict)
    made = mutation_of(linked).payment_ids[0]
    after = client.unlink_booking(payment, "Payment", made)
    assert after is not None and mutation_of(after).amount_open == Decimal("50.00")
    assert not mutation_of(after).processed
    # The payment the link made is gone from the invoice again.
    invoice = moneybird.invoices[invoice_id]
    assert invoice["state"] == "open" and invoice["payments"] == []
    booked = client.link_booking(fee, "LedgerAccount", LEDGER_FEES, Decimal("0.29"))
    assert isinstance(booked, dict)
    booking = mutation_of(booked).ledger_booking_ids[0]
    with pytest.raises(NotFound):  # the ledger's id is not the booking's
        client.unlink_booking(fee, "LedgerAccountBooking", LEDGER_FEES)
    after = client.unlink_booking(fee, "LedgerAccountBooking", booking)
    assert after is not None and mutation_of(after).amount_open == Decimal("-0.29")
    assert moneybird.financial_mutations[fee]["ledger_account_bookings"] == []


def test_a_payment_registered_on_the_invoice_is_linked_and_unlinked_as_it_is(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    payment, _refund, _fee = settlement(client)
    invoice_id = open_invoice(client, moneybird, "50.00")
    registered = client.create_payment(invoice_id, {
        "payment_date": "2026-11-01", "price": "50.00", "financial_account_id": FIN_MOLLIE,
        "transaction_identifier": "tr_A1"})  # fmt: skip
    linked = client.link_booking(payment, "Payment", str(registered["id"]), None)
    assert isinstance(linked, dict) and mutation_of(linked).processed
    assert mutation_of(linked).payment_ids == (str(registered["id"]),)
    with pytest.raises(Rejected, match="already linked"):  # a payment links once
        client.link_booking(payment, "Payment", str(registered["id"]), None)
    client.unlink_booking(payment, "Payment", str(registered["id"]))
    invoice = moneybird.invoices[invoice_id]
    assert invoice["state"] == "paid" and len(invoice["payments"]) == 1
    assert invoice["payments"][0]["financial_mutation_id"] is None


def test_a_refund_links_to_its_credit_invoice_with_a_positive_amount(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    _payment, refund, _fee = settlement(client)
    original = open_invoice(client, moneybird, "12.10")
    client.create_payment(original, {"payment_date": "2026-11-01", "price": "12.10"})
    credit = client.duplicate_credit_invoice(original)
    client.send_invoice(credit["id"], "Manual")
    client.link_booking(refund, "SalesInvoice", str(credit["id"]), Decimal("12.10"))
    held = moneybird.invoices[str(credit["id"])]
    assert held["state"] == "paid" and held["payments"][0]["price"] == "-12.10"
    assert moneybird.financial_mutations[refund]["state"] == "processed"


def test_the_list_answers_at_most_100_and_synchronization_reads_the_rest(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    lines = [
        BankLine(
            date(2026, 11, 1 + n % 28),
            Decimal(n + 1),
            f"line {n}",
            account_servicer_transaction_id=f"t{n}",
        )
        for n in range(130)
    ]
    client.create_financial_statement(FIN_MOLLIE, "big", date(2026, 11, 30), lines)
    terms: dict[str, bank.FilterValue] = {"period": NOVEMBER, "financial_account_id": FIN_MOLLIE}
    assert len(client.financial_mutations(terms)) == 100
    moneybird.received.clear()
    every = client.every_financial_mutation(terms)
    assert sorted(Decimal(m["amount"]) for m in every) == [Decimal(n) for n in range(1, 131)]
    # One list, one synchronization of the ids, two fetches of at most 100.
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _q, _b in moneybird.received] == [
        ("GET", "financial_mutations.json"),
        ("GET", "synchronization.json"),
        ("POST", "synchronization.json"),
        ("POST", "synchronization.json"),
    ]
    # The amount bounds the synchronization endpoint lacks still hold.
    bounded = client.every_financial_mutation(
        {**terms, "amount_from": Decimal(1), "amount_to": Decimal(120)}
    )
    assert len(bounded) == 120


def test_the_banks_own_line_is_found_among_the_unprocessed_credits(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    line = moneybird.add_bank_line(
        FIN_BANK, date(2026, 11, 6), "37.61", "MOLLIE B.V. 1234567.2611.01"
    )
    moneybird.add_bank_line(FIN_BANK, date(2026, 11, 6), "-37.61", "a payment out")
    found = client.financial_mutations({
        "period": (date(2026, 11, 4), date(2026, 11, 8)), "state": "unprocessed",
        "mutation_type": "credit", "financial_account_id": FIN_BANK,
        "amount_from": Decimal("37.61"), "amount_to": Decimal("37.61")})  # fmt: skip
    assert [row["id"] for row in found] == [line["id"]]
    assert "1234567.2611.01" in mutation_of(found[0]).message


def test_kruisposten_take_financial_mutations_but_no_payment(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    moneybird.ledger_accounts.append({
        "id": KRUISPOSTEN, "administration_id": int(moneybird.administration_id),
        "name": "Kruisposten", "account_type": "current_assets", "account_id": "2300",
        "parent_id": None,
        "allowed_document_types": ["financial_mutation", "general_journal_document"],
    })  # fmt: skip
    invoice_id = open_invoice(client, moneybird, "50.00")
    with pytest.raises(Rejected, match="ledger_account_id"):
        client.create_payment(invoice_id, {
            "payment_date": "2026-11-01", "price": "50.00", "ledger_account_id": KRUISPOSTEN,
            "manual_payment_action": "balance_settlement"})  # fmt: skip
    assert moneybird.invoices[invoice_id]["payments"] == []
    payment, _refund, _fee = settlement(client)
    linked = client.link_booking(payment, "LedgerAccount", KRUISPOSTEN, Decimal("50.00"))
    assert isinstance(linked, dict) and mutation_of(linked).processed


def test_the_filter_names_its_period_and_only_terms_moneybird_knows() -> None:
    text = bank.filter_text({
        "state": ["unprocessed", "processed"], "period": NOVEMBER,
        "financial_account_id": FIN_BANK, "amount_from": Decimal("-37.6")})  # fmt: skip
    assert text == (
        f"period:20261101..20261130,state:unprocessed|processed,financial_account_id:{FIN_BANK},"
        "amount_from:37.60"
    )
    with pytest.raises(ValueError, match="period"):
        bank.filter_text({"state": "unprocessed"})
    with pytest.raises(ValueError, match="message"):
        bank.filter_text({"period": "this_year", "message": "x"})
    with pytest.raises(ValueError, match="state"):
        bank.filter_text({"period": "this_year", "state": "a,b"})


def test_link_bodies_carry_the_amount_where_each_booking_type_reads_it() -> None:
    assert bank.link_body("LedgerAccount", "7", Decimal("-5")) == {
        "booking_type": "LedgerAccount", "booking_id": "7", "price_base": "-5.00"}  # fmt: skip
    assert bank.link_body("SalesInvoice", "8", Decimal("12.1"), description="r") == {
        "booking_type": "SalesInvoice", "booking_id": "8", "price": "12.10",
        "price_base": "12.10", "description": "r"}  # fmt: skip
    assert bank.link_body("Payment", "9", None) == {"booking_type": "Payment", "booking_id": "9"}
    with pytest.raises(ValueError, match="positive"):
        bank.link_body("ExternalSalesInvoice", "8", Decimal("-1"))
    assert bank.link_answer(200, "5") == "5"
    assert bank.link_answer({"id": "5", "state": "processed"}, "5") == {
        "id": "5",
        "state": "processed",
    }


def test_a_token_without_the_bank_scope_is_told_to_have_it() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "Token is invalid or expired"})

    mb = MoneybirdClient(
        "https://moneybird.test/api/v2", "123", "t", transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(AuthError, match=r"scopes \(sales_invoices, settings, bank\)"):
        mb.financial_mutations({"period": NOVEMBER})
    with pytest.raises(AuthError, match=r"scopes \(sales_invoices, settings\)"):
        mb.tax_rates()


def test_a_statement_whose_answer_was_lost_is_found_by_its_transaction_ids(
    client: MoneybirdClient, moneybird: MoneybirdSandbox
) -> None:
    moneybird.faults.append(Fault("POST", r"financial_statements", "after_drop"))
    with pytest.raises(Ambiguous):
        settlement(client)
    with pytest.raises(Rejected, match="already been taken"):  # it did land: never twice
        settlement(client)
    landed = client.every_financial_mutation(
        {"period": NOVEMBER, "financial_account_id": FIN_MOLLIE}
    )
    assert sorted(mutation_of(m).account_servicer_transaction_id or "" for m in landed) == [
        "fee_C3",
        "re_B2",
        "tr_A1",
    ]
    assert len(moneybird.financial_mutations) == 3
