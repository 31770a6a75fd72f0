"""Comparing: each order, refund or day of the month against the documents under its reference
(missing, more than one, differing, or agreeing), and the connector's documents no item explains
(unknown). Each becomes a row of the bookkeeper's list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from connector.money import ZERO, parse
from connector.moneybird.documents import Document, RoundingPayment, booked
from connector.state import DayRecord, OrderState, RefundRecord, RefundState, from_text, utcnow
from connector.sync.adoption import customer_name, not_this_sale
from connector.sync.days import left_to_payouts
from connector.sync.reconcile.expected import Expected
from connector.sync.reconcile.payouts import provider_accounts
from connector.sync.reconcile.report import Finding, Reconciliation, Row
from connector.sync.reconcile.scope import Scope


@dataclass(frozen=True)
class Rounding:
    """How a document differs from its item by the connector's own rounding."""

    total: Decimal  # Moneybird's total less the shop's: what the rounding payment settled
    vat: dict[str, Decimal]  # per rate, Moneybird's VAT less the shop's


@dataclass(frozen=True)
class Owed:
    """What the providers' payouts still owe a day's document: the part it left to them, less
    what their movements paid it so far."""

    amount: Decimal
    to: str  # whose payouts, for people ("Mollie's payouts")


# A day's provider part still unpaid this long after the day is no longer waiting: a payout
# comes within days (Mollie: daily or weekly), this allows a monthly one and its bank line.
PAYOUT_DAYS = 35


