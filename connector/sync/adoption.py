"""Whether a document Moneybird holds under an order's reference is that order's sale.

A reference alone proves nothing: a second shop with the same numbering, or a shop whose
numbering started over, writes the same references on other sales. A found document is taken
for an order only when it was made after the order was paid (a paid order is booked, never
the other way round; two hours' margin for a shop's clock), is dated on the day the order was
paid (a day either way, for the time zones), its total agrees (within the rounding tolerance)
and it is on the order's customer; otherwise the order is parked naming both sides, and
nothing is paid.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from itertools import accumulate

from connector.money import ZERO, parse
from connector.moneybird.documents import BookedInvoice, normalise_email
from connector.order import Order, Refund
from connector.state import Store
from connector.sync.contacts import customer_id_for, email_key

DAY_MARGIN = timedelta(days=1)
CLOCK_MARGIN = timedelta(hours=2)  # a shop's clock (or its time zone setting) may be off


def _oldest_first(order: Order) -> list[Refund]:
    return sorted(order.refunds, key=lambda r: (r.created_at, r.refund_id))


def booked_totals(order: Order) -> list[Decimal]:
    """What the order's invoice may total: the order, less each run of its refunds from the
    first on (refunds made before it was booked are netted on it in "net" mode)."""
    amounts = (r.amount for r in _oldest_first(order))
    return [order.total - taken for taken in accumulate(amounts, initial=ZERO)]


def refunds_netted(order: Order, total: Decimal, tolerance: Decimal) -> tuple[Refund, ...]:
    """The refunds an invoice of `total` for this order has netted on it: the first ones, as
    many as its total shows (none when it shows the whole order)."""
    netted = next((n for n, t in enumerate(booked_totals(order)) if abs(total - t) <= tolerance), 0)
    return tuple(_oldest_first(order)[:netted])


def not_this_sale(
    order: Order,
    invoice: BookedInvoice,
    store: Store,
    tolerance: Decimal,
    tz: tzinfo,
    drafted: Decimal | None = None,
) -> str | None:
    """Why `invoice` is not `order`'s sale, as a park reason; None when it is. `drafted`: the
    total the order's draft comes to now, when it books."""
    expected = booked_totals(order) + ([drafted] if drafted is not None else [])
    try:
        found = parse(invoice.total, "total") if invoice.total else None
    except ValueError:
        found = None
    total_agrees = found is not None and any(abs(found - t) <= tolerance for t in expected)
    same_time = _made_after_paid(order, invoice) and _same_day(order, invoice, tz)
    if total_agrees and same_time and _same_customer(order, invoice, store):
        return None
    customer = customer_name(order) or order.customer.email or "no customer"
    paid = order.paid_at.astimezone(tz).date().isoformat() if order.paid_at else "not paid"
    return (
        f"Moneybird already holds {invoice.reference} ({invoice.described}), which is not "
        f"this order ({order.total}, {customer}, {paid}): two shops, or a numbering that "
        "started over, share references — give this shop its own `sync.reference_template`, "
        f"then `connector retry {order.number}`"
    )


def _made_after_paid(order: Order, invoice: BookedInvoice) -> bool:
    """Made after the order was paid: a document made before is another sale's."""
    if order.paid_at is None or not invoice.created_at:
        return True
    try:
        made = datetime.fromisoformat(invoice.created_at.replace("Z", "+00:00"))
    except ValueError:
        return True  # Moneybird's own field: unreadable says nothing about the sale
    made = made if made.tzinfo else made.replace(tzinfo=UTC)
    return made >= order.paid_at - CLOCK_MARGIN


def _same_day(order: Order, invoice: BookedInvoice, tz: tzinfo) -> bool:
    """Dated on the day the order was paid (the invoice date the connector gives it)."""
    if order.paid_at is None or not invoice.invoice_date:
        return True  # nothing to compare: the total and the customer decide
    try:
        dated = date.fromisoformat(invoice.invoice_date)
    except ValueError:
        return False
    return abs(dated - order.paid_at.astimezone(tz).date()) <= DAY_MARGIN


def _same_customer(order: Order, invoice: BookedInvoice, store: Store) -> bool:
    """The document's contact is the order's customer: the contact the connector makes for
    this customer (its customer_id), the same address for invoices, the contact this state
    knows the customer by, or (no address on either side) the same name."""
    key = email_key(order.customer)
    if invoice.contact_customer_id and invoice.contact_customer_id == customer_id_for(key):
        return True
    email = normalise_email(order.customer.email)
    if email and normalise_email(invoice.contact_email) == email:
        return True
    known = store.contact(key)
    if known is not None and known.contact_id and known.contact_id == invoice.contact_id:
        return True
    if email and invoice.contact_email:
        return False
    name = customer_name(order).lower()
    return bool(name) and name == invoice.contact_name.strip().lower()


def customer_name(order: Order) -> str:
    """The company, else the person, as the order's billing address names them."""
    billing = order.customer.billing
    person = f"{billing.first_name} {billing.last_name}".strip()
    return billing.company.strip() or person
