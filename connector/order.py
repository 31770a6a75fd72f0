"""The shop-neutral order: what every shop adapter produces and booking consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class LineKind(StrEnum):
    PRODUCT = "product"
    SHIPPING = "shipping"
    FEE = "fee"
    DISCOUNT = "discount"


@dataclass(frozen=True)
class ShopTaxRate:
    """One tax rate as the shop applied it, with the VAT the shop charged at it on this order."""

    rate_id: str | None  # the shop's own id; None for lines that carry no tax at all
    percentage: Decimal | None  # None when the shop did not say and it could not be looked up
    label: str = ""
    vat_total: Decimal = Decimal(
        "0"
    )  # cart VAT + shipping VAT at this rate, as the shop rounded it
    # Charged on the price plus the line's other taxes (WooCommerce's compound taxes, such as
    # Québec's QST on top of GST), not on the price alone.
    compound: bool = False


@dataclass(frozen=True)
class OrderLine:
    kind: LineKind
    description: str
    quantity: Decimal
    net: Decimal  # line total excluding VAT, after discounts
    tax: Decimal  # VAT on this line as the shop rounded it
    rate_id: str | None  # key into Order.tax_rates; None means no VAT charged
    net_before_discount: Decimal | None = None  # products only: subtotal before coupons
    tax_before_discount: Decimal | None = None
    sku: str = ""
    tax_class: str = ""
    extra_rate_ids: tuple[str, ...] = ()  # more than one rate on a line (compound tax)
    is_gift_card: bool = False  # selling a gift card is not revenue
    line_id: str = ""  # the shop's own id of this line, which refunds refer to


@dataclass(frozen=True)
class Address:
    company: str = ""
    first_name: str = ""
    last_name: str = ""
    address1: str = ""
    address2: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""


@dataclass(frozen=True)
class Customer:
    email: str
    billing: Address
    shipping: Address | None = None
    vat_number: str = ""

    @property
    def is_business(self) -> bool:
        return bool(self.vat_number)


@dataclass(frozen=True)
class Payment:
    """One way the customer paid part of the order (a gateway's transaction, a gift card)."""

    method: str  # the shop's payment method or gateway id, as the payment table matches it
    amount: Decimal
    transaction_id: str = ""
    amount_base: Decimal | None = None  # in euros, as the shop converted it (if it did)


@dataclass(frozen=True)
class RefundLine:
    """One refunded order line (or part of it), amounts positive: what goes back."""

    line_id: str  # the refunded order line's shop id
    kind: LineKind
    description: str
    quantity: Decimal
    net: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Refund:
    """Money the shop gave back on an order: by line, or as an amount only (no lines)."""

    refund_id: str
    created_at: datetime
    amount: Decimal  # what went back to the customer, incl. VAT, positive
    reason: str = ""
    lines: tuple[RefundLine, ...] = ()
    amount_base: Decimal | None = None  # in euros: the shop's conversion or the rate source's
    # Each way the money went back, when the shop tells (Shopify's refund transactions); empty:
    # all of it by the order's payment method.
    payouts: tuple[Payment, ...] = ()

    @property
    def lines_total(self) -> Decimal:
        return sum((ln.net + ln.tax for ln in self.lines), Decimal(0))


@dataclass(frozen=True)
class ListedRefund:
    """A refund the order lists, by its id and amount only: the shop did not return it."""

    refund_id: str
    amount: Decimal  # what the listing says went back, positive


@dataclass(frozen=True)
class Order:
    shop: str  # "woocommerce", later others
    order_id: str
    number: str
    status: str
    currency: str
    prices_include_tax: bool
    total: Decimal  # what the customer paid
    paid_at: datetime | None
    modified_at: datetime
    customer: Customer
    lines: tuple[OrderLine, ...]
    tax_rates: dict[str, ShopTaxRate] = field(default_factory=dict)
    payment_method: str = ""
    payment_method_title: str = ""
    transaction_id: str = ""
    # Each way of paying, when the shop tells (Shopify's transactions); empty: the whole total
    # by payment_method.
    payments: tuple[Payment, ...] = ()
    # Units of the order's currency per euro from the configured rate source, for payments the
    # shop gives no euro amount for (set by the sync engine, not by the shop adapters).
    exchange_rate: Decimal | None = None
    exchange_rate_note: str = ""  # where the euro amounts come from, for the booking notes
    coupon_codes: tuple[str, ...] = ()
    refunds: tuple[Refund, ...] = ()  # as far as the shop's payload tells
    # Refunds the order lists that the shop did not return when its refunds were read.
    refunds_unread: tuple[ListedRefund, ...] = ()
    data_notes: tuple[str, ...] = ()  # what was mended in the shop's data, for the notes
    invoice_requested: bool = False  # the customer asked for an invoice of their own

    def line(self, line_id: str) -> OrderLine | None:
        return next((ln for ln in self.lines if line_id and ln.line_id == line_id), None)

    @property
    def key(self) -> str:
        return order_key(self.shop, self.order_id)

    @property
    def is_paid(self) -> bool:
        return self.paid_at is not None


def oldest_first(created_at: datetime, refund_id: str) -> tuple[datetime, int, str]:
    """The order refunds are booked in, so credit invoice numbers run with their dates: by
    date, then by the shop's id as a number (refund 10 after refund 9)."""
    return created_at, len(refund_id), refund_id


def order_key(shop: str, order_id: object) -> str:
    """How the state names an order: "<shop>:<the shop's order id>"."""
    return f"{shop}:{order_id}"


def refund_key(key_of_order: str, refund_id: str) -> str:
    """How the state names a refund: its order's key, then the shop's refund id."""
    return f"{key_of_order}:{refund_id}"
