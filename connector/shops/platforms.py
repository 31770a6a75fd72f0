"""The shop platforms, by the name the configuration gives them: what people call each, the
invoice reference each is booked under unless the configuration says otherwise, and where a
person opens an order in its admin."""

from __future__ import annotations

from connector.shops.shopify.shop import ShopifyShop
from connector.shops.woocommerce.shop import WooCommerceShop

_ADAPTERS = (WooCommerceShop, ShopifyShop)
LABELS = {adapter.name: adapter.label for adapter in _ADAPTERS}
REFERENCE_TEMPLATES = {adapter.name: adapter.reference_template for adapter in _ADAPTERS}
ADMIN_ORDER_URLS = {adapter.name: adapter.admin_order_url for adapter in _ADAPTERS}
