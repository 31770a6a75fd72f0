"""`connector import`: a shop's order history, oldest first, resumable, at the rate limit.

The history streams page by page through the same engine as the scheduled sync (same state,
same pass lock, so the two never run at once and never exceed the budget together). A dry run
books nothing and writes what a bookkeeper checks first: per month and VAT rate the net, VAT
and gross (credit invoices for refunds negative, in the month of the refund), the orders that
would be parked and why, the contacts that would be created, and what each refund becomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector import shutdown
from connector.booking.book import Parked
from connector.booking.credit import (
    CreditDraft,
    OriginalInvoice,
    book_refund,
    line_map,
    net_of_refunds,
    original_from_draft,
)
from connector.booking.invoice import InvoiceDraft, line_totals_by_rate
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.errors import ConnectorError, Interrupted, Outcome, ShopError, outcome
from connector.money import ZERO, fmt
from connector.moneybird.documents import contact_versions, emails_of, rates_from_response
from connector.order import Order, order_key
from connector.private_files import private_folder, write_csv
from connector.shops.shop import OrderSummary
from connector.state import Meta, OrderState, PassLock, to_text, utcnow
from connector.sync.contacts import email_key
from connector.sync.engine import PassBusy, SyncEngine
from connector.sync.report import PassReport

Progress = Callable[[int, int | None, int], None]  # done, total (if known), Moneybird requests
AGAIN = "run the same command again to carry on: the orders already booked are skipped"


def import_range(
    since: str, until: str | None = None, tz: tzinfo | None = None
) -> tuple[datetime, datetime | None]:
    """`import --since/--until` as moments (UTC): the first day, and the day after the last,
    each from midnight in `tz` (the shop's zone, whose days the advice and the books name;
    UTC without it). ValueError, saying what is wrong, for a text that is no date or a range
    without a day (with `tz`: also a --since after its today)."""
    try:
        start = _midnight(since, tz)
        end = _midnight(until, tz) if until else None
    except ValueError:
        raise ValueError("--since and --until take dates like 2026-01-31") from None
    check_range(start, end, tz)
    return start, end


def _midnight(text: str, tz: tzinfo | None) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz or UTC)
    return moment.astimezone(UTC)


def check_range(since: datetime, until: datetime | None, tz: tzinfo | None = None) -> None:
    """A range with no day in it imports nothing: refused, so that an empty report is never
    taken for an empty history. With `tz` (sync.timezone), a range that begins after the
    shop's today is refused too, like a month not begun."""
    zone = tz or UTC
    first = since.astimezone(zone)
    if until is not None and until <= since:
        raise ValueError(
            f"--until {until.astimezone(zone):%Y-%m-%d} is not after --since {first:%Y-%m-%d}: "
            "--until is the day after the last one to import"
        )
    if tz is not None:
        today = utcnow().astimezone(tz).date()
        if first.date() > today:
            raise ValueError(
                f"--since {first:%Y-%m-%d} has not begun (today is {today}, {tz}): there is "
                "no history to import yet"
            )


@dataclass
class Reading:
    """The shop's orders in the range, a page at a time, and why the read stopped short of the
    range's end, if it did: an import has no next pass to read the rest, so it says so."""

    pages: Iterator[tuple[list[dict[str, Any]], int | None]]
    total: int | None = None  # how many the shop said the range holds, when it says
    read: int = 0  # orders read
    answered: bool = False  # a page was read: an error after it leaves the range half read
    stopped: str | None = None  # the shop's reason, when the range was not read to its end

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        try:
            for page, total in self.pages:
                self.total = total if total is not None else self.total
                self.read += len(page)
                self.answered = True
                yield page
        except ShopError as exc:
            if not self.answered:
                raise  # nothing read: the error is all there is to say
            self.stopped = str(exc)  # the pages read stand; what is left is said

    def left(self) -> str | None:
        """Why the range was not read to its end and how much of it is left, or None."""
        if self.stopped is None:
            return None
        how_many = "the rest of the range was not read"
        if self.total is not None and self.total > self.read:
            how_many = (
                f"{self.total - self.read} of the {self.total} orders in the range were not read"
            )
        return f"{self.stopped}; {how_many}"