class Comparison:
    """The month's items against their documents: findings and rows."""

    def __init__(self, scope: Scope, result: Reconciliation) -> None:
        self.scope = scope
        self.result = result
        self.unexplained: list[Document] = []  # documents of ours no order of the month has
        # The items that agree with their document by rounding, and the rates it rounded
        self.rounded: list[tuple[Expected, Document, set[str]]] = []

    def compare(self, expected: list[Expected], found: dict[str, list[Document]]) -> None:
        for item in sorted(expected, key=lambda e: (e.day, e.order, e.kind)):
            documents = found.get(item.reference, [])
            if not documents:
                self._absent(item)
            elif len(documents) > 1:
                self._duplicates(item, documents)
            elif not self._is_its_sale(item, documents[0]):
                self._absent(item, shared=documents[0])
            else:
                self._check(item, documents[0])

    def _is_its_sale(self, item: Expected, document: Document) -> bool:
        """The document is the item's own: the one the state recorded for it, or (an invoice)
        the same sale by the rule the engine adopts by (total, customer, date). A reference
        alone proves nothing: a second shop, or a numbering that started over, reuses it."""
        record = item.record
        if record is not None and record.invoice_id == document.id:
            return True
        if item.kind == "day" and document.id in self._days:
            return True  # the day's document this state made (or adopted)
        if item.kind != "invoice" or item.order_of is None:
            return self._same_figures(item, document)
        return self._is_same_sale(item, document)

    @cached_property
    def _days(self) -> dict[str, DayRecord]:
        """The day documents the state records as made or adopted, by id (read once)."""
        return {d.invoice_id: d for d in self.scope.store.days() if d.invoice_id}

    @cached_property
    def _providers(self) -> dict[str, str]:
        """The financial accounts [payouts] books providers' payouts on: the provider's name."""
        return provider_accounts(self.scope.engine.config.file.payouts, self.scope.accounts)

    def _long_left(self, document: Document) -> bool:
        """A day left to the payouts longer than a payout takes (and its bank line after)."""
        record = self._days.get(document.id)
        if record is None:
            return False
        now = utcnow().astimezone(self.scope.tz).date()
        return (now - date.fromisoformat(record.day)).days > PAYOUT_DAYS

    def _owed_by_payouts(self, document: Document) -> Owed | None:
        """A day's document that left a provider's part to its payouts: what they still owe
        it (payouts take a few days; the payouts section names one overdue). None when it
        left nothing to them, or they owe it nothing more."""
        record = self._days.get(document.id)
        if record is None or not record.payout_accounts:
            return None
        left = left_to_payouts(self.scope.store, record)
        # The connector's own payments on those accounts are not the payouts' (a rounding,
        # or what it paid once a provider's payouts were no longer booked).
        own = {f"{record.reference}/{a}" for a in left} | {f"{record.reference}-rounding"}
        paid = ZERO
        try:
            for payment in document.raw.get("payments") or []:
                if str(payment.get("financial_account_id") or "") not in left:
                    continue
                if payment.get("manual_payment_action") == "rounding_error":
                    continue
                if str(payment.get("transaction_identifier") or "") in own:
                    continue
                paid += parse(payment.get("price"), "payment price")
        except Exception:  # a payment unreadable: what the payouts owe is not known
            return None
        owed = sum(left.values(), ZERO) - paid
        if owed <= ZERO:
            return None
        names = [self._providers.get(a) or self.scope.accounts.get(a, a) for a in sorted(left)]
        return Owed(owed, " and ".join(f"{n}'s" for n in sorted(set(names))) + " payouts")

    def _same_figures(self, item: Expected, document: Document) -> bool:
        """A credit's or a day's document: its own only when its total (sign and all) and its
        date are the item's, and a credit credits the order's own invoice. Anything not
        proven so is never advised to be credited."""
        try:
            found = booked(document.raw)
            total = parse(found.total, "total") if found.total else None
            dated = date.fromisoformat(found.invoice_date) if found.invoice_date else None
        except Exception:  # unreadable: not known to be this item's
            return False
        if total is None or abs(total - item.total) > self.scope.settings.rounding_tolerance:
            return False
        if dated is not None and abs(dated - item.day) > timedelta(days=1):
            return False
        if isinstance(item.record, RefundRecord):
            order = self.scope.store.order(item.record.order_key)
            if order is not None and order.invoice_id and found.credits != order.invoice_id:
                return False
        return True

    def _is_same_sale(self, item: Expected, document: Document) -> bool:
        """An invoice the same sale as the item's order, by adoption's rule."""
        if item.kind != "invoice" or item.order_of is None:
            return False
        try:
            invoice = booked(document.raw)
        except Exception:  # unreadable: not known to be this sale, so never to be credited
            return False
        tolerance = self.scope.settings.rounding_tolerance
        return not_this_sale(item.order_of, invoice, self.scope.store, tolerance, self.scope.tz,
                             item.total) is None  # fmt: skip

    def _duplicates(self, item: Expected, documents: list[Document]) -> None:
        """More than one document under the item's reference: which is its own, which are
        copies of the same sale (credited), and which are other sales sharing the reference
        (never credited: they are real sales)."""
        record = item.record
        own = [d for d in documents if self._is_its_sale(item, d)]
        others = [d for d in documents if d not in own]
        recorded = [d for d in own if record is not None and d.id == record.invoice_id]
        ranked = recorded + own
        kept: Document | None = ranked[0] if ranked else None
        copies = [d for d in own if d is not kept]
        what = [f"{len(documents)} documents under {item.reference}"]
        advice = []
        if kept is not None:
            same = self._is_same_sale(item, kept)
            why = "its total, customer and date match" if same else "booked for it"
            what.append(f"{_described(kept)} is this {_what(item)}'s ({why})")
        else:
            what.append(f"none is this {_what(item)} ({_sale(item)})")
        if copies:
            what.append(f"{_labels(copies)} {_be(copies)} the same sale again")
            advice.append(
                f"keep {kept.label if kept else ''}; credit {_labels(copies)} in Moneybird (the "
                "same sale booked twice; a finalized invoice cannot be deleted)"
            )
        if others:
            what.append(
                f"{', '.join(_described(d) for d in others)} {_be(others)} another sale: "
                "the reference is shared"
            )
            advice.append(
                f"do not credit {_labels(others)}: a real sale under the same reference (a "
                "second shop, or a numbering that started over); give this shop its own "
                "`sync.reference_template` to keep their references apart"
                + ("" if kept else f", then `connector retry {item.order}`")
            )
        self.result.duplicates.append(
            Finding(
                "duplicates",
                item.order,
                item.reference,
                tuple(d.label for d in documents),
                "; ".join(what),
                "; ".join(advice),
            )
        )
        self._row(item, kept or documents[0], "duplicate" if copies else "reference shared")

    def _absent(self, item: Expected, shared: Document | None = None) -> None:
        """Not in Moneybird; `shared`: the document under its reference is another sale."""
        state = item.state
        record = item.record
        if state in (OrderState.PARKED, RefundState.PARKED):
            reason = record.park_reason if record is not None else ""
            self.result.parked.append(item.known(reason or "parked"))
            self._row(item, None, f"parked: {reason}")
            return
        if state == RefundState.WAITING:
            self.result.parked.append(item.known("refund of an order that is not booked"))
            self._row(item, None, "waits for its order")
            return
        before_start = (
            self.scope.known_start is not None
            and item.kind == "invoice"
            and (state in (None, OrderState.BEFORE_START))
            and item.day < self.scope.known_start.astimezone(self.scope.tz).date()
        )
        if before_start:
            reason = "paid before the start point: history, booked only by `connector import`"
            self.result.not_booked.append(item.known(reason))
            self._row(item, None, "not booked: before the start point")
            return
        if (
            record is not None
            and record.invoice_id
            and state in (OrderState.PAID, RefundState.PAID)
        ):
            what = f"booked as {record.invoice_number or record.invoice_id}, no longer in Moneybird"
            advice = "deleted in Moneybird? `connector retry` books it again"
        elif item.kind == "day":
            what = "is not in Moneybird"
            advice = "deleted in Moneybird? make it again by hand from the orders listed"
        elif record is None:
            what = "the connector has not seen it"
            advice = "run `connector sync`; if it stays missing, `connector preview` shows why"
        else:
            error = f": {record.last_error}" if record.last_error else ""
            what = f"not booked yet (state {state}{error})"
            advice = "`connector status` shows why; the next pass tries again"
        if shared is not None:
            what += f"; {_described(shared)} under its reference is another sale"
            advice = (
                f"do not credit {shared.label}: a real sale under the same reference (a second "
                "shop, or a numbering that started over); give this shop its own "
                f"`sync.reference_template`, then `connector retry {item.order}`"
            )
        self.result.missing.append(
            Finding(
                "missing",
                item.order,
                item.reference,
                (),
                f"{_what(item)} {what}",
                advice,
                shop=_figures(item.total, item.vat, self.result.rate_names),
            )
        )
        self._row(item, None, "missing")

    def _check(self, item: Expected, document: Document) -> None:
        problems: list[str] = []
        if document.is_draft:
            problems.append("still a draft in Moneybird (not finalized)")
        if document.currency and document.currency != item.currency:
            problems.append(
                f"currency {document.currency} in Moneybird, {item.currency} in the shop"
            )
        rounding = self._connectors_rounding(item, document)
        if document.total != item.total and rounding is None:
            problems.append(f"total {document.total} in Moneybird, {item.total} in the shop")
        rounded: dict[str, Decimal] = {}  # per rate, Moneybird's VAT less the shop's
        if item.vat is not None:
            # A day's document: Moneybird rounds VAT once over the day, the shop per order
            # (per line and on shipping): up to a cent an order of difference is that
            # rounding, not an error.
            slack = Decimal("0.01") * len(item.order.split(", ")) if item.kind == "day" else ZERO
            for rate in sorted(set(item.vat) | set(document.vat)):
                ours, theirs = item.vat.get(rate, ZERO), document.vat.get(rate, ZERO)
                name = self.result.rate_names.get(rate, rate)
                if ours == theirs:
                    continue
                if abs(ours - theirs) <= slack or (rounding is not None and rate in rounding.vat):
                    rounded[rate] = theirs - ours
                else:
                    problems.append(f"VAT at {name} {theirs} in Moneybird, {ours} in the shop")
        waiting: str | None = None  # the part the providers' payouts have yet to pay
        if not document.is_draft and document.unpaid > ZERO:
            owed = self._owed_by_payouts(document) if item.kind == "day" else None
            late = owed is not None and self._long_left(document)
            if owed is not None and document.unpaid <= owed.amount and not late:
                waiting = (
                    f"paid in part, the rest ({document.unpaid}) left to {owed.to}"
                    if document.unpaid < document.total
                    else f"all of it ({document.unpaid}) left to {owed.to}"
                )
            else:
                problem = (
                    f"{document.unpaid} unpaid in Moneybird (state {document.state}); "
                    "the shop has it paid"
                )
                if owed is not None:
                    problem += f"; {owed.amount} of it left to {owed.to}"
                if late:
                    problem += (
                        f" for more than {PAYOUT_DAYS} days, and no payout has paid it: check "
                        "that the provider paid these orders out ([payouts] since, the right "
                        "account), or register the payment by hand in Moneybird"
                    )
                problems.append(problem)
        elif not document.is_draft and document.unpaid < ZERO:
            problems.append(f"{-document.unpaid} more paid in Moneybird than its total")
        if not problems:
            if rounded:
                self.rounded.append((item, document, set(rounded)))
            status = self._agreeing(rounding, rounded, waiting)
            self._row(item, document, status, rounding.total if rounding else None)
            return
        self.result.differences.append(
            Finding(
                "differences",
                item.order,
                item.reference,
                (document.label,),
                "; ".join(problems),
                "compare the document with the order; credit and re-book it, or correct it in "
                "Moneybird, whichever is right",
                shop=_figures(item.total, item.vat, self.result.rate_names),
                moneybird=_figures(document.total, document.vat, self.result.rate_names),
            )
        )
        self._row(item, document, "differs: " + "; ".join(problems))

    def _connectors_rounding(self, item: Expected, document: Document) -> Rounding | None:
        """The document differs from the item only by the connector's own rounding: each
        difference within `rounding_tolerance`; the total's settled by the connector's rounding
        payment as Moneybird holds it on the document (not as the state remembers it); and the
        document exactly what the connector's booking of the order makes Moneybird compute (a
        refund's or a day's: its VAT differences adding up to the total's). Else None: any
        other difference, or a rounding someone else booked, is a difference."""
        tolerance = self.scope.settings.rounding_tolerance
        gap = document.total - item.total
        shop_vat = item.vat or {}
        vat = {
            rate: document.vat.get(rate, ZERO) - shop_vat.get(rate, ZERO)
            for rate in set(document.vat) | set(shop_vat)
        }
        vat = {rate: d for rate, d in vat.items() if d and item.vat is not None}
        if not gap and not vat:
            return None
        if abs(gap) > tolerance or any(abs(d) > tolerance for d in vat.values()):
            return None
        ours = [p for p in document.roundings if _made_by_connector(p, item)]
        if sum((p.price for p in ours), ZERO) != gap:
            return None
        predicted = item.predicted
        if predicted is not None:
            if document.total != predicted.total_incl_tax:
                return None
            if _nonzero(document.vat) != _nonzero(predicted.vat_by_rate):
                return None
        elif sum(vat.values(), ZERO) != gap:
            return None
        return Rounding(gap, vat)

    def _agreeing(
        self, rounding: Rounding | None, rounded: dict[str, Decimal], waiting: str | None = None
    ) -> str:
        """An agreeing row's status, with the rounding it agrees by and what of it the
        providers' payouts have yet to pay."""
        said = [waiting] if waiting else []
        if rounding is not None and rounding.total:
            said.append(
                f"rounding {abs(rounding.total)}, settled by the connector's rounding payment"
            )
        if rounded:
            names = self.result.rate_names
            amounts = ", ".join(f"{names.get(r, r)} {d:+}" for r, d in sorted(rounded.items()))
            if rounding is None:  # a day's: over its orders
                said.append(f"VAT rounded over the day: {amounts}")
            else:
                said.append(f"VAT rounded by Moneybird: {amounts}, as booked")
        return "agrees" + (f" ({'; '.join(said)})" if said else "")

    def unknown(self, documents: list[Document], expected: list[Expected]) -> None:
        # The documents of orders known not to compare (unreadable in the shop) are no strangers.
        references = {e.reference for e in expected} | {k.reference for k in self.result.parked}
        recorded = self.scope.store.known_documents()
        for document in documents:
            if document.reference in references:
                continue
            owner = recorded.get(document.reference) or recorded.get(document.id)
            if owner is not None and not self.scope.in_month(from_text(owner[1])):
                continue  # booked for an order paid in another month, dated in this one
            self.unexplained.append(document)
            what = "carries the connector's reference, but no order or refund of the month has it"
            if owner is not None:
                what += f" (the connector booked it for order {owner[0]})"
            self.result.unknown.append(
                Finding(
                    "unknown",
                    owner[0] if owner is not None else None,
                    document.reference,
                    (document.label,),
                    what,
                    "find its order in the shop; if it is another shop's sale (or from before a "
                    "numbering started over), it is a real sale: leave it, and give this shop "
                    "its own `sync.reference_template`; only a document of no sale at all (a "
                    "test, an order deleted) is credited",
                    moneybird=_figures(document.total, document.vat, self.result.rate_names),
                )
            )
            self.result.rows.append(
                Row(owner[0] if owner else "", "unknown", document.day, document.label,
                    document.net, document.vat, document.total, self._account_names(document),
                    "unknown")
            )  # fmt: skip

    def _row(
        self,
        item: Expected,
        document: Document | None,
        status: str,
        rounding: Decimal | None = None,
    ) -> None:
        self.result.rows.append(
            Row(
                item.order,
                item.kind,
                item.day,
                document.label if document else "",
                document.net if document else {},
                document.vat if document else {},
                document.total if document else None,
                self._account_names(document),
                status,
                rounding or None,
            )
        )

    def _account_names(self, document: Document | None) -> tuple[str, ...]:
        return tuple(self.scope.accounts.get(a, a) for a in document.accounts) if document else ()


