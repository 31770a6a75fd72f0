"""Reconciliation: does Moneybird hold, for one month, exactly what the shop sold and paid back?

Three sources, read only. The shop: every order paid, and every refund made, in the month (in
sync.timezone) that the connector's rules say belongs in the books. Moneybird: the documents
dated in the month carrying the connector's references, read in bulk, and its VAT report. The
state: what the connector believes it booked, which finds a document dated outside the month.
Nothing is written to Moneybird; the pass lock keeps it from sharing the budget with a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from connector.booking.book import Parked, reference_for, reference_of
from connector.booking.credit import CreditDraft, book_refund, line_map, refund_reference
from connector.booking.day import DayShare
from connector.booking.invoice import InvoiceDraft
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.errors import ConnectorError, Outcome, StateError, internal, outcome
from connector.money import ZERO, parse
from connector.moneybird.documents import (
    Document,
    booked,
    document_of,
    listed_ids,
    original_of,
    tax_report_of,
)
from connector.order import Order, Refund, refund_key
from connector.state import (
    CorrectionRecord,
    OrderRecord,
    OrderState,
    PassLock,
    RefundRecord,
    RefundState,
    from_text,
    to_text,
)
from connector.sync.adoption import customer_name, not_this_sale
from connector.sync.engine import SyncEngine
from connector.sync.refunds import recorded_line_map

AGREES, DIFFERENCES, INCOMPLETE = "agrees", "differences", "incomplete"
FINDINGS = ("missing", "duplicates", "unknown", "differences")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        found = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise ValueError(f"{text!r} is not a month; give it as YYYY-MM, like 2026-10")
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return self.next().first - timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The month as a span of moments, [start, end), in UTC."""
        start = datetime(self.year, self.month, 1, tzinfo=tz)
        following = self.next()
        end = datetime(following.year, following.month, 1, tzinfo=tz)
        return start.astimezone(UTC), end.astimezone(UTC)


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

    @property
    def state(self) -> str | None:
        return self.record.state if self.record is not None else None


@dataclass(frozen=True)
class Finding:
    kind: str  # missing, duplicates, unknown, differences
    order: str | None
    reference: str
    documents: tuple[str, ...]  # Moneybird's numbers (or ids of drafts)
    what: str
    advice: str
    shop: dict[str, str] = field(default_factory=dict)
    moneybird: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Stable across runs: one alert per finding, cleared when it is gone."""
        return f"{self.kind}:{self.reference}"

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "order": self.order,
            "reference": self.reference,
            "documents": list(self.documents),
            "what": self.what,
            "advice": self.advice,
        }
        if self.shop or self.moneybird:
            found["shop"], found["moneybird"] = self.shop, self.moneybird
        return found


@dataclass(frozen=True)
class Known:
    """Not in Moneybird, and known not to be: parked for a person, or left by the rules."""

    order: str
    reference: str
    reason: str


@dataclass(frozen=True)
class VatRow:
    tax_rate_id: str
    name: str
    percentage: str
    box: str  # the VAT return box, from Moneybird's report
    shop: Decimal
    documents: Decimal
    report: Decimal | None  # Moneybird's report for the whole administration

    def as_dict(self) -> dict[str, Any]:
        return {
            "tax_rate_id": self.tax_rate_id,
            "name": self.name,
            "percentage": self.percentage,
            "box": self.box,
            "shop": str(self.shop),
            "documents": str(self.documents),
            "report": None if self.report is None else str(self.report),
            "agrees": self.shop == self.documents,
        }


@dataclass(frozen=True)
class Row:
    """One order or refund (or a document of ours no order explains): the bookkeeper's list."""

    order: str
    kind: str
    day: date | None
    document: str
    net: dict[str, Decimal]
    vat: dict[str, Decimal]
    total: Decimal | None
    accounts: tuple[str, ...]
    status: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": self.order or None,
            "kind": self.kind,
            "date": self.day.isoformat() if self.day else None,
            "document": self.document or None,
            "net": {rate: str(amount) for rate, amount in self.net.items()},
            "vat": {rate: str(amount) for rate, amount in self.vat.items()},
            "total": None if self.total is None else str(self.total),
            "payment_accounts": list(self.accounts),
            "status": self.status,
        }


