"""Reconciliation knows the connector's own bookings (issue 29, item 1): its rounding is part of
an order's document, documents in other currencies count in the VAT table, and a month that has
not begun is refused.

Hand-worked figures (November 2026; the sandbox converts at 4.25 PLN and 0.87 GBP a euro):
- 1101, prices excl. VAT, two lamps of 12.50 at 21%: the shop rounds VAT per line, 2.625 -> 2.63
  twice = 5.26, total 30.26; Moneybird rounds once over the rate, 25.00 x 21% = 5.25, total 30.25.
  The customer paid 30.26; the connector settles Moneybird's -0.01 with its rounding payment.
- 1102, prices incl. VAT, two lamps of 15.13 at 21%: the shop's VAT 2.63 twice = 5.26 (net 25.00);
  Moneybird's VAT over 30.26 incl. is 5.25. The total agrees, so there is no rounding payment:
  only Moneybird's VAT rounding, within the tolerance, as the connector booked it.
- 1201, EUR: a lamp 121.00 incl. 21% -> VAT 21.00.
- 1202, PLN: a lamp 605.00 incl. 21% -> VAT 105.00 PLN; in euros 105.00 / 4.25 = 24.705.. -> 24.71.
- 1203, GBP: coffee 109.00 incl. 9% -> VAT 9.00 GBP; in euros 9.00 / 0.87 = 10.344.. -> 10.34.
  21%: 21.00 + 24.71 = 45.71; 9%: 10.34.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import ANNA, MB_RATE_9, MB_RATE_21, Item, seed_shop, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import secrets_env, write_config

runner = CliRunner()
PAID = datetime(2026, 11, 10, 9, tzinfo=UTC)


def lamps(order_id: int, price: str, incl: bool) -> dict[str, Any]:
    items = [Item("Lamp", "L-1", 1, price, 1), Item("Lamp", "L-2", 1, price, 1)]
    return woo_order(order_id, ANNA, items, "0", PAID, prices_include_tax=incl)


def in_currency(order_id: int, item: Item, currency: str, euros: str) -> dict[str, Any]:
    """An order paid in another currency; the shop's currency plugin kept its euro total."""
    order = woo_order(order_id, ANNA, [item], "0", PAID)
    order["currency"] = currency
    order["meta_data"].append({"id": 1, "key": "_order_total_base_currency", "value": euros})
    return order


@pytest.fixture
def november(
    moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[WooCommerceSandbox, list[dict[str, Any]]]]:
    woo = WooCommerceSandbox()
    orders: list[dict[str, Any]] = []
    seed_shop(woo, orders)
    woo.start()
    for name, value in secrets_env(woo, moneybird).items():
        monkeypatch.setenv(name, value)
    yield woo, orders
    woo.stop()


def book(
    tmp_path: Path, woo: WooCommerceSandbox, mb: MoneybirdSandbox, *orders: dict[str, Any]
) -> Path:
    for order in orders:
        woo.put_order(order, modified=PAID)
    extra = 'currencies = ["EUR", "PLN", "GBP"]\n'
    config = write_config(tmp_path, woo.url, mb.api_url, mb.administration_id, extra)
    booked = runner.invoke(app, ["sync", "--config", str(config)])
    assert booked.exit_code == 0, booked.output
    return config


def reconcile(config: Path, month: str = "2026-11") -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["reconcile", "--month", month, "--json", "--config", str(config)])
    assert result.exit_code in (0, 5), result.output
    return result.exit_code, json.loads(result.stdout)


def invoice(mb: MoneybirdSandbox, reference: str) -> dict[str, Any]:
    return next(i for i in mb.invoices.values() if i["reference"] == reference)


def row_of(report: dict[str, Any], order: str) -> dict[str, Any]:
    return next(r for r in report["orders"] if r["order"] == order)


# --- the connector's rounding ---------------------------------------------------------------


