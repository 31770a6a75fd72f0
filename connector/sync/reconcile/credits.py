"""A credit invoice's figures, as the refund booking works them out from the invoice it credits
in Moneybird: what the credit's document must show."""

from __future__ import annotations

from connector.booking.book import Parked
from connector.booking.credit import CreditDraft, book_refund, line_map
from connector.moneybird.documents import Document, document_of, original_of
from connector.order import Order, Refund
from connector.sync.reconcile.expected import Expected
from connector.sync.reconcile.scope import Scope
from connector.sync.refunds import recorded_line_map


class CreditFigures:
    """The refunds' expected figures, completed from their original invoices."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def complete(self, expected: list[Expected], found: dict[str, list[Document]]) -> None:
        """A credit invoice's VAT per rate, as the refund booking works it out from the invoice
        it credits (read here when it is not among the month's documents)."""
        invoices = {e.key: e for e in expected if e.kind == "invoice"}
        credits = [e for e in expected if e.kind == "credit" and e.order_of is not None]
        originals: dict[str, Document] = {}
        wanted: set[str] = set()
        for item in credits:
            assert item.order_of is not None
            record = self.scope.store.order(item.order_of.key)
            mine = invoices.get(item.order_of.key)
            docs = found.get(mine.reference, []) if mine else []
            if len(docs) == 1:
                originals[item.key] = docs[0]
            elif record is not None and record.invoice_id:
                wanted.add(record.invoice_id)
        read = (
            {d.id: d for d in map(document_of, self.scope.client.invoices_by_ids(sorted(wanted)))}
            if wanted
            else {}
        )
        for item in credits:
            assert item.order_of is not None and item.refund is not None
            original = originals.get(item.key)
            if original is None:
                record = self.scope.store.order(item.order_of.key)
                original = read.get(record.invoice_id or "") if record else None
            if original is None:  # compared on its total alone
                continue
            try:
                credit = self._credit_draft(item.order_of, item.refund, original)
            except Exception:  # one refund's trouble leaves its VAT per rate unknown
                continue
            if isinstance(credit, Parked):
                continue
            item.reference = credit.reference
            item.total = credit.expected.total_incl_tax
            item.vat = dict(credit.expected.vat_by_rate)
            item.predicted = credit.predicted

    def _credit_draft(
        self, order: Order, refund: Refund, original: Document
    ) -> CreditDraft | Parked:
        """The credit invoice the refund booking makes of this refund, on its original."""
        booked = recorded_line_map(self.scope.store, order.key)
        if booked is None:
            draft = self.scope.engine.draft(order, self.scope.rates)
            booked = {} if isinstance(draft, Parked) else line_map(draft)
        return book_refund(
            order,
            refund,
            original_of(original.raw),
            booked,
            self.scope.rates,
            self.scope.engine.config.mappings,
            self.scope.settings,
        )