def _described(document: Document) -> str:
    """The document as a person finds it: number, total, customer and date."""
    day = document.day.isoformat() if document.day else "no date"
    try:
        who = booked(document.raw).contact_name or "no contact"
    except Exception:  # its contact unreadable: the number, total and date still find it
        who = "contact unreadable"
    return f"{document.label} ({document.total}, {who}, {day})"


def _sale(item: Expected) -> str:
    """The order as its own document would show it: total, customer and day."""
    order = item.order_of
    who = (customer_name(order) or order.customer.email) if order is not None else ""
    return ", ".join(p for p in (str(item.total), who, item.day.isoformat()) if p)


def _labels(documents: list[Document]) -> str:
    return ", ".join(d.label for d in documents)


def _be(documents: list[Document]) -> str:
    return "is" if len(documents) == 1 else "are"


def _what(item: Expected) -> str:
    return {"credit": "refund", "day": "the day's document for orders"}.get(item.kind, "order")


def _figures(
    total: Decimal | None, vat: dict[str, Decimal] | None, names: dict[str, str]
) -> dict[str, str]:
    figures = {"total": "" if total is None else str(total)}
    for rate, amount in sorted((vat or {}).items()):
        figures[f"VAT {names.get(rate, rate)}"] = str(amount)
    return figures


def _made_by_connector(payment: RoundingPayment, item: Expected) -> bool:
    """The connector's rounding payment: its transaction identifier is the connector's
    ("...-rounding"), or it is the one the state recorded making for this item."""
    record = item.record
    if payment.identifier.endswith("-rounding"):
        return True
    return record is not None and payment.id == record.rounding_payment_id


def _nonzero(amounts: dict[str, Decimal]) -> dict[str, Decimal]:
    return {key: amount for key, amount in amounts.items() if amount}
