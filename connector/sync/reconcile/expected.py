"""What the shop says the month's documents must show: one item per order paid, refund made,
or (summary mode) day booked in the month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connector.booking.invoice import Totals
from connector.order import Order, Refund
from connector.state import OrderRecord, RefundRecord
from connector.sync.reconcile.report import Known


@dataclass
class Expected:
    """An order paid, or a refund made, in the month: what its document must show."""

    kind: str  # "invoice" or "credit"
    order: str  # the shop's order number
    key: str  # the state's key of the order or refund
    reference: str
    day: date  # paid (or refunded) on, in sync.timezone
    currency: str
    total: Decimal  # incl. VAT, as the document must have it (a credit invoice: negative)
    vat: dict[str, Decimal] | None  # per Moneybird tax rate; None when it cannot be worked out
    record: OrderRecord | RefundRecord | None
    order_of: Order | None = None
    refund: Refund | None = None
    # An invoice: what the connector's booking of the order makes Moneybird compute; where it
    # differs from the shop's figures, within the rounding tolerance, that is its rounding.
    predicted: Totals | None = None

    @property
    def state(self) -> str | None:
        return self.record.state if self.record is not None else None

    def known(self, reason: str) -> Known:
        """Known not to be in Moneybird: what it is, and its own amount (a refund's, not its
        order's; negative, as its credit invoice would carry it)."""
        kind = {"credit": "refund", "correction": "change"}.get(self.kind, self.kind)
        return Known(
            self.order,
            self.reference,
            reason,
            "order" if kind == "invoice" else kind,
            self.refund.refund_id if self.refund is not None else None,
            self.total,
            self.currency,
        )
