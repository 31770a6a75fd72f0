"""`connector import`: history oldest first, resumable, a dry run a bookkeeper can check."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from connector.cli import app
from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import JEROEN, Item, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Store
from connector.sync import history_import
from connector.sync.history_import import dry_run, run_import
from tests.conftest import secrets_env, write_config
from tests.helpers import booked_exactly_once

SINCE = datetime.now(UTC) - timedelta(days=10)


def test_dry_run_books_nothing_and_reports_per_month_and_rate(
    tmp_path: Path, runtime: Runtime, moneybird: MoneybirdSandbox
) -> None:
    result = dry_run(runtime.engine(), SINCE)
    assert moneybird.invoices == {} and all(m in ("GET", "POST") for m, *_ in moneybird.received)
    assert not [p for m, p, *_ in moneybird.received if m == "POST" and "synchronization" not in p]
    assert result.orders == 9
    assert [number for number, _reason in result.parked] == ["1006"]
    # Hand-summed from the demo orders (all in one month here): 21% gross 187.31, VAT 32.51;
    # 9% gross 400.20, VAT 33.05 (the same as the real run books, see the demo).
    months = {month for month, _rate in result.totals}
    assert len(months) <= 2
    by_rate: dict[str, list] = {}
    for (_month, rate), values in result.totals.items():
        row = by_rate.setdefault(rate, [0, 0, 0])
        for i in range(3):
            row[i] += values[i]
    assert [str(v) for v in by_rate["21% btw"]] == ["154.80", "32.51", "187.31"]
    assert [str(v) for v in by_rate["9% btw"]] == ["367.15", "33.05", "400.20"]
    # Jeroen is already in Moneybird; Anna's two spellings are one new contact.
    assert sorted(result.new_contacts) == [
        "anna.devries@example.nl", "fatima.elamrani@example.com", "lotte.visser@example.nl", "p.jansen@example.org",
    ]  # fmt: skip
    files = result.write(tmp_path / "report")
    rows = list(csv.DictReader(files[0].open()))
    assert {r["vat_rate"] for r in rows} == {"21% btw", "9% btw"}
    assert runtime.store.counts() == {}  # the state is untouched


def test_import_books_oldest_first_and_resumes_after_an_interruption(
    runtime: Runtime, moneybird: MoneybirdSandbox
) -> None:
    first = run_import(runtime.engine(), SINCE, limit=4)
    assert first.booked == 4
    assert sorted(i["reference"] for i in moneybird.invoices.values()) == [
        "WC-1001",
        "WC-1002",
        "WC-1003",
        "WC-1004",
    ]
    rest = run_import(runtime.engine(), SINCE)
    assert rest.booked == 4 and rest.parked == 1
    booked_exactly_once(moneybird, 8)
    # Known customers cost nothing; each invoice costs create, finalize, pay.
    again = run_import(runtime.engine(), SINCE)
    assert again.booked == 0 and again.moneybird_requests == 0


def test_import_command_with_progress_in_plain_lines(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    runner = CliRunner(env=secrets_env(shop, moneybird))
    since = SINCE.date().isoformat()
    report = tmp_path / "report"
    dry = runner.invoke(
        app,
        ["import", "--since", since, "--dry-run", "--report", str(report), "--config", str(path)],
    )
    assert dry.exit_code == 0, dry.output
    assert "Dry run: what the import would book" in dry.output and "order 1006:" in dry.output
    assert (report / "parked_orders.csv").read_text().count("1006") == 1
    real = runner.invoke(app, ["import", "--since", since, "--config", str(path)])
    assert real.exit_code == 0, real.output
    assert "9/9 orders" in real.output  # not a terminal: a plain progress line
    assert "8 booked, 1 parked" in real.output
    bad = runner.invoke(app, ["import", "--since", "last year", "--config", str(path)])
    assert bad.exit_code == 2


def test_a_long_import_keeps_the_container_healthy(runtime: Runtime) -> None:
    from connector.ops.health import health

    beats: list[tuple[bool, str]] = []

    def during(done: int, _total: int | None, _requests: int) -> None:
        if done == 5:
            beats.append(health(runtime.store, 15, now=datetime.now(UTC) + timedelta(minutes=20)))

    run_import(runtime.engine(), SINCE, progress=during)
    # No pass had finished (the import holds the lock), yet an import that is working is healthy.
    assert beats == [(True, "a history import is running (scheduled passes wait for it)")]
    assert health(runtime.store, 15, now=datetime.now(UTC) + timedelta(minutes=31))[0] is False
    assert runtime.store.runs(1)[0].outcome == "import" and runtime.store.runs(1)[0].booked == 8


def test_external_sales_invoices_cost_two_requests_and_never_double(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    from connector.config import load_config
    from connector.runtime import build
    from connector.sandbox.moneybird import Fault

    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
                        extra='document = "external_sales_invoice"\n')  # fmt: skip
    rt = build(load_config(path, environ=secrets_env(shop, moneybird)))
    # One create lands but answers 500: settled by reading the external invoices, not re-sent.
    moneybird.faults.append(Fault("POST", r"external_sales_invoices", "after_500", skip=2))
    try:
        run_import(rt.engine(), SINCE, limit=2)  # learn contacts and rates first
        before = sum(1 for *_, status in moneybird.requests)
        report = run_import(rt.engine(), SINCE)
        used = sum(1 for *_, status in moneybird.requests) - before
    finally:
        rt.close()
    assert moneybird.invoices == {}  # no Moneybird-numbered invoices at all
    external = list(moneybird.external_invoices.values())
    refs = Counter(i["reference"] for i in external)
    assert len(refs) == 8 and all(n == 1 for n in refs.values()), refs
    assert all(i["state"] == "paid" and len(i["payments"]) == 1 for i in external)
    assert all(i["source"] == "WooCommerce" for i in external)
    # 6 more orders: create + pay each; 1 per new contact (Fatima, Pieter, Lotte; Anna and
    # Jeroen are known by then); the ambiguous create settled by 1 list + 1 fetch; and this
    # run's own start: tax rates, the administration (its closed period), the contact list and
    # the list of invoices (nothing new in it to read: the first run's two were made here).
    assert report.booked == 6
    assert used == 6 * 2 + 3 + 2 + 4


def test_refunds_in_the_history_are_in_the_dry_run_and_booked_by_the_import(
    tmp_path: Path, runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    refund = shop.refund(1001, items=[(10012, 1, "28.88", "6.07")])  # the moka pot, 34.95
    result = dry_run(runtime.engine(), SINCE)
    assert result.refunds == [
        ("1001", str(refund["id"]), refund["date_created"][:10], "34.95",
         f"credit invoice WC-1001-R{refund['id']}"),
    ]  # fmt: skip
    by_rate: dict[str, list] = {}
    for (_month, rate), values in result.totals.items():
        row = by_rate.setdefault(rate, [0, 0, 0])
        for i in range(3):
            row[i] += values[i]
    # The demo's 21% totals (net 154.80, VAT 32.51, gross 187.31) less the credited moka pot
    # (net 28.88, VAT 6.07, gross 34.95).
    assert [str(v) for v in by_rate["21% btw"]] == ["125.92", "26.44", "152.36"]
    files = result.write(tmp_path / "report")
    assert f"WC-1001-R{refund['id']}" in files[3].read_text()
    assert moneybird.invoices == {}

    run_import(runtime.engine(), SINCE)
    credits = [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]
    assert [(c["reference"], c["state"]) for c in credits] == [(f"WC-1001-R{refund['id']}", "paid")]


def test_a_whole_order_refund_in_the_history_comes_off_the_dry_runs_totals(
    tmp_path: Path, runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """A whole-order refund's credit is Moneybird's duplicate of the invoice (no lines of its
    own): the dry run takes the original's figures per rate off, as the import books them."""
    refund = shop.refund(
        1001,
        items=[(10011, 2, "23.76", "2.14"), (10012, 1, "28.88", "6.07")],
        shipping=[(10013, "4.95", "1.04")],
    )  # the whole of 1001: beans 25.90 at 9%, moka pot 34.95 and shipping 5.99 at 21%
    result = dry_run(runtime.engine(), SINCE)
    assert [row[1:] for row in result.refunds] == [
        (str(refund["id"]), refund["date_created"][:10], "66.84",
         f"credit invoice WC-1001-R{refund['id']}"),
    ]  # fmt: skip
    by_rate: dict[str, list] = {}
    for (_month, rate), values in result.totals.items():
        row = by_rate.setdefault(rate, [0, 0, 0])
        for i in range(3):
            row[i] += values[i]
    # The demo's totals less 1001's: 21% net 154.80 - 33.83, VAT 32.51 - 7.11, gross 187.31 -
    # 40.94; 9% net 367.15 - 23.76, VAT 33.05 - 2.14, gross 400.20 - 25.90.
    assert [str(v) for v in by_rate["21% btw"]] == ["120.97", "25.40", "146.37"]
    assert [str(v) for v in by_rate["9% btw"]] == ["343.39", "30.91", "374.30"]
    assert moneybird.invoices == {}

    run_import(runtime.engine(), SINCE)
    [credit] = [i for i in moneybird.invoices.values() if i.get("original_sales_invoice_id")]
    assert credit["total_price_incl_tax"] == "-66.84"