def test_the_connectors_rounding_payment_is_part_of_its_document(
    tmp_path: Path, november: tuple[WooCommerceSandbox, Any], moneybird: MoneybirdSandbox
) -> None:
    config = book(tmp_path, november[0], moneybird, lamps(1101, "12.50", incl=False))
    booked = invoice(moneybird, "WC-1101")
    assert booked["total_price_incl_tax"] == "30.25" and booked["state"] == "paid"
    rounding = [p for p in booked["payments"] if p["manual_payment_action"] == "rounding_error"]
    assert [(p["price"], p["transaction_identifier"]) for p in rounding] == [
        ("-0.01", "woocommerce-order-1101-rounding")
    ]
    code, report = reconcile(config)
    assert code == 0 and report["outcome"] == "agrees", report["differences"]
    row = row_of(report, "1101")
    assert row["total"] == "30.25" and row["rounding"] == "-0.01"
    assert row["status"].startswith("agrees (rounding 0.01, settled by the connector's rounding")
    [vat] = report["vat"]
    assert (vat["shop"], vat["documents"], vat["report"]) == ("5.26", "5.25", "5.25")
    assert vat["rounding"] == "-0.01" and vat["agrees"] is True
    shown = runner.invoke(
        app, ["reconcile", "--month", "2026-11", "--config", str(config)], terminal_width=200
    )
    assert shown.exit_code == 0
    assert "the connector's own rounding on 1 document: 0.01" in shown.output


def test_moneybirds_vat_rounding_on_what_the_connector_booked_agrees(
    tmp_path: Path, november: tuple[WooCommerceSandbox, Any], moneybird: MoneybirdSandbox
) -> None:
    config = book(tmp_path, november[0], moneybird, lamps(1102, "15.13", incl=True))
    booked = invoice(moneybird, "WC-1102")
    assert booked["total_price_incl_tax"] == "30.26"
    assert [t["tax_amount"] for t in booked["tax_totals"]] == ["5.25"]
    assert all(p["manual_payment_action"] is None for p in booked["payments"])
    code, report = reconcile(config)
    assert code == 0, report["differences"]
    row = row_of(report, "1102")
    assert row["rounding"] is None
    assert row["status"] == "agrees (VAT rounded by Moneybird: 21% btw -0.01, as booked)"
    [vat] = report["vat"]
    assert (vat["shop"], vat["documents"], vat["rounding"]) == ("5.26", "5.25", "-0.01")
    assert vat["agrees"] is True


def _made_by_hand(booked: dict[str, Any]) -> None:
    """The connector's rounding payment gone; a bookkeeper's own rounding of the same amount."""
    payment = next(p for p in booked["payments"] if p["manual_payment_action"] == "rounding_error")
    payment.update(id="499999999999999999", transaction_identifier=None)


def _deleted(booked: dict[str, Any]) -> None:
    """The connector's rounding payment deleted in Moneybird: 0.01 more paid than the total."""
    booked["payments"] = [p for p in booked["payments"] if p["manual_payment_action"] is None]
    booked.update(total_paid="30.26", total_unpaid="-0.01", state="open")


@pytest.mark.parametrize("change", [_made_by_hand, _deleted])
def test_a_rounding_the_connector_did_not_make_is_a_difference(
    change: Any,
    tmp_path: Path,
    november: tuple[WooCommerceSandbox, Any],
    moneybird: MoneybirdSandbox,
) -> None:
    config = book(tmp_path, november[0], moneybird, lamps(1101, "12.50", incl=False))
    change(invoice(moneybird, "WC-1101"))
    code, report = reconcile(config)
    assert code == 5
    [found] = report["differences"]
    assert "total 30.25 in Moneybird, 30.26 in the shop" in found["what"]
    assert row_of(report, "1101")["rounding"] is None


def test_a_rounding_beyond_the_tolerance_is_a_difference(
    tmp_path: Path, november: tuple[WooCommerceSandbox, Any], moneybird: MoneybirdSandbox
) -> None:
    config = book(tmp_path, november[0], moneybird, lamps(1101, "12.50", incl=False))
    # The tolerance lowered since: the cent it once allowed no longer is.
    text = config.read_text().replace("[sync]\n", '[sync]\nrounding_tolerance = "0.005"\n')
    config.write_text(text)
    code, report = reconcile(config)
    assert code == 5
    assert "total 30.25 in Moneybird, 30.26 in the shop" in report["differences"][0]["what"]


# --- other currencies -----------------------------------------------------------------------


