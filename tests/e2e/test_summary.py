"""Summary booking (sync.mode = "summary"): October's consumer orders become one external sales
invoice per day in the sandbox Moneybird; the business customer's orders keep invoices of
their own; each day is made once, also when Moneybird's answers are lost.

Hand-worked from the demo data (days in Europe/Amsterdam, orders paid two minutes after they
were placed; see test_reconcile.py for each order's figures):
- 5 October: 1001 (66.84: 9% 2.14, 21% 7.11) and 1003 (68.04: 21% 11.81), both by iDEAL
  (Mollie): 134.88. Moneybird computes 21% over 40.94 + 68.04 = 108.98 incl.: 18.91 (over
  90.06 excl. too), a cent under the orders' 18.92 (each order rounded on its own): the day's
  notes say so, the total stays what was paid. 1002 is Bakkerij Bakker's, with a VAT number:
  an invoice of its own.
- 6 October: 1004 (16.46: 21% 2.86, PayPal), 1005 (70.33: 9% 0.90, 21% 10.30, Mollie), 1007
  (32.85: 9% 2.51, 21% 0.43, Mollie): 119.64, 9% 3.41, 21% 13.59; Mollie 103.18, PayPal
  16.46. 1006 is parked (its German rate is not mapped).
- 7 October: 1009 (36.29: 9% 3.00, Mollie); 1010 is Bakkerij Bakker's again: its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.booking.day import DayShare
from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from connector.sandbox.seed import (
    FIN_MOLLIE,
    FIN_PAYPAL,
    MB_RATE_9,
    MB_RATE_21,
    demo_orders,
    seed_shop,
)
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import DayState, OrderState
from tests.conftest import secrets_env, write_config

D = Decimal
DAYS = {
    "WC-2026-10-05": (D("134.88"), {MB_RATE_9: D("2.14"), MB_RATE_21: D("18.91")},
                      {FIN_MOLLIE: D("134.88")}, ["1001", "1003"]),
    "WC-2026-10-06": (D("119.64"), {MB_RATE_9: D("3.41"), MB_RATE_21: D("13.59")},
                      {FIN_MOLLIE: D("103.18"), FIN_PAYPAL: D("16.46")}, ["1004", "1005", "1007"]),
    "WC-2026-10-07": (D("36.29"), {MB_RATE_9: D("3.00")}, {FIN_MOLLIE: D("36.29")}, ["1009"]),
}  # fmt: skip


@pytest.fixture
def october() -> Iterator[WooCommerceSandbox]:
    woo = WooCommerceSandbox()
    seed_shop(woo, demo_orders(datetime(2026, 10, 5, 9, tzinfo=UTC)))
    woo.start()
    yield woo
    woo.stop()


def summary_runtime(
    folder: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox, section: str = ""
) -> Runtime:
    """A runtime in summary mode against these sandboxes; `section`: [summary] settings."""
    extra = 'mode = "summary"\n' + (f"\n[summary]\n{section}\n" if section else "")
    path = write_config(folder, shop.url, mb.api_url, mb.administration_id, extra=extra)
    return build(load_config(path, environ=secrets_env(shop, mb)))


@pytest.fixture
def summary(
    tmp_path: Path,
    moneybird: MoneybirdSandbox,
    october: WooCommerceSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runtime]:
    # In the environment too: the tests that run the command line on this config need them.
    for name, value in secrets_env(october, moneybird).items():
        monkeypatch.setenv(name, value)
    runtime = summary_runtime(tmp_path, october, moneybird)
    runtime.client._sleep = lambda _s: None
    yield runtime
    runtime.close()


def days_in(mb: MoneybirdSandbox) -> dict[str, dict[str, Any]]:
    return {i["reference"]: i for i in mb.external_invoices.values()}


def assert_days_exact(mb: MoneybirdSandbox) -> None:
    days = days_in(mb)
    assert set(days) == set(DAYS)
    for reference, (total, vat, paid, orders) in DAYS.items():
        document = days[reference]
        assert D(document["total_price_incl_tax"]) == total, reference
        assert {t["tax_rate_id"]: D(t["tax_amount"]) for t in document["tax_totals"]
                if D(t["tax_amount"])} == vat, reference  # fmt: skip
        by_account: dict[str, Decimal] = {}
        for payment in document["payments"]:
            account = payment["financial_account_id"]
            by_account[account] = by_account.get(account, D(0)) + D(payment["price"])
        assert by_account == paid, reference
        assert document["state"] == "paid", reference
        listed = " ".join(d["description"] for d in document["details"])
        assert all(f"WC-{number} " in listed for number in orders), reference


def test_consumer_orders_become_one_document_a_day_and_business_ones_their_own(
    summary: Runtime, moneybird: MoneybirdSandbox
) -> None:
    report = summary.engine().run_pass()
    assert_days_exact(moneybird)
    # Bakkerij Bakker's two orders: sales invoices of their own, as in per-order mode.
    assert sorted(i["reference"] for i in moneybird.invoices.values()) == ["WC-1002", "WC-1010"]
    store = summary.store
    assert store.order("woocommerce:1003").invoice_number == "WC-2026-10-05"  # type: ignore[union-attr]
    day5 = next(d for d in store.days() if d.number == "WC-2026-10-05")
    assert day5.notes == "VAT at 21% btw: Moneybird -0.01 against the orders' sum"
    assert store.order("woocommerce:1006").state == OrderState.PARKED  # type: ignore[union-attr]
    assert {d.number: d.state for d in store.days()} == {
        reference: DayState.PAID for reference in DAYS
    }
    assert report.booked == 8 and report.in_days == 6
    # The next pass finds nothing to do, and asks Moneybird nothing.
    again = summary.engine().run_pass()
    assert again.booked == 0 and again.moneybird_requests == 0
    assert len(moneybird.external_invoices) == 3


def test_a_lost_answer_makes_no_second_day(summary: Runtime, moneybird: MoneybirdSandbox) -> None:
    # The second day's document is made but its answer is lost; a payment's answer too.
    moneybird.faults.append(Fault("POST", r"^external_sales_invoices$", "after_drop", skip=1))
    moneybird.faults.append(
        Fault("POST", r"external_sales_invoices/\d+/payments", "after_500", skip=2)
    )
    summary.engine().run_pass()
    assert moneybird.faults == []  # both happened
    summary.engine().run_pass()
    assert_days_exact(moneybird)  # each day once, each payment once
    assert all(d.state == DayState.PAID for d in summary.store.days())


def test_history_imported_in_summary_mode_is_booked_as_days(
    tmp_path: Path, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from connector.cli import app

    woo = WooCommerceSandbox()
    seed_shop(woo, demo_orders(datetime(2026, 10, 5, 9, tzinfo=UTC)))
    woo.start()
    try:
        env = secrets_env(woo, moneybird)
        # A per-order configuration: the import alone is asked for days.
        path = write_config(tmp_path, woo.url, moneybird.api_url, moneybird.administration_id,
                            history_start="")  # fmt: skip
        runner = CliRunner(env=env)
        result = runner.invoke(
            app, ["import", "--since", "2026-10-01", "--mode", "summary", "--config", str(path)]
        )
        assert result.exit_code == 0, result.output
        assert_days_exact(moneybird)
        assert sorted(i["reference"] for i in moneybird.invoices.values()) == ["WC-1002", "WC-1010"]
        # A scheduled pass afterwards (per-order mode) books nothing again.
        assert runner.invoke(app, ["sync", "--config", str(path)]).exit_code == 0
        assert len(moneybird.external_invoices) == 3 and len(moneybird.invoices) == 2
        assert_days_exact(moneybird)
    finally:
        woo.stop()


def test_reconciliation_compares_a_day_by_its_orders_sum(
    summary: Runtime, moneybird: MoneybirdSandbox
) -> None:
    from connector.sync.reconcile import Month, reconcile

    summary.engine().run_pass()
    result = reconcile(summary.engine(), Month(2026, 10))
    assert result.error is None and not result.findings, result.summary()
    # 5 October's cent of rounding over the day (see the top) agrees, and is said.
    [day5] = [row for row in result.rows if row.document == "WC-2026-10-05"]
    assert day5.status == "agrees (VAT rounded over the day: 21% btw -0.01)"
    assert result.documents == 5  # three days' documents, Bakkerij Bakker's two invoices
    # A day's document deleted in Moneybird: that day is missing, with its orders and sum.
    day6 = next(
        i for i in moneybird.external_invoices.values() if i["reference"] == "WC-2026-10-06"
    )
    moneybird.external_invoices.pop(day6["id"])
    again = reconcile(summary.engine(), Month(2026, 10))
    [missing] = again.missing
    assert missing.reference == "WC-2026-10-06" and missing.order == "1004, 1005, 1007"
    assert missing.shop["total"] == "119.64"


def test_preview_says_which_day_an_order_joins_and_status_counts_them(
    summary: Runtime, moneybird: MoneybirdSandbox
) -> None:
    from typer.testing import CliRunner

    from connector.cli import app

    config = str(summary.config.path)
    runner = CliRunner()
    joins = runner.invoke(app, ["preview", "1005", "--config", config], terminal_width=200)
    assert "would join the day's document of 2026-10-06" in joins.output, joins.output
    alone = runner.invoke(app, ["preview", "1002", "--config", config], terminal_width=200)
    assert "Summary mode keeps it on its own: a business customer" in alone.output
    summary.engine().run_pass()
    status = runner.invoke(app, ["status", "--config", config, "--json"])
    assert '"paid": 8' in status.output
    assert '"booked": 3' in status.output  # the three days
    table = runner.invoke(app, ["status", "--config", config], terminal_width=200)
    assert "Summary days: 3 booked" in table.output


def test_a_day_waits_to_settle_and_takes_edits_until_then(
    tmp_path: Path, moneybird: MoneybirdSandbox, shop: WooCommerceSandbox
) -> None:
    """The demo orders of the last three days: with [summary] settle_days = 5 a pass books no
    day yet; an order edited meanwhile joins with its new amounts; once settled, the days
    are made, with the edit in them."""
    import copy
    from datetime import timedelta

    from connector.sync.report import PassReport

    runtime = summary_runtime(tmp_path, shop, moneybird, "settle_days = 5")
    try:
        first = runtime.engine().run_pass()
        assert first.in_days == 6 and first.booked == 2  # Bakkerij Bakker's two, on their own
        assert moneybird.external_invoices == {}
        assert runtime.store.order("woocommerce:1004").state == OrderState.IN_DAY  # type: ignore[union-attr]
        # 1004 (3 x 3.49 filters + 5.99 shipping = 16.46) gets a fourth pack of filters.
        edited = copy.deepcopy(shop.orders[1004])
        edited["line_items"][0]["quantity"] = 4
        for key, value in (("subtotal", "11.54"), ("total", "11.54"), ("subtotal_tax", "2.42"),
                           ("total_tax", "2.42")):  # fmt: skip
            edited["line_items"][0][key] = value
        edited["line_items"][0]["taxes"] = [{"id": 1, "total": "2.42", "subtotal": "2.42"}]
        edited["tax_lines"][0]["tax_total"] = "2.42"
        edited["total"], edited["total_tax"], edited["cart_tax"] = "19.95", "3.46", "2.42"
        shop.put_order(edited, modified=datetime.now(UTC))
        runtime.engine().run_pass()
        assert moneybird.external_invoices == {}
        later = runtime.engine()
        later.days.book_settled(PassReport(), now=datetime.now(UTC) + timedelta(days=6))
        documents = list(moneybird.external_invoices.values())
        assert len(documents) >= 2
        with_1004 = [d for d in documents if any("WC-1004 19.95" in x["description"]
                                                  for x in d["details"])]  # fmt: skip
        assert len(with_1004) == 1
        assert sum(D(d["total_price_incl_tax"]) for d in documents) == (
            D("66.84") + D("68.04") + D("19.95") + D("70.33") + D("32.85") + D("36.29")
        )
    finally:
        runtime.close()


def edit_1004_to_four_filters(shop: WooCommerceSandbox) -> None:
    """1004 (3 x 3.49 filters + 5.99 shipping = 16.46, 2.86 VAT at 21%) gets a fourth pack:
    19.95, 3.46 VAT; paid by PayPal as before."""
    import copy

    edited = copy.deepcopy(shop.orders[1004])
    line = edited["line_items"][0]
    line["quantity"] = 4
    line["subtotal"] = line["total"] = "11.54"
    line["subtotal_tax"] = line["total_tax"] = "2.42"
    line["taxes"] = [{"id": 1, "total": "2.42", "subtotal": "2.42"}]
    edited["tax_lines"][0]["tax_total"] = "2.42"
    edited["total"], edited["total_tax"], edited["cart_tax"] = "19.95", "3.46", "2.42"
    shop.put_order(edited, modified=datetime.now(UTC))


def test_an_order_changed_after_its_day_is_booked_as_a_correction_on_the_day_seen(
    summary: Runtime, moneybird: MoneybirdSandbox, october: WooCommerceSandbox
) -> None:
    """1004's day (6 October) is made; then the shop adds a fourth pack of filters to it. The
    6 October document stands as it was; the difference (3.49, of which 0.60 VAT at 21%,
    paid by PayPal) is booked in the document of the day it was seen, and said."""
    from datetime import timedelta

    from connector.sync.reconcile import Month, reconcile
    from connector.sync.report import PassReport

    summary.engine().run_pass()
    edit_1004_to_four_filters(october)
    seen = datetime.now(summary.engine().settings.timezone).date()
    report = summary.engine().run_pass()
    said = [d.message for d in report.decisions if d.number == "1004"]
    assert said and "changed in the shop after its day's document" in said[0], said
    assert "3.49 booked with" in said[0]
    [correction] = summary.store.corrections(order_key="woocommerce:1004")
    assert correction.state == OrderState.IN_DAY and correction.day == seen.isoformat()
    assert correction.reference == "WC-1004-C1"
    # Nothing written yet (the day settles first), nothing closed edited, nothing twice.
    assert_days_exact(moneybird)
    again = summary.engine().run_pass()
    assert again.moneybird_requests == 0 and len(summary.store.corrections()) == 1
    summary.engine().days.book_settled(PassReport(), now=datetime.now(UTC) + timedelta(days=3))
    days = days_in(moneybird)
    assert_days_exact_but(days, f"WC-{seen.isoformat()}")
    fix = days[f"WC-{seen.isoformat()}"]
    assert D(fix["total_price_incl_tax"]) == D("3.49")
    # Moneybird rounds 21% of 3.49 incl. to 0.61, a cent over the orders' 0.60: said in the
    # day's notes, as on any day; the total is what was paid.
    assert {t["tax_rate_id"]: D(t["tax_amount"]) for t in fix["tax_totals"]} == {
        MB_RATE_21: D("0.61")
    }
    assert [(p["financial_account_id"], D(p["price"])) for p in fix["payments"]] == [
        (FIN_PAYPAL, D("3.49"))
    ]
    assert fix["state"] == "paid"
    assert any("WC-1004-C1 3.49" in d["description"] for d in fix["details"])
    assert summary.store.correction(correction.key).state == OrderState.PAID  # type: ignore[union-attr]
    # The order's page on the dashboard names the change and the document that booked it.
    from connector.dashboard.app import Source, create_app

    app = create_app(Source(lambda: summary.config, lambda: summary.store, None, None))
    page = app.test_client().get("/orders/woocommerce:1004").get_data(as_text=True)
    assert "Changed after its day's document" in page
    row = page[page.index('id="corrections"') :]
    assert "WC-1004-C1" in row and "3.49" in row and f"WC-{seen.isoformat()}" in row
    # The bookkeeper's months: October (the order as its day booked it) and this one (the
    # change in its day) both agree with the shop, which has 1004 at 19.95 now.
    for month in (Month(2026, 10), Month.of(seen)):
        result = reconcile(summary.engine(), month)
        assert result.error is None and not result.findings, result.summary()
    # Refunded in full later: all of it goes back, the change included.
    october.refund(1004, "19.95", when=datetime.now(UTC))
    summary.engine().run_pass()
    [refund] = summary.store.refunds(order_key="woocommerce:1004")
    assert D(refund.amount or "0") == D("19.95")
    assert DayShare.from_json(refund.day_share or "").total == D("-19.95")


def assert_days_exact_but(days: dict[str, dict[str, Any]], extra: str) -> None:
    """October's three days as they were booked, and one more."""
    assert set(days) == {*DAYS, extra}
    for reference, (total, _vat, _paid, _orders) in DAYS.items():
        assert D(days[reference]["total_price_incl_tax"]) == total, reference


