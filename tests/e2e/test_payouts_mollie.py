"""Mollie payouts end to end: the demo shop's orders booked, then `[payouts]` on, Mollie's
settlements (served by the Mollie sandbox) booked by the pass on the Mollie account in
Moneybird, each part linked, the bank line linked when it arrives. Judged by what landed in
the sandbox Moneybird."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.admin.demo import payouts_block as demo_payouts_block
from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.mollie import MollieSandbox, seed_mollie
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from connector.sandbox.seed import (
    FIN_BANK,
    FIN_MOLLIE,
    FIN_PAYPAL,
    LEDGER_FEES_PAYABLE,
    LEDGER_TRANSFERS,
    demo_orders,
    seed_payout_ledgers,
    seed_shop,
)
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Meta, PayoutState, Store
from connector.sync.report import PassReport
from tests.conftest import secrets_env, write_config

D = Decimal
TRANSFER, FEES_PAYABLE = LEDGER_TRANSFERS, LEDGER_FEES_PAYABLE
ledgers = seed_payout_ledgers
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def payouts_block(mollie: MollieSandbox) -> str:
    """[payouts] as the demo writes it: Mollie's payouts on the seeded payout ledgers."""
    return demo_payouts_block(mollie.url)


@pytest.fixture(autouse=True)
def _bank_looked_at_every_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests bring a bank line in and run the next pass at once: the bank account is
    looked at each pass (the scheduler looks every BANK_POLL; tested on its own)."""
    monkeypatch.setattr("connector.sync.payouts.BANK_POLL", timedelta(0))


@pytest.fixture
def mollie(shop: WooCommerceSandbox) -> Iterator[MollieSandbox]:
    sandbox = MollieSandbox()
    start = min(
        datetime.fromisoformat(o["date_paid_gmt"]).replace(tzinfo=UTC)
        for o in shop.orders.values()
        if o.get("date_paid_gmt")
    )
    seed_mollie(sandbox, list(shop.orders.values()), start)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def paid_out(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> Iterator[Runtime]:
    ledgers(moneybird)
    path = write_config(
        tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
        extra=payouts_block(mollie),
    )  # fmt: skip
    env = {**secrets_env(shop, moneybird), "MOLLIE_API_KEY": mollie.api_key}
    runtime = build(load_config(path, environ=env))
    runtime.client._sleep = lambda _s: None
    yield runtime
    runtime.close()


def mutations(mb: MoneybirdSandbox, account: str) -> list[dict[str, Any]]:
    return [m for m in mb.financial_mutations.values() if m["financial_account_id"] == account]


def writes(mb: MoneybirdSandbox) -> int:
    return sum(1 for r in mb.received if r[0] in WRITES)


def test_mollie_settlements_are_booked_linked_and_the_bank_line_matched(
    paid_out: Runtime, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    report = paid_out.engine().run_pass()
    assert report.error is None, report.error
    assert report.payout_problems == []
    records = {r.payout_id: r for r in paid_out.store.payouts()}
    # Two settlements were paid out: the first over 1001, 1003 and 1005; the second over
    # 1006 (whose 19% order is parked: it waits, naming it), 1007 and 1009.
    states = sorted((r.state, r.reason or "") for r in records.values())
    assert [s for s, _ in states] == [PayoutState.LINKED, PayoutState.WAITING], states
    waiting = next(r for r in records.values() if r.state == PayoutState.WAITING)
    assert "(order 1006)" in (waiting.reason or "")
    booked = next(r for r in records.values() if r.state == PayoutState.LINKED)
    lines = mutations(moneybird, FIN_MOLLIE)
    assert sum(Decimal(m["amount"]) for m in lines) == Decimal("0.00")
    assert all(m["state"] == "processed" for m in lines)
    # 1001: 2 x 12.95 + 34.95 + shipping 5.99 = 66.84; 1003: 68.95 - coupon 6.90 + 5.99 =
    # 68.04; 1005: 59.95 + 2 x 6.45 - coupon 10.93 + shipping 8.41 = 70.33.
    payments = sorted(Decimal(m["amount"]) for m in lines if Decimal(m["amount"]) > 0)
    assert payments == [Decimal("66.84"), Decimal("68.04"), Decimal("70.33")]
    for invoice in moneybird.invoices.values():
        assert len(invoice["payments"]) == 1  # every invoice paid once, never twice
    net = Decimal(booked.net or "0")
    # iDEAL 3 x 0.29 = 0.87 + 21% VAT 0.18 = 1.05 taken: 205.21 - 1.05.
    assert net == Decimal("204.16")

    # The bank line arrives, then the next pass links it and nothing else.
    day = datetime.fromisoformat(booked.paid_out or "").date() + timedelta(days=1)
    line = moneybird.add_bank_line(
        FIN_BANK, day, net, f"Stichting Mollie Payments {booked.reference}"
    )
    paid_out.engine().run_pass()
    record = paid_out.store.payout(booked.key)
    assert record is not None
    assert record.state == PayoutState.DONE, record.reason
    assert moneybird.financial_mutations[line["id"]]["state"] == "processed"
    transfer = sum(
        (
            Decimal(b["price"])
            for m in moneybird.financial_mutations.values()
            for b in m["ledger_account_bookings"]
            if b["ledger_account_id"] == TRANSFER
        ),
        Decimal(0),
    )
    assert transfer == Decimal("0.00")
    before, asked = writes(moneybird), len(moneybird.received)
    report = paid_out.engine().run_pass()
    assert writes(moneybird) == before  # run again: nothing written
    # Nor read: an idle pass asks Moneybird nothing, its [payouts] setup kept from the last.
    assert len(moneybird.received) == asked, moneybird.received[asked:]
    assert report.moneybird_requests == 0


def test_mollie_down_is_said_and_the_orders_are_booked_all_the_same(
    paid_out: Runtime, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    mollie.down_status = 503
    report = paid_out.engine().run_pass()
    assert report.error is None
    assert report.booked == 8  # the demo's orders
    assert any(p.startswith("mollie: ") for p in report.payout_problems), report.payout_problems
    assert "mollie" in (paid_out.store.get_meta(Meta.PAYOUTS_PROBLEM) or "")
    assert mutations(moneybird, FIN_MOLLIE) == []


@contextmanager
def october_in_summary(
    tmp_path: Path, moneybird: MoneybirdSandbox
) -> Iterator[tuple[Path, dict[str, str]]]:
    """The October demo shop in summary mode with Mollie's settlements of it and [payouts]
    on, served while the block runs: the configuration and the secrets."""
    start = datetime(2026, 10, 5, 9, tzinfo=UTC)
    october = WooCommerceSandbox()
    seed_shop(october, demo_orders(start))
    mollie = MollieSandbox()
    seed_mollie(mollie, list(october.orders.values()), start)
    october.start()
    mollie.start()
    try:
        ledgers(moneybird)
        extra = 'mode = "summary"\n' + payouts_block(mollie)
        path = write_config(
            tmp_path, october.url, moneybird.api_url, moneybird.administration_id, extra=extra
        )
        yield path, {**secrets_env(october, moneybird), "MOLLIE_API_KEY": mollie.api_key}
    finally:
        october.stop()
        mollie.stop()


def test_summary_mode_the_days_documents_are_paid_by_the_payouts_once(
    tmp_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """In summary mode the Mollie part of a day's document is left to Mollie's payouts: the
    connector registers no payment for it, and each payout's movement for a day's orders pays
    that document, exactly once, also when a day's orders are in two payouts."""
    with october_in_summary(tmp_path, moneybird) as (path, env):
        runtime = build(load_config(path, environ=env))
        runtime.client._sleep = lambda _s: None
        try:
            runtime.engine().run_pass()
            days = {i["reference"]: i for i in moneybird.external_invoices.values()}
            # 5 Oct: 1001 + 1003 (Mollie 134.88), in the first settlement whole. 6 Oct: 1004
            # (PayPal 16.46, paid by the connector), 1005 (Mollie 70.33, first settlement),
            # 1007 (Mollie 32.85, second settlement, which waits for the parked 1006).
            first = days["WC-2026-10-05"]
            assert first["state"] == "paid"
            assert [(p["financial_account_id"], D(p["price"])) for p in first["payments"]] == [
                (FIN_MOLLIE, D("134.88"))
            ]
            assert first["payments"][0].get("financial_mutation_id")  # the payout's movement
            second = days["WC-2026-10-06"]
            assert second["state"] == "open"
            assert sorted(D(p["price"]) for p in second["payments"]) == [D("16.46"), D("70.33")]
            assert D(second["total_unpaid"]) == D("32.85")  # 1007, in the waiting payout
            third = days["WC-2026-10-07"]  # 1009 (36.29): its payout waits for 1006
            assert third["payments"] == [] and third["state"] == "open"
            states = sorted(r.state for r in runtime.store.payouts())
            assert states == [PayoutState.LINKED, PayoutState.WAITING]
            lines = mutations(moneybird, FIN_MOLLIE)
            assert all(m["state"] == "processed" for m in lines)
            # One movement per day's orders in the payout, not one per order.
            amounts = sorted(D(m["amount"]) for m in lines if D(m["amount"]) > 0)
            assert amounts == [D("70.33"), D("134.88")]
        finally:
            runtime.close()
        # [payouts] turned off again: what the payouts have not paid is paid as without them,
        # once, so no day's document stays open for ever.
        path.write_text(path.read_text().replace("enabled = true", "enabled = false"))
        runtime = build(load_config(path, environ=env))
        try:
            runtime.engine().run_pass()
            runtime.engine().run_pass()
        finally:
            runtime.close()
        days = {i["reference"]: i for i in moneybird.external_invoices.values()}
        second, third = days["WC-2026-10-06"], days["WC-2026-10-07"]
        assert second["state"] == third["state"] == "paid"
        assert sorted(D(p["price"]) for p in second["payments"]) == [
            D("16.46"), D("32.85"), D("70.33")
        ]  # fmt: skip
        assert [D(p["price"]) for p in third["payments"]] == [D("36.29")]
        assert days["WC-2026-10-05"]["payments"][0]["price"] == "134.88"  # untouched


