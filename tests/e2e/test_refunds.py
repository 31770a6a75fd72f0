"""Refunds become credit invoices linked to the original, equal to the shop refund to the cent
per VAT rate, paid out, and booked exactly once (WooCommerce sandbox).

Order 1001 (demo data, prices incl. VAT): 2 x coffee beans 25.90 at 9% (line 10011: 23.76 +
2.14), a moka pot 34.95 at 21% (line 10012: 28.88 + 6.07), shipping 5.99 at 21% (line 10013:
4.95 + 1.04); total 66.84.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.runtime import Runtime
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from connector.sandbox.seed import (
    FIN_MOLLIE,
    LEDGER_HIGH,
    LEDGER_LOW,
    LEDGER_SHIPPING,
    MB_RATE_9,
    MB_RATE_21,
    seed_shop,
)
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState, RefundState
from tests.conftest import secrets_env, write_config

BEANS, MOKA, SHIPPING = 10011, 10012, 10013
D = Decimal
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def credits_of(mb: MoneybirdSandbox, original: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        i
        for i in mb.invoices.values()
        if i.get("original_sales_invoice_id") == original["id"] and i["state"] != "draft"
    ]


def original_1001(mb: MoneybirdSandbox) -> dict[str, Any]:
    return next(
        i for i in mb.invoices.values() if i["reference"] == "WC-1001" and i["state"] != "draft"
    )


def vat(invoice: dict[str, Any]) -> dict[str, Decimal]:
    return {
        t["tax_rate_id"]: D(t["tax_amount"]) for t in invoice["tax_totals"] if D(t["tax_amount"])
    }


def lines(invoice: dict[str, Any]) -> list[tuple[Decimal, str, str]]:
    """(line total, tax rate, ledger) of each non-zero line."""
    return sorted(
        (D(d["amount_decimal"]) * D(d["price"]), d["tax_rate_id"], d["ledger_account_id"])
        for d in invoice["details"]
        if D(d["price"])
    )


def book_all(runtime: Runtime) -> None:
    report = runtime.engine().run_pass()
    assert report.booked == 8


def test_full_refund_duplicates_the_invoice_finalizes_and_pays_out(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    when = shop.now() - timedelta(hours=1)
    refund = shop.refund(
        1001,
        items=[(BEANS, 2, "23.76", "2.14"), (MOKA, 1, "28.88", "6.07")],
        shipping=[(SHIPPING, "4.95", "1.04")],
        reason="Retour",
        when=when,
    )
    assert shop.orders[1001]["status"] == "refunded"  # leaves the booked status
    report = runtime.engine().run_pass()
    assert report.refunds_booked == 1

    original = original_1001(moneybird)
    [credit] = credits_of(moneybird, original)
    assert credit["reference"] == f"WC-1001-R{refund['id']}"
    assert credit["state"] == "paid" and credit["invoice_id"]
    assert D(credit["total_price_incl_tax"]) == D("-66.84")
    assert vat(credit) == {MB_RATE_21: D("-7.11"), MB_RATE_9: D("-2.14")}
    # Moneybird's own duplicate: every original line negated, nothing rebuilt.
    assert lines(credit) == sorted(
        (-total, rate, ledger) for total, rate, ledger in lines(original)
    )
    [payment] = credit["payments"]
    assert D(payment["price"]) == D("-66.84")
    assert payment["financial_account_id"] == FIN_MOLLIE
    # Dated the day of the refund, in the shop's time zone.
    assert payment["payment_date"] == when.astimezone(AMSTERDAM).date().isoformat()
    assert payment["transaction_identifier"] == f"woocommerce-refund-{refund['id']}"
    assert credit["invoice_date"] == payment["payment_date"]
    record = runtime.store.refund(f"woocommerce:1001:{refund['id']}")
    assert record is not None and record.state == RefundState.PAID
    assert record.invoice_number == credit["invoice_id"]

    # Re-polls and reruns book nothing more.
    writes = len(moneybird.accepted)
    shop.put_order(shop.orders[1001])
    runtime.engine().run_pass()
    assert len(moneybird.accepted) == writes
    assert len(credits_of(moneybird, original)) == 1


def test_partial_refund_by_line_books_that_line_at_its_ledger_and_rate(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")])
    runtime.engine().run_pass()
    [credit] = credits_of(moneybird, original_1001(moneybird))
    assert D(credit["total_price_incl_tax"]) == D("-34.95")
    assert vat(credit) == {MB_RATE_21: D("-6.07")}
    assert lines(credit) == [(D("-34.95"), MB_RATE_21, LEDGER_HIGH)]
    assert credit["state"] == "paid"
    assert [D(p["price"]) for p in credit["payments"]] == [D("-34.95")]
    assert shop.orders[1001]["status"] == "completed"


def test_shipping_only_refund_goes_back_on_the_shipping_ledger(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    shop.refund(1001, shipping=[(SHIPPING, "4.95", "1.04")])
    runtime.engine().run_pass()
    [credit] = credits_of(moneybird, original_1001(moneybird))
    assert lines(credit) == [(D("-5.99"), MB_RATE_21, LEDGER_SHIPPING)]
    assert vat(credit) == {MB_RATE_21: D("-1.04")}
    assert credit["state"] == "paid"


def test_amount_only_refund_is_spread_over_the_original_rates(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    shop.refund(1001, "10.00", reason="Schadevergoeding")
    runtime.engine().run_pass()
    [credit] = credits_of(moneybird, original_1001(moneybird))
    # Original gross: 40.94 at 21%, 25.90 at 9% (of 66.84): 10.00 -> 6.13 + 3.87.
    # Within 21% the original had the moka pot 34.95 (products) and shipping 5.99: 6.13 x
    # 34.95 / 40.94 = 5.233 -> 5.23 on the product ledger, 6.13 x 5.99 / 40.94 = 0.897 -> 0.90
    # on the shipping ledger; each ledger gets back its share, not the largest line all of it.
    assert sorted(lines(credit)) == sorted(
        [
            (D("-5.23"), MB_RATE_21, LEDGER_HIGH),
            (D("-0.90"), MB_RATE_21, LEDGER_SHIPPING),
            (D("-3.87"), MB_RATE_9, LEDGER_LOW),
        ]
    )
    assert vat(credit) == {MB_RATE_21: D("-1.06"), MB_RATE_9: D("-0.32")}
    assert D(credit["total_price_incl_tax"]) == D("-10.00")
    assert credit["state"] == "paid"
    assert any("Schadevergoeding" in d["description"] for d in credit["details"])


def test_several_refunds_on_one_order_each_booked_once(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    first = shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")])
    runtime.engine().run_pass()
    second = shop.refund(
        1001, items=[(BEANS, 1, "11.88", "1.07")], shipping=[(SHIPPING, "4.95", "1.04")]
    )
    third = shop.refund(1001, "2.00")
    runtime.engine().run_pass()
    runtime.engine().run_pass()
    credits = {c["reference"]: c for c in credits_of(moneybird, original_1001(moneybird))}
    assert set(credits) == {f"WC-1001-R{r['id']}" for r in (first, second, third)}
    assert D(credits[f"WC-1001-R{second['id']}"]["total_price_incl_tax"]) == D("-18.94")
    assert vat(credits[f"WC-1001-R{second['id']}"]) == {
        MB_RATE_9: D("-1.07"),
        MB_RATE_21: D("-1.04"),
    }
    assert all(c["state"] == "paid" for c in credits.values())
    total = sum(D(c["total_price_incl_tax"]) for c in credits.values())
    assert total == D("-55.89")
    # No stray drafts left behind.
    assert not [i for i in moneybird.invoices.values() if i["state"] == "draft"]


def test_lost_answers_while_crediting_never_book_twice(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    refund = shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")])
    # Every write's answer is lost once: the duplicate, the edit, the finalize, the payout.
    for method, pattern in (
        ("PATCH", r"sales_invoices/\d+/duplicate_creditinvoice"),
        ("PATCH", r"sales_invoices/\d+"),
        ("PATCH", r"sales_invoices/\d+/send_invoice"),
        ("POST", r"sales_invoices/\d+/payments"),
    ):
        moneybird.faults.append(Fault(method, pattern, "after_drop"))
    for _ in range(3):
        runtime.engine().run_pass()
    assert not moneybird.faults  # each fired
    credits = credits_of(moneybird, original_1001(moneybird))
    assert len(credits) == 1
    [credit] = credits
    assert credit["reference"] == f"WC-1001-R{refund['id']}"
    assert credit["state"] == "paid" and len(credit["payments"]) == 1
    assert lines(credit) == [(D("-34.95"), MB_RATE_21, LEDGER_HIGH)]
    assert not [i for i in moneybird.invoices.values() if i["state"] == "draft"]


def test_refund_after_a_crash_between_create_and_finalize(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    # The order's invoice is created, the finalize answer is lost (the pass stops there for
    # that order); meanwhile the customer gets a refund.
    moneybird.faults.append(
        Fault("PATCH", r"sales_invoices/\d+/send_invoice", "before_500", times=99)
    )
    runtime.engine().run_pass()
    record = runtime.store.order("woocommerce:1001")
    assert record is not None and record.state == OrderState.DRAFT
    assert record.intent == "send_invoice"
    refund = shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")])
    runtime.engine().run_pass()
    assert runtime.store.refund(f"woocommerce:1001:{refund['id']}").state == RefundState.PENDING
    moneybird.faults.clear()
    runtime.engine().run_pass()
    original = original_1001(moneybird)
    assert original["state"] == "paid"
    [credit] = credits_of(moneybird, original)
    assert D(credit["total_price_incl_tax"]) == D("-34.95") and credit["state"] == "paid"
    runtime.engine().run_pass()
    assert len(credits_of(moneybird, original)) == 1


def test_refund_on_an_order_never_booked_is_reported_not_booked(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)  # 1006 is parked: its German rate is not mapped
    refund = shop.refund(1006, "5.00")
    report = runtime.engine().run_pass()
    record = runtime.store.refund(f"woocommerce:1006:{refund['id']}")
    assert record is not None and record.state == RefundState.WAITING
    assert "order 1006 is not booked" in (record.park_reason or "")
    assert report.refunds_waiting == 1
    assert not [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]


def test_unpaid_original_is_settled_against_its_credit_invoice(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    # Moneybird refuses the payment (its account is gone): the invoice stays open, unpaid.
    mollie = [a for a in moneybird.financial_accounts if a["id"] == FIN_MOLLIE]
    moneybird.financial_accounts[:] = [
        a for a in moneybird.financial_accounts if a["id"] != FIN_MOLLIE
    ]
    runtime.engine().run_pass()
    order = runtime.store.order("woocommerce:1001")
    assert order is not None and order.state == OrderState.PARKED and order.invoice_number
    shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")])
    runtime.engine().run_pass()
    original = original_1001(moneybird)
    [credit] = credits_of(moneybird, original)
    assert credit["state"] == "paid"
    assert [p["manual_payment_action"] for p in credit["payments"]] == ["invoices_settlement"]
    assert D(original["total_unpaid"]) == D("66.84") - D("34.95")
    # Once the account is back and the order retried, only what is left is paid.
    moneybird.financial_accounts.extend(mollie)
    runtime.store.requeue("1001")
    runtime.engine().run_pass()
    assert original["state"] == "paid"
    assert D(original["total_unpaid"]) == 0
    assert len(credits_of(moneybird, original)) == 1


def test_refund_before_booking_books_invoice_then_credit(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")], when=datetime.now(UTC))
    runtime.engine().run_pass()
    original = original_1001(moneybird)
    assert D(original["total_price_incl_tax"]) == D("66.84") and original["state"] == "paid"
    [credit] = credits_of(moneybird, original)
    assert D(credit["total_price_incl_tax"]) == D("-34.95") and credit["state"] == "paid"


def test_lost_duplicate_found_on_the_next_pass_is_not_made_again(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")])
    # The duplicate's answer is lost and the look-up right after fails too: next pass decides.
    moneybird.faults.append(
        Fault("PATCH", r"sales_invoices/\d+/duplicate_creditinvoice", "after_drop")
    )
    moneybird.faults.append(Fault("GET", r"sales_invoices", "before_500", times=4))
    runtime.engine().run_pass()
    [record] = runtime.store.refunds()
    assert record.intent == "duplicate_credit" and record.invoice_id is None
    runtime.engine().run_pass()
    duplicates = [a for a in moneybird.accepted if a[1].endswith("/duplicate_creditinvoice.json")]
    assert len(duplicates) == 1
    [credit] = credits_of(moneybird, original_1001(moneybird))
    assert credit["state"] == "paid"
    assert runtime.store.refunds()[0].state == RefundState.PAID


def test_net_booking_of_a_refund_before_the_order_is_booked(
    tmp_path: Any, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    from connector.config import load_config
    from connector.runtime import build
    from tests.conftest import secrets_env, write_config

    path = write_config(
        tmp_path,
        shop.url,
        moneybird.api_url,
        moneybird.administration_id,
        extra='\n[refunds]\nbefore_booking = "net"\n',
    )
    runtime = build(load_config(path, environ=secrets_env(shop, moneybird)))
    try:
        moka = shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")])
        amount = shop.refund(1001, "1.00")
        runtime.engine().run_pass()
        invoice = original_1001(moneybird)
        # 66.84 - 34.95 - 1.00: one invoice for what the customer kept, paid that amount.
        assert D(invoice["total_price_incl_tax"]) == D("30.89")
        assert invoice["state"] == "paid"
        assert [D(p["price"]) for p in invoice["payments"]] == [D("30.89")]
        # 21%: 40.94 - 34.95 = 5.99, less 1.00 x 40.94/66.84 = 0.61 -> 5.38, VAT 0.93;
        # 9%: 25.90 less 0.39 -> 25.51, VAT 2.11.
        assert vat(invoice) == {MB_RATE_21: D("0.93"), MB_RATE_9: D("2.11")}
        assert not credits_of(moneybird, invoice)
        states = {r.refund_id: r.state for r in runtime.store.refunds()}
        assert states == {str(moka["id"]): RefundState.NET, str(amount["id"]): RefundState.NET}
        # A refund after booking is a credit invoice as usual.
        later = shop.refund(1001, shipping=[(SHIPPING, "4.95", "1.04")])
        runtime.engine().run_pass()
        [credit] = credits_of(moneybird, invoice)
        assert credit["reference"] == f"WC-1001-R{later['id']}"
        assert lines(credit) == [(D("-5.99"), MB_RATE_21, LEDGER_SHIPPING)]
    finally:
        runtime.close()


def test_lost_state_after_refunds_credits_nothing_twice(
    tmp_path: Any, runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    from connector.config import load_config
    from connector.runtime import build
    from tests.conftest import secrets_env

    book_all(runtime)
    shop.refund(1001, items=[(MOKA, 1, "28.88", "6.07")])
    runtime.engine().run_pass()
    # A credit duplicate left as a draft, still carrying the original's reference.
    runtime.client.duplicate_credit_invoice(original_1001(moneybird)["id"])
    path = runtime.config.path
    runtime.close()
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)  # the volume was lost
    rebuilt = build(load_config(path, environ=secrets_env(shop, moneybird)))
    try:

        def writes() -> int:  # synchronization POSTs are reads
            return len([a for a in moneybird.accepted if "synchronization" not in a[1]])

        before = writes()
        report = rebuilt.engine().run_pass()
        # Found in Moneybird: adopted (8 invoices, 1 credit invoice), never counted as booked.
        assert (report.booked, report.refunds_booked, report.adopted) == (0, 0, 9)
        assert writes() == before  # everything found in Moneybird, nothing written again
        [record] = rebuilt.store.refunds()
        assert record.state == RefundState.PAID
    finally:
        rebuilt.close()


def test_shop_wide_refunds_list_catches_a_refund_whose_order_did_not_change(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    # WooCommerce 9+: the refund is listed by GET /refunds even if the order's date stays.
    refund = shop.refund(1003, "5.00", touch_order=False)
    shop.requests.clear()
    runtime.engine().run_pass()
    assert any(path.endswith("/refunds") and "after" in q for _m, path, q in shop.requests)
    [credit] = [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]
    assert credit["reference"] == f"WC-1003-R{refund['id']}" and credit["state"] == "paid"
    # Known to exist now: later polls read the list once, without probing it again.
    shop.requests.clear()
    runtime.engine().run_pass()
    listed = [q for _m, path, q in shop.requests if path.endswith("/wc/v3/refunds")]
    assert len(listed) == 1 and listed[0]["per_page"] == "100"


def test_older_shops_without_the_shop_wide_list_read_refunds_per_order(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    shop.supports_shop_wide_refunds = False
    book_all(runtime)
    refund = shop.refund(1003, "5.00")  # the order's modification date moves
    runtime.engine().run_pass()
    runtime.engine().run_pass()
    [credit] = [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]
    assert credit["reference"] == f"WC-1003-R{refund['id']}" and credit["state"] == "paid"
    # Asked once whether the shop-wide list exists, then not again.
    asked = [p for _m, p, _q in shop.requests if p.endswith("/wc/v3/refunds")]
    assert len(asked) == 1


# --- the order refunds are booked in, and what a refund's reason says ----------------------


def credit_numbers(mb: MoneybirdSandbox, reference: str) -> list[tuple[str, str, str]]:
    """(invoice number, date, reference) of the order's credit invoices, by number."""
    original = next(
        i for i in mb.invoices.values() if i["reference"] == reference and i["state"] != "draft"
    )
    return sorted(
        (c["invoice_id"], c["invoice_date"], c["reference"]) for c in credits_of(mb, original)
    )