def test_a_change_that_cannot_be_booked_exactly_is_parked_for_a_person(
    summary: Runtime, moneybird: MoneybirdSandbox, october: WooCommerceSandbox
) -> None:
    """After its day, 1007's first line goes up 5.00 and to a VAT rate the tax table does not
    map: the change cannot be booked, so it is parked as a correction (once, however often it
    is seen), the day stands, and the month's reconciliation shows 1007's day 5.00 short."""
    import copy

    from connector.sync.reconcile import Month, reconcile

    summary.engine().run_pass()
    edited = copy.deepcopy(october.orders[1007])
    line = edited["line_items"][0]
    line["tax_class"] = "nergens"
    line["taxes"] = [{"id": 99, "total": "0.00", "subtotal": "0.00"}]
    line["total"] = line["subtotal"] = f"{D(line['total']) + D('5.00'):.2f}"
    edited["total"] = f"{D(edited['total']) + D('5.00'):.2f}"  # 32.85 + 5.00
    october.put_order(edited, modified=datetime.now(UTC))
    summary.engine().run_pass()
    october.put_order(copy.deepcopy(edited), modified=datetime.now(UTC) + timedelta(seconds=5))
    summary.engine().run_pass()
    [correction] = summary.store.corrections(order_key="woocommerce:1007")
    assert correction.state == OrderState.PARKED
    assert "cannot be booked" in (correction.park_reason or "")
    assert_days_exact(moneybird)
    result = reconcile(summary.engine(), Month(2026, 10))
    assert [f.reference for f in result.findings] == ["WC-2026-10-06"], result.summary()
    assert result.findings[0].kind == "differences"
    assert result.findings[0].shop["total"] == "124.64"  # 119.64 + 5.00
    assert result.findings[0].moneybird["total"] == "119.64"
    from typer.testing import CliRunner

    from connector.cli import app

    config = str(summary.config.path)
    status = CliRunner().invoke(app, ["status", "--config", config], terminal_width=200)
    assert "0 booked as corrections, 0 waiting in their day, 1 parked" in status.output
    assert "order 1007: changed in the shop after its day's document" in status.output


