"""The GraphQL documents sent to Shopify's Admin API. Only fields the connector uses.

Page sizes keep the requested cost well under Shopify's 1,000-point cap for one query:
a page of orders with their first lines costs about 620 points; an order with more lines
fetches the rest with MORE_LINE_ITEMS. Every amount is read in both the shop's money and the
customer's (presentment) money: which one is booked depends on the configured currencies.
"""

from __future__ import annotations

import json

ORDERS_PER_PAGE = 4
LINES_PER_PAGE = 10

_MONEY = "shopMoney { amount currencyCode } presentmentMoney { amount currencyCode }"
_TAX_LINES = f"title ratePercentage priceSet {{ {_MONEY} }}"
# A metafield holding a VAT number (shop.vat_number_metafield), read only when one is set.
_VAT_FIELD = (
    "vatNumberField: metafield(namespace: $vatNamespace, key: $vatKey) "
    "@include(if: $vatField) { value }"
)
# Every operation that reads OrderFields declares the variables the VAT field uses.
VAT_VARIABLES = '$vatField: Boolean! = false, $vatNamespace: String, $vatKey: String! = ""'

ADDRESS = """
fragment Address on MailingAddress {
  firstName lastName company address1 address2 zip city countryCodeV2
}
"""

LINE = f"""
fragment Line on LineItem {{
  id title sku quantity isGiftCard
  originalUnitPriceSet {{ {_MONEY} }}
  discountAllocations {{ allocatedAmountSet {{ {_MONEY} }} }}
  taxLines {{ {_TAX_LINES} }}
}}
"""


def order_fields(vat_field: str, lines: str, shipping: str) -> str:
    """The order fragment, its two connections as a paged query or a bulk operation has them."""
    return f"""
fragment OrderFields on Order {{
  id name updatedAt processedAt test cancelledAt
  displayFinancialStatus displayFulfillmentStatus
  currencyCode presentmentCurrencyCode taxesIncluded email
  customAttributes {{ key value }}
  customer {{ email firstName lastName {vat_field} }}
  {vat_field}
  purchasingEntity {{
    ... on PurchasingCompany {{ location {{ taxSettings {{ taxRegistrationId }} }} }}
  }}
  billingAddress {{ ...Address }}
  shippingAddress {{ ...Address }}
  totalPriceSet {{ {_MONEY} }}
  taxLines {{ {_TAX_LINES} }}
  {lines}
  {shipping}
  refunds {{ id }}
  transactions(first: 10) {{
    id kind status gateway processedAt amountSet {{ {_MONEY} }}
  }}
}}
"""


_SHIPPING_LINE = f"id title discountedPriceSet {{ {_MONEY} }} taxLines {{ {_TAX_LINES} }}"
ORDER_FIELDS = order_fields(
    _VAT_FIELD,
    f"lineItems(first: {LINES_PER_PAGE}) {{\n    pageInfo {{ hasNextPage endCursor }}\n"
    "    nodes { ...Line }\n  }",
    f"shippingLines(first: 3) {{\n    nodes {{ {_SHIPPING_LINE} }}\n  }}",
)

FRAGMENTS = ORDER_FIELDS + LINE + ADDRESS

CHANGED_ORDERS = (
    f"""
query ChangedOrders(
  $after: String, $query: String, $sortKey: OrderSortKeys = UPDATED_AT, {VAT_VARIABLES}
) {{
  orders(first: {ORDERS_PER_PAGE}, after: $after, query: $query, sortKey: $sortKey) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ ...OrderFields }}
  }}
}}
"""
    + FRAGMENTS
)

ONE_ORDER = (
    f"""
query OneOrder($id: ID!, {VAT_VARIABLES}) {{
  order(id: $id) {{ ...OrderFields }}
}}
"""
    + FRAGMENTS
)

MORE_LINE_ITEMS = (
    """
query MoreLineItems($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 50, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...Line }
    }
  }
}
"""
    + LINE
)

REFUND_FIELDS = f"""
fragment RefundFields on Refund {{
  id createdAt note
  totalRefundedSet {{ {_MONEY} }}
  transactions(first: 5) {{
    nodes {{ id kind status gateway amountSet {{ {_MONEY} }} }}
  }}
  refundLineItems(first: 50) {{
    pageInfo {{ hasNextPage }}
    nodes {{
      quantity lineItem {{ id title }}
      subtotalSet {{ {_MONEY} }} totalTaxSet {{ {_MONEY} }}
    }}
  }}
  refundShippingLines(first: 5) {{
    pageInfo {{ hasNextPage }}
    nodes {{
      shippingLine {{ id }}
      subtotalAmountSet {{ {_MONEY} }} taxAmountSet {{ {_MONEY} }}
    }}
  }}
}}
"""