@dataclass
class DryRun:
    """Totals per (month, VAT rate), parked orders and new contacts; nothing else is kept, so
    memory stays flat however long the history."""

    totals: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)  # net, vat, gross
    invoices: dict[tuple[str, str], int] = field(default_factory=dict)  # invoices with the rate
    parked: list[tuple[str, str]] = field(default_factory=list)
    new_contacts: dict[str, str] = field(default_factory=dict)  # email key -> name
    orders: int = 0
    already_booked: int = 0
    left: str | None = None  # what of the range was not read, when the shop's read stopped short
    refunds: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    # order, refund id, date, amount, what would happen

    def add(
        self,
        draft: InvoiceDraft | CreditDraft,
        rate_names: dict[str, str],
        original: OriginalInvoice | None = None,
    ) -> None:
        """An invoice, or a credit invoice (its amounts negative) in the month of the refund;
        a whole-order credit, Moneybird's duplicate of `original` (the invoice it credits),
        has no lines of its own: the original's amounts per rate, negated."""
        month = draft.invoice_date.strftime("%Y-%m")
        incl = draft.prices_are_incl_tax if isinstance(draft, InvoiceDraft) else True
        if isinstance(draft, InvoiceDraft):
            vat_by_rate = draft.predicted.vat_by_rate
        else:
            vat_by_rate = (draft.predicted or draft.expected).vat_by_rate
        amounts = line_totals_by_rate(draft.lines)
        if isinstance(draft, CreditDraft) and draft.full and original is not None:
            amounts = {rate_id: -gross for rate_id, gross in original.gross_by_rate.items()}
        for rate_id, amount in amounts.items():
            vat = vat_by_rate.get(rate_id, ZERO)
            net, gross = (amount - vat, amount) if incl else (amount, amount + vat)
            key = (month, rate_names.get(rate_id, rate_id))
            row = self.totals.setdefault(key, [ZERO, ZERO, ZERO])
            row[0] += net
            row[1] += vat
            row[2] += gross
            self.invoices[key] = self.invoices.get(key, 0) + 1

    def write(self, folder: Path) -> list[Path]:
        """The four reports, readable by their owner alone (they name customers), with the
        shop's text written so that a spreadsheet never runs it as a formula."""
        private_folder(folder)
        totals = folder / "totals_per_month_and_rate.csv"
        write_csv(
            totals,
            [
                ["month", "vat_rate", "invoice_lines_at_rate", "net", "vat", "gross"],
                *(
                    [month, rate, self.invoices[(month, rate)], fmt(net), fmt(vat), fmt(gross)]
                    for (month, rate), (net, vat, gross) in sorted(self.totals.items())
                ),
            ],
        )
        parked = folder / "parked_orders.csv"
        write_csv(parked, [["order", "reason"], *self.parked])
        contacts = folder / "new_contacts.csv"
        write_csv(contacts, [["email_or_key", "name"], *sorted(self.new_contacts.items())])
        refunds = folder / "refunds.csv"
        write_csv(refunds, [["order", "refund", "date", "amount", "booked_as"], *self.refunds])
        return [totals, parked, contacts, refunds]

    def add_refunds(
        self,
        engine: SyncEngine,
        order: Order,
        draft: InvoiceDraft,
        rates: dict[str, MoneybirdTaxRate],
        names: dict[str, str],
    ) -> None:
        """Each refund on an order the import books: a credit invoice (or, with
        refunds.before_booking = "net", lines on the order's own invoice)."""
        net = engine.config.file.refunds.before_booking == "net"
        for refund in order.refunds:
            when = refund.created_at.astimezone(engine.settings.timezone).date().isoformat()
            row = (order.number, refund.refund_id, when, fmt(refund.amount))
            if net:
                self.refunds.append((*row, "lines on the order's invoice (net)"))
                continue
            original = original_from_draft(draft)
            credit = book_refund(
                order,
                refund,
                original,
                line_map(draft),
                rates,
                engine.config.mappings,
                engine.settings,
            )
            if isinstance(credit, Parked):
                self.refunds.append((*row, f"parked: {credit.reason}"))
            else:
                self.add(credit, names, original)
                self.refunds.append((*row, f"credit invoice {credit.reference}"))