@dataclass
class Reconciliation:
    month: Month
    timezone: str
    orders: int = 0
    refunds: int = 0
    documents: int = 0
    missing: list[Finding] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)
    unknown: list[Finding] = field(default_factory=list)
    differences: list[Finding] = field(default_factory=list)
    parked: list[Known] = field(default_factory=list)
    not_booked: list[Known] = field(default_factory=list)  # by the rules: before start, waits
    vat: list[VatRow] = field(default_factory=list)
    vat_note: str = ""
    rows: list[Row] = field(default_factory=list)
    rate_names: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    error: str | None = None

    @property
    def findings(self) -> list[Finding]:
        return [*self.missing, *self.duplicates, *self.unknown, *self.differences]

    @property
    def outcome(self) -> str:
        if self.error:
            return INCOMPLETE
        return DIFFERENCES if self.findings else AGREES

    def summary(self) -> str:
        if self.error:
            return f"{self.month}: could not complete: {self.error}"
        labels = {"missing": "missing", "duplicates": "duplicated", "unknown": "unknown",
                  "differences": "differing"}  # fmt: skip
        counts = "Moneybird disagrees: " + ", ".join(
            f"{len(getattr(self, k))} {labels[k]}" for k in FINDINGS if getattr(self, k)
        )
        known = ""
        if self.parked or self.not_booked:
            known = f"; known, not booked: {len(self.parked)} parked, "
            known += f"{len(self.not_booked)} left by the rules"
        verdict = "Moneybird agrees with the shop" if not self.findings else counts
        return (
            f"{self.month}: {_count(self.orders, 'order')} and "
            f"{_count(self.refunds, 'refund')} in the shop, "
            f"{_count(self.documents, 'document')} in Moneybird: {verdict}{known}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": str(self.month),
            "timezone": self.timezone,
            "outcome": self.outcome,
            "summary": self.summary(),
            "counts": {
                "orders": self.orders,
                "refunds": self.refunds,
                "documents": self.documents,
            },
            "orders": [row.as_dict() for row in self.rows],
            **{kind: [f.as_dict() for f in getattr(self, kind)] for kind in FINDINGS},
            "parked": [k.__dict__ for k in self.parked],
            "not_booked": [k.__dict__ for k in self.not_booked],
            "vat": [row.as_dict() for row in self.vat],
            "vat_note": self.vat_note,
            "moneybird_requests": self.requests,
            "error": self.error,
        }

    def csv_rows(self) -> list[list[str]]:
        """A header and one row per order or refund, net and VAT per rate in columns."""
        rates = sorted({r for row in self.rows for r in (*row.net, *row.vat)})
        names = [self.rate_names.get(r, r) for r in rates]
        header = ["order", "kind", "date", "document", *[f"net {n}" for n in names]]
        header += [f"VAT {n}" for n in names] + ["total", "payment account", "status"]
        table = [header]
        for row in self.rows:
            table.append(
                [
                    row.order,
                    row.kind,
                    row.day.isoformat() if row.day else "",
                    row.document,
                    *[_text(row.net.get(r)) for r in rates],
                    *[_text(row.vat.get(r)) for r in rates],
                    _text(row.total),
                    "; ".join(row.accounts),
                    row.status,
                ]
            )
        return table


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _text(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:.2f}"


class Busy(ConnectorError):
    """A pass (or an import) holds the state: reconciliation waits for its turn."""


def reconcile(engine: SyncEngine, month: Month, lookback_days: int = 92) -> Reconciliation:
    """Compare the month in the shop with Moneybird, reading only; holds the pass lock."""
    lock = PassLock(engine.store.path)
    if not lock.acquire():
        raise Busy("a pass or an import is running; reconcile when it is done")
    try:
        return _Reconciler(engine, month, lookback_days).run()
    finally:
        lock.release()


