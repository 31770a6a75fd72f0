"""`[shop] per_page`: how many orders (refunds, tax rates) the WooCommerce adapter asks for in a
page. Every list is read in pages of that size, to its end, the pages overlapping by one order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError
from connector.runtime import build_shop
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import demo_orders, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.shops.woocommerce.shop import WooCommerceShop
from tests.conftest import secrets_env, write_config


@pytest.fixture
def woo() -> Iterator[WooCommerceSandbox]:
    sandbox = WooCommerceSandbox()
    seed_shop(sandbox, demo_orders(datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)))
    sandbox.start()
    yield sandbox
    sandbox.stop()


def configured(folder: Path, woo: WooCommerceSandbox, setting: str) -> Path:
    mb = MoneybirdSandbox()
    path = write_config(folder, woo.url, "http://127.0.0.1:9/api/v2", mb.administration_id)
    text = path.read_text(encoding="utf-8").replace(
        "timeout_seconds = 10\n", f"timeout_seconds = 10\n{setting}\n", 1
    )
    path.write_text(text, encoding="utf-8")
    return path


def shop_of(path: Path, woo: WooCommerceSandbox) -> WooCommerceShop:
    config = load_config(path, environ=secrets_env(woo, MoneybirdSandbox()))
    shop = build_shop(config)
    assert isinstance(shop, WooCommerceShop)
    return shop


def order_lists(woo: WooCommerceSandbox) -> list[dict[str, str]]:
    return [q for m, p, q in woo.requests if m == "GET" and p.endswith("/orders")]


def test_the_order_list_is_read_in_pages_of_the_configured_size(
    tmp_path: Path, woo: WooCommerceSandbox
) -> None:
    shop = shop_of(configured(tmp_path, woo, "per_page = 3"), woo)
    woo.refund(1001, items=[(10012, 1, "28.88", "6.07")])
    woo.refund(1003, "5.00")
    poll = shop.changed_orders(datetime.now(UTC) - timedelta(days=30))
    orders = poll.orders
    # 1001..1010 but 1008 (processing); nothing lost or read twice across the pages.
    assert sorted(o["id"] for o in orders) == [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1009, 1010]
    pages = [q for q in order_lists(woo) if "offset" in q]
    # Pages of three overlapping by one: offsets 0, 2, 4, 6, 8 (the last one short).
    assert [q["per_page"] for q in pages] == ["3"] * 5
    assert [q["offset"] for q in pages] == ["0", "2", "4", "6", "8"]
    refunds = [q for m, p, q in woo.requests if p.endswith("/refunds")]
    assert refunds and all(q["per_page"] == "3" for q in refunds)
    assert poll.incomplete is None


def test_unset_it_is_the_most_woocommerce_gives(tmp_path: Path, woo: WooCommerceSandbox) -> None:
    shop = shop_of(configured(tmp_path, woo, ""), woo)
    assert len(shop.changed_orders(None).orders) == 9
    assert [q["per_page"] for q in order_lists(woo) if "offset" in q] == ["100"]


@pytest.mark.parametrize("value", ["1", "101", "0"])
def test_a_size_outside_2_to_100_is_refused_at_start(
    tmp_path: Path, woo: WooCommerceSandbox, value: str
) -> None:
    path = configured(tmp_path, woo, f"per_page = {value}")
    with pytest.raises(ConfigError, match="per_page"):
        load_config(path, environ=secrets_env(woo, MoneybirdSandbox()))
