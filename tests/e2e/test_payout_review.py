"""The payout flow's faults a review found, each kept from coming back: judged by what landed in
the sandbox Moneybird (movements, their links, the invoices' payments) and by what the payout's
record tells a person to do."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connector.errors import Interrupted
from connector.moneybird.client import MoneybirdClient, Rejected
from connector.payouts.records import PartKind, Payout, PayoutPart, check_payout
from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import FIN_BANK, FIN_MOLLIE
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import PayoutState
from tests.e2e import test_payout_flow as payout_flow
from tests.e2e.test_payout_flow import (
    FEES_PAYABLE,
    TRANSFER,
    Provider,
    flow,
    ledgers,
    mutations,
    settlement,
    setup,
    statement_of,
    writes,
)

booked = payout_flow.booked  # the fixture: the seeded orders booked, the payout ledgers made

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


@pytest.fixture
def bank_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bank line brought in is looked for at the next pass, not 12 hours later."""
    monkeypatch.setattr("connector.sync.payouts.BANK_POLL", timedelta(0))


def payout(
    sid: str,
    parts: list[PayoutPart],
    paid_out: datetime | None = None,
    reference: str | None = None,
) -> Payout:
    net = sum((p.net for p in parts), Decimal(0))
    when = paid_out or NOW - timedelta(hours=1)
    return check_payout(
        Payout("mollie", sid, reference or f"{sid.upper()}.REF", "EUR", when, net, tuple(parts))
    )


def pay(tr: str, amount: str, order: str, when: datetime | None = None) -> PayoutPart:
    return PayoutPart(
        PartKind.PAYMENT, tr, Decimal(amount), when or NOW - timedelta(days=2),
        order_reference=order, payment_id=tr,
    )  # fmt: skip


def refund(re: str, amount: str, tr: str) -> PayoutPart:
    return PayoutPart(PartKind.REFUND, re, -Decimal(amount), NOW - timedelta(days=1), payment_id=tr)


def fee(sid: str, amount: str) -> PayoutPart:
    fees = Decimal(amount)
    return PayoutPart(
        PartKind.FEE, f"{sid}.fees.202612", Decimal(0), NOW - timedelta(hours=2), fee=fees,
        fee_vat=(fees * 21 / 121).quantize(Decimal("0.01")), description="fees",
    )  # fmt: skip


def amounts(mb: MoneybirdSandbox, account: str) -> list[Decimal]:
    return sorted(Decimal(m["amount"]) for m in mutations(mb, account))


def transfer_balance(mb: MoneybirdSandbox) -> Decimal:
    return sum(
        (
            Decimal(b["price"])
            for m in mb.financial_mutations.values()
            for b in m["ledger_account_bookings"]
            if b["ledger_account_id"] == TRANSFER
        ),
        Decimal(0),
    )


def ledgers_of(mutation: dict[str, Any]) -> list[str]:
    return [b["ledger_account_id"] for b in mutation["ledger_account_bookings"]]


def invoice_of(mb: MoneybirdSandbox, number: str) -> dict[str, Any]:
    [invoice] = [i for i in mb.invoices.values() if i["reference"].endswith(number)]
    return invoice


def link_patches(mb: MoneybirdSandbox, mutation_id: str | None = None) -> int:
    return sum(
        1
        for method, path, *_ in mb.received
        if method == "PATCH"
        and path.endswith("/link_booking.json")
        and (mutation_id is None or f"/financial_mutations/{mutation_id}/" in path)
    )


def bank_searches(mb: MoneybirdSandbox) -> int:
    """Reads of the bank account's lines (where a payout's bank line is sought)."""
    return sum(
        1
        for method, path, query, _ in mb.received
        if method == "GET"
        and path.endswith("/financial_mutations.json")
        and f"financial_account_id:{FIN_BANK}" in str(query)
    )


def the_record(runtime: Runtime, sid: str) -> Any:
    record = runtime.store.payout(f"mollie:{sid}")
    assert record is not None
    return record


# --- review 01 --------------------------------------------------------------------------------


