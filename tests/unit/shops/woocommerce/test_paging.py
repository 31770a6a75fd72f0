"""The order list read against the WooCommerce sandbox when it moves on every page: read to its
end while each restart gets further, and said to be incomplete when restarts get no further."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.errors import ShopError
from connector.sandbox.seed import JEROEN, Item, woo_order
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.shops.woocommerce.shop import WooCommerceShop

CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def woo() -> Iterator[WooCommerceSandbox]:
    sandbox = WooCommerceSandbox(ignores_offset=True)  # pages by `page` alone: moves every page
    sandbox.start()
    yield sandbox
    sandbox.stop()


def reader(woo: WooCommerceSandbox) -> WooCommerceShop:
    return WooCommerceShop(woo.url, woo.consumer_key, woo.consumer_secret, ["completed"],
                           sleep=lambda _s: None)  # fmt: skip


def seed(woo: WooCommerceSandbox, count: int, apart: timedelta) -> None:
    """`count` orders created (and changed) `apart` from each other; apart 0: in one second."""
    for n in range(count):
        moment = CREATED + n * apart
        order = woo_order(5000 + n, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)],
                          "0", moment)  # fmt: skip
        woo.put_order(order, modified=moment)


def test_a_pass_over_a_shop_that_ignores_offset_reads_the_whole_list(
    woo: WooCommerceSandbox,
) -> None:
    seed(woo, 350, timedelta(minutes=1))
    poll = reader(woo).changed_orders(CREATED - timedelta(hours=1))
    ids = [order["id"] for order in poll.orders]
    assert sorted(ids) == [5000 + n for n in range(350)] and len(ids) == 350
    # Read to the end: complete up to the shop's clock, not stopped where it moved.
    assert poll.incomplete is None and poll.complete_until == poll.shop_time


def test_a_list_that_gets_no_further_is_said_to_be_incomplete_and_never_spins(
    woo: WooCommerceSandbox,
) -> None:
    seed(woo, 150, timedelta(0))  # a page and a half in one second: no stamp to move on by
    shop = reader(woo)
    poll = shop.changed_orders(CREATED - timedelta(hours=1))
    assert len(poll.orders) == 100
    assert poll.incomplete is not None
    assert "got no further than the orders changed after 2026-01-05 08:59:59 UTC" in poll.incomplete
    assert "ignore that parameter" in poll.incomplete  # the same page, whatever the offset
    # Complete only up to the point it provably read: the next pass starts there again.
    assert poll.complete_until == CREATED - timedelta(seconds=1)
    assert shop.requests <= 14  # one OPTIONS, then a bounded number of restarts


def test_a_history_read_that_stops_short_raises_after_its_last_page(
    woo: WooCommerceSandbox,
) -> None:
    seed(woo, 150, timedelta(0))
    pages: list[tuple[int, int | None]] = []
    with pytest.raises(ShopError, match="kept moving while it was read"):
        for page, total in reader(woo).orders_between(CREATED - timedelta(days=1), None):
            pages.append((len(page), total))
    assert sum(n for n, _total in pages) == 100 and pages[0][1] == 150  # read, then said
