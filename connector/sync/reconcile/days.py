"""Summary mode, from the state: the orders (and refunds, and later changes) a day's document
booked are compared as that one document, by their sum."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connector.booking.day import DayShare
from connector.money import ZERO
from connector.state import (
    CorrectionRecord,
    OrderRecord,
    OrderState,
    RefundRecord,
)
from connector.sync.reconcile.expected import Expected
from connector.sync.reconcile.report import Reconciliation
from connector.sync.reconcile.scope import Scope


class Days:
    """The month's items, with those a day's document holds joined into that day."""

    def __init__(self, scope: Scope, result: Reconciliation) -> None:
        self.scope = scope
        self.result = result

    def joined(self, expected: list[Expected]) -> list[Expected]:
        """Summary mode: the orders a day's document booked are compared as that document, by
        their sum; an order still waiting in its day is known, not missing."""
        days: dict[str, list[Expected]] = {}
        kept = []
        # Every correction of the shop's orders, read once (the state has few of them).
        every = self.scope.store.corrections(shop=self.scope.shop.name)
        corrections: dict[str, list[CorrectionRecord]] = {}
        for correction in every:
            corrections.setdefault(correction.order_key, []).append(correction)
        for item in expected:
            record = item.record
            if record is None or not record.day:
                kept.append(item)
                continue
            if isinstance(record, OrderRecord):
                self._less_corrections(item, corrections.get(item.key, []))
            if isinstance(record, RefundRecord) and record.day_share:
                # A refund in a day: the VAT its booking took back, from the shop's refund.
                item.vat = DayShare.from_json(record.day_share).vat
            if record.state == OrderState.IN_DAY:
                why = f"waits in its day's document ({record.day}), made once the day has settled"
                self.result.not_booked.append(item.known(why))
            elif record.invoice_number:
                days.setdefault(record.invoice_number, []).append(item)
            else:
                kept.append(item)
        self._corrections(days, every)
        for reference, items in days.items():
            vat: dict[str, Decimal] | None = {}
            for item in items:
                if item.vat is None or vat is None:
                    vat = None
                    continue
                for rate, amount in item.vat.items():
                    vat[rate] = vat.get(rate, ZERO) + amount
            kept.append(
                Expected(
                    "day",
                    ", ".join(sorted(i.order for i in items)),
                    f"day:{reference}",
                    reference,
                    min(i.day for i in items),
                    "EUR",
                    sum((i.total for i in items), ZERO),
                    vat,
                    None,
                )
            )
        return kept

    def _less_corrections(self, item: Expected, corrections: list[CorrectionRecord]) -> None:
        """An order changed after its day's document was made: that document holds the order
        as it was, the documents of the days its changes were seen hold the rest. A parked
        change is held by none, so its day shows the difference."""
        for correction in corrections:
            if correction.state == OrderState.PARKED or not correction.day_share:
                continue
            share = DayShare.from_json(correction.day_share)
            item.total -= share.total
            if item.vat is not None:
                for rate, amount in share.vat.items():
                    item.vat[rate] = item.vat.get(rate, ZERO) - amount
                item.vat = {rate: amount for rate, amount in item.vat.items() if amount}

    def _corrections(
        self, days: dict[str, list[Expected]], corrections: list[CorrectionRecord]
    ) -> None:
        """The corrections booked in the month's days, each compared as part of its day."""
        for correction in corrections:
            if not correction.day or not correction.day_share:
                continue
            day = date.fromisoformat(correction.day)
            if not self.scope.month.first <= day <= self.scope.month.last:
                continue
            share = DayShare.from_json(correction.day_share)
            item = Expected("correction", correction.number, correction.key,
                            correction.reference, day, "EUR", share.total, dict(share.vat),
                            None)  # fmt: skip
            if correction.state == OrderState.IN_DAY:
                why = f"a change waits in its day's document ({day}), made once it has settled"
                self.result.not_booked.append(item.known(why))
            elif correction.invoice_number:
                days.setdefault(correction.invoice_number, []).append(item)
