"""Reading Moneybird's documents: those of the month carrying the connector's references, and
for an item with none there, the one the state recorded or one found by its reference."""

from __future__ import annotations

import re
from typing import Any

from connector.moneybird.documents import Document, document_of, listed_ids
from connector.state import OrderState, RefundState
from connector.sync.reconcile.expected import Expected
from connector.sync.reconcile.report import Reconciliation
from connector.sync.reconcile.scope import Scope


class MoneybirdDocuments:
    """The connector's documents in Moneybird, read only."""

    def __init__(self, scope: Scope, result: Reconciliation) -> None:
        self.scope = scope
        self.result = result

    def of_month(self) -> list[Document]:
        """The month's documents carrying the connector's references: two requests plus one
        per hundred documents."""
        clients = [self.scope.client]
        # Summary days are external sales invoices: read them too where there are any.
        days = self.scope.engine.summary or bool(self.scope.store.days())
        if days and self.scope.client.documents != "external_sales_invoices":
            clients.append(self.scope.engine.days.client)
        documents = []
        for client in clients:
            ids = listed_ids(client.invoice_versions(self.scope.month.first, self.scope.month.last))
            documents += [document_of(invoice) for invoice in client.invoices_by_ids(ids)]
        ours = [d for d in documents if self._pattern.fullmatch(d.reference)]
        self.result.documents = len(ours)
        return ours

    @property
    def _pattern(self) -> re.Pattern[str]:
        template = self.scope.settings.reference_template
        parts = re.split(r"\{(?:number|id|shop)\}", template)
        body = "[A-Za-z0-9._~-]+?"
        return re.compile(body.join(re.escape(p) for p in parts) + r"(?:-R[A-Za-z0-9-]+)?")

    def by_reference(
        self, documents: list[Document], expected: list[Expected]
    ) -> dict[str, list[Document]]:
        """Each reference's documents: those of the month, then for an item with none there,
        the document the state recorded for it, or one found by its reference (a document
        dated outside the month: a closed period, a date changed by hand)."""
        found: dict[str, list[Document]] = {}
        for document in documents:
            found.setdefault(document.reference, []).append(document)
        lacking = [e for e in expected if e.reference not in found]
        recorded = {
            e.record.invoice_id: e for e in lacking if e.record is not None and e.record.invoice_id
        }
        for invoice in self._read(list(recorded)):
            document = document_of(invoice)
            item = recorded[document.id]
            found.setdefault(item.reference, []).append(document)
        for item in lacking:
            if item.reference in found or not self._worth_looking_up(item):
                continue
            by_reference = self.scope.client.invoice_by_reference(item.reference, item.day)
            if by_reference is not None:
                found[item.reference] = [document_of(by_reference)]
        return found

    def _read(self, ids: list[str]) -> list[dict[str, Any]]:
        return self.scope.client.invoices_by_ids(ids) if ids else []

    def _worth_looking_up(self, item: Expected) -> bool:
        """Not for what is known not to be booked (one request each)."""
        return item.state not in (OrderState.PARKED, OrderState.BEFORE_START, RefundState.WAITING)