class _Reconciler:
    def __init__(self, engine: SyncEngine, month: Month, lookback_days: int) -> None:
        self.engine = engine
        self.shop = engine.shop
        self.store = engine.store
        self.client = engine.client
        self.settings = engine.settings
        self.tz = engine.settings.timezone
        self.month = month
        self.start, self.end = month.bounds(self.tz)
        self.lookback = timedelta(days=lookback_days)
        self.result = Reconciliation(month, str(self.tz))
        self.rates: dict[str, MoneybirdTaxRate] = {}
        self.accounts: dict[str, str] = {}  # financial account id -> its name
        self.unexplained: list[Document] = []  # documents of ours no order of the month has
        self.known_start = engine.known_start()

    def run(self) -> Reconciliation:
        before = self.client.limiter.requests
        try:
            self.rates = self.engine.writer.rates_for_reading()  # no pass set-up: no writes
            self.result.rate_names = {r: rate.name for r, rate in self.rates.items()}
            self.accounts = {
                str(a.get("id")): str(a.get("name") or a.get("identifier") or a.get("id"))
                for a in self.client.financial_accounts()
            }
            expected = self._days(self._expected())
            documents = self._documents()
            by_reference = self._by_reference(documents, expected)
            self._credits_figures(expected, by_reference)
            self._compare(expected, by_reference)
            self._unknown(documents, expected)
            self._vat(expected, by_reference)
        except (ConnectorError, StateError) as exc:
            self.result.error = str(exc)
        except Exception as exc:  # reported as incomplete, never as agreeing
            self.result.error = internal(exc)
        finally:
            self.result.requests = self.client.limiter.requests - before
        return self.result

    # --- the shop --------------------------------------------------------------------------

    def _in_month(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    def _payloads(self) -> dict[str, dict[str, Any]]:
        """The shop's orders that may have been paid or refunded in the month: those created
        in it or in the lookback before it, and those the state saw paid or refunded in it."""
        found: dict[str, dict[str, Any]] = {}
        for page, _total in self.shop.orders_between(self.start - self.lookback, self.end):
            for payload in page:
                named = self.shop.identify(payload)
                if named is not None:
                    found[named[0]] = payload
        start, end = to_text(self.start) or "", to_text(self.end) or ""
        wanted = {r.order_id for r in self.store.orders_paid_between(start, end)}
        for refund in self.store.refunds_made_between(start, end):
            record = self.store.order(refund.order_key)
            if record is not None:
                wanted.add(record.order_id)
        for order_id in sorted(wanted - set(found)):
            again = self.shop.order(order_id)
            if again is not None:
                found[order_id] = again
        return found

    def _unreadable(self, payload: dict[str, Any], exc: Exception) -> None:
        """An order whose very dates cannot be read: whether it belongs in the month cannot
        be said either, so it is listed as known (a pass parks it with the same reason)."""
        named = self.shop.identify(payload)
        if named is None:
            return
        order_id, number = named
        template = self.settings.reference_template
        reference = reference_of(template, number, order_id, self.shop.name)
        why = self.engine.unreadable_reason(exc)
        self.result.parked.append(Known(number, reference, f"{why}; it is not compared"))

    def _expected(self) -> list[Expected]:
        expected: list[Expected] = []
        for payload in self._payloads().values():
            if self.shop.unlisted(payload):
                continue  # not in a booked status: never booked, nothing to compare
            try:
                summary = self.shop.summary(payload)
            except Exception as exc:  # its dates cannot be read: listed, the month goes on
                if outcome(exc) is Outcome.STOP:
                    raise
                self._unreadable(payload, exc)
                continue
            try:
                order = self.engine.order_from(payload)
            except Exception as exc:  # one poisoned order is reported, the month goes on
                if self._in_month(summary.paid_at):
                    self.result.orders += 1
                    why = str(exc) if isinstance(exc, ConnectorError) else internal(exc)
                    reference = reference_of(
                        self.settings.reference_template,
                        summary.number,
                        summary.order_id,
                        self.shop.name,
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
            if self._in_month(order.paid_at) and not self.shop.not_bookable(order):
                self.result.orders += 1
                item = self._invoice(order, summary.waiting)
                if item is not None:
                    expected.append(item)
            for refund in order.refunds:
                if self._in_month(refund.created_at):
                    item = self._credit(order, refund)
                    if item is not None:
                        self.result.refunds += 1
                        expected.append(item)
        return expected

    def _days(self, expected: list[Expected]) -> list[Expected]:
        """Summary mode: the orders a day's document booked are compared as that document, by
        their sum; an order still waiting in its day is known, not missing."""
        days: dict[str, list[Expected]] = {}
        kept = []
        # Every correction of the shop's orders, read once (the state has few of them).
        every = self.store.corrections(shop=self.shop.name)
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
                self.result.not_booked.append(Known(item.order, item.reference, why))
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
            if not self.month.first <= day <= self.month.last:
                continue
            share = DayShare.from_json(correction.day_share)
            item = Expected("correction", correction.number, correction.key,
                            correction.reference, day, "EUR", share.total, dict(share.vat),
                            None)  # fmt: skip
            if correction.state == OrderState.IN_DAY:
                why = f"a change waits in its day's document ({day}), made once it has settled"
                self.result.not_booked.append(Known(item.order, item.reference, why))
            elif correction.invoice_number:
                days.setdefault(correction.invoice_number, []).append(item)

    def _invoice(self, order: Order, waiting: str | None) -> Expected | None:
        record = self.store.order(order.key)
        reference = reference_for(order, self.settings.reference_template)
        if waiting:
            self.result.not_booked.append(Known(order.number, reference, f"waits: {waiting}"))
            return None
        total, vat = order.total, None
        try:
            draft: InvoiceDraft | Parked | None = self.engine.booking(order, self.rates)
        except Exception:  # compared on its total alone (the VAT note counts such orders)
            draft = None
        if isinstance(draft, InvoiceDraft):
            reference, total = draft.reference, draft.shop_totals.total_incl_tax
            vat = dict(draft.shop_totals.vat_by_rate)
        return Expected(
            "invoice",
            order.number,
            order.key,
            reference,
            order.paid_at.astimezone(self.tz).date() if order.paid_at else self.month.first,
            order.currency,
            total,
            vat,
            record,
            order_of=order,
        )

    def _credit(self, order: Order, refund: Refund) -> Expected | None:
        record = self.store.refund(refund_key(order.key, refund.refund_id))
        if record is not None and record.state == RefundState.NET:
            return None  # booked on the order's own invoice
        return Expected(
            "credit",
            order.number,
            refund_key(order.key, refund.refund_id),
            refund_reference(order, refund, self.settings),
            refund.created_at.astimezone(self.tz).date(),
            order.currency,
            -refund.amount,
            None,
            record,
            order_of=order,
            refund=refund,
        )

    # --- Moneybird -------------------------------------------------------------------------

    def _documents(self) -> list[Document]:
        """The month's documents carrying the connector's references: two requests plus one
        per hundred documents."""
        clients = [self.client]
        # Summary days are external sales invoices: read them too where there are any.
        days = self.engine.summary or bool(self.store.days())
        if days and self.client.documents != "external_sales_invoices":
            clients.append(self.engine.days.client)
        documents = []
        for client in clients:
            ids = listed_ids(client.invoice_versions(self.month.first, self.month.last))
            documents += [document_of(invoice) for invoice in client.invoices_by_ids(ids)]
        ours = [d for d in documents if self._pattern.fullmatch(d.reference)]
        self.result.documents = len(ours)
        return ours

    @property
    def _pattern(self) -> re.Pattern[str]:
        template = self.settings.reference_template
        parts = re.split(r"\{(?:number|id|shop)\}", template)
        body = "[A-Za-z0-9._~-]+?"
        return re.compile(body.join(re.escape(p) for p in parts) + r"(?:-R[A-Za-z0-9-]+)?")

    def _by_reference(
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
            by_reference = self.client.invoice_by_reference(item.reference, item.day)
            if by_reference is not None:
                found[item.reference] = [document_of(by_reference)]
        return found

    def _read(self, ids: list[str]) -> list[dict[str, Any]]:
        return self.client.invoices_by_ids(ids) if ids else []

    def _worth_looking_up(self, item: Expected) -> bool:
        """Not for what is known not to be booked (one request each)."""
        return item.state not in (OrderState.PARKED, OrderState.BEFORE_START, RefundState.WAITING)

    def _credits_figures(self, expected: list[Expected], found: dict[str, list[Document]]) -> None:
        """A credit invoice's VAT per rate, as the refund booking works it out from the invoice
        it credits (read here when it is not among the month's documents)."""
        invoices = {e.key: e for e in expected if e.kind == "invoice"}
        credits = [e for e in expected if e.kind == "credit" and e.order_of is not None]
        originals: dict[str, Document] = {}
        wanted: set[str] = set()
        for item in credits:
            assert item.order_of is not None
            record = self.store.order(item.order_of.key)
            mine = invoices.get(item.order_of.key)
            docs = found.get(mine.reference, []) if mine else []
            if len(docs) == 1:
                originals[item.key] = docs[0]
            elif record is not None and record.invoice_id:
                wanted.add(record.invoice_id)
        read = (
            {d.id: d for d in map(document_of, self.client.invoices_by_ids(sorted(wanted)))}
            if wanted
            else {}
        )
        for item in credits:
            assert item.order_of is not None and item.refund is not None
            original = originals.get(item.key)
            if original is None:
                record = self.store.order(item.order_of.key)
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

    def _credit_draft(
        self, order: Order, refund: Refund, original: Document
    ) -> CreditDraft | Parked:
        """The credit invoice the refund booking makes of this refund, on its original."""
        booked = recorded_line_map(self.store, order.key)
        if booked is None:
            draft = self.engine.draft(order, self.rates)
            booked = {} if isinstance(draft, Parked) else line_map(draft)
        return book_refund(
            order,
            refund,
            original_of(original.raw),
            booked,
            self.rates,
            self.engine.config.mappings,
            self.settings,
        )

    # --- comparing -------------------------------------------------------------------------

    def _compare(self, expected: list[Expected], found: dict[str, list[Document]]) -> None:
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
        if item.kind == "day" and document.id in self._day_documents:
            return True  # the day's document this state made (or adopted)
        if item.kind != "invoice" or item.order_of is None:
            return self._same_figures(item, document)
        return self._is_same_sale(item, document)

    @cached_property
    def _day_documents(self) -> set[str]:
        """The ids of the day documents the state records as made or adopted (read once)."""
        return {d.invoice_id for d in self.store.days() if d.invoice_id}

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
        if total is None or abs(total - item.total) > self.settings.rounding_tolerance:
            return False
        if dated is not None and abs(dated - item.day) > timedelta(days=1):
            return False
        if isinstance(item.record, RefundRecord):
            order = self.store.order(item.record.order_key)
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
        tolerance = self.settings.rounding_tolerance
        return not_this_sale(item.order_of, invoice, self.store, tolerance, self.tz,
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
            self.result.parked.append(Known(item.order, item.reference, reason or "parked"))
            self._row(item, None, f"parked: {reason}")
            return
        if state == RefundState.WAITING:
            self.result.parked.append(
                Known(item.order, item.reference, "refund of an order that is not booked")
            )
            self._row(item, None, "waits for its order")
            return
        before_start = (
            self.known_start is not None
            and item.kind == "invoice"
            and (state in (None, OrderState.BEFORE_START))
            and item.day < self.known_start.astimezone(self.tz).date()
        )
        if before_start:
            reason = "paid before the start point: history, booked only by `connector import`"
            self.result.not_booked.append(Known(item.order, item.reference, reason))
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
        if document.total != item.total:
            problems.append(f"total {document.total} in Moneybird, {item.total} in the shop")
        rounded: list[str] = []
        if item.vat is not None:
            # A day's document: Moneybird rounds VAT once over the day, the shop per order
            # (per line and on shipping): up to a cent an order of difference is that
            # rounding, not an error.
            slack = Decimal("0.01") * len(item.order.split(", ")) if item.kind == "day" else ZERO
            for rate in sorted(set(item.vat) | set(document.vat)):
                ours, theirs = item.vat.get(rate, ZERO), document.vat.get(rate, ZERO)
                name = self.result.rate_names.get(rate, rate)
                if ours != theirs and abs(ours - theirs) <= slack:
                    rounded.append(f"{name} {theirs - ours:+}")
                elif ours != theirs:
                    problems.append(f"VAT at {name} {theirs} in Moneybird, {ours} in the shop")
        if not document.is_draft and document.unpaid > ZERO:
            problems.append(
                f"{document.unpaid} unpaid in Moneybird (state {document.state}); "
                "the shop has it paid"
            )
        elif not document.is_draft and document.unpaid < ZERO:
            problems.append(f"{-document.unpaid} more paid in Moneybird than its total")
        if not problems:
            status = "agrees" + (
                f" (VAT rounded over the day: {', '.join(rounded)})" if rounded else ""
            )
            self._row(item, document, status)
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

    def _unknown(self, documents: list[Document], expected: list[Expected]) -> None:
        # The documents of orders known not to compare (unreadable in the shop) are no strangers.
        references = {e.reference for e in expected} | {k.reference for k in self.result.parked}
        recorded = self.store.known_documents()
        for document in documents:
            if document.reference in references:
                continue
            owner = recorded.get(document.reference) or recorded.get(document.id)
            if owner is not None and not self._in_month(from_text(owner[1])):
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

    def _row(self, item: Expected, document: Document | None, status: str) -> None:
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
            )
        )

    def _account_names(self, document: Document | None) -> tuple[str, ...]:
        return tuple(self.accounts.get(a, a) for a in document.accounts) if document else ()

    def _vat(self, expected: list[Expected], found: dict[str, list[Document]]) -> None:
        """VAT per rate: the shop's, the connector's documents', and Moneybird's report."""
        shop: dict[str, Decimal] = {}
        documents: dict[str, Decimal] = {}
        unworked: list[str] = []
        for item in expected:
            if item.currency != "EUR":
                continue
            if item.vat is None:
                unworked.append(item.order)
            for rate, amount in (item.vat or {}).items():
                shop[rate] = shop.get(rate, ZERO) + amount
        # Every document of the connector's the comparison met: duplicates and unknown ones
        # count, as they count in Moneybird's books.
        met = {d.id: d for item in expected for d in found.get(item.reference, [])}
        met |= {d.id: d for d in self.unexplained}
        for document in met.values():
            if document.currency not in ("EUR", ""):
                continue
            for rate, amount in document.vat.items():
                documents[rate] = documents.get(rate, ZERO) + amount
        report = tax_report_of(self.client.tax_report(self.month.first, self.month.last))
        reported = {row.tax_rate_id: row for row in report if row.tax_rate_id in self.rates}
        sales = {r for r, rate in self.rates.items() if rate.tax_rate_type == "sales_invoice"}
        for rate in sorted((set(shop) | set(documents) | set(reported)) & (sales | set(shop))):
            row = reported.get(rate)
            known = self.rates.get(rate)
            self.result.vat.append(
                VatRow(
                    rate,
                    known.name if known else rate,
                    f"{known.percentage}" if known else "",
                    row.box if row else "",
                    shop.get(rate, ZERO),
                    documents.get(rate, ZERO),
                    row.tax if row else ZERO,
                )
            )
        notes = [
            "Moneybird's report covers the whole administration: where it is higher than the "
            "connector's documents, the difference is VAT on documents the connector did not "
            "make (other sales, manual invoices)."
        ]
        if unworked:
            named = ", ".join(sorted(set(unworked))[:10]) + (", ..." if len(set(unworked)) > 10
                                                             else "")  # fmt: skip
            things = "order or refund" if len(unworked) == 1 else "orders or refunds"
            notes.append(
                f"Left out of the shop's column: {len(unworked)} {things} without VAT per rate "
                f"(parked, or not workable now): {named}."
            )
        self.result.vat_note = " ".join(notes)


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