def test_an_invoice_asked_for_after_the_day_is_parked_not_guessed(
    tmp_path: Path, moneybird: MoneybirdSandbox, october: WooCommerceSandbox
) -> None:
    """1007 is in 6 October's document; then its customer asks for an invoice of their own.
    The day stands, and the order is named for a person (credit it out of the day and invoice
    it, or tell the customer no): nothing is booked by guess."""
    import copy

    runtime = summary_runtime(tmp_path, october, moneybird, 'invoice_request_keys = ["_factuur"]')
    try:
        runtime.engine().run_pass()
        edited = copy.deepcopy(october.orders[1007])
        edited["meta_data"].append({"id": 8, "key": "_factuur", "value": "yes"})
        october.put_order(edited, modified=datetime.now(UTC))
        runtime.engine().run_pass()
        [correction] = runtime.store.corrections(order_key="woocommerce:1007")
        assert correction.state == OrderState.PARKED
        assert "now needs an invoice of its own (the customer asked for an invoice)" in (
            correction.park_reason or ""
        )
        assert_days_exact(moneybird)
        assert sorted(i["reference"] for i in moneybird.invoices.values()) == ["WC-1002", "WC-1010"]
    finally:
        runtime.close()


def test_refunds_are_negative_lines_on_the_day_they_are_paid_out(
    summary: Runtime, moneybird: MoneybirdSandbox, october: WooCommerceSandbox
) -> None:
    """The moka pot of 1001 comes back on 20 October (34.95 incl., 6.07 VAT at 21%, paid back
    by iDEAL); 1004 is refunded in full on 21 October (16.46, 2.86 VAT at 21%, by PayPal)."""
    from connector.sync.reconcile import Month, reconcile

    summary.engine().run_pass()
    october.refund(1001, items=[(10012, 1, "28.88", "6.07")],
                   when=datetime(2026, 10, 20, 12, tzinfo=UTC))  # fmt: skip
    october.refund(1004, "16.46", when=datetime(2026, 10, 21, 12, tzinfo=UTC))
    summary.engine().run_pass()
    days = days_in(moneybird)
    moka = days["WC-2026-10-20"]
    assert D(moka["total_price_incl_tax"]) == D("-34.95")
    assert {t["tax_rate_id"]: D(t["tax_amount"]) for t in moka["tax_totals"]
            if D(t["tax_amount"])} == {MB_RATE_21: D("-6.07")}  # fmt: skip
    assert [(p["financial_account_id"], D(p["price"])) for p in moka["payments"]] == [
        (FIN_MOLLIE, D("-34.95"))
    ]
    full = days["WC-2026-10-21"]
    assert D(full["total_price_incl_tax"]) == D("-16.46")
    assert {t["tax_rate_id"]: D(t["tax_amount"]) for t in full["tax_totals"]
            if D(t["tax_amount"])} == {MB_RATE_21: D("-2.86")}  # fmt: skip
    assert [(p["financial_account_id"], D(p["price"])) for p in full["payments"]] == [
        (FIN_PAYPAL, D("-16.46"))
    ]
    assert moka["state"] == full["state"] == "paid"
    # The earlier days stand as they were; reconciliation counts the refunds in their days.
    assert D(days["WC-2026-10-05"]["total_price_incl_tax"]) == D("134.88")
    result = reconcile(summary.engine(), Month(2026, 10))
    assert result.error is None and not result.findings, result.summary()
    assert result.refunds == 2