def test_summary_days_paid_before_payouts_were_on_take_a_whole_days_payout_on_their_payment(
    tmp_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """Days booked in summary mode before [payouts] was on were paid by the connector: a
    payout holding all of a day's Mollie orders is linked to that day's payment (paid once);
    one holding part of a day cannot be, and is parked for a person."""
    start = datetime(2026, 10, 5, 9, tzinfo=UTC)
    october = WooCommerceSandbox()
    seed_shop(october, demo_orders(start))
    mollie = MollieSandbox()
    for order in october.orders.values():
        if str(order["payment_method"]).startswith("mollie") and order.get("date_paid_gmt"):
            paid = datetime.fromisoformat(order["date_paid_gmt"]).replace(tzinfo=UTC)
            mollie.add_payment(order["transaction_id"], order["total"], order["id"], paid)
    october.start()
    mollie.start()
    try:
        ledgers(moneybird)
        env = {**secrets_env(october, moneybird), "MOLLIE_API_KEY": mollie.api_key}

        def runtime(extra: str) -> Runtime:
            path = write_config(tmp_path, october.url, moneybird.api_url,
                                moneybird.administration_id, extra='mode = "summary"\n' + extra)  # fmt: skip
            built = build(load_config(path, environ=env))
            built.client._sleep = lambda _s: None
            return built

        before = runtime("")
        before.engine().run_pass()  # the days booked and paid, [payouts] off
        before.close()
        # 5 Oct whole (1001 + 1003 = 134.88); 6 Oct in part (1005 of 1005 + 1007).
        mollie.settle("stl_whole", "REF-WHOLE", ["tr_7UhSN1zuXS", "tr_3kQ9aZ"],
                      settled_at=datetime(2026, 10, 8, 6, tzinfo=UTC))  # fmt: skip
        mollie.settle("stl_part", "REF-PART", ["tr_p8Lm2Q"],
                      settled_at=datetime(2026, 10, 9, 6, tzinfo=UTC))  # fmt: skip
        after = runtime(payouts_block(mollie))
        try:
            after.engine().run_pass()
            whole = after.store.payout("mollie:stl_whole")
            part = after.store.payout("mollie:stl_part")
            assert whole is not None and part is not None
            assert whole.state == PayoutState.LINKED, whole.reason
            assert part.state == PayoutState.PARKED
            assert "moved 70.33, but the payment registered on" in (part.reason or "")
            assert "book this payout by hand" in (part.reason or "")
            days = {i["reference"]: i for i in moneybird.external_invoices.values()}
            fifth = days["WC-2026-10-05"]
            assert [D(p["price"]) for p in fifth["payments"]] == [D("134.88")]  # paid once
            assert fifth["payments"][0].get("financial_mutation_id")  # by the payout's line
        finally:
            after.close()
    finally:
        october.stop()
        mollie.stop()


def test_an_account_moneybird_feeds_itself_gets_no_statement_only_links(
    paid_out: Runtime, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    """Moneybird's own Mollie link feeds the account (it names its provider): the connector
    posts nothing there, even before the feed has imported a payout; it waits, then links."""
    [account] = [a for a in moneybird.financial_accounts if a["id"] == FIN_MOLLIE]
    account["provider"] = "mollie"
    paid_out.engine().run_pass()
    assert moneybird.financial_statements == {}  # nothing posted
    assert "mollie" in json.loads(paid_out.store.get_meta(Meta.PAYOUT_SETUP) or "{}")["fed"]
    records = {r.payout_id: r for r in paid_out.store.payouts()}
    first = min(records.values(), key=lambda r: r.paid_out or "")
    assert first.state == PayoutState.WAITING
    assert "waits for Moneybird's own link to import" in (first.reason or "")
    # The feed imports the first settlement: its payments and refunds under Mollie's ids.
    for payment_id in mollie.settled[first.payout_id]["payments"]:
        payment = mollie.payments[payment_id]
        day = datetime.fromisoformat(payment["paidAt"].replace("Z", "+00:00")).date()
        line = moneybird.add_bank_line(FIN_MOLLIE, day, payment["amount"]["value"], payment_id)
        moneybird.financial_mutations[line["id"]]["account_servicer_transaction_id"] = payment_id
    paid_out.engine().run_pass()
    # Only the feed's own (the sandbox's bank import): no statement of the connector's.
    assert all(s["reference"].startswith("bank-import")
               for s in moneybird.financial_statements.values())  # fmt: skip
    record = paid_out.store.payout(first.key)
    assert record is not None
    assert record.state == PayoutState.LINKED, record.reason
    assert "link its own lines for" in (record.notes or "")  # the fees and the payout
    fed = [m for m in mutations(moneybird, FIN_MOLLIE) if m["account_servicer_transaction_id"]]
    assert all(m["state"] == "processed" for m in fed)


def test_summary_days_before_payouts_since_are_paid_by_the_connector(
    tmp_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """[payouts] since = 9 October: the payouts of 5 October's orders are never read, so that
    day's document is paid by the connector as without payouts (it stayed open for ever)."""
    start = datetime(2026, 10, 5, 9, tzinfo=UTC)
    october = WooCommerceSandbox()
    seed_shop(october, demo_orders(start))
    mollie = MollieSandbox()
    october.start()
    mollie.start()
    try:
        ledgers(moneybird)
        block = payouts_block(mollie).replace(
            'bank_account = "Bankrekening"', 'bank_account = "Bankrekening"\nsince = 2026-10-09'
        )
        env = {**secrets_env(october, moneybird), "MOLLIE_API_KEY": mollie.api_key}
        path = write_config(tmp_path, october.url, moneybird.api_url,
                            moneybird.administration_id, extra='mode = "summary"\n' + block)  # fmt: skip
        runtime = build(load_config(path, environ=env))
        runtime.client._sleep = lambda _s: None
        try:
            runtime.engine().run_pass()
        finally:
            runtime.close()
        days = {i["reference"]: i for i in moneybird.external_invoices.values()}
        fifth = days["WC-2026-10-05"]
        assert fifth["state"] == "paid"
        assert [(p["financial_account_id"], D(p["price"])) for p in fifth["payments"]] == [
            (FIN_MOLLIE, D("134.88"))
        ]
    finally:
        october.stop()
        mollie.stop()


def test_payouts_off_and_on_again_never_pay_a_day_twice(
    tmp_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """A statement posted whose links Moneybird could not make yet; [payouts] turned off (the
    days are paid by the connector); on again: the pending links would pay those days twice,
    so the payout is parked saying what to do, and no document is paid more than its total."""
    with october_in_summary(tmp_path, moneybird) as (path, env):

        def one_pass() -> Runtime:
            runtime = build(load_config(path, environ=env))
            runtime.client._sleep = lambda _s: None
            try:
                runtime.engine().run_pass()
            finally:
                runtime.close()
            return runtime

        moneybird.faults.append(Fault("PATCH", r".*link_booking", "before_500", times=50))
        first = one_pass()
        moneybird.faults.clear()
        assert any(r.state == PayoutState.BOOKED for r in first.store.payouts())
        path.write_text(path.read_text().replace("enabled = true", "enabled = false"))
        one_pass()
        path.write_text(path.read_text().replace("enabled = false", "enabled = true"))
        one_pass()
        one_pass()
        for reference, document in moneybird.external_invoices.items():
            assert D(document["total_unpaid"]) >= 0, (reference, document["payments"])
        store = Store(tmp_path / "state.db")
        try:
            parked = [r for r in store.payouts() if r.state == PayoutState.PARKED]
        finally:
            store.close()
        assert parked and "paid by the connector while payouts were off" in (parked[0].reason or "")


def test_a_provider_removed_pays_its_own_share_of_a_day_not_another_providers(
    tmp_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """A day leaving parts to two providers' payouts (Mollie's, and here PayPal's as if it
    were booked by payouts too): when Mollie's section goes, the connector pays Mollie's
    share only (103.18 less the 70.33 its payout paid = 32.85), and PayPal's 16.46 stays left
    to PayPal's payouts (it paid the whole 49.31 unpaid on Mollie's account before)."""
    with october_in_summary(tmp_path, moneybird) as (path, env):
        runtime = build(load_config(path, environ=env))
        runtime.client._sleep = lambda _s: None
        try:
            runtime.engine().run_pass()
            sixth = {i["reference"]: i for i in moneybird.external_invoices.values()}[
                "WC-2026-10-06"
            ]
            [paypal] = [p for p in sixth["payments"] if p["financial_account_id"] == FIN_PAYPAL]
            moneybird.delete_payment(sixth["id"], paypal["id"])
            [day] = [d for d in runtime.store.days() if d.day == "2026-10-06"]
            day.payout_accounts = json.dumps([FIN_MOLLIE, FIN_PAYPAL])
            runtime.store.save(day)
            engine = runtime.engine()
            engine.days.payout_accounts = frozenset({FIN_PAYPAL})  # Mollie's section gone
            engine.days.payout_accounts_known = True
            engine.days.book_settled(PassReport())
            [day] = [d for d in runtime.store.days() if d.day == "2026-10-06"]
        finally:
            runtime.close()
        sixth = {i["reference"]: i for i in moneybird.external_invoices.values()}["WC-2026-10-06"]
        mollie_paid = sorted(
            D(p["price"]) for p in sixth["payments"] if p["financial_account_id"] == FIN_MOLLIE
        )
        assert mollie_paid == [D("32.85"), D("70.33")]
        assert D(sixth["total_unpaid"]) == D("16.46")  # PayPal's part: still its payouts'
        assert json.loads(day.payout_accounts or "[]") == [FIN_PAYPAL]


def test_a_second_state_file_adopts_the_payouts_and_writes_nothing(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    """The state is a cache of Moneybird: a second install (or a lost state file) against the
    same Moneybird and Mollie finds the statement and the bank line, posts and links nothing,
    and ends with the payout done, every invoice paid once."""
    ledgers(moneybird)
    env = {**secrets_env(shop, moneybird), "MOLLIE_API_KEY": mollie.api_key}

    def install(name: str) -> Runtime:
        folder = tmp_path / name
        folder.mkdir()
        path = write_config(folder, shop.url, moneybird.api_url, moneybird.administration_id,
                            extra=payouts_block(mollie))  # fmt: skip
        runtime = build(load_config(path, environ=env))
        runtime.client._sleep = lambda _s: None
        return runtime

    first = install("first")
    try:
        first.engine().run_pass()
        booked = next(r for r in first.store.payouts() if r.state == PayoutState.LINKED)
        day = datetime.fromisoformat(booked.paid_out or "").date() + timedelta(days=1)
        moneybird.add_bank_line(FIN_BANK, day, D(booked.net or "0"),
                                f"Stichting Mollie Payments {booked.reference}")  # fmt: skip
        first.engine().run_pass()
    finally:
        first.close()

    def written() -> list[tuple[str, str]]:  # synchronization is a read sent as a POST
        return [r[:2] for r in moneybird.received
                if r[0] in WRITES and "synchronization" not in r[1]]  # fmt: skip

    lines, before = len(mutations(moneybird, FIN_MOLLIE)), len(written())
    second = install("second")
    try:
        second.engine().run_pass()
        second.engine().run_pass()
        states = {r.payout_id: r.state for r in second.store.payouts()}
    finally:
        second.close()
    assert len(mutations(moneybird, FIN_MOLLIE)) == lines
    assert written()[before:] == []
    assert all(len(i["payments"]) == 1 for i in moneybird.invoices.values())
    assert states[booked.payout_id] == PayoutState.DONE


def test_a_state_from_before_payouts_upgrades_and_books_them(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, mollie: MollieSandbox
) -> None:
    """A state file of the release before payouts (no payouts table, orders without their
    payment ids, days without payout_accounts), then [payouts] on: opening it adds them, and
    the payouts book as on a new state (the orders found by Mollie's order id)."""
    ledgers(moneybird)
    env = {**secrets_env(shop, moneybird), "MOLLIE_API_KEY": mollie.api_key}
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    before = build(load_config(path, environ=env))
    before.engine().run_pass()
    before.close()
    with sqlite3.connect(tmp_path / "state.db") as older:
        older.execute("DROP TABLE payouts")
        older.execute("ALTER TABLE orders DROP COLUMN transaction_ids")
        older.execute("ALTER TABLE days DROP COLUMN payout_accounts")
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
                        extra=payouts_block(mollie))  # fmt: skip
    runtime = build(load_config(path, environ=env))
    runtime.client._sleep = lambda _s: None
    try:
        report = runtime.engine().run_pass()
        states = sorted(r.state for r in runtime.store.payouts())
    finally:
        runtime.close()
    assert report.error is None, report.error
    assert states == [PayoutState.LINKED, PayoutState.WAITING]
    assert all(len(i["payments"]) == 1 for i in moneybird.invoices.values())
