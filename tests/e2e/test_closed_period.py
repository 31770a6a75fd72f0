"""Nothing is booked into a period the bookkeeper closed in Moneybird (period_locked_until):
the order or refund is parked with a reason that says so and what to do."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState, RefundState


def test_orders_paid_in_a_closed_period_are_parked_until_it_is_reopened(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    # The demo's orders were paid over the last three days; the books are closed up to
    # today in the shop's timezone, so every one of them falls in the closed period
    # whatever the hour (an order of late last night UTC is today's in Amsterdam).
    locked = datetime.now(ZoneInfo("Europe/Amsterdam")).date().isoformat()
    moneybird.period_locked_until = locked
    report = runtime.engine().run_pass()
    assert moneybird.invoices == {}  # nothing landed in the closed period
    assert report.booked == 0
    record = runtime.store.order("woocommerce:1001")
    assert record is not None and record.state == OrderState.PARKED
    reason = record.park_reason or ""
    assert f"locked up to {locked}" in reason
    assert "reopen the period" in reason and "connector retry 1001" in reason
    # The bookkeeper reopens the period; the owner retries.
    moneybird.period_locked_until = None
    runtime.store.requeue()
    runtime.engine().run_pass()
    refs = sorted(i["reference"] for i in moneybird.invoices.values())
    assert len(refs) == 8 and all(i["state"] == "paid" for i in moneybird.invoices.values())


def test_a_refund_dated_in_a_closed_period_is_parked_not_credited(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    runtime.engine().run_pass()
    invoices = len(moneybird.invoices)
    refund = shop.refund(1001, items=[(10012, 1, "28.88", "6.07")])  # the moka pot, 34.95
    # closed up to today in the shop's timezone, where the refund is dated
    moneybird.period_locked_until = datetime.now(ZoneInfo("Europe/Amsterdam")).date().isoformat()
    runtime.engine().run_pass()
    assert len(moneybird.invoices) == invoices  # no credit invoice, not even a draft
    [record] = runtime.store.refunds()
    assert record.refund_id == str(refund["id"])
    assert record.state == RefundState.PARKED
    assert "closed in Moneybird" in (record.park_reason or "")