def test_documents_in_other_currencies_count_in_the_vat_table(
    tmp_path: Path, november: tuple[WooCommerceSandbox, Any], moneybird: MoneybirdSandbox
) -> None:
    moneybird.exchange_rates.update(PLN=Decimal("4.25"), GBP=Decimal("0.87"))
    config = book(
        tmp_path,
        november[0],
        moneybird,
        woo_order(1201, ANNA, [Item("Lamp", "L", 1, "121.00", 1)], "0", PAID),
        in_currency(1202, Item("Lamp", "L", 1, "605.00", 1), "PLN", "142.35"),
        in_currency(1203, Item("Koffie", "K", 1, "109.00", 2), "GBP", "125.29"),
    )
    assert invoice(moneybird, "WC-1202")["tax_totals"][0]["tax_amount_base"] == "24.71"
    code, report = reconcile(config)
    assert code == 0, report
    vat = {row["tax_rate_id"]: row for row in report["vat"]}
    figures = {r: (v["shop"], v["documents"], v["report"], v["agrees"]) for r, v in vat.items()}
    assert figures == {
        MB_RATE_21: ("45.71", "45.71", "45.71", True),
        MB_RATE_9: ("10.34", "10.34", "10.34", True),
    }
    # Listed apart too: each currency's VAT as the documents carry it, and in euros.
    listed = [
        (c["currency"], c["name"], c["shop"], c["documents"], c["documents_in_euros"])
        for c in report["vat_other_currencies"]
    ]
    assert listed == [
        ("GBP", "9% btw", "9.00", "9.00", "10.34"),
        ("PLN", "21% btw", "105.00", "105.00", "24.71"),
    ]
    assert "in euros as Moneybird converted them" in report["vat_note"]
    shown = runner.invoke(
        app, ["reconcile", "--month", "2026-11", "--config", str(config)], terminal_width=200
    )
    assert "VAT on documents in other currencies" in shown.output
    assert "105.00" in shown.output and "24.71" in shown.output


def test_an_other_currency_order_without_its_document_is_never_agreeing(
    tmp_path: Path, november: tuple[WooCommerceSandbox, Any], moneybird: MoneybirdSandbox
) -> None:
    moneybird.exchange_rates.update(GBP=Decimal("0.87"))
    config = book(
        tmp_path,
        november[0],
        moneybird,
        in_currency(1203, Item("Koffie", "K", 1, "109.00", 2), "GBP", "125.29"),
    )
    moneybird.delete_document(invoice(moneybird, "WC-1203")["id"])
    code, report = reconcile(config)
    assert code == 5 and [m["order"] for m in report["missing"]] == ["1203"]
    assert "1203 (9.00 GBP)" in report["vat_note"]


# --- refused ----------------------------------------------------------------------------------


def test_a_month_that_has_not_begun_is_refused(
    tmp_path: Path, november: tuple[WooCommerceSandbox, Any], moneybird: MoneybirdSandbox
) -> None:
    config = book(tmp_path, november[0], moneybird)
    asked = len(moneybird.received)
    later = runner.invoke(app, ["reconcile", "--month", "2099-01", "--config", str(config)])
    assert later.exit_code == 2, later.output
    assert later.output.count("\n") == 1 and "2099-01 has not begun" in later.output
    assert len(moneybird.received) == asked  # nothing read
    # The month under way has begun: it is reconciled (so far).
    now = datetime.now(UTC)
    current = runner.invoke(app, ["reconcile", "--month", f"{now:%Y-%m}", "--config", str(config)])
    assert current.exit_code == 0, current.output


@pytest.mark.parametrize("until", ["2026-11-01", "2026-10-15"])
def test_an_import_until_not_after_since_is_refused(
    until: str,
    tmp_path: Path,
    november: tuple[WooCommerceSandbox, Any],
    moneybird: MoneybirdSandbox,
) -> None:
    config = book(tmp_path, november[0], moneybird)
    asked = len(moneybird.received)
    result = runner.invoke(
        app, ["import", "--since", "2026-11-01", "--until", until, "--config", str(config)]
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert f"--until {until} is not after --since 2026-11-01" in result.output
    assert len(moneybird.received) == asked


def test_an_outage_stops_reconcile_without_speaking_of_a_pass(
    tmp_path: Path, november: tuple[WooCommerceSandbox, Any], moneybird: MoneybirdSandbox
) -> None:
    config = book(tmp_path, november[0], moneybird, lamps(1101, "12.50", incl=False))
    moneybird.down_status = 503
    down = runner.invoke(app, ["reconcile", "--month", "2026-11", "--config", str(config)])
    assert down.exit_code == 1
    assert "Moneybird at 127.0.0.1" in down.output and "is unavailable" in down.output
    assert "could not complete" in down.output and "pass" not in down.output
