"""The texts the connector writes on invoices and contacts when the shop gives none: in one
table, so they are changed (or translated) in one place."""

from __future__ import annotations

PRODUCT = "Product"  # a product line without a name
SHIPPING = "Verzendkosten"  # a shipping line without a title
FEE = "Toeslag"  # a fee line without a name
DISCOUNT = "Korting"  # the discount line of a basket (booking.discount_lines = "separate")
REFUND_WITHOUT_LINES = "Terugbetaling"  # a credit line for an amount refunded without lines
CONTACT_WITHOUT_NAME = "Webshop customer"  # a contact with neither a name nor an email
