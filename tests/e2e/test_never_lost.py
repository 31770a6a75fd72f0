"""No order is lost when the shop pages badly, its list moves while it is read, or its clock
steps back; and a first start books no history by surprise. Judged by the invoices that land
in the Moneybird sandbox, not by the connector's report."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import JEROEN, Item, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import secrets_env, write_config

DEMO_BOOKED = 8  # the demo shop's orders that book (one more is parked for its German VAT)


def references(mb: MoneybirdSandbox) -> Counter[str]:
    return Counter(i["reference"] for i in mb.invoices.values())


def unlimited(runtime: Runtime, moneybird: MoneybirdSandbox) -> None:
    moneybird.rate_limit = 100_000
    runtime.client.limiter.limit = 100_000


def espresso(order_id: int, created: datetime, status: str = "completed") -> dict:
    return woo_order(order_id, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)],
                     "0", created, status=status)  # fmt: skip


def test_a_proxy_that_strips_the_paging_headers_loses_no_order(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    start = datetime.now(UTC) - timedelta(days=2)
    for n in range(149):  # with the demo's 9: 158 orders, two pages of 100
        shop.put_order(espresso(3000 + n, start + timedelta(minutes=n)))
    shop.strip_paging_headers = True  # no X-WP-Total, no X-WP-TotalPages
    unlimited(runtime, moneybird)
    runtime.engine().run_pass()
    refs = references(moneybird)
    assert all(count == 1 for count in refs.values())
    assert {f"WC-{3000 + n}" for n in range(149)} <= set(refs)
    assert len(refs) == 149 + DEMO_BOOKED


def test_a_list_that_shifts_while_it_is_read_loses_no_order(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """Between the first and the second page, one order on the first page is changed (it moves
    forward), another leaves the status filter and a new one arrives: the total is the same,
    but every order behind the first page shifts two places towards it."""
    start = datetime.now(UTC) - timedelta(days=2)
    for n in range(141):  # with the demo's 9: 150 listed
        shop.put_order(espresso(3000 + n, start + timedelta(minutes=n)))
    listed: list[dict[str, str]] = []

    def busy_shop(query: dict[str, str]) -> None:
        listed.append(query)
        if len(listed) == 2:  # the second page of the first read is about to be answered
            shop.put_order(shop.orders[3010])  # changed now: moves to the end
            shop.orders[3020]["status"] = "on-hold"  # leaves the list
            shop.put_order(espresso(4000, datetime.now(UTC) - timedelta(minutes=5)))

    shop.before_list = busy_shop
    unlimited(runtime, moneybird)
    runtime.engine().run_pass()
    refs = references(moneybird)
    assert all(count == 1 for count in refs.values())
    # (3020 was read completed and paid on the first page: booking it is right.)
    expected = {f"WC-{3000 + n}" for n in range(141)} | {"WC-4000"}
    assert expected <= set(refs)
    # The order that sat first on the old second page is the one a page count would skip.
    assert "WC-3092" in refs


def test_a_shop_clock_that_steps_back_by_the_overlap_loses_no_order(
    runtime: Runtime, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    engine = runtime.engine()
    engine.run_pass()  # the watermark is now the shop's clock
    shop.clock_offset = -timedelta(minutes=16)  # stepped back by more than the 15 overlap
    for order_id in (5001, 5002):
        created = shop.now() - timedelta(minutes=3)  # paid 2 minutes later, on the shop's clock
        shop.put_order(espresso(order_id, created))
    runtime.engine().run_pass()
    refs = references(moneybird)
    assert refs["WC-5001"] == 1 and refs["WC-5002"] == 1


def first_start_runtime(tmp_path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> Runtime:
    mb.rate_limit = 100_000
    path = write_config(tmp_path, shop.url, mb.api_url, mb.administration_id,
                        mb_extra="rate_limit = 100000", history_start="")  # fmt: skip
    rt = build(load_config(path, environ=secrets_env(shop, mb)))
    rt.shop._sleep = lambda _s: None
    rt.client._sleep = lambda _s: None
    return rt


def test_a_first_start_books_no_history_and_says_so(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    year_ago = datetime.now(UTC) - timedelta(days=365)
    for n in range(120):  # a year of history beside the demo's orders of three days ago
        created = year_ago + timedelta(days=3 * n)
        shop.put_order(espresso(6000 + n, created), modified=created + timedelta(minutes=2))
    # One old order was changed today (a note added): read, but history all the same.
    shop.put_order(shop.orders[6050])
    runtime = first_start_runtime(tmp_path, shop, moneybird)
    try:
        report = runtime.engine().run_pass()
        assert moneybird.invoices == {}  # nothing from before the first start is booked
        # The first read asked only for orders changed since the start, not the history.
        listed = [q for m, p, q in shop.requests if p.endswith("/orders") and "offset" in q]
        assert listed and all("modified_after" in q for q in listed)
        assert (report.seen, report.booked, report.before_start) == (1, 0, 1)
        # An order paid after the start is booked on the next pass.
        shop.put_order(espresso(7001, datetime.now(UTC) - timedelta(minutes=1)))
        runtime.engine().run_pass()
        assert set(references(moneybird)) == {"WC-7001"}
    finally:
        runtime.close()
    env = secrets_env(shop, moneybird)
    result = CliRunner().invoke(app, ["status", "--config", str(tmp_path / "config.toml")], env=env)
    assert result.exit_code == 0, result.output
    # 129 completed orders were in the shop before the start: the demo's 9 and the 120.
    assert "129 orders paid before the start" in result.output
    assert "connector import --since" in result.output
    # The owner books the history after all: every order once, and status has nothing left.
    since = (year_ago - timedelta(days=1)).date().isoformat()
    config = str(tmp_path / "config.toml")
    result = CliRunner().invoke(app, ["import", "--since", since, "--config", config], env=env)
    assert result.exit_code == 0, result.output
    refs = references(moneybird)
    assert all(n == 1 for n in refs.values())
    assert {f"WC-{6000 + n}" for n in range(120)} | {"WC-7001"} <= set(refs)
    assert len(refs) == 120 + DEMO_BOOKED + 1
    result = CliRunner().invoke(app, ["status", "--config", config], env=env)
    assert "paid before the start" not in result.output


def test_import_moves_the_start_back_and_the_scheduler_never_rereads_history(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    year_ago = datetime.now(UTC) - timedelta(days=365)
    for n in range(60):
        created = year_ago + timedelta(days=3 * n)
        shop.put_order(espresso(6000 + n, created), modified=created + timedelta(minutes=2))
    week_ago = (datetime.now(UTC) - timedelta(days=7)).date()
    env = secrets_env(shop, moneybird)
    config = str(tmp_path / "config.toml")
    first_start_runtime(tmp_path, shop, moneybird).close()  # writes the config
    moneybird.rate_limit = 100_000
    result = CliRunner().invoke(
        app, ["import", "--since", week_ago.isoformat(), "--config", config], env=env
    )
    assert result.exit_code == 0, result.output
    assert len(references(moneybird)) == DEMO_BOOKED  # only the last week: the demo's orders
    shop.requests.clear()
    result = CliRunner().invoke(app, ["sync", "--config", config], env=env)
    assert result.exit_code == 0, result.output
    refs = references(moneybird)
    assert len(refs) == DEMO_BOOKED and all(n == 1 for n in refs.values())
    # The scheduled pass starts where the import began reading, not at the history.
    listed = [q for m, p, q in shop.requests if p.endswith("/orders") and "offset" in q]
    assert listed and all("modified_after" in q for q in listed)
    first = datetime.fromisoformat(listed[0]["modified_after"]).replace(tzinfo=UTC)
    assert first > datetime.now(UTC) - timedelta(hours=1)
    assert not any(ref.startswith("WC-60") for ref in refs)  # the year before: not booked


def test_a_first_start_behind_a_header_stripping_proxy_still_says_history_is_left(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    shop.strip_paging_headers = True
    runtime = first_start_runtime(tmp_path, shop, moneybird)
    try:
        runtime.engine().run_pass()
    finally:
        runtime.close()
    assert moneybird.invoices == {}
    env = secrets_env(shop, moneybird)
    result = CliRunner().invoke(app, ["status", "--config", str(tmp_path / "config.toml")], env=env)
    assert "are not booked by the scheduler (the shop did not say how many)" in result.output
