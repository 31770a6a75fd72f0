"""The GraphQL documents sent to Shopify's Admin API. Only fields the connector uses.

Page sizes keep the requested cost well under Shopify's 1,000-point cap for one query:
a page of orders with their first lines costs about 620 points; an order with more lines
fetches the rest with MORE_LINE_ITEMS. Every amount is read in both the shop's money and the
customer's (presentment) money: which one is booked depends on the configured currencies.
"""

from __future__ import annotations

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

ORDER_FIELDS = f"""
fragment OrderFields on Order {{
  id name updatedAt processedAt test cancelledAt
  displayFinancialStatus displayFulfillmentStatus
  currencyCode presentmentCurrencyCode taxesIncluded email
  customAttributes {{ key value }}
  customer {{ email firstName lastName {_VAT_FIELD} }}
  {_VAT_FIELD}
  purchasingEntity {{
    ... on PurchasingCompany {{ location {{ taxSettings {{ taxRegistrationId }} }} }}
  }}
  billingAddress {{ ...Address }}
  shippingAddress {{ ...Address }}
  totalPriceSet {{ {_MONEY} }}
  taxLines {{ {_TAX_LINES} }}
  lineItems(first: {LINES_PER_PAGE}) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ ...Line }}
  }}
  shippingLines(first: 3) {{
    nodes {{ id title discountedPriceSet {{ {_MONEY} }} taxLines {{ {_TAX_LINES} }} }}
  }}
  refunds {{ id }}
  transactions(first: 10) {{
    id kind status gateway processedAt amountSet {{ {_MONEY} }}
  }}
}}
"""
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

ALL = {
    "ChangedOrders": CHANGED_ORDERS,
    "OneOrder": ONE_ORDER,
    "MoreLineItems": MORE_LINE_ITEMS,
    "OrderRefunds": ORDER_REFUNDS,
    "AccessScopes": ACCESS_SCOPES,
}
