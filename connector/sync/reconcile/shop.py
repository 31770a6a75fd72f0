"""Reading the shop: the orders paid and the refunds made in the month that the connector's
rules say belong in the books, each as what its document must show."""

from __future__ import annotations

from typing import Any

from connector.booking.book import Parked, reference_for, reference_of
from connector.booking.credit import refund_reference
from connector.booking.invoice import InvoiceDraft
from connector.errors import ConnectorError, Outcome, internal, outcome
from connector.order import Order, Refund, refund_key
from connector.state import RefundState, to_text
from connector.sync.reconcile.expected import Expected
from connector.sync.reconcile.report import Known, Reconciliation
from connector.sync.reconcile.scope import Scope


class ShopMonth:
    """The shop's side of the month; what cannot be compared is told as known."""

    def __init__(self, scope: Scope, result: Reconciliation) -> None:
        self.scope = scope
        self.result = result

    def _payloads(self) -> dict[str, dict[str, Any]]:
        """The shop's orders that may have been paid or refunded in the month: those created
        in it or in the lookback before it, and those the state saw paid or refunded in it."""
        found: dict[str, dict[str, Any]] = {}
        for page, _total in self.scope.shop.orders_between(
            self.scope.start - self.scope.lookback, self.scope.end
        ):
            for payload in page:
                named = self.scope.shop.identify(payload)
                if named is not None:
                    found[named[0]] = payload
        start, end = to_text(self.scope.start) or "", to_text(self.scope.end) or ""
        wanted = {r.order_id for r in self.scope.store.orders_paid_between(start, end)}
        for refund in self.scope.store.refunds_made_between(start, end):
            record = self.scope.store.order(refund.order_key)
            if record is not None:
                wanted.add(record.order_id)
        for order_id in sorted(wanted - set(found)):
            again = self.scope.shop.order(order_id)
            if again is not None:
                found[order_id] = again
        return found

    def _unreadable(self, payload: dict[str, Any], exc: Exception) -> None:
        """An order whose very dates cannot be read: whether it belongs in the month cannot
        be said either, so it is listed as known (a pass parks it with the same reason)."""
        named = self.scope.shop.identify(payload)
        if named is None:
            return
        order_id, number = named
        template = self.scope.settings.reference_template
        reference = reference_of(template, number, order_id, self.scope.shop.name)
        why = self.scope.engine.unreadable_reason(exc)
        self.result.parked.append(Known(number, reference, f"{why}; it is not compared"))

    def expected(self) -> list[Expected]:
        """What the month's documents must show, one item per order paid and refund made; the
        orders that cannot be compared are counted and listed as known."""
        expected: list[Expected] = []
        for payload in self._payloads().values():
            if self.scope.shop.unlisted(payload):
                continue  # not in a booked status: never booked, nothing to compare
            try:
                summary = self.scope.shop.summary(payload)
            except Exception as exc:  # its dates cannot be read: listed, the month goes on
                if outcome(exc) is Outcome.STOP:
                    raise
                self._unreadable(payload, exc)
                continue
            try:
                order = self.scope.engine.order_from(payload)
            except Exception as exc:  # one poisoned order is reported, the month goes on
                if self.scope.in_month(summary.paid_at):
                    self.result.orders += 1
                    why = str(exc) if isinstance(exc, ConnectorError) else internal(exc)
                    reference = reference_of(
                        self.scope.settings.reference_template,
                        summary.number,
                        summary.order_id,
                        self.scope.shop.name,
                    )
                    self.result.parked.append(
                        Known(
                            summary.number,
                            reference,
                            f"the shop's data cannot be read, so its document (if any) cannot "
                            f"be compared: {why}",
                        )
                    )
                continue
            if self.scope.in_month(order.paid_at) and not self.scope.shop.not_bookable(order):
                self.result.orders += 1
                item = self._invoice(order, summary.waiting)
                if item is not None:
                    expected.append(item)
            for refund in order.refunds:
                if self.scope.in_month(refund.created_at):
                    item = self._credit(order, refund)
                    if item is not None:
                        self.result.refunds += 1
                        expected.append(item)
        return expected

    def _invoice(self, order: Order, waiting: str | None) -> Expected | None:
        record = self.scope.store.order(order.key)
        reference = reference_for(order, self.scope.settings.reference_template)
        if waiting:
            why = f"waits: {waiting}"
            known = Known(order.number, reference, why, amount=order.total, currency=order.currency)
            self.result.not_booked.append(known)
            return None
        total, vat, predicted = order.total, None, None
        try:
            draft: InvoiceDraft | Parked | None = self.scope.engine.booking(order, self.scope.rates)
        except Exception:  # compared on its total alone (the VAT note counts such orders)
            draft = None
        if isinstance(draft, InvoiceDraft):
            reference, total = draft.reference, draft.shop_totals.total_incl_tax
            vat = dict(draft.shop_totals.vat_by_rate)
            predicted = draft.predicted
        return Expected(
            "invoice",
            order.number,
            order.key,
            reference,
            order.paid_at.astimezone(self.scope.tz).date()
            if order.paid_at
            else self.scope.month.first,
            order.currency,
            total,
            vat,
            record,
            order_of=order,
            predicted=predicted,
        )

    def _credit(self, order: Order, refund: Refund) -> Expected | None:
        record = self.scope.store.refund(refund_key(order.key, refund.refund_id))
        if record is not None and record.state == RefundState.NET:
            return None  # booked on the order's own invoice
        return Expected(
            "credit",
            order.number,
            refund_key(order.key, refund.refund_id),
            refund_reference(order, refund, self.scope.settings),
            refund.created_at.astimezone(self.scope.tz).date(),
            order.currency,
            -refund.amount,
            None,
            record,
            order_of=order,
            refund=refund,
        )
