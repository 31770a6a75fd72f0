"""The payout flow against the sandbox Moneybird: a Mollie settlement over orders the connector
booked becomes one statement on the Mollie account whose movements are linked to the payments
on the invoices, the fees to the fees-payable ledger, the payout to the transfer ledger; the
bank line, once it arrives, to the transfer ledger too. Judged by what is in Moneybird."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.booking.payout import PayoutSettings
from connector.cli import app
from connector.moneybird.client import MoneybirdClient
from connector.payouts.records import PartKind, Payout, PayoutPart, RefusedPayout, check_payout
from connector.runtime import Runtime
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from connector.sandbox.seed import (
    ANNA,
    FIN_BANK,
    FIN_MOLLIE,
    LEDGER_FEES_PAYABLE,
    LEDGER_TRANSFERS,
    Item,
    seed_payout_ledgers,
    woo_order,
)
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import PayoutState
from connector.sync.payouts import PayoutFlow, PayoutSetup

TRANSFER, FEES_PAYABLE = LEDGER_TRANSFERS, LEDGER_FEES_PAYABLE
ledgers = seed_payout_ledgers
WRITES = ("POST", "PATCH", "PUT", "DELETE")


@dataclass
class Provider:
    """A provider that pays out what the test says."""

    items: list[Payout | RefusedPayout] = field(default_factory=list)
    name: str = "mollie"
    asked: list[datetime] = field(default_factory=list)

    def payouts(
        self, since: datetime, known: Collection[str] = frozenset()
    ) -> Iterator[Payout | RefusedPayout]:
        self.asked.append(since)
        yield from (item for item in self.items if item.payout_id not in known)


SETTINGS = PayoutSettings(
    financial_account_id=FIN_MOLLIE, transfer_ledger_id=TRANSFER, fee_ledger_id=FEES_PAYABLE,
    fees_payable_ledger_id=FEES_PAYABLE,
)  # fmt: skip


def setup() -> PayoutSetup:
    return PayoutSetup(FIN_BANK, {"mollie": SETTINGS}, datetime(2026, 1, 1, tzinfo=UTC))


def total(shop: WooCommerceSandbox, order: int) -> Decimal:
    return Decimal(shop.orders[order]["total"])


def settlement(shop: WooCommerceSandbox, orders: dict[int, str], fee: str, sid: str) -> Payout:
    """A settlement paying out these orders (by their Mollie payment id) less the month's fee."""
    now = datetime.now(UTC).replace(microsecond=0)
    parts = [
        PayoutPart(PartKind.PAYMENT, tr, total(shop, n), now - timedelta(days=2),
                   order_reference=str(n))
        for n, tr in orders.items()
    ]  # fmt: skip
    fees = Decimal(fee)
    parts.append(
        PayoutPart(PartKind.FEE, f"{sid}.fees.202612", Decimal("0"), now - timedelta(hours=2),
                   fee=fees, fee_vat=(fees * Decimal("21") / Decimal("121")).quantize(
                       Decimal("0.01")), description="Mollie fees December")
    )  # fmt: skip
    net = sum((p.net for p in parts), Decimal(0))
    return check_payout(
        Payout("mollie", sid, f"{sid.upper()}.2612", "EUR", now - timedelta(hours=1), net,
               tuple(parts))
    )  # fmt: skip


def writes(mb: MoneybirdSandbox) -> int:
    return sum(1 for r in mb.received if r[0] in WRITES)