def run_import(
    engine: SyncEngine,
    since: datetime,
    until: datetime | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> PassReport:
    """Book the history. Interrupt it at any point; running it again carries on. When the
    shop's list could not be read to the range's end, the report's `error` says how much is
    left and the run is recorded as such: the orders read are booked, nothing is passed over
    silently."""
    check_range(since, until, engine.settings.timezone)
    lock = PassLock(engine.store.path)
    if not lock.acquire():
        raise PassBusy("a sync or import is running on this state file; try again after it")
    report = PassReport()
    requests_before = engine.client.limiter.requests
    done = 0
    engine.store.set_meta(Meta.IMPORT_HEARTBEAT, utcnow().isoformat())
    engine.store.close_dead_runs()
    run = engine.store.start_run()  # shown by `status` with the scheduled passes
    run.outcome = "running"
    # History from `since` on is booked here: the scheduler's start point moves back to it,
    # and a first import also sets where the scheduler's reads begin, so they never re-read it.
    engine.move_start(since)
    first_read = engine.store.get_meta(Meta.WATERMARK) is None and until is None
    reading = Reading(engine.shop.orders_between(since, until))
    try:
        for page in reading:
            if first_read:
                first_read = False
                shop_now = engine.shop.last_date or utcnow() - timedelta(hours=1)
                engine.store.set_meta(Meta.WATERMARK, to_text(shop_now) or "")
            for payload in page:
                if limit is not None and done >= limit:
                    run.outcome = "import"
                    return report
                shutdown.check()  # a stop asked for ends the import here, between orders
                try:
                    key = engine.record_seen(payload, report)
                except Exception as exc:  # one bad order parks alone, as in a pass
                    if outcome(exc) is Outcome.STOP:
                        raise
                    engine.unreadable(payload, exc, report)
                    key = None
                if key is not None:
                    engine.process(key, payload, report)
                    engine.refunds.process_order(key, payload, report)
                done += 1
                if done % 10 == 0:  # scheduled passes wait for the lock: tell health we are busy
                    engine.store.set_meta(Meta.IMPORT_HEARTBEAT, utcnow().isoformat())
                if progress:
                    progress(done, reading.total, engine.client.limiter.requests - requests_before)
        left = reading.left()
        if left is not None:
            # Said and recorded; the days are not booked: the orders not read may belong to them.
            report.error = f"{left}; {AGAIN}"
            run.outcome, run.error = "error", f"the import stopped short: {report.error}"
            return report
        # Summary mode: every day of the history has settled; its documents now, once all
        # its orders have joined (pages come by creation, not by payment).
        engine.days.book_settled(report)
        run.outcome = "import"
    except Interrupted as exc:
        run.outcome, run.error = "interrupted", str(exc)
        raise
    finally:
        if run.outcome == "running":  # ended by an error: recorded as such, not as running
            run.outcome, run.error = "error", run.error or "the import stopped on an error"
        report.moneybird_requests = engine.client.limiter.requests - requests_before
        run.finished_at = utcnow().isoformat()
        run.seen, run.booked, run.parked, run.failed = (
            report.seen, report.booked, report.parked, report.failed,
        )  # fmt: skip
        run.requests = report.moneybird_requests
        engine.store.save(run)
        engine.store.set_meta(Meta.IMPORT_HEARTBEAT, "")
        lock.release()
    return report


def dry_run(
    engine: SyncEngine,
    since: datetime,
    until: datetime | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> DryRun:
    """Everything the import would book, worked out without writing to Moneybird (it reads the
    tax rates and the contact list) or to the state."""
    check_range(since, until, engine.settings.timezone)
    client, store = engine.client, engine.store
    rates = rates_from_response(client.tax_rates())
    names = {r.id: r.name for r in rates.values()}
    known: set[str] = set()
    ids = list(contact_versions(client.contact_versions()))
    for contact in client.contacts_by_ids(ids):
        known |= emails_of(contact)
    result = DryRun()
    net = engine.config.file.refunds.before_booking == "net"
    reading = Reading(engine.shop.orders_between(since, until))
    for page in reading:
        # The state is asked once a page, not twice an order (it was most of the run's time).
        summaries = [_summary(engine, payload) for payload in page]
        keys = [
            order_key(engine.shop.name, s.order_id) for s in summaries if not isinstance(s, str)
        ]
        records = store.orders_by_keys(keys)
        customers: list[tuple[str, str]] = []
        for payload, summary in zip(page, summaries, strict=True):
            if limit is not None and result.orders >= limit:
                break
            result.orders += 1
            if isinstance(summary, str):  # a pass parks it: said, and the rest goes on
                named = engine.shop.identify(payload)
                result.parked.append((named[1] if named else "?", summary))
                continue
            record = records.get(order_key(engine.shop.name, summary.order_id))
            if record is not None and record.state == OrderState.PAID:
                result.already_booked += 1
            elif summary.waiting:
                result.parked.append((summary.number, f"would wait: {summary.waiting}"))
            else:
                order, booked = _would_book(engine, payload, rates, net)
                if isinstance(booked, Parked):
                    result.parked.append((summary.number, booked.reason))
                elif order is not None:
                    result.add(booked, names)
                    result.add_refunds(engine, order, booked, rates, names)
                    email = email_key(order.customer)
                    if email not in known:
                        b = order.customer.billing
                        name = b.company or f"{b.first_name} {b.last_name}".strip()
                        customers.append((email, name))
            if progress:
                progress(result.orders, reading.total, client.limiter.requests)
        here = store.contacts_known([email for email, _name in customers])
        for email, name in customers:
            if email not in here:
                result.new_contacts.setdefault(email, name)
        if limit is not None and result.orders >= limit:
            return result
    result.left = reading.left()
    return result


def _would_book(
    engine: SyncEngine, payload: dict[str, Any], rates: dict[str, MoneybirdTaxRate], net: bool
) -> tuple[Order | None, InvoiceDraft | Parked]:
    """The order (None when it cannot be read) and the invoice an import would make of it,
    or why it would park it."""
    try:
        order = engine.order_from(payload)
        booked = engine.draft(order, rates)
        if not isinstance(booked, Parked) and order.refunds and net:
            booked = net_of_refunds(booked, order, rates, engine.settings)
    except ConnectorError as exc:
        return None, Parked(str(exc))
    return order, booked


def _summary(engine: SyncEngine, payload: dict[str, Any]) -> OrderSummary | str:
    """The order's summary, or why a pass parks it (its data cannot be read)."""
    try:
        return engine.shop.summary(payload)
    except Exception as exc:
        if outcome(exc) is Outcome.STOP:
            raise
        return engine.unreadable_reason(exc)
