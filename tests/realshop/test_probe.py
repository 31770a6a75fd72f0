"""What the connector asks a shop about itself, asked of the real WooCommerce: its description
of the order list names `modified_after`, and the list asked directly (as where a firewall
refuses OPTIONS) answers no order changed after a day far ahead, while it has orders."""

from __future__ import annotations

from connector.shops.woocommerce.shop import FAR_AHEAD, WooCommerceShop
from tests.realshop.harness import RealShop


def reader(shop: RealShop) -> WooCommerceShop:
    key, secret = shop.read_key
    return WooCommerceShop(shop.url, key, secret, ["completed"])


def test_the_description_names_the_filter(shop_hpos_incl: RealShop) -> None:
    assert reader(shop_hpos_incl).supports_modified_after() is True


def test_the_list_itself_says_it_filters(shop_hpos_incl: RealShop) -> None:
    api = shop_hpos_incl.api()
    assert api.get("orders", per_page=1)  # it has orders, and none changed after FAR_AHEAD:
    assert api.get("orders", modified_after=FAR_AHEAD, dates_are_gmt="true") == []
    assert reader(shop_hpos_incl)._filters_by_modified(405) == (True, "")