@pytest.fixture(autouse=True)
def _bank_looked_at_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests bring a bank line in and run the next pass at once: the bank account is
    looked at each pass (the scheduler looks every BANK_POLL; tested on its own)."""
    monkeypatch.setattr("connector.sync.payouts.BANK_POLL", timedelta(0))


@pytest.fixture
def booked(runtime: Runtime, moneybird: MoneybirdSandbox) -> Runtime:
    ledgers(moneybird)
    runtime.engine().run_pass()
    return runtime


def flow(runtime: Runtime, provider: Provider, client: MoneybirdClient | None = None) -> PayoutFlow:
    return PayoutFlow(runtime.store, client or runtime.client, "woocommerce", [provider])


def statement_of(mb: MoneybirdSandbox, reference: str) -> dict[str, Any]:
    [found] = [s for s in mb.financial_statements.values() if s["reference"] == reference]
    return found


def mutations(mb: MoneybirdSandbox, account: str) -> list[dict[str, Any]]:
    return [m for m in mb.financial_mutations.values() if m["financial_account_id"] == account]


def test_a_settlement_is_booked_once_linked_to_the_invoices_payments_and_the_bank_line(
    booked: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    payout = settlement(shop, {1001: "tr_7UhSN1zuXS", 1003: "tr_3kQ9aZ"}, "1.40", "stl_jDk30akdN")
    provider = Provider([payout])
    done = flow(booked, provider).book(setup())
    assert done.booked == 1, done
    statement = statement_of(moneybird, "mollie stl_jDk30akdN")
    lines = mutations(moneybird, FIN_MOLLIE)
    # 1001: 2 x 12.95 + 34.95 + shipping 4.95 + 1.04 VAT = 66.84;
    # 1003: 49.00 + 19.95 - coupon 5.71 - 1.19 VAT + shipping 5.99 = 68.04
    assert sorted(Decimal(m["amount"]) for m in lines) == sorted(
        [Decimal("66.84"), Decimal("68.04"), Decimal("-1.40"), Decimal("-133.48")]
    )
    assert sum(Decimal(m["amount"]) for m in lines) == Decimal("0.00")  # the account back at 0
    assert all(m["state"] == "processed" for m in lines)
    # Each order's movement is the payment the connector registered on its invoice: not a
    # second one (the invoice is paid once).
    for number in ("1001", "1003"):
        [invoice] = [i for i in moneybird.invoices.values() if i["reference"].endswith(number)]
        assert len(invoice["payments"]) == 1 and invoice["state"] == "paid"
        assert invoice["payments"][0]["financial_mutation_id"] in {m["id"] for m in lines}
    fee_line = next(m for m in lines if m["amount"] == "-1.40")
    assert [b["ledger_account_id"] for b in fee_line["ledger_account_bookings"]] == [FEES_PAYABLE]
    assert statement["financial_account_id"] == FIN_MOLLIE
    record = booked.store.payout("mollie:stl_jDk30akdN")
    assert record is not None and record.state == PayoutState.LINKED
    assert record.reason == "waits for the bank line of 133.48 with reference STL_JDK30AKDN.2612"

    # The bank line arrives (another amount of the same day is not taken for it).
    day = datetime.now(UTC).date()
    moneybird.add_bank_line(FIN_BANK, day, "133.47", "STG MOLLIE PAYMENTS STL_JDK30AKDN.2612")
    line = moneybird.add_bank_line(
        FIN_BANK, day, "133.48", "STG MOLLIE PAYMENTS stl_jDk30akdN.2612 Mollie"
    )
    done = flow(booked, provider).book(setup())
    assert done.linked == 1
    bank_line = moneybird.financial_mutations[line["id"]]
    assert bank_line["state"] == "processed"
    assert [b["ledger_account_id"] for b in bank_line["ledger_account_bookings"]] == [TRANSFER]
    transfer = [
        Decimal(b["price"])
        for m in moneybird.financial_mutations.values()
        for b in m["ledger_account_bookings"]
        if b["ledger_account_id"] == TRANSFER
    ]
    assert sum(transfer, Decimal(0)) == Decimal("0.00")  # the transfer ledger at 0.00
    record = booked.store.payout("mollie:stl_jDk30akdN")
    assert record is not None and record.state == PayoutState.DONE

    before = writes(moneybird)
    flow(booked, provider).book(setup())
    assert writes(moneybird) == before  # run again: nothing written


def test_a_payout_waits_for_an_order_not_booked_and_completes_when_it_is(
    booked: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    # Order 2001 is paid at Mollie and paid out before the shop marks it completed.
    paid = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    order = woo_order(
        2001,
        ANNA,
        [Item("Moka pot 6 kops", "MP-6", 1, "34.95", 1)],
        "0",
        paid,
        status="processing",
        payment=("mollie_wc_gateway_ideal", "iDEAL", "tr_N3w"),
    )
    shop.put_order(order)  # fmt: skip
    payout = settlement(shop, {1001: "tr_7UhSN1zuXS", 2001: "tr_N3w"}, "0.70", "stl_w8")
    provider = Provider([payout])
    flow(booked, provider).book(setup())
    record = booked.store.payout("mollie:stl_w8")
    assert record is not None and record.state == PayoutState.WAITING
    assert "tr_N3w (order 2001)" in (record.reason or ""), record.reason
    assert mutations(moneybird, FIN_MOLLIE) == []  # nothing of it is booked
    # The shop completes the order; a pass books it; the payout completes.
    shop.orders[2001]["status"] = "completed"
    shop.put_order(shop.orders[2001])
    booked.engine().run_pass()
    flow(booked, provider).book(setup())
    record = booked.store.payout("mollie:stl_w8")
    assert record is not None
    assert record.state == PayoutState.LINKED, record.reason
    assert sorted(Decimal(m["amount"]) for m in mutations(moneybird, FIN_MOLLIE)) == sorted(
        [Decimal("66.84"), Decimal("34.95"), Decimal("-0.70"), Decimal("-101.09")]
    )


def test_a_lost_statement_answer_is_found_by_the_providers_ids_not_posted_again(
    booked: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    payout = settlement(shop, {1001: "tr_7UhSN1zuXS"}, "0.70", "stl_lost")
    provider = Provider([payout])
    moneybird.faults.append(Fault("POST", r"financial_statements", "after_drop"))
    flow(booked, provider).book(setup())
    record = booked.store.payout("mollie:stl_lost")
    assert record is not None and record.statement_id is None and record.intent == "statement"
    assert len(moneybird.financial_statements) == 1  # Moneybird has it; we do not know yet
    flow(booked, provider).book(setup())
    assert len(moneybird.financial_statements) == 1  # found, not posted again
    record = booked.store.payout("mollie:stl_lost")
    assert record is not None
    assert record.state == PayoutState.LINKED, record.reason
    assert all(m["state"] == "processed" for m in mutations(moneybird, FIN_MOLLIE))


def test_a_lost_link_answer_is_settled_by_reading_the_mutation(
    booked: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    payout = settlement(shop, {1001: "tr_7UhSN1zuXS", 1003: "tr_3kQ9aZ"}, "1.40", "stl_link")
    provider = Provider([payout])
    moneybird.faults.append(
        Fault("PATCH", r"financial_mutations/\d+/link_booking", "after_drop", skip=1)
    )
    flow(booked, provider).book(setup())
    assert moneybird.faults == []  # the answer was lost
    record = booked.store.payout("mollie:stl_link")
    assert record is not None
    assert record.intent == "link" and record.last_error  # left for the next pass
    # The next pass reads the mutation first (the link had landed) and goes on with the next
    # line, linking nothing twice.
    flow(booked, provider).book(setup())
    record = booked.store.payout("mollie:stl_link")
    assert record is not None
    assert record.state == PayoutState.LINKED, record.reason
    reads = [p for m, p, *_ in moneybird.received if m == "GET" and "/financial_mutations/" in p]
    assert len(reads) == 1
    lines = mutations(moneybird, FIN_MOLLIE)
    assert all(m["state"] == "processed" for m in lines)
    # Linked once each: no mutation carries a link twice.
    assert all(len(m["payments"]) + len(m["ledger_account_bookings"]) == 1 for m in lines)


def test_movements_already_on_the_account_are_linked_not_imported_again(
    booked: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """Moneybird's own Mollie link imported the settlement: the connector only links."""
    payout = settlement(shop, {1001: "tr_7UhSN1zuXS"}, "0.70", "stl_feed")
    day = datetime.now(UTC).date()
    for part, amount in (("tr_7UhSN1zuXS", "66.84"), ("stl_feed.fees.202612", "-0.70"),
                         ("stl_feed", "-66.14")):  # fmt: skip
        line = moneybird.add_bank_line(FIN_MOLLIE, day, amount, f"Mollie {part}")
        moneybird.financial_mutations[line["id"]]["account_servicer_transaction_id"] = part
    before = len(moneybird.financial_statements)
    flow(booked, Provider([payout])).book(setup())
    assert len(moneybird.financial_statements) == before  # nothing imported
    record = booked.store.payout("mollie:stl_feed")
    assert record is not None
    assert record.state == PayoutState.LINKED, record.reason
    assert "not imported again" in (record.notes or "")
    assert all(m["state"] == "processed" for m in mutations(moneybird, FIN_MOLLIE))