def history(shop: WooCommerceSandbox, count: int, first: datetime, apart: timedelta) -> None:
    """`count` paid orders from Jeroen (a known contact), created `apart` from each other (0:
    all in one second), oldest first."""
    for n in range(count):
        created = first + n * apart
        order = woo_order(7000 + n, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)],
                          "0", created)  # fmt: skip
        shop.put_order(order, modified=created)


def fast_import(tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox) -> Path:
    """A config whose Moneybird budget never makes the command wait."""
    moneybird.rate_limit = 100_000
    return write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id,
                        mb_extra="rate_limit = 100000")  # fmt: skip


def test_an_import_over_a_shop_that_ignores_offset_books_the_whole_range(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """The shop pages by `page` alone, so to the connector its list moves on every page: the
    import carries on from the last provable point each time, for as long as that moves on."""
    history(shop, 600, SINCE + timedelta(days=1), timedelta(minutes=1))
    shop.ignores_offset = True
    path = fast_import(tmp_path, shop, moneybird)
    runner = CliRunner(env=secrets_env(shop, moneybird))
    result = runner.invoke(
        app, ["import", "--since", SINCE.date().isoformat(), "--config", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "609 orders read, 608 booked" in result.output  # with the demo's 9 (one parked)
    booked = booked_exactly_once(moneybird, 600 + 8, paid=True)
    assert {f"WC-{7000 + n}" for n in range(600)} <= set(booked)


def test_an_import_that_gets_no_further_exits_1_saying_what_is_left_and_carries_on_when_run_again(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """150 orders in one second and a shop that ignores `offset`: no restart gets past the
    first 100. Nothing is left behind silently: exit 1, how many are left, run it again."""
    history(shop, 150, SINCE + timedelta(days=1), timedelta(0))
    shop.ignores_offset = True
    path = fast_import(tmp_path, shop, moneybird)
    runner = CliRunner(env=secrets_env(shop, moneybird))
    since = SINCE.date().isoformat()
    dry = runner.invoke(app, ["import", "--since", since, "--dry-run", "--report",
                              str(tmp_path / "report"), "--config", str(path)])  # fmt: skip
    assert dry.exit_code == 1, dry.output
    assert "59 of the 159 orders in the range were not read" in " ".join(dry.output.split())
    first = runner.invoke(app, ["import", "--since", since, "--config", str(path)])
    assert first.exit_code == 1, first.output
    assert "100 orders read, 100 booked" in first.output
    said = " ".join(first.output.split())  # as one line, however the terminal wrapped it
    assert "Import stopped short: the shop's order list kept moving" in said
    assert "59 of the 159 orders in the range were not read" in said
    assert "run the same command again to carry on" in said
    assert len(booked_exactly_once(moneybird, 100)) == 100
    store = Store(tmp_path / "state.db")  # recorded too: `status` lists the run with the reason
    try:
        run = store.runs(1)[0]
    finally:
        store.close()
    assert run.outcome == "error" and "59 of the 159 orders" in (run.error or "")
    # The shop (or the plugin in front of it) mended: the same command books the rest, once.
    shop.ignores_offset = False
    again = runner.invoke(app, ["import", "--since", since, "--config", str(path)])
    assert again.exit_code == 0, again.output
    assert "58 booked, 1 parked" in again.output  # the 100 already booked are skipped
    booked = booked_exactly_once(moneybird, 150 + 8, paid=True)
    assert {f"WC-{7000 + n}" for n in range(150)} <= set(booked)


# --- a range that has not begun ---------------------------------------------------------------


def test_an_import_since_a_day_after_the_shops_today_is_refused_like_a_month_not_begun(
    config_path: Path, moneybird: MoneybirdSandbox
) -> None:
    """Nothing to read yet: refused with one line and exit 2, not "0 orders read" with exit 0
    (an empty report is never taken for an empty history). Nothing is asked of Moneybird."""
    for dry in ([], ["--dry-run", "--report", str(config_path.parent / "report")]):
        result = runner_for_import(["--since", "2099-01-01", *dry, "--config", str(config_path)])
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1, result.output
        assert "--since 2099-01-01 has not begun" in result.output
        assert "Europe/Amsterdam" in result.output
    assert moneybird.received == []
    assert not (config_path.parent / "report").exists()


def test_the_shops_today_is_in_sync_timezone(
    config_path: Path, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 23:30 UTC on 31 December it is 1 January in Amsterdam (sync.timezone): that day has
    begun in the shop, the 2nd has not."""
    monkeypatch.setattr(
        history_import, "utcnow", lambda: datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    )
    later = runner_for_import(["--since", "2027-01-02", "--config", str(config_path)])
    assert later.exit_code == 2, later.output
    assert "--since 2027-01-02 has not begun (today is 2027-01-01, Europe/Amsterdam)" in (
        later.output
    )
    begun = runner_for_import(["--since", "2027-01-01", "--config", str(config_path)])
    assert begun.exit_code == 0, begun.output
    assert "0 orders read" in begun.output


def runner_for_import(arguments: list[str]) -> Result:
    return CliRunner().invoke(app, ["import", *arguments])