def test_refunds_of_one_order_are_credited_oldest_first_so_numbers_run_with_dates(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    book_all(runtime)
    now = shop.now()
    # Made in this order (ids ascending), dated otherwise; the order lists the newest first.
    dated = [now - timedelta(days=1), now - timedelta(days=2, hours=2), now - timedelta(hours=1),
             now - timedelta(days=2)]  # fmt: skip
    made = [shop.refund(1001, f"{n}.00", when=when) for n, when in enumerate(dated, start=1)]
    runtime.engine().run_pass()
    booked = credit_numbers(moneybird, "WC-1001")
    by_date = [made[1], made[3], made[0], made[2]]
    assert [ref for _n, _d, ref in booked] == [f"WC-1001-R{r['id']}" for r in by_date]
    days = [day for _n, day, _r in booked]
    assert days == sorted(days)
    assert days[0] == dated[1].astimezone(AMSTERDAM).date().isoformat()
    assert days[-1] == dated[2].astimezone(AMSTERDAM).date().isoformat()


def test_an_imported_order_with_refunds_gets_its_credits_oldest_first(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    from connector.sync.history_import import run_import

    now = shop.now()
    dated = [now - timedelta(days=1), now - timedelta(days=2), now - timedelta(hours=2)]
    made = [shop.refund(1001, f"{n}.00", when=when) for n, when in enumerate(dated, start=1)]
    run_import(runtime.engine(), now - timedelta(days=30))
    booked = credit_numbers(moneybird, "WC-1001")
    assert [ref for _n, _d, ref in booked] == [
        f"WC-1001-R{r['id']}" for r in (made[1], made[0], made[2])
    ]
    days = [day for _n, day, _r in booked]
    assert days == sorted(days)


def test_refunds_the_shop_does_not_return_are_named_with_their_amounts(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.conftest import secrets_env

    book_all(runtime)
    first = shop.refund(1001, "16.20", when=shop.now() - timedelta(hours=2))
    second = shop.refund(1001, "8.10", when=shop.now() - timedelta(hours=1))
    kept = shop.refunds.pop(1001)  # the order lists them; its refunds endpoint returns none
    report = runtime.engine().run_pass()
    assert report.refunds_parked == 2 and report.refunds_booked == 0
    records = {r.refund_id: r for r in runtime.store.refunds()}
    for refund, amount in ((first, "16.20"), (second, "8.10")):
        record = records[str(refund["id"])]
        assert record.state == RefundState.PARKED
        assert record.amount == amount
        assert (
            f"order 1001 lists refund {refund['id']} of {amount}, but the shop does not return "
            "it when the order's refunds are read"
        ) in (record.park_reason or "")
        assert "`connector retry 1001`" in (record.park_reason or "")
    # The advice, followed: the refunds are readable again, `connector retry 1001`, a pass.
    shop.refunds[1001] = kept
    env = secrets_env(shop, moneybird)
    path = str(runtime.config.path)
    retried = CliRunner().invoke(app, ["retry", "1001", "--config", path], env=env)
    assert retried.exit_code == 0, retried.output
    synced = CliRunner().invoke(app, ["sync", "--config", path], env=env)
    assert synced.exit_code == 0, synced.output
    credits = credits_of(moneybird, original_1001(moneybird))
    assert sorted(D(c["total_price_incl_tax"]) for c in credits) == [D("-16.20"), D("-8.10")]
    assert all(c["state"] == "paid" for c in credits)


def test_a_fully_refunded_order_whose_refund_cannot_be_read_parks_saying_so(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.conftest import secrets_env

    refund = shop.refund(
        1001,
        items=[(BEANS, 2, "23.76", "2.14"), (MOKA, 1, "28.88", "6.07")],
        shipping=[(SHIPPING, "4.95", "1.04")],
        when=shop.now() - timedelta(hours=1),
    )
    assert shop.orders[1001]["status"] == "refunded"
    kept = shop.refunds.pop(1001)
    runtime.engine().run_pass()
    record = runtime.store.order("woocommerce:1001")
    assert record is not None and record.state == OrderState.PARKED
    assert record.park_reason == (
        f"order 1001 is 'refunded' in the shop and lists refund {refund['id']} of 66.84, but "
        "the shop does not return it when the order's refunds are read (deleted, or not "
        "readable with the shop's API keys), so the sale and its refunds cannot be booked: "
        "check the order's refunds in the shop, then `connector retry 1001`"
    )
    assert not [i for i in moneybird.invoices.values() if i["reference"].startswith("WC-1001")]
    # The advice, followed.
    shop.refunds[1001] = kept
    env = secrets_env(shop, moneybird)
    path = str(runtime.config.path)
    assert CliRunner().invoke(app, ["retry", "1001", "--config", path], env=env).exit_code == 0
    synced = CliRunner().invoke(app, ["sync", "--config", path], env=env)
    assert synced.exit_code == 0, synced.output
    original = original_1001(moneybird)
    assert D(original["total_price_incl_tax"]) == D("66.84") and original["state"] == "paid"
    [credit] = credits_of(moneybird, original)
    assert D(credit["total_price_incl_tax"]) == D("-66.84") and credit["state"] == "paid"


def test_the_trace_of_a_deleted_refund_is_no_refund(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    # WooCommerce keeps id 0 of -0.00 in an order's list where a refund was deleted.
    trace = {"id": 0, "reason": "", "total": "-0.00"}
    shop.orders[1003]["refunds"] = [dict(trace)]
    shop.put_order(shop.orders[1003])
    report = runtime.engine().run_pass()
    assert report.booked == 8 and report.refunds_waiting == 0
    # Also on an order already booked.
    shop.orders[1001]["refunds"] = [dict(trace)]
    shop.put_order(shop.orders[1001])
    report = runtime.engine().run_pass()
    assert (report.refunds_waiting, report.refunds_parked, report.refunds_booked) == (0, 0, 0)
    assert runtime.store.refunds() == []
    assert not [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]


def test_shopify_refunds_of_one_order_are_credited_oldest_first(
    tmp_path: Any, shopify: Any, moneybird: MoneybirdSandbox
) -> None:
    from connector.runtime import build
    from tests.e2e.test_shopify import shopify_config

    runtime = build(shopify_config(tmp_path, shopify, moneybird))
    try:
        runtime.engine().run_pass()
        order = "gid://shopify/Order/5002001"
        made = [shopify.refund(order, amount=f"{n}.00") for n in (1, 2, 3)]
        # Listed in the order they were made, dated otherwise (entered late, say).
        now = shopify.now()
        for refund, hours in zip(made, (2, 50, 26), strict=True):
            refund["createdAt"] = (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        shopify.put_order(shopify.orders[order])
        runtime.engine().run_pass()
        booked = credit_numbers(moneybird, "SH-2001")
        ids = [r["id"].rsplit("/", 1)[1] for r in (made[1], made[2], made[0])]
        assert [ref for _n, _d, ref in booked] == [f"SH-2001-R{i}" for i in ids]
        days = [day for _n, day, _r in booked]
        assert days == sorted(days)
    finally:
        runtime.close()


# --- a partial-quantity refund as the real WooCommerce makes it --------------------------------

REALSHOP = Path(__file__).parents[1] / "fixtures" / "realshop" / "hpos_incl.json"
PAID = datetime(2026, 10, 6, 10, tzinfo=UTC)
RETURNED = datetime(2026, 10, 20, 12, tzinfo=UTC)


@pytest.fixture
def real_order_shop() -> Iterator[WooCommerceSandbox]:
    """A shop holding the real WooCommerce 10.0.2 order recorded in tests/fixtures/realshop/
    (order 28, prices incl. VAT: 2 teas at 9% for 10.06 + 0.91 among its lines), paid in
    October 2026."""
    answers = json.loads(REALSHOP.read_text())
    order = copy.deepcopy(answers["order-partial-quantity"]["body"])
    for key in ("date_created_gmt", "date_paid_gmt", "date_completed_gmt"):
        order[key] = PAID.strftime("%Y-%m-%dT%H:%M:%S")
    order["refunds"] = []
    woo = WooCommerceSandbox()
    seed_shop(woo, [])
    woo.put_order(order, modified=PAID)
    woo.start()
    yield woo
    woo.stop()


def test_a_partial_quantity_refund_is_credited_as_the_money_returned_and_reconciles(
    tmp_path: Path,
    real_order_shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """1 of the 2 teas returned by the refund form from the line's figures to the cent (10.06 +
    0.91): 5.03 + 0.455 VAT, 5.49 paid back; the refund line says `total_tax` -0.45 beside
    `taxes[0].total` -0.46, as the real shop answered such a refund. The credit invoice is
    5.49, the cent on the tea's line at 9% (5.03 + 0.46), paid out 5.49 and nothing settled
    as rounding; the month reconciles."""
    shop = real_order_shop
    for name, value in secrets_env(shop, moneybird).items():
        monkeypatch.setenv(name, value)
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "--config", str(config)]).exit_code == 0
    recorded = json.loads(REALSHOP.read_text())["refunds-of-order-partial-quantity"]["body"][0]
    refund = shop.refund_as_the_form_does(28, [(18, 1)], when=RETURNED)
    # The sandbox's refund, computed as WooCommerce does, is the real shop's answer.
    assert shown(refund) == shown(recorded) == (
        "5.49", [("-5.03", "-0.45", ["-0.46"])], [("-0.45", "0.00")],
    )  # fmt: skip
    assert runner.invoke(app, ["sync", "--config", str(config)]).exit_code == 0

    original = next(i for i in moneybird.invoices.values() if i["reference"] == "WC-28")
    [credit] = credits_of(moneybird, original)
    assert credit["reference"] == f"WC-28-R{refund['id']}" and credit["state"] == "paid"
    assert D(credit["total_price_incl_tax"]) == D("-5.49")
    assert lines(credit) == [(D("-5.49"), MB_RATE_9, LEDGER_LOW)]
    # Moneybird's VAT of 5.49 incl. 9%: 0.4532... -> 0.45 (the shop's figure 0.46 is a cent of
    # VAT rounding apart, within the tolerance).
    assert vat(credit) == {MB_RATE_9: D("-0.45")}
    # One payment: the money returned; no rounding payment.
    assert [(D(p["price"]), p["transaction_identifier"]) for p in credit["payments"]] == [
        (D("-5.49"), f"woocommerce-refund-{refund['id']}")
    ]

    result = runner.invoke(
        app, ["reconcile", "--month", "2026-10", "--json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["outcome"] == "agrees" and report["differences"] == []
    row = next(o for o in report["orders"] if o["kind"] == "credit")
    assert (row["order"], row["date"], row["total"]) == ("28", "2026-10-20", "-5.49")
    assert row["status"].startswith("agrees")


def test_a_refund_whose_cent_is_settled_as_rounding_reconciles_as_the_connectors_rounding(
    tmp_path: Path,
    real_order_shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refund of 5.49 whose line adds up to 5.48 by every figure the shop gives (5.03 +
    0.45): the credit is the line, -5.48, and the cent is settled by the rounding policy, a
    rounding payment; `reconcile` knows that booking as the connector's own and agrees."""
    shop = real_order_shop
    for name, value in secrets_env(shop, moneybird).items():
        monkeypatch.setenv(name, value)
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    runner = CliRunner()
    assert runner.invoke(app, ["sync", "--config", str(config)]).exit_code == 0
    refund = shop.refund(28, "5.49", items=[(18, 1, "5.03", "0.45")], when=RETURNED)
    assert runner.invoke(app, ["sync", "--config", str(config)]).exit_code == 0

    original = next(i for i in moneybird.invoices.values() if i["reference"] == "WC-28")
    [credit] = credits_of(moneybird, original)
    assert D(credit["total_price_incl_tax"]) == D("-5.48") and credit["state"] == "paid"
    assert sorted((D(p["price"]), p["transaction_identifier"]) for p in credit["payments"]) == [
        (D("-5.49"), f"woocommerce-refund-{refund['id']}"),
        (D("0.01"), f"woocommerce-refund-{refund['id']}-rounding"),
    ]

    result = runner.invoke(
        app, ["reconcile", "--month", "2026-10", "--json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    row = next(o for o in json.loads(result.stdout)["orders"] if o["kind"] == "credit")
    assert (row["total"], row["status"]) == (  # the document's total, and why it agrees
        "-5.48", "agrees (rounding 0.01, settled by the connector's rounding payment)",
    )  # fmt: skip


def shown(refund: dict[str, Any]) -> tuple[str, list[Any], list[Any]]:
    """A refund's figures: amount, each line's total, total_tax and taxes, each VAT rate's."""
    return (
        refund["amount"],
        [
            (li["total"], li["total_tax"], [t["total"] for t in li["taxes"]])
            for li in refund["line_items"]
        ],
        [(t["tax_total"], t["shipping_tax_total"]) for t in refund["tax_lines"]],
    )


TWO_LINES = Path(__file__).parents[1] / "fixtures" / "realshop" / "two_line_refund_hpos_incl.json"


def test_a_refund_of_two_partial_lines_is_credited_the_money_returned(
    tmp_path: Path, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real WooCommerce 10.0.2 order recorded in tests/fixtures/realshop/ (2 x 16.96 at
    21%, 2 x 25.88 at 9%), 1 of each returned by the refund form from the lines' figures to the
    cent: 14.015 + 2.945 and 23.745 + 2.135 entered, 42.85 paid back (the form's script rounds
    2.945 up, 2.135 down); the shop answers -14.02 with `total_tax` -2.94 beside `taxes` -2.95,
    and -23.75 with -2.13 beside -2.14. The credit in Moneybird is -42.85 to the cent: the 21%
    line 14.02 + 2.95, the 9% line 23.75 + 2.13; paid out 42.85 and no rounding payment."""
    recorded = json.loads(TWO_LINES.read_text())
    order = copy.deepcopy(recorded["order"])
    for key in ("date_created_gmt", "date_paid_gmt", "date_completed_gmt"):
        order[key] = PAID.strftime("%Y-%m-%dT%H:%M:%S")
    order["refunds"] = []
    shop = WooCommerceSandbox()
    seed_shop(shop, [])
    shop.put_order(order, modified=PAID)
    shop.start()
    try:
        for name, value in secrets_env(shop, moneybird).items():
            monkeypatch.setenv(name, value)
        config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
        runner = CliRunner()
        assert runner.invoke(app, ["sync", "--config", str(config)]).exit_code == 0
        refund = shop.refund_as_the_form_does(53, [(80, 1), (81, 1)], when=RETURNED)
        assert (
            shown(refund)
            == shown(recorded["refunds"][0])
            == (
                "42.85",
                [("-14.02", "-2.94", ["-2.95"]), ("-23.75", "-2.13", ["-2.14"])],
                [("-2.94", "0.00"), ("-2.13", "0.00")],
            )
        )
        assert runner.invoke(app, ["sync", "--config", str(config)]).exit_code == 0

        original = next(i for i in moneybird.invoices.values() if i["reference"] == "WC-53")
        [credit] = credits_of(moneybird, original)
        assert (credit["state"], D(credit["total_price_incl_tax"])) == ("paid", D("-42.85"))
        assert lines(credit) == [
            (D("-25.88"), MB_RATE_9, LEDGER_LOW),  # 23.75 + 2.13
            (D("-16.97"), MB_RATE_21, LEDGER_HIGH),  # 14.02 + 2.95
        ]
        assert [(D(p["price"]), p["transaction_identifier"]) for p in credit["payments"]] == [
            (D("-42.85"), f"woocommerce-refund-{refund['id']}")
        ]
        result = runner.invoke(
            app, ["reconcile", "--month", "2026-10", "--json", "--config", str(config)]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["outcome"] == "agrees"
    finally:
        shop.stop()
