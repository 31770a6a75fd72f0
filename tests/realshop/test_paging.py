"""The order list read in pages of three (posts tables, prices excl. VAT) while the shop
changes between pages: an order already read is edited (it moves to the end of the list, by
modification time) and a new order is placed. Every order is booked once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.shops.woocommerce.shop import WooCommerceShop
from tests.realshop.harness import RealShop
from tests.realshop.scenario import LOTTE, Scenario, judge

PER_PAGE = 3  # the config's [shop] per_page


def new_order(scn: Scenario) -> dict[str, Any]:
    product = scn.api.get("products", sku="MS-1")[0]  # 49.00 + 4.95 shipping, both 21%
    person = {
        "first_name": "Noor", "last_name": "Dekker", "address_1": "Bakkerstraat 7",
        "postcode": "6811 EG", "city": "Arnhem", "country": "NL",
    }  # fmt: skip
    return scn.api.post(
        "orders",
        {
            "payment_method": "mollie_wc_gateway_ideal", "payment_method_title": "iDEAL",
            "transaction_id": "tr_Pg3Nw", "set_paid": True, "status": "completed",
            "billing": {**person, "email": "noor.dekker@example.nl"}, "shipping": person,
            "line_items": [{"product_id": product["id"], "quantity": 1}],
            "shipping_lines": [
                {"method_id": "flat_rate", "method_title": "PostNL pakket", "total": "4.95"}
            ],
        },
    )  # fmt: skip


@pytest.fixture(scope="module")
def paged(
    shop_posts_excl: RealShop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Scenario, list[int], dict[str, Any]]]:
    """Two passes reading pages of three; after the first page an order on it is edited, after
    the second a new order is placed. The order list's page sizes, and the new order."""
    with pytest.MonkeyPatch.context() as mp:
        scn = Scenario(
            shop_posts_excl,
            tmp_path_factory.mktemp("paging"),
            mp,
            shop_settings=f"per_page = {PER_PAGE}",
        )
        pages: list[int] = []
        placed: dict[str, Any] = {}
        original = WooCommerceShop._get

        def moving(self: WooCommerceShop, endpoint: str, params: dict[str, Any]) -> Any:
            response = original(self, endpoint, params)
            if endpoint == "orders" and "offset" in params:
                batch = response.json()
                pages.append(len(batch))
                if len(pages) == 1:  # the shop's admin edits an order just read
                    scn.api.put(f"orders/{batch[0]['id']}", {"customer_note": "Bel even aan"})
                elif len(pages) == 2 and not placed:  # a customer places an order
                    placed.update(new_order(scn))
            return response

        mp.setattr(WooCommerceShop, "_get", moving)
        try:
            scn.sync()
            scn.sync()
            yield scn, pages, placed
        finally:
            scn.close()


def test_every_order_is_booked_once_while_the_list_moves(
    paged: tuple[Scenario, list[int], dict[str, Any]],
) -> None:
    scn, pages, placed = paged
    assert len(pages) > 4 and max(pages) == PER_PAGE  # several pages, each at most three
    assert placed and f"WC-{placed['number']}" in scn.documents()
    assert judge(scn, per_rate_rounding=(scn.shop.seeded_order(LOTTE),)) == []


def test_then_a_pass_writes_nothing(paged: tuple[Scenario, list[int], dict[str, Any]]) -> None:
    scn, _pages, _placed = paged
    scn.mb.received.clear()
    scn.sync()
    assert scn.writes() == []
