"""The shop platforms, by the name the configuration gives them: what people call each, and
the invoice reference each is booked under unless the configuration says otherwise."""

from __future__ import annotations

from connector.shops.shopify.shop import ShopifyShop
from connector.shops.woocommerce.shop import WooCommerceShop

_ADAPTERS = (WooCommerceShop, ShopifyShop)
LABELS = {adapter.name: adapter.label for adapter in _ADAPTERS}
REFERENCE_TEMPLATES = {adapter.name: adapter.reference_template for adapter in _ADAPTERS}
