"""Whether a document Moneybird holds under an order's reference is that order's sale.

A reference alone proves nothing: a second shop with the same numbering, or a shop whose
numbering started over, writes the same references on other sales. A found document is taken
for an order only when its total agrees (within the rounding tolerance) and it is on the
order's customer; otherwise the order is parked naming both sides, and nothing is paid.
"""

from __future__ import annotations

from decimal import Decimal

from connector.money import ZERO, parse
from connector.moneybird.documents import BookedInvoice, normalise_email
from connector.order import Order
from connector.state import Store
from connector.sync.contacts import email_key


def not_this_sale(
    order: Order,
    invoice: BookedInvoice,
    store: Store,
    tolerance: Decimal,
    totals: tuple[Decimal, ...] = (),
) -> str | None:
    """Why `invoice` is not `order`'s sale, as a park reason; None when it is. `totals`: more
    totals the order may have been booked at (its draft's, with refunds netted)."""
    refunded = sum((r.amount for r in order.refunds), ZERO)
    expected = {order.total, order.total - refunded, *totals}
    try:
        found = parse(invoice.total, "total") if invoice.total else None
    except ValueError:
        found = None
    total_agrees = found is not None and any(abs(found - t) <= tolerance for t in expected)
    if total_agrees and _same_customer(order, invoice, store):
        return None
    customer = _name(order) or order.customer.email or "no customer"
    return (
        f"Moneybird already holds {invoice.reference} ({invoice.described}), which is not "
        f"this order ({order.total}, {customer}): two shops, or a numbering that started "
        "over, share references — give this shop its own `sync.reference_template`, then "
        f"`connector retry {order.number}`"
    )


def _same_customer(order: Order, invoice: BookedInvoice, store: Store) -> bool:
    """The document's contact is the order's customer: the same address for invoices, or
    the contact this state knows the customer by; without an address, the same name."""
    email = normalise_email(order.customer.email)
    if email and normalise_email(invoice.contact_email) == email:
        return True
    known = store.contact(email_key(order.customer))
    if known is not None and known.contact_id and known.contact_id == invoice.contact_id:
        return True
    if email and invoice.contact_email:
        return False
    name = _name(order).lower()
    return bool(name) and name == invoice.contact_name.strip().lower()


def _name(order: Order) -> str:
    billing = order.customer.billing
    person = f"{billing.first_name} {billing.last_name}".strip()
    return billing.company.strip() or person
