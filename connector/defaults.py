"""Facts about the outside world the configuration's defaults come from, kept in a leaf so
the configuration, the shop adapters, booking and the lookups read them from one place."""

from __future__ import annotations

# Order meta keys the common EU VAT plugins store the customer's VAT number under, tried in
# this order: WooCommerce EU VAT Number, Aelia EU VAT Assistant, Germanized, German Market,
# YITH EU VAT. `shop.vat_number_meta_keys` replaces the list.
VAT_NUMBER_KEYS = (
    "_billing_vat_number",
    "_vat_number",
    "vat_number",
    "_billing_eu_vat_number",
    "_billing_vat_id",
    "billing_vat",
    "yweu_billing_vat",
)
# WooCommerce: a negative fee line without VAT named so is a gift card paid with.
GIFT_CARD_FEE_NAMES = ("*gift card*", "*giftcard*", "*cadeaubon*", "*cadeaukaart*")
GIFT_CARD_METHODS = ("gift_card",)  # payment methods that are the shop's own gift cards
ECB_URL = "https://www.ecb.europa.eu/stats/eurofxref"
VIES_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
