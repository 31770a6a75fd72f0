"""One bad order never holds up the shop: a value that does not parse or could not be a sale
parks its own order on the first pass, named with the field and its value, and every other
order is booked on that same pass. Judged by what landed in the sandbox Moneybird."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.ops.health import health
from connector.runtime import Runtime
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import ANNA, JEROEN, Item, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderRecord, OrderState
from tests.conftest import secrets_env
from tests.helpers import booked_exactly_once

DEMO_BOOKED = {f"WC-{n}" for n in (1001, 1002, 1003, 1004, 1005, 1007, 1009, 1010)}
GOOD = DEMO_BOOKED | {"WC-1011", "WC-1012"}


def _add(shop: WooCommerceSandbox, order_id: int) -> dict[str, Any]:
    """A good order (21.50 of espresso, paid an hour ago), as the shop has it."""
    paid = datetime.now(UTC) - timedelta(hours=1)
    order = woo_order(order_id, ANNA, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)],
                      "0", paid)  # fmt: skip
    shop.put_order(order)
    return shop.orders[order_id]


def _reason(runtime: Runtime, order_id: int) -> str:
    record = runtime.store.order(f"woocommerce:{order_id}")
    assert record is not None and record.state == OrderState.PARKED, record
    return record.park_reason or ""


@pytest.mark.parametrize("modified", ["2021-1008T13:54:36", "garbage", "2026-13-01T00:00:00"])
def test_a_nonsense_date_and_a_far_future_paid_date_park_only_their_own_orders(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, modified: str
) -> None:
    for order_id in (1011, 1012):
        _add(shop, order_id)
    _add(shop, 1013)["date_modified_gmt"] = modified  # verbatim from a real integration's data
    _add(shop, 1014)["date_paid_gmt"] = "9999-12-31T23:59:59"
    report = runtime.engine().run_pass()
    assert report.error is None
    assert set(booked_exactly_once(moneybird, paid=True)) == GOOD  # on the first pass
    assert f"date_modified_gmt '{modified}' is not a date" in _reason(runtime, 1013)
    paid = _reason(runtime, 1014)
    assert "date_paid_gmt '9999-12-31T23:59:59' cannot be this order's" in paid
    assert "internal error" not in paid
    ok, why = health(runtime.store, runtime.config.sync.interval_minutes)
    assert ok, why
    env = secrets_env(shop, moneybird)
    config = str(runtime.config.path)
    status = CliRunner().invoke(app, ["status", "--config", config], env=env)
    assert "1013" in status.output and "1014" in status.output
    assert "No orders need attention" not in status.output
    # preview says what the pass did, in the same words
    preview = CliRunner().invoke(app, ["preview", "1014", "--config", config], env=env)
    assert "9999-12-31T23:59:59" in preview.output and "park" in preview.output.lower()
    # A second pass writes nothing and parks nothing again.
    writes = len(moneybird.accepted)
    again = runtime.engine().run_pass()
    assert again.parked == 0 and again.error is None
    assert [a for a in moneybird.accepted[writes:] if "synchronization" not in a[1]] == []
    # The shop corrects the date: the order is looked at again and booked.
    _add(shop, 1013)
    runtime.engine().run_pass()
    assert "WC-1013" in booked_exactly_once(moneybird, paid=True)


def test_a_far_future_date_an_older_state_kept_never_holds_up_the_others(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """A state written before dates were checked may hold a paid date of 9999: the documents
    scan that serves every order ignores it."""
    runtime.store.save(
        OrderRecord(key="woocommerce:999", shop="woocommerce", order_id="999", number="999",
                    state=OrderState.PENDING.value, paid_at="9999-12-31T23:59:59+00:00",
                    first_seen="2999-01-01T00:00:00+00:00")  # looked at after the others
    )  # fmt: skip
    report = runtime.engine().run_pass()
    assert report.error is None
    assert set(booked_exactly_once(moneybird, paid=True)) == DEMO_BOOKED


def _loose(payload: dict[str, Any], change: str) -> None:
    line = payload["line_items"][0]
    if change == "no rate_id":
        del payload["tax_lines"][0]["rate_id"]
    elif change in ("0", "-1"):
        line["quantity"] = int(change)
    elif change == "9 decimals":
        line["total"] = line["subtotal"] = "19.724770642"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("no rate_id", "rate_id"),
        ("0", "quantity 0 with a total of 19.72"),
        ("-1", "quantity -1 with a total of 19.72"),
        ("9 decimals", "total 19.724770642 has more decimals"),
    ],
)
def test_loose_shop_values_park_their_order_on_the_first_pass_naming_the_field(
    runtime: Runtime,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    change: str,
    named: str,
) -> None:
    _loose(_add(shop, 1013), change)
    report = runtime.engine().run_pass()
    assert report.error is None
    assert set(booked_exactly_once(moneybird, paid=True)) == DEMO_BOOKED
    reason = _reason(runtime, 1013)
    assert named in reason and "internal error" not in reason
    assert not any(d.get("description") == "Korting" for i in moneybird.invoices.values()
                   for d in i["details"] if i["reference"] == "WC-1013")  # fmt: skip


def test_preview_of_an_order_with_a_nonsense_date_says_the_pass_parks_it(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, tmp_path: Path
) -> None:
    _add(shop, 1013)["date_modified_gmt"] = "garbage"
    env = secrets_env(shop, moneybird)
    config = str(runtime.config.path)
    preview = CliRunner().invoke(app, ["preview", "1013", "--config", config], env=env)
    assert "date_modified_gmt 'garbage' is not a date" in preview.output
    runtime.engine().run_pass()
    assert "date_modified_gmt 'garbage' is not a date" in _reason(runtime, 1013)
    assert JEROEN.email  # the other customers' orders: booked above by the pass


def _bad_history(shop: WooCommerceSandbox, field: str, value: str) -> None:
    """An order created before the demo's, so an import reads it first."""
    paid = datetime.now(UTC) - timedelta(days=4)
    shop.put_order(woo_order(990, ANNA, [Item("Espresso", "EB", 1, "21.50", 2)], "0", paid))
    shop.orders[990][field] = value


