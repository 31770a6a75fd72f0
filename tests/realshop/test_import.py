"""`import` of the real shop's history (orders in the posts tables, prices incl. VAT): its dry
run's report against the shop's figures, then the import, then nothing twice."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.realshop.harness import RealShop
from tests.realshop.scenario import BOOKED_STATUSES, MB_RATE, Scenario, judge, shop_vat

D = Decimal


@pytest.fixture(scope="module")
def scn(shop_posts_incl: RealShop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    with pytest.MonkeyPatch.context() as mp:
        scenario = Scenario(shop_posts_incl, tmp_path_factory.mktemp("import"), mp)
        try:
            yield scenario
        finally:
            scenario.close()


def since(scn: Scenario) -> str:
    """The day of the shop's first order (created dates, UTC, as `import --since` takes them)."""
    first = min(datetime.fromisoformat(o["date_created_gmt"]) for o in scn.api.orders())
    return first.date().isoformat()


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def dry_run(scn: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = tmp_path_factory.mktemp("import-report") / "report"
    result = scn.cli("import", "--since", since(scn), "--dry-run", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert scn.writes() == []  # a dry run books nothing
    return report


def test_the_dry_run_reports_the_shops_figures(scn: Scenario, dry_run: Path) -> None:
    """Its totals per VAT rate are what the import books: the invoices, less the credits."""
    orders = {
        o["id"]: o
        for o in scn.api.orders()
        if o["status"] in BOOKED_STATUSES and o["date_paid_gmt"]
    }
    refunds = [r for r in scn.api.refunds() if r["parent_id"] in orders]
    vat: dict[str, Decimal] = {}
    for rate, amount in [a for o in orders.values() for a in shop_vat(o).items()] + [
        a for r in refunds for a in refund_vat(r, orders[r["parent_id"]]).items()
    ]:
        vat[rate] = vat.get(rate, D(0)) + amount
    names = {r["id"]: r["name"] for r in scn.mb.tax_rates}
    rows = read(dry_run / "totals_per_month_and_rate.csv")
    assert {r["vat_rate"]: D(r["vat"]) for r in rows} == {names[k]: v for k, v in vat.items() if v}
    gross = sum(D(o["total"]) for o in orders.values()) - sum(D(r["amount"]) for r in refunds)
    assert sum(D(r["gross"]) for r in rows) == gross
    assert read(dry_run / "parked_orders.csv") == []
    shop = {(str(r["parent_id"]), str(r["id"]), r["amount"]) for r in refunds}
    assert {(r["order"], r["refund"], r["amount"]) for r in read(dry_run / "refunds.csv")} == shop


def refund_vat(refund: dict[str, Any], order: dict[str, Any]) -> dict[str, Decimal]:
    """A refund's VAT per rate: the shop's for a refund of lines; for an amount only (the shop
    records no VAT), the VAT in it at the order's one rate."""
    if any(refund.get(k) for k in ("line_items", "shipping_lines", "fee_lines")):
        return shop_vat(refund)
    (rate_line,) = order["tax_lines"]  # the seeded amount-only refund is on a one-rate order
    pct = D(rate_line["rate_percent"])
    amount = D(refund["amount"])
    return {MB_RATE[rate_line["rate_id"]]: -(amount * pct / (100 + pct)).quantize(D("0.01"))}


def test_the_import_books_the_history_once(scn: Scenario, dry_run: Path) -> None:
    result = scn.cli("import", "--since", since(scn))
    assert result.exit_code == 0, result.output
    assert judge(scn) == []
    scn.mb.received.clear()
    again = scn.cli("import", "--since", since(scn))
    assert again.exit_code == 0, again.output
    scn.sync()
    assert scn.writes() == []