# Only for orders that list refunds: the pages of orders carry just their ids.
ORDER_REFUNDS = (
    """
query OrderRefunds($id: ID!) {
  order(id: $id) { refunds { ...RefundFields } }
}
"""
    + REFUND_FIELDS
)

ORDERS_COUNT = """
query OrdersCount($query: String) {
  ordersCount(query: $query, limit: null) { count precision }
}
"""

ACCESS_SCOPES = """
query AccessScopes {
  currentAppInstallation { accessScopes { handle } }
}
"""


def bulk_orders(search: str, vat_metafield: tuple[str, str] | None) -> str:
    """A bulk operation's query for the orders a search finds, oldest first, every line.

    A bulk query takes no variables, so the search and the VAT metafield are written into it;
    its connections take no page size (Shopify reads them whole) and carry edges, each node
    becoming its own JSONL line under its order's id (`__parentId`)."""
    fields = order_fields(
        _bulk_vat_field(vat_metafield),
        "lineItems { edges { node { ...Line } } }",
        f"shippingLines {{ edges {{ node {{ {_SHIPPING_LINE} }} }} }}",
    )
    return (
        f"""
query {{
  orders(query: {json.dumps(search)}, sortKey: CREATED_AT) {{
    edges {{ node {{ ...OrderFields }} }}
  }}
}}
"""
        + fields
        + LINE
        + ADDRESS
    )


# The tax rates recent orders used (Shopify has no list of its rates): only what a tax rule
# matches on, the rate, where the goods went and whether the buyer gave a VAT number.
def rate_fields(vat_field: str) -> str:
    customer = f"customer {{ {vat_field} }}" if vat_field else ""
    return f"""
fragment RateFields on Order {{
  id name test
  taxLines {{ title ratePercentage }}
  shippingAddress {{ countryCodeV2 }}
  billingAddress {{ countryCodeV2 }}
  customAttributes {{ key value }}
  {customer}
  {vat_field}
  purchasingEntity {{
    ... on PurchasingCompany {{ location {{ taxSettings {{ taxRegistrationId }} }} }}
  }}
}}
"""


RATE_ORDERS_PER_PAGE = 50

RECENT_RATES = f"""
query RecentRates($after: String, $query: String, {VAT_VARIABLES}) {{
  orders(first: {RATE_ORDERS_PER_PAGE}, after: $after, query: $query, sortKey: CREATED_AT,
         reverse: true) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ ...RateFields }}
  }}
}}
""" + rate_fields(_VAT_FIELD)


def bulk_rates(search: str, vat_metafield: tuple[str, str] | None) -> str:
    """A bulk operation's query for the rates of the orders a search finds: one JSONL line
    per order (no connection below it)."""
    return f"""
query {{
  orders(query: {json.dumps(search)}) {{
    edges {{ node {{ ...RateFields }} }}
  }}
}}
""" + rate_fields(_bulk_vat_field(vat_metafield))


def _bulk_vat_field(vat_metafield: tuple[str, str] | None) -> str:
    """The VAT metafield written into a bulk query, which takes no variables."""
    if vat_metafield is None:
        return ""
    namespace, key = (json.dumps(part) for part in vat_metafield)
    return f"vatNumberField: metafield(namespace: {namespace}, key: {key}) {{ value }}"


BULK_RUN = """
mutation BulkOrders($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""

BULK_STATUS = """
query BulkStatus($id: ID!) {
  bulkOperation(id: $id) { id status errorCode objectCount rootObjectCount url }
}
"""

BULK_CANCEL = """
mutation BulkCancel($id: ID!) {
  bulkOperationCancel(id: $id) { bulkOperation { id status } userErrors { field message } }
}
"""

ALL = {
    "ChangedOrders": CHANGED_ORDERS,
    "OneOrder": ONE_ORDER,
    "MoreLineItems": MORE_LINE_ITEMS,
    "OrderRefunds": ORDER_REFUNDS,
    "AccessScopes": ACCESS_SCOPES,
    "BulkOrders": BULK_RUN,
    "BulkStatus": BULK_STATUS,
    "BulkCancel": BULK_CANCEL,
    # What a bulk operation runs, with a VAT metafield (the fields of both shapes).
    "BulkOrdersQuery": bulk_orders("created_at:>='2026-01-01T00:00:00Z'", ("custom", "vat")),
    "RecentRates": RECENT_RATES,
    "BulkRatesQuery": bulk_rates("created_at:>='2026-01-01T00:00:00Z'", ("custom", "vat")),
}