def test_a_refused_payout_is_listed_and_the_others_are_booked(
    booked: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    good = settlement(shop, {1001: "tr_7UhSN1zuXS"}, "0.70", "stl_good")
    bad = RefusedPayout("mollie", "stl_bad", "mollie payout stl_bad is in 'GBP'; only EUR")
    flow(booked, Provider([bad, good])).book(setup())
    refused = booked.store.payout("mollie:stl_bad")
    assert refused is not None and refused.state == PayoutState.REFUSED
    assert "only EUR" in (refused.reason or "")
    record = booked.store.payout("mollie:stl_good")
    assert record is not None and record.state == PayoutState.LINKED


def test_a_refused_link_parks_the_payout_until_retry_and_is_not_tried_every_pass(
    booked: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    # Someone linked 1001's payment by hand to a line of their own on the Mollie account.
    [invoice] = [i for i in moneybird.invoices.values() if i["reference"].endswith("1001")]
    payment_id = invoice["payments"][0]["id"]
    day = datetime.now(UTC).date()
    own = moneybird.add_bank_line(FIN_MOLLIE, day, "66.84", "hand-made")
    booked.client.link_booking(own["id"], "Payment", payment_id, None)
    provider = Provider([settlement(shop, {1001: "tr_7UhSN1zuXS"}, "0.70", "stl_hand")])
    flow(booked, provider).book(setup())
    record = booked.store.payout("mollie:stl_hand")
    assert record is not None
    assert record.state == PayoutState.PARKED
    assert "Moneybird refused to link" in (record.reason or "")
    assert "`connector retry stl_hand`" in (record.reason or "")
    before = writes(moneybird)
    flow(booked, provider).book(setup())
    assert writes(moneybird) == before  # parked: not tried again and again
    # The person follows the advice: takes the hand-made link off, then retries.
    booked.client.unlink_booking(own["id"], "Payment", payment_id)
    env = {
        "MONEYBIRD_TOKEN": moneybird.token,
        "WOOCOMMERCE_CONSUMER_KEY": shop.consumer_key,
        "WOOCOMMERCE_CONSUMER_SECRET": shop.consumer_secret,
    }
    result = CliRunner().invoke(
        app, ["retry", "stl_hand", "--config", str(booked.config.path)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "1 payout(s) queued" in result.output
    flow(booked, provider).book(setup())
    record = booked.store.payout("mollie:stl_hand")
    assert record is not None
    assert record.state == PayoutState.LINKED, record.reason
    ours = [m for m in mutations(moneybird, FIN_MOLLIE) if m["id"] != own["id"]]
    assert all(m["state"] == "processed" for m in ours)