def test_a_customer_who_asks_for_an_invoice_gets_one_of_their_own(
    tmp_path: Path, moneybird: MoneybirdSandbox, october: WooCommerceSandbox
) -> None:
    # 1009, the only consumer order of 7 October, ticked "I want an invoice" at checkout.
    october.orders[1009]["meta_data"].append({"id": 9, "key": "_factuur", "value": "yes"})
    october.orders[1007]["meta_data"].append({"id": 8, "key": "_factuur", "value": "no"})
    runtime = summary_runtime(tmp_path, october, moneybird, 'invoice_request_keys = ["_factuur"]')
    try:
        runtime.engine().run_pass()
    finally:
        runtime.close()
    assert sorted(i["reference"] for i in moneybird.invoices.values()) == [
        "WC-1002", "WC-1009", "WC-1010"
    ]  # fmt: skip
    assert sorted(days_in(moneybird)) == ["WC-2026-10-05", "WC-2026-10-06"]  # 1007 said no


def test_the_dashboard_shows_an_order_in_its_days_document(
    summary: Runtime, moneybird: MoneybirdSandbox
) -> None:
    from connector.dashboard.app import Source, create_app
    from connector.dashboard.live import Live

    summary.engine().run_pass()
    config = summary.config
    live = Live(lambda: config)
    app = create_app(Source(lambda: config, lambda: summary.store, live, None))
    try:
        page = app.test_client().get("/orders/woocommerce:1003").get_data(as_text=True)
    finally:
        live.close()
    assert "Booked in the day&#39;s document WC-2026-10-05" in page
    assert "Orders: WC-1001 66.84, WC-1003 68.04" in page  # the day's document itself


def test_a_second_state_file_adopts_the_days_instead_of_making_them_again(
    tmp_path: Path, moneybird: MoneybirdSandbox, october: WooCommerceSandbox
) -> None:
    """The state is a cache of Moneybird: a second install (or a state restored from before
    the days were made) finds each day's document by its reference and books nothing twice."""
    for install in ("first", "second"):
        folder = tmp_path / install
        folder.mkdir()
        runtime = summary_runtime(folder, october, moneybird)
        try:
            runtime.engine().run_pass()
        finally:
            runtime.close()
    assert len(moneybird.external_invoices) == 3  # no day made twice
    assert_days_exact(moneybird)  # and each paid once
    assert sorted(i["reference"] for i in moneybird.invoices.values()) == ["WC-1002", "WC-1010"]