@pytest.mark.parametrize(
    ("field", "value"),
    [("date_paid_gmt", "9999-12-31T23:59:59"), ("date_modified_gmt", "garbage")],
)
def test_an_import_parks_the_bad_order_and_books_the_rest(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, field: str, value: str
) -> None:
    _bad_history(shop, field, value)
    since = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
    env = secrets_env(shop, moneybird)
    config = str(runtime.config.path)
    report = str(runtime.config.path.parent / "import-report")
    dry = CliRunner().invoke(app, ["import", "--since", since, "--dry-run", "--report", report,
                                   "--config", config], env=env)  # fmt: skip
    assert dry.exit_code == 0, dry.output
    result = CliRunner().invoke(app, ["import", "--since", since, "--config", config], env=env)
    assert result.exit_code == 0, result.output
    assert set(booked_exactly_once(moneybird, paid=True)) == DEMO_BOOKED
    assert f"{field} '{value}'" in _reason(runtime, 990)


@pytest.mark.parametrize("modified", ["garbage", "2099-01-01T00:00:00"])
def test_a_shop_without_modified_after_never_drops_an_order_with_a_bad_stamp(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, modified: str
) -> None:
    """Older WooCommerce: the list is filtered here, by the stamp; one that is no date (or could
    not be the order's) is passed on and parked, never dropped while the watermark moves on."""
    shop.supports_modified_after = False
    runtime.engine().run_pass()
    _add(shop, 1013)["date_modified_gmt"] = modified
    runtime.engine().run_pass()
    assert f"date_modified_gmt '{modified}'" in _reason(runtime, 1013)


@pytest.mark.parametrize("field", ["date_paid_gmt", "date_modified_gmt"])
def test_reconcile_lists_the_bad_order_and_compares_the_month(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, field: str
) -> None:
    from connector.sync.reconcile import Month, reconcile

    runtime.engine().run_pass()
    paid = datetime.now(UTC) - timedelta(days=3, hours=1)
    shop.put_order(woo_order(998, ANNA, [Item("Espresso", "EB", 1, "21.50", 2)], "0", paid))
    shop.orders[998][field] = "9999-12-31T23:59:59"
    month = Month.of(paid.astimezone(ZoneInfo("Europe/Amsterdam")).date())  # the shop's month
    result = reconcile(runtime.engine(), month)
    assert result.error is None, result.error
    [known] = [k for k in result.parked if k.order == "998"]
    assert "9999-12-31T23:59:59" in known.reason


def test_a_pass_that_left_the_order_list_half_read_says_so_in_status(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """A shop that ignores `offset`, with a page and a half of orders changed in one second: no
    read gets past them. The pass books what it read and status says the rest is not read."""
    shop.ignores_offset = True
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    for n in range(150):  # awaiting a bank transfer: read and recorded, nothing to book yet
        order = woo_order(5000 + n, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)],
                          "0", moment, paid=False)  # fmt: skip
        shop.put_order(order, modified=moment)
    report = runtime.engine().run_pass()
    assert report.error is None
    env = secrets_env(shop, moneybird)
    status = CliRunner().invoke(app, ["status", "--config", str(runtime.config.path)], env=env)
    assert "The last pass did not read the shop's whole order list" in status.output
    shop.ignores_offset = False  # the shop is mended: the next pass reads it whole
    runtime.engine().run_pass()
    status = CliRunner().invoke(app, ["status", "--config", str(runtime.config.path)], env=env)
    assert "did not read the shop's whole order list" not in status.output
    assert set(booked_exactly_once(moneybird, paid=True)) == DEMO_BOOKED
    assert len(runtime.store.orders({OrderState.UNPAID})) == 150  # every one of them read