def test_two_refunds_of_one_amount_paid_out_in_one_pass_each_link_their_own_credit(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """Fault: two refunds of one amount in two payouts of a pass both took the same credit."""
    ledgers(moneybird)
    shop.refund(1001, "10.00", when=NOW - timedelta(days=1, hours=2), refunded_payment=True)
    shop.refund(1001, "10.00", when=NOW - timedelta(days=1, hours=1), refunded_payment=True)
    runtime.engine().run_pass()
    refunds = runtime.store.refunds()
    assert len(refunds) == 2 and all(r.state == "paid" and r.payment_id for r in refunds)
    first = payout(
        "stl_a", [pay("tr_3kQ9aZ", "68.04", "1003"), refund("re_a", "10.00", "tr_7UhSN1zuXS")]
    )
    second = payout(
        "stl_b",
        [pay("tr_7UhSN1zuXS", "66.84", "1001"), refund("re_b", "10.00", "tr_7UhSN1zuXS")],
        paid_out=NOW - timedelta(minutes=30),
    )
    flow(runtime, Provider([first, second])).book(setup())
    assert the_record(runtime, "stl_a").state == PayoutState.LINKED
    assert the_record(runtime, "stl_b").state == PayoutState.LINKED
    # 68.04 - 10.00 = 58.04 and 66.84 - 10.00 = 56.84 paid out
    assert amounts(moneybird, FIN_MOLLIE) == sorted(
        Decimal(x) for x in ("68.04", "-10.00", "-58.04", "66.84", "-10.00", "-56.84")
    )
    movements = {m["id"] for m in mutations(moneybird, FIN_MOLLIE) if m["amount"] == "-10.00"}
    # Each credit invoice's payment is linked to a refund movement of its own.
    linked_to = []
    for r in refunds:
        credit = moneybird.invoices[str(r.invoice_id)]
        assert [p["id"] for p in credit["payments"]] == [r.payment_id]
        linked_to.append(credit["payments"][0]["financial_mutation_id"])
    assert sorted(linked_to) == sorted(movements) and len(movements) == 2
    assert all(m["state"] == "processed" for m in mutations(moneybird, FIN_MOLLIE))


# --- review 02 --------------------------------------------------------------------------------


def test_a_refused_part_link_made_by_hand_lets_the_payout_carry_on_after_retry(
    booked: Runtime,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault: a refused link made by hand as told was sent again on retry and stuck for ever."""
    order = booked.store.order("woocommerce:1001")
    assert order is not None and order.payment_id
    payment_id = order.payment_id
    real = MoneybirdClient.link_booking

    def refusing(self: MoneybirdClient, mutation_id: str, kind: str, bid: str, *a: Any) -> Any:
        if bid == payment_id:
            raise Rejected("Moneybird refused it (422): the period is closed")
        return real(self, mutation_id, kind, bid, *a)

    monkeypatch.setattr(MoneybirdClient, "link_booking", refusing)
    provider = Provider([settlement(shop, {1001: "tr_7UhSN1zuXS"}, "0.70", "stl_by_hand")])
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_by_hand")
    assert record.state == PayoutState.PARKED
    assert "link it by hand in Moneybird, then `connector retry stl_by_hand`" in record.reason
    monkeypatch.setattr(MoneybirdClient, "link_booking", real)
    # The person links the 66.84 movement to 1001's payment by hand, then retries.
    [movement] = [m for m in mutations(moneybird, FIN_MOLLIE) if m["amount"] == "66.84"]
    assert movement["payments"] == []
    booked.client.link_booking(movement["id"], "Payment", payment_id, None)
    before = link_patches(moneybird, movement["id"])
    assert booked.store.requeue_payouts("stl_by_hand")
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_by_hand")
    assert record.state == PayoutState.LINKED, record.reason
    assert link_patches(moneybird, movement["id"]) == before  # not sent again
    linked = moneybird.financial_mutations[movement["id"]]
    assert [p["id"] for p in linked["payments"]] == [payment_id]
    assert all(m["state"] == "processed" for m in mutations(moneybird, FIN_MOLLIE))


# --- review 03 --------------------------------------------------------------------------------


def test_two_bank_lines_with_the_reference_park_the_payout_and_the_one_linked_by_hand_closes_it(
    booked: Runtime, moneybird: MoneybirdSandbox, bank_every_pass: None
) -> None:
    """Fault: after the person linked one of two bank lines, the other was linked too."""
    provider = Provider([payout("stl_two", [pay("tr_7UhSN1zuXS", "66.84", "1001"),
                                            fee("stl_two", "0.70")])])  # fmt: skip
    first = moneybird.add_bank_line(FIN_BANK, TODAY, "66.14", "MOLLIE STL_TWO.REF")
    second = moneybird.add_bank_line(FIN_BANK, TODAY, "66.14", "MOLLIE STL_TWO.REF")
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_two")
    assert record.state == PayoutState.PARKED
    assert first["id"] in record.reason and second["id"] in record.reason
    assert "`connector retry stl_two`" in record.reason
    assert ledgers_of(moneybird.financial_mutations[first["id"]]) == []  # never guessed
    assert ledgers_of(moneybird.financial_mutations[second["id"]]) == []
    # The person links the first line to the transfer ledger by hand, then retries.
    booked.client.link_booking(first["id"], "LedgerAccount", TRANSFER, None, Decimal("66.14"))
    booked.store.requeue_payouts("stl_two")
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_two")
    assert record.state == PayoutState.DONE, record.reason
    assert record.bank_mutation_id == first["id"]
    other = moneybird.financial_mutations[second["id"]]
    assert other["state"] == "unprocessed" and ledgers_of(other) == []
    assert transfer_balance(moneybird) == Decimal("0.00")  # 66.14 in, 66.14 out once


# --- review 04 --------------------------------------------------------------------------------


def test_a_refused_bank_link_is_tried_once_and_the_line_linked_by_hand_closes_the_payout(
    booked: Runtime,
    moneybird: MoneybirdSandbox,
    monkeypatch: pytest.MonkeyPatch,
    bank_every_pass: None,
) -> None:
    """Fault: a refused bank link was sent every pass, and the hand-made link never seen."""
    provider = Provider([payout("stl_rf", [pay("tr_7UhSN1zuXS", "66.84", "1001"),
                                           fee("stl_rf", "0.70")])])  # fmt: skip
    flow(booked, provider).book(setup())
    assert the_record(booked, "stl_rf").state == PayoutState.LINKED  # waits for its bank line
    line = moneybird.add_bank_line(FIN_BANK, TODAY, "66.14", "MOLLIE STL_RF.REF")
    real = MoneybirdClient.link_booking
    refused: list[str] = []

    def refusing(self: MoneybirdClient, mutation_id: str, *a: Any) -> Any:
        if mutation_id == line["id"]:
            refused.append(mutation_id)
            raise Rejected("Moneybird refused it (422): the period is closed")
        return real(self, mutation_id, *a)

    monkeypatch.setattr(MoneybirdClient, "link_booking", refusing)
    flow(booked, provider).book(setup())
    flow(booked, provider).book(setup())
    assert refused == [line["id"]]  # refused once, not sent again every pass
    record = the_record(booked, "stl_rf")
    assert record.state == PayoutState.PARKED
    assert "link it to the transfer ledger by hand, then `connector retry stl_rf`" in record.reason
    monkeypatch.setattr(MoneybirdClient, "link_booking", real)
    # The person does as told.
    booked.client.link_booking(line["id"], "LedgerAccount", TRANSFER, None, Decimal("66.14"))
    booked.store.requeue_payouts("stl_rf")
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_rf")
    assert record.state == PayoutState.DONE, record.reason
    assert record.bank_mutation_id == line["id"]
    assert ledgers_of(moneybird.financial_mutations[line["id"]]) == [TRANSFER]  # once
    assert transfer_balance(moneybird) == Decimal("0.00")


# --- review 05 --------------------------------------------------------------------------------


def test_a_feed_with_the_payment_id_only_in_the_message_is_linked_not_imported_again(
    booked: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Fault: a feed naming Mollie's ids only in the message was imported a second time."""
    order = booked.store.order("woocommerce:1001")
    assert order is not None
    p = payout("stl_msg", [pay("tr_7UhSN1zuXS", "66.84", "1001"), fee("stl_msg", "0.70")])
    for text, amount in (
        ("Betaling tr_7UhSN1zuXS Order 1001", "66.84"),
        ("Mollie kosten stl_msg", "-0.70"),
        ("Uitbetaling stl_msg STL_MSG.REF", "-66.14"),
    ):
        moneybird.add_bank_line(FIN_MOLLIE, TODAY, amount, text)
    flow(booked, Provider([p])).book(setup())
    assert amounts(moneybird, FIN_MOLLIE) == [Decimal("-66.14"), Decimal("-0.70"),
                                              Decimal("66.84")]  # fmt: skip
    record = the_record(booked, "stl_msg")
    assert record.state == PayoutState.LINKED, record.reason
    [payment] = [m for m in mutations(moneybird, FIN_MOLLIE) if m["amount"] == "66.84"]
    assert [p["id"] for p in payment["payments"]] == [order.payment_id]
    assert "by hand" in (record.notes or "")  # the feed's own fee and payout lines


def test_a_feed_with_mollies_own_ids_is_linked_not_parked_as_partial(
    booked: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Fault: a feed whose fee line has Mollie's own id parked it, told to delete the feed."""
    order = booked.store.order("woocommerce:1001")
    assert order is not None
    p = payout("stl_fd", [pay("tr_7UhSN1zuXS", "66.84", "1001"), fee("stl_fd", "0.70")])
    for ident, amount in (
        ("tr_7UhSN1zuXS", "66.84"),
        ("mollie_invoice_2612", "-0.70"),
        ("stl_fd", "-66.14"),
    ):
        line = moneybird.add_bank_line(FIN_MOLLIE, TODAY, amount, f"Mollie {ident}")
        moneybird.financial_mutations[line["id"]]["account_servicer_transaction_id"] = ident
    flow(booked, Provider([p])).book(setup())
    record = the_record(booked, "stl_fd")
    assert record.state == PayoutState.LINKED, record.reason
    assert "delete" not in (record.reason or "") + (record.notes or "")
    assert len(mutations(moneybird, FIN_MOLLIE)) == 3  # nothing imported beside the feed
    [payment] = [m for m in mutations(moneybird, FIN_MOLLIE) if m["amount"] == "66.84"]
    assert [p["id"] for p in payment["payments"]] == [order.payment_id]
    assert "by hand" in (record.notes or "")


# --- review 08 --------------------------------------------------------------------------------


def test_a_payout_waiting_a_week_for_no_order_here_is_parked_and_frees_the_read_window(
    booked: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Fault: a payment of no order here kept its payout waiting for ever, pinning `since`."""
    old = payout(
        "stl_old",
        [pay("tr_7UhSN1zuXS", "66.84", "1001"), pay("tr_otherShop1", "25.00", "88001"),
         fee("stl_old", "0.70")],
        paid_out=NOW - timedelta(days=20),
    )  # fmt: skip
    new = payout("stl_new", [pay("tr_3kQ9aZ", "68.04", "1003"), fee("stl_new", "0.35")])
    provider = Provider([old, new])
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_old")
    assert record.state == PayoutState.WAITING
    assert "tr_otherShop1 (order 88001)" in record.reason
    flow(booked, provider).book(setup())
    assert provider.asked[-1] == old.paid_out  # a waiting payout is read again
    record.first_seen = (NOW - timedelta(days=7, hours=1)).isoformat()  # a week has passed
    booked.store.save(record)
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_old")
    assert record.state == PayoutState.PARKED
    assert "order 88001" in record.reason and "book this payout by hand" in record.reason
    assert "`connector retry stl_old`" in record.reason
    flow(booked, provider).book(setup())
    assert provider.asked[-1] == new.paid_out  # no longer read back to stl_old
    assert not any(
        s["reference"] == "mollie stl_old" for s in moneybird.financial_statements.values()
    )
    assert the_record(booked, "stl_new").state == PayoutState.LINKED


# --- review 09 --------------------------------------------------------------------------------


def test_another_shops_payment_naming_an_order_number_here_is_not_linked_to_its_payment(
    booked: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Fault: an organization's other shop's payment took this shop's order 1003 by number."""
    order = booked.store.order("woocommerce:1003")
    assert order is not None and order.payment_id
    foreign = payout(
        "stl_f", [pay("tr_OTHERPROFILE", "68.04", "1003"), fee("stl_f", "0.35")],
        paid_out=NOW - timedelta(hours=3),
    )  # fmt: skip
    flow(booked, Provider([foreign])).book(setup())
    record = the_record(booked, "stl_f")
    assert record.state == PayoutState.WAITING
    assert "tr_OTHERPROFILE" in record.reason
    assert mutations(moneybird, FIN_MOLLIE) == []
    [payment] = invoice_of(moneybird, "1003")["payments"]
    assert payment["id"] == order.payment_id and not payment.get("financial_mutation_id")


# --- review 10 --------------------------------------------------------------------------------


@pytest.mark.parametrize("paid", ["in several payments", "settled otherwise"])
def test_a_payout_parked_before_anything_is_posted_says_what_to_do_not_to_link_a_movement(
    booked: Runtime, moneybird: MoneybirdSandbox, paid: str
) -> None:
    """Fault: a payout parked before posting told the person to link a movement not there."""
    order = booked.store.order("woocommerce:1001")
    assert order is not None
    if paid == "in several payments":
        order.payment_id = f"{order.payment_id},490000000000099999"
    else:  # Moneybird shows the invoice paid by something else
        order.payment_id = "settled"
    booked.store.save(order)
    p = payout(
        "stl_pk",
        [pay("tr_7UhSN1zuXS", "66.84", "1001"), pay("tr_3kQ9aZ", "68.04", "1003"),
         fee("stl_pk", "0.70")],
    )  # fmt: skip
    before = writes(moneybird)
    flow(booked, Provider([p])).book(setup())
    record = the_record(booked, "stl_pk")
    assert record.state == PayoutState.PARKED
    assert writes(moneybird) == before and mutations(moneybird, FIN_MOLLIE) == []
    assert "movement" not in record.reason
    assert "order 1001" in record.reason
    assert "book this payout by hand in Moneybird" in record.reason
    assert "`connector retry stl_pk`" in record.reason
    if paid == "settled otherwise":
        assert "several payments" not in record.reason


# --- review 11 --------------------------------------------------------------------------------


def test_the_bank_account_is_searched_once_a_pass_for_all_payouts_waiting(
    booked: Runtime, moneybird: MoneybirdSandbox, bank_every_pass: None
) -> None:
    """Fault: a new payout's bank line was sought twice a pass, and once per waiting payout."""
    one = payout("stl_r1", [pay("tr_7UhSN1zuXS", "66.84", "1001"), fee("stl_r1", "0.70")],
                 paid_out=NOW - timedelta(hours=3))  # fmt: skip
    two = payout("stl_r2", [pay("tr_3kQ9aZ", "68.04", "1003"), fee("stl_r2", "0.35")])
    before = bank_searches(moneybird)
    flow(booked, Provider([one])).book(setup())
    assert bank_searches(moneybird) - before == 1
    flow(booked, Provider([one, two])).book(setup())
    before = bank_searches(moneybird)
    flow(booked, Provider([one, two])).book(setup())
    assert bank_searches(moneybird) - before == 1  # two payouts wait: one search
    assert the_record(booked, "stl_r1").state == PayoutState.LINKED
    assert the_record(booked, "stl_r2").state == PayoutState.LINKED


def test_the_bank_account_is_searched_every_12_hours_and_at_once_after_retry(
    booked: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Fault: every pass (each 15 minutes) searched the bank account while payouts waited."""
    provider = Provider([payout("stl_poll", [pay("tr_7UhSN1zuXS", "66.84", "1001"),
                                             fee("stl_poll", "0.70")])])  # fmt: skip
    before = bank_searches(moneybird)
    flow(booked, provider).book(setup())  # it comes to wait: looked for at once
    assert bank_searches(moneybird) - before == 1
    assert the_record(booked, "stl_poll").state == PayoutState.LINKED
    line = moneybird.add_bank_line(FIN_BANK, TODAY, "66.14", "MOLLIE STL_POLL.REF")
    before = bank_searches(moneybird)
    flow(booked, provider).book(setup())  # within 12 hours: not looked at
    assert bank_searches(moneybird) == before
    assert the_record(booked, "stl_poll").state == PayoutState.LINKED
    assert moneybird.financial_mutations[line["id"]]["state"] == "unprocessed"
    booked.store.requeue_payouts("stl_poll")  # `connector retry stl_poll`: look now
    flow(booked, provider).book(setup())
    assert bank_searches(moneybird) - before == 1
    record = the_record(booked, "stl_poll")
    assert record.state == PayoutState.DONE, record.reason
    assert ledgers_of(moneybird.financial_mutations[line["id"]]) == [TRANSFER]


# --- review 12 --------------------------------------------------------------------------------


def test_a_bank_line_the_reference_does_not_match_linked_by_hand_closes_the_payout(
    booked: Runtime, moneybird: MoneybirdSandbox, bank_every_pass: None
) -> None:
    """Fault: a bank line linked by hand (its reference printed otherwise) was never seen."""
    provider = Provider([payout("stl_dot", [pay("tr_7UhSN1zuXS", "66.84", "1001"),
                                            fee("stl_dot", "0.70")],
                                reference="1234567.2612.03")])  # fmt: skip
    line = moneybird.add_bank_line(
        FIN_BANK, TODAY, "66.14", "STICHTING MOLLIE PAYMENTS 1234567 2612 03"
    )
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_dot")
    assert record.state == PayoutState.LINKED
    assert record.reason == "waits for the bank line of 66.14 with reference 1234567.2612.03"
    booked.client.link_booking(line["id"], "LedgerAccount", TRANSFER, None, Decimal("66.14"))
    booked.store.requeue_payouts("stl_dot")
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_dot")
    assert record.state == PayoutState.DONE, record.reason
    assert record.bank_mutation_id == line["id"]
    assert ledgers_of(moneybird.financial_mutations[line["id"]]) == [TRANSFER]
    assert transfer_balance(moneybird) == Decimal("0.00")


# --- review 13 --------------------------------------------------------------------------------


def test_a_statement_is_dated_in_the_administrations_day_as_its_movements(
    booked: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Fault: a payout at 23:30 UTC got a statement dated the UTC day, its lines the next."""
    yesterday = TODAY - timedelta(days=1)
    late = datetime.combine(yesterday, time(23, 30), tzinfo=UTC)  # 00:30 in Amsterdam
    p = payout(
        "stl_tz",
        [pay("tr_7UhSN1zuXS", "66.84", "1001", when=late - timedelta(days=1)),
         fee("stl_tz", "0.70")],
        paid_out=late,
    )  # fmt: skip
    flow(booked, Provider([p])).book(setup())
    statement = statement_of(moneybird, "mollie stl_tz")
    [line] = [m for m in statement["financial_mutations"] if m["amount"] == "-66.14"]
    assert statement["official_date"] == TODAY.isoformat()
    assert line["date"] == TODAY.isoformat()


# --- review 14 --------------------------------------------------------------------------------


def test_a_statement_deleted_by_hand_parks_the_payout_and_retry_posts_it_anew(
    booked: Runtime, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault: a deleted statement left the payout failing each pass, nothing said to do."""
    provider = Provider([payout("stl_del", [pay("tr_7UhSN1zuXS", "66.84", "1001"),
                                            fee("stl_del", "0.70")])])  # fmt: skip
    real = MoneybirdClient.link_booking

    def killed_after(self: MoneybirdClient, *a: Any) -> Any:
        real(self, *a)
        raise Interrupted(signal.SIGTERM)  # the process stops right after the link landed

    monkeypatch.setattr(MoneybirdClient, "link_booking", killed_after)
    with pytest.raises(Interrupted):
        flow(booked, provider).book(setup())
    monkeypatch.setattr(MoneybirdClient, "link_booking", real)
    # The bookkeeper takes the link off and deletes the statement.
    statement = statement_of(moneybird, "mollie stl_del")
    for m in statement["financial_mutations"]:
        for linked in list(m["payments"]):
            booked.client.unlink_booking(m["id"], "Payment", linked["id"])
    booked.client._request("DELETE", f"financial_statements/{statement['id']}.json")
    assert mutations(moneybird, FIN_MOLLIE) == []
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_del")
    assert record.state == PayoutState.PARKED
    assert "`connector retry stl_del`" in record.reason and "anew" in record.reason
    booked.store.requeue_payouts("stl_del")
    flow(booked, provider).book(setup())
    record = the_record(booked, "stl_del")
    assert record.state == PayoutState.LINKED, record.reason
    statement_of(moneybird, "mollie stl_del")  # posted again, once
    assert amounts(moneybird, FIN_MOLLIE) == [Decimal("-66.14"), Decimal("-0.70"),
                                              Decimal("66.84")]  # fmt: skip
    [movement] = [m for m in mutations(moneybird, FIN_MOLLIE) if m["amount"] == "66.84"]
    [payment] = invoice_of(moneybird, "1001")["payments"]
    assert payment["financial_mutation_id"] == movement["id"]
    assert all(m["state"] == "processed" for m in mutations(moneybird, FIN_MOLLIE))


# --- review 15 --------------------------------------------------------------------------------


def test_a_feed_movement_moneybird_linked_itself_is_taken_as_linked(
    booked: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Fault: a feed movement Moneybird had linked itself was linked again, refused, parked."""
    order = booked.store.order("woocommerce:1001")
    assert order is not None and order.payment_id
    p = payout("stl_fp", [pay("tr_7UhSN1zuXS", "66.84", "1001"), fee("stl_fp", "0.70")])
    ids = {}
    for ident, amount in (
        ("tr_7UhSN1zuXS", "66.84"),
        ("stl_fp.fees.202612", "-0.70"),
        ("stl_fp", "-66.14"),
    ):
        line = moneybird.add_bank_line(FIN_MOLLIE, TODAY, amount, f"Mollie {ident}")
        moneybird.financial_mutations[line["id"]]["account_servicer_transaction_id"] = ident
        ids[ident] = line["id"]
    # Moneybird matched the payment itself (its transaction identifier is Mollie's id).
    booked.client.link_booking(ids["tr_7UhSN1zuXS"], "Payment", order.payment_id, None)
    before = link_patches(moneybird, ids["tr_7UhSN1zuXS"])
    flow(booked, Provider([p])).book(setup())
    record = the_record(booked, "stl_fp")
    assert record.state == PayoutState.LINKED, record.reason
    assert link_patches(moneybird, ids["tr_7UhSN1zuXS"]) == before
    payment = moneybird.financial_mutations[ids["tr_7UhSN1zuXS"]]
    assert [x["id"] for x in payment["payments"]] == [order.payment_id]
    assert ledgers_of(moneybird.financial_mutations[ids["stl_fp.fees.202612"]]) == [FEES_PAYABLE]
    assert ledgers_of(moneybird.financial_mutations[ids["stl_fp"]]) == [TRANSFER]
    assert all(m["state"] == "processed" for m in mutations(moneybird, FIN_MOLLIE))


# --- review 16 --------------------------------------------------------------------------------


def test_a_refused_statement_is_posted_once_and_again_only_after_retry(
    booked: Runtime, moneybird: MoneybirdSandbox
) -> None:
    """Fault: a statement Moneybird refused was posted again every pass."""

    def posts() -> int:
        return sum(
            1 for _t, m, path, *_ in moneybird.requests
            if m == "POST" and "financial_statements" in path
        )  # fmt: skip

    provider = Provider([payout("stl_422", [pay("tr_7UhSN1zuXS", "66.84", "1001"),
                                            fee("stl_422", "0.70")])])  # fmt: skip
    moneybird.echo_error_status = 422  # Moneybird refuses every POST
    for _ in range(3):
        flow(booked, provider).book(setup())
    assert posts() == 1  # refused once, not posted again every pass
    record = the_record(booked, "stl_422")
    assert record.state == PayoutState.PARKED
    assert "Moneybird refused the statement" in record.reason
    assert "`connector retry stl_422`" in record.reason
    assert mutations(moneybird, FIN_MOLLIE) == []
    moneybird.echo_error_status = None  # what Moneybird named is corrected
    booked.store.requeue_payouts("stl_422")
    flow(booked, provider).book(setup())
    assert posts() == 2
    record = the_record(booked, "stl_422")
    assert record.state == PayoutState.LINKED, record.reason
    assert amounts(moneybird, FIN_MOLLIE) == [Decimal("-66.14"), Decimal("-0.70"),
                                              Decimal("66.84")]  # fmt: skip
