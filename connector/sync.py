"""The sync engine: one pass polls the shop and moves each order through its states.

    pending -> draft -> open -> paid        (parked / failed on the side)

Before each Moneybird write the order's `intent` is committed; a pass that finds an intent
left behind reads Moneybird first (find_by_reference, the invoice itself) and only writes
what is not there yet. One order's trouble never stops the others; only an authentication
failure ends the pass.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector import shutdown
from connector.booking import Parked, book, describe_differences, planned_payments
from connector.config import Config
from connector.contacts import ContactBook
from connector.errors import (
    INTERNAL,
    AuthError,
    ConnectorError,
    OrderDataError,
    Parking,
    Retry,
    ShopError,
)
from connector.exchange_rates import EcbRates
from connector.health import AUTH_ERROR_KEY
from connector.invoice import (
    InvoiceDraft,
    PaymentPlan,
    Totals,
    differences,
    totals_from_response,
)
from connector.money import BASE_CURRENCY, ZERO, cents, fmt, parse
from connector.moneybird import Ambiguous, MoneybirdClient, NotFound, Rejected, Unavailable
from connector.moneybird_rates import MoneybirdTaxRate, rates_from_response
from connector.order import Order
from connector.outage import ServiceDown
from connector.payments import PaymentProblem, less
from connector.redact import redact
from connector.refund_booking import line_map, net_of_refunds
from connector.refund_sync import RefundFlow
from connector.shop import Poll, Shop
from connector.shutdown import Interrupted
from connector.state import (
    BEFORE_START_COUNT_KEY,
    START_KEY,
    UNREADABLE_KEY,
    OrderRecord,
    OrderState,
    PassLock,
    RefundRecord,
    StateError,
    Store,
    from_text,
    to_text,
    utcnow,
)
from connector.vat_check import VatNumberChecks
from connector.vies import ViesClient

log = logging.getLogger(__name__)
InvoiceRecord = OrderRecord | RefundRecord  # both carry an invoice through send and pay
WATERMARK_KEY = "watermark"
CLOCK_KEY = "shop_clock"  # the shop's clock and ours at the last poll: "<shop>|<ours>"
CLOCK_STEP = timedelta(minutes=1)  # a shop clock this far behind what ours says has stepped back
FIRST_START = (
    "no pass has run yet: the first one books only orders paid from its own moment on (set "
    "sync.start to book from an earlier day, or use `connector import`)"
)
LEARN_EVERY = 100  # documents made between two looks at what else Moneybird holds
PAYLOADS_KEPT = 500  # orders a poll keeps in memory for the pass; more are read again by id
INTERNAL_ERROR_PASSES = 3  # the same internal error this often: parked, not retried forever


class PassBusy(ConnectorError):
    pass


@dataclass
class Decision:
    key: str
    number: str
    state: str
    message: str


@dataclass
class Verdict:
    """What a pass would do with an order: "book", "park", "skip" or "retry", and why."""

    action: str
    reason: str = ""
    order: Order | None = None
    draft: InvoiceDraft | None = None


@dataclass
class PassReport:
    seen: int = 0
    booked: int = 0
    parked: int = 0
    failed: int = 0
    unpaid: int = 0
    refunds_booked: int = 0
    refunds_parked: int = 0
    refunds_waiting: int = 0
    adopted: int = 0  # found already in Moneybird (another install, a restored state)
    before_start: int = 0  # paid before the start point: left for `connector import`
    unreadable: list[str] = field(default_factory=list)  # list elements that name no order
    moneybird_requests: int = 0
    decisions: list[Decision] = field(default_factory=list)
    error: str | None = None

    def summary(self, seen: str = "seen") -> str:
        """One line per pass or import; documents found already in Moneybird are not "booked"."""
        found = f"{self.adopted} already in Moneybird (adopted), " if self.adopted else ""
        return (
            f"{self.seen} orders {seen}, {self.booked} booked, {found}{self.parked} parked, "
            f"{self.failed} to retry, {self.unpaid} waiting for payment; "
            f"{self.moneybird_requests} Moneybird requests"
        )


class SyncEngine:
    def __init__(self, config: Config, store: Store, shop: Shop, client: MoneybirdClient) -> None:
        self.config = config
        self.store = store
        self.shop = shop
        self.client = client
        self.contacts = ContactBook(store, client)
        self.settings = config.booking_settings()
        self._rates: dict[str, MoneybirdTaxRate] | None = None
        self.external = config.sync.document == "external_sales_invoice"
        self._learned: dict[str, dict[str, Any]] = {}
        self._start: datetime | None = None
        self._creates = 0  # documents made since Moneybird was last read for new ones
        self._locked_until: date | None = None  # Moneybird's closed books, read with the rates
        self.refunds = RefundFlow(self)
        vat = config.file.vat
        self.ecb = EcbRates(config.sync.ecb_url) if config.sync.exchange_rates == "ecb" else None
        self.vies_waits = vat.vies_unavailable == "wait"
        self.vat_numbers = (
            VatNumberChecks(
                store,
                ViesClient(vat.vies_url, vat.vies_requester),
                vat.shop_country,
                vat.vies_cache_days,
            )
            if vat.vies_check
            else None
        )

    def order_from(self, payload: dict[str, Any]) -> Order:
        """The shop's order, with the rate source's euro rates for an order in another
        currency ([sync] exchange_rates = "ecb"), where the shop gives no euro amounts."""
        order = self.shop.to_order(payload)
        if order.currency == BASE_CURRENCY or self.ecb is None:
            return order
        if order.currency not in self.settings.currencies:
            return order  # parked for its currency anyway
        # Without a shop payment list, the whole total is paid by one payment with no euro amount.
        payments_need_rate = not order.payments or any(
            p.amount_base is None for p in order.payments
        )
        if not payments_need_rate and all(r.amount_base is not None for r in order.refunds):
            return order  # the shop converted everything itself
        tz = self.settings.timezone

        def rate_on(moment: datetime) -> tuple[Decimal, date]:
            found = self.ecb.per_euro(order.currency, moment.astimezone(tz).date())  # type: ignore[union-attr]
            if found is None:
                raise Parking(f"the ECB publishes no euro reference rate for {order.currency}")
            return found

        rate, day = rate_on(order.paid_at or order.modified_at)
        refunds = tuple(
            r if r.amount_base is not None else replace(
                r, amount_base=cents(r.amount / rate_on(r.created_at)[0])
            )
            for r in order.refunds
        )  # fmt: skip
        note = order.exchange_rate_note
        if payments_need_rate:
            note = f"euro amounts at the ECB rate of {day}: {rate} {order.currency} per euro"
        return replace(order, exchange_rate=rate, exchange_rate_note=note, refunds=refunds)

    def draft(
        self, order: Order, rates: dict[str, MoneybirdTaxRate] | None = None
    ) -> InvoiceDraft | Parked:
        """The pure booking, given VIES's answer about the VAT number when vat.vies_check.
        `rates`: Moneybird's tax rates when already read (else read with the pass's set-up)."""
        check = self.vat_numbers.check(order) if self.vat_numbers else None
        return book(order, self.config.mappings, rates or self.rates(), self.settings, check)

    def booking(self, order: Order) -> InvoiceDraft | Parked:
        """The invoice a pass makes of this order (refunds netted on it in "net" mode), or why
        it parks it. Raises Retry when an outside service should be asked again first."""
        result = self.draft(order)
        if isinstance(result, Parked) and result.later:
            if self.vies_waits:
                raise Retry(result.reason)  # nothing booked; the outside service is asked again
            result = Parked(
                f"{result.reason}; run `connector retry {order.number}` once VIES answers "
                '(or set vat.vies_unavailable = "wait" to try again every pass)'
            )
        net = self.config.file.refunds.before_booking == "net" and order.refunds
        if net and not isinstance(result, Parked):
            result = net_of_refunds(result, order, self.rates(), self.settings)
        return result

    def verdict(self, payload: dict[str, Any]) -> Verdict:
        """What a pass would do with this order as the shop has it now: book it (and as what
        invoice), park it (and why), skip it (and why), or leave it to retry. Worked out the
        way the pass does, in the same order, writing nothing."""
        listed = self.shop.unlisted(payload)
        if listed:
            return Verdict("skip", listed)
        summary = self.shop.summary(payload)
        record = self.store.order(f"{self.shop.name}:{summary.order_id}")
        if record is not None and record.state == OrderState.PAID:
            return Verdict("skip", f"already booked as invoice {record.invoice_number}")
        start = self._known_start()
        if record is None and summary.paid_at is not None:
            if start is None:
                return Verdict("skip", FIRST_START)
            if summary.paid_at < start:
                tz = self.settings.timezone
                return Verdict("skip", _before_start(summary.paid_at, start, tz))
        if summary.waiting:
            return Verdict("skip", f"waits: {summary.waiting}")
        try:
            order = self.order_from(payload)
            reason = self.shop.not_bookable(order)
            if reason:
                return Verdict("park", reason, order)
            if not order.is_paid:
                return Verdict("skip", "waits: not paid yet: the shop has no paid date for it")
            result = self.booking(order)
            if isinstance(result, Parked):
                return Verdict("park", redact(result.reason, self.config.secrets.values()), order)
            self.ensure_open_period(result.invoice_date, "the invoice", order.number)
        except (AuthError, StateError, ServiceDown):
            raise
        except (Parking, OrderDataError) as exc:
            return Verdict("park", str(exc))
        except (ConnectorError, ShopError) as exc:
            return Verdict("retry", str(exc))
        return Verdict("book", "", order, result)

    def _known_start(self) -> datetime | None:
        """The start point if one is set or recorded (None before the first pass)."""
        if self._start is not None or self.config.sync.start is not None:
            return self.start_point()
        return from_text(self.store.get_meta(START_KEY))

    # --- the pass --------------------------------------------------------------------------

    def run_pass(self) -> PassReport:
        lock = PassLock(self.store.path)
        if not lock.acquire():
            raise PassBusy("another pass is running on this state file")
        try:
            return self._pass()
        finally:
            lock.release()

    def _pass(self) -> PassReport:
        report = PassReport()
        self.store.close_dead_runs()  # we hold the lock: any run still "running" has died
        run = self.store.start_run()
        requests_before = self.client.limiter.requests
        try:
            polled = self._poll(report)
            for record in self.store.unfinished():
                shutdown.check()  # a stop asked for ends the pass here, between orders
                self._process(record, polled.get(record.key), report)
            for key in self.store.orders_with_open_refunds():
                shutdown.check()
                self.refunds.process_order(key, polled.get(key), report)
            run.outcome = "ok"
            self.store.set_meta(AUTH_ERROR_KEY, "")
        except AuthError as exc:
            run.outcome, run.error, report.error = "error", str(exc), str(exc)
            self.store.set_meta(AUTH_ERROR_KEY, str(exc))
            raise
        except Interrupted as exc:
            run.outcome, run.error, report.error = "interrupted", str(exc), str(exc)
            log.warning("pass %s at a safe point; the next pass carries on", exc)
            raise
        except ConnectorError as exc:
            run.outcome, run.error, report.error = "error", str(exc), str(exc)
            log.error("pass stopped: %s", exc)
        except StateError:
            run.outcome, run.error = "error", "the state file cannot be written"
            raise
        except Exception as exc:  # a bug: logged once with its traceback, the pass reported
            run.outcome = "error"
            run.error = report.error = f"{INTERNAL}: {type(exc).__name__}: {exc}"
            log.exception("pass stopped by an internal error")
        finally:
            report.moneybird_requests = self.client.limiter.requests - requests_before
            run.finished_at = utcnow().isoformat()
            run.seen, run.booked, run.parked, run.failed = (
                report.seen,
                report.booked,
                report.parked,
                report.failed,
            )
            run.requests = report.moneybird_requests
            run.adopted = report.adopted
            with contextlib.suppress(StateError):  # the state itself may be what failed
                self.store.save(run)
                self.store.set_meta(UNREADABLE_KEY, json.dumps(report.unreadable))
        return report

    def _poll(self, report: PassReport) -> dict[str, dict[str, Any]]:
        """Record every changed order durably, page by page, then move the watermark only as
        far as the read was complete. A shop clock that went back since the last poll widens
        the read by as much, so orders stamped before the old watermark are still found."""
        start = self.start_point()
        watermark = from_text(self.store.get_meta(WATERMARK_KEY))
        overlap = timedelta(minutes=self.config.sync.overlap_minutes)
        earliest = start - overlap  # an order paid after the start was changed after it
        since = earliest if watermark is None else max(earliest, watermark - overlap)
        polled: dict[str, dict[str, Any]] = {}
        ours = utcnow()
        poll = self._read_changes(since, report, polled)
        step = self._clock_step(poll.shop_time, ours)
        if step is not None and watermark is not None:
            wider = max(earliest, watermark - overlap - step)
            log.warning(
                "the shop's clock went back by about %d minutes since the last pass; "
                "reading the orders changed since %s again",
                step.total_seconds() // 60,
                wider.isoformat(timespec="seconds"),
            )
            poll = self._read_changes(wider, report, polled)
        if poll.shop_time is not None:
            self.store.set_meta(CLOCK_KEY, f"{to_text(poll.shop_time)}|{to_text(ours)}")
        if poll.complete_until is not None:
            self.store.set_meta(WATERMARK_KEY, to_text(poll.complete_until) or "")
        return polled

    def _read_changes(
        self, since: datetime, report: PassReport, polled: dict[str, dict[str, Any]]
    ) -> Poll:
        """Stream one read of the changed orders into the state; the first orders' payloads
        are kept for the pass (a bounded number: the rest are read again by id)."""
        poll = self.shop.changed_orders(since)
        for page in poll.pages:
            shutdown.check()  # between pages: the watermark has not moved yet
            for payload in page:
                try:
                    key = self.record_seen(payload, report)
                except (AuthError, StateError, ServiceDown):
                    raise
                except Exception as exc:  # one bad element never stops the others
                    self._unreadable(payload, exc, report)
                    continue
                if key is not None and len(polled) < PAYLOADS_KEPT:
                    polled[key] = payload
        return poll

    def _unreadable(self, payload: Any, exc: Exception, report: PassReport) -> None:
        """An element of the shop's order list that cannot be read: parked when it names an
        order, else kept for `status` and the alerts (the pass goes on with the others)."""
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        order_id = payload.get("id") if isinstance(payload, dict) else None
        key = f"{self.shop.name}:{order_id}"
        if order_id not in (None, "") and self.store.order(key) is None:
            number = str(payload.get("number") or payload.get("name") or order_id)
            record = OrderRecord(
                key=key, shop=self.shop.name, order_id=str(order_id), number=number.lstrip("#")
            )
            self._park(record, f"the shop's data for this order cannot be read ({what})", report)
            return
        if order_id not in (None, ""):
            log.warning("order %s: the shop's data cannot be read (%s)", order_id, what)
            return
        sample = redact(repr(payload)[:120], self.config.secrets.values())
        report.unreadable.append(f"an element of the order list without an order id ({sample})")
        log.error("the shop's order list holds an element that is not an order: %s", sample)

    def _clock_step(self, shop_now: datetime | None, ours: datetime) -> timedelta | None:
        """How far the shop's clock went back since the last poll, measured against ours."""
        last = (self.store.get_meta(CLOCK_KEY) or "").split("|")
        if shop_now is None or len(last) != 2:
            return None
        shop_then, ours_then = from_text(last[0]), from_text(last[1])
        if shop_then is None or ours_then is None:
            return None
        step = shop_then + (ours - ours_then) - shop_now
        return step if step > CLOCK_STEP else None

    def start_point(self) -> datetime:
        """Orders paid before this moment are history: `import` books them, a pass never.
        `sync.start` (a day in sync.timezone) or, unset, the first pass's moment; an import
        moves it back to what it imported."""
        if self._start is not None:
            return self._start
        recorded = from_text(self.store.get_meta(START_KEY))
        configured = None
        if self.config.sync.start is not None:
            day = datetime.combine(self.config.sync.start, datetime.min.time())
            configured = day.replace(tzinfo=self.settings.timezone).astimezone(UTC)
        if configured is None and recorded is None:
            recorded = utcnow().replace(microsecond=0)
            self.store.set_meta(START_KEY, to_text(recorded) or "")
            self._count_history(recorded)
        self._start = min(m for m in (configured, recorded) if m is not None)
        return self._start

    def move_start(self, moment: datetime) -> None:
        """An import books from `moment` on: the start point is never later than that."""
        if moment < self.start_point():
            self.store.set_meta(START_KEY, to_text(moment) or "")
            self._start = moment
            self._count_history(moment)  # what is left before the new start

    def _count_history(self, start: datetime) -> None:
        """At the first start: how many orders the shop had before it (one request), so
        `status` can say what the scheduler leaves for `connector import`."""
        try:
            count = self.shop.count_before(start)
        except (ShopError, ConnectorError) as exc:
            log.info("could not count the orders before the start: %s", exc)
            count = None
        # "?": the shop has orders from before but did not say how many (count headers gone).
        self.store.set_meta(BEFORE_START_COUNT_KEY, "?" if count is None else str(count))
        if count:
            log.info(
                "%d orders paid before the start (%s) are not booked by the scheduler; "
                "book them with `connector import --since <date>`",
                count,
                start.date().isoformat(),
            )

    def record_seen(self, payload: dict[str, Any], report: PassReport) -> str | None:
        """Record an order the shop listed, durably. Its key when it still needs work."""
        summary = self.shop.summary(payload)
        key = f"{self.shop.name}:{summary.order_id}"
        report.seen += 1
        record = self.store.order(key)
        new_refunds = self.refunds.record(key, summary.number, summary.refunds)
        if record is not None and record.state == OrderState.PAID:
            return key if new_refunds else None
        paid = summary.waiting is None
        start = self.start_point()
        if record is None and summary.paid_at is not None and summary.paid_at < start:
            record = OrderRecord(
                key=key,
                shop=self.shop.name,
                order_id=summary.order_id,
                number=summary.number,
                state=OrderState.BEFORE_START.value,
                paid_at=to_text(summary.paid_at),
                modified_at=summary.modified,
                park_reason=_before_start(summary.paid_at, start, self.settings.timezone),
            )
            self.store.save(record)
            report.before_start += 1
            return None
        if record is not None and record.state == OrderState.BEFORE_START:
            paid_at = from_text(record.paid_at)
            if paid_at is not None and paid_at < start:
                return None
            record.state = OrderState.PENDING.value  # the start moved back (an import)
            record.park_reason = None
        if record is None:
            record = OrderRecord(
                key=key,
                shop=self.shop.name,
                order_id=summary.order_id,
                number=summary.number,
                state=(OrderState.PENDING if paid else OrderState.UNPAID).value,
            )
        elif record.state == OrderState.UNPAID and paid:
            record.state = OrderState.PENDING.value
        elif record.state == OrderState.UNPAID:
            report.unpaid += 1
            return None
        elif (
            record.state == OrderState.PARKED
            and record.invoice_id is None
            and summary.modified != record.modified_at
        ):
            record.state = OrderState.PENDING.value  # changed in the shop: look again
            record.park_reason = None
        elif record.state == OrderState.PARKED:
            return None
        record.modified_at = summary.modified
        record.paid_at = to_text(summary.paid_at) or record.paid_at
        if record.state == OrderState.UNPAID:
            record.park_reason = summary.waiting
            report.unpaid += 1
        self.store.save(record)
        return key

    def process(self, key: str, payload: dict[str, Any] | None, report: PassReport) -> None:
        record = self.store.order(key)
        if record is not None and record.state not in (OrderState.PAID, OrderState.PARKED):
            self._process(record, payload, report)

    # --- one order -------------------------------------------------------------------------

    def _process(
        self, record: OrderRecord, payload: dict[str, Any] | None, report: PassReport
    ) -> None:
        def work() -> None:
            nonlocal payload
            if payload is None:
                payload = self.shop.order(record.order_id)
                if payload is None:
                    self._park(record, "the order no longer exists in the shop", report)
                    return
            order = self.order_from(payload)
            self._book(record, order, report, self.shop.summary(payload).waiting)

        self.guarded(record, report, work)

    def guarded(self, record: InvoiceRecord, report: PassReport, work: Callable[[], None]) -> bool:
        """Run one order's (or refund's) work: its trouble parks or fails it, never the pass,
        except what stops every write, and an outage of Moneybird or the shop (the pass
        stops rather than fail order after order). False when it is left to retry."""
        done = False
        try:
            work()
            done = True
        except (AuthError, StateError, ServiceDown):
            raise  # the pass stops: nothing more may be written
        except (Parking, OrderDataError) as exc:
            self._park(record, str(exc), report)
            done = True
        except (ConnectorError, ShopError) as exc:
            self._fail(record, str(exc), report)
        except Exception as exc:  # one bad order must not stop the others
            log.exception("unexpected error on order %s", record.number)
            self._fail(record, f"{INTERNAL}: {type(exc).__name__}: {exc}", report)
        self.stop_if_down()
        return done

    def stop_if_down(self) -> None:
        """Moneybird or the shop failed several requests in a row: stop the pass (one line
        naming the service, its host and the cause); the next pass carries on."""
        for streak in (self.client.streak, self.shop.streak):
            if streak.down:
                raise streak.error()

    def _book(
        self, record: OrderRecord, order: Order, report: PassReport, waiting: str | None = None
    ) -> None:
        invoice: dict[str, Any] | None = None
        current: dict[str, Any] | None = None  # Moneybird's invoice as just read, payments and all
        if record.invoice_id and (
            record.intent == "send_invoice" or record.state != OrderState.OPEN
        ):
            # Resuming (a lost finalize answer, a draft, a retried order): Moneybird says where
            # the invoice stands. One deleted there, before it was numbered, is booked anew.
            invoice = current = self._read_invoice(record.invoice_id)
            if invoice is None:
                record.invoice_id = record.invoice_total = record.intent = None
                record.state = OrderState.PENDING.value
                self.store.save(record)
            else:
                self._adopt(record, invoice)
        if record.state == OrderState.OPEN:
            # Finalized: the invoice stands whatever changed since; only the payment is left.
            if order.paid_at is None:
                raise Parking("the shop no longer has a paid date for a finalized invoice")
            try:
                plans = planned_payments(order, self.config.mappings, self.settings)
            except PaymentProblem as problem:
                raise Parking(str(problem)) from None
            refunded = self.refunds.net_amount(record.key)  # refunds booked on the invoice
            self._pay(record, less(plans, refunded), current)
            self._paid(record, report)
            return
        untouched = record.invoice_id is None and record.intent is None
        reason = self.shop.not_bookable(order) if untouched else None
        if reason:
            self._park(record, reason, report)
            return
        if untouched and (waiting or not order.is_paid):
            record.state = OrderState.UNPAID.value
            record.park_reason = waiting or "not paid yet: the shop has no paid date for it"
            self.store.save(record)
            report.unpaid += 1
            return
        result = self.booking(order)
        net = self.config.file.refunds.before_booking == "net" and order.refunds
        if isinstance(result, Parked):
            if record.invoice_id or record.intent:
                self._discard_draft(record)
            self._park(record, result.reason, report)
            return
        draft = result
        if net:
            self.refunds.booked_net(record.key, order.refunds)
        self.refunds.save_line_map(record.key, line_map(draft))
        record.reference = draft.reference
        record.total = str(order.total)
        record.currency = order.currency
        record.paid_at = to_text(order.paid_at)
        record.notes = "; ".join(draft.notes) or None

        if record.intent == "delete_draft":
            self._discard_draft(record)
        adopted = False
        if record.invoice_id is None and record.intent is None:
            self.fresh_documents()
            known = self.store.invoice_ref(draft.reference)
            existing = None
            if known:
                existing = self._learned.pop(known, None) or self._read_invoice(known)
            if existing is not None:
                # Made by another install or before this state was restored: Moneybird's.
                self._adopt(record, existing)
                invoice = current = existing
                adopted = True
        if record.invoice_id is None and record.intent == "create_invoice":
            invoice = self.client.invoice_by_reference(draft.reference, draft.invoice_date)
            if invoice is not None:
                self._adopt(record, invoice)
        if record.invoice_id is None:
            self.ensure_open_period(draft.invoice_date, "the invoice", order.number)
            invoice = self._create_invoice(record, order, draft)
            if self.external and not self._totals_agree(record, invoice, draft.shop_totals, report):
                return  # created open: checked here instead of before finalizing
        if record.state == OrderState.DRAFT and invoice is not None:
            if not self._totals_agree(record, invoice, draft.shop_totals, report):
                return
            current = self._send(record)
        if record.state != OrderState.OPEN:
            raise Retry(f"invoice not finalized (state {record.state}); checked next pass")
        self._pay(record, draft.payments, current)
        self._paid(record, report, adopted)

    def _paid(self, record: OrderRecord, report: PassReport, adopted: bool = False) -> None:
        record.state = OrderState.PAID.value
        record.booked_at = utcnow().isoformat()
        record.park_reason = record.last_error = None
        if adopted:
            record.notes = "; ".join(
                filter(None, [record.notes, "found already in Moneybird, adopted"])
            )
        self.store.save(record)
        self.refunds.wake(record.key)
        if adopted:
            report.adopted += 1
            message = f"already in Moneybird as invoice {record.invoice_number}; adopted, paid"
        else:
            report.booked += 1
            message = f"booked as invoice {record.invoice_number}, paid"
        self._decide(record, report, message)

    def _create_invoice(
        self, record: OrderRecord, order: Order, draft: InvoiceDraft
    ) -> dict[str, Any]:
        contact_id = self.contacts.resolve(order.customer)
        record.contact_id = contact_id
        record.intent = "create_invoice"
        self.store.save(record)
        self._creates += 1
        source = self.shop.name.capitalize() if self.external else None
        try:
            invoice = self.client.create_invoice(draft.request_body(contact_id, source))
        except Ambiguous as exc:
            found = self._quietly(
                lambda ref: self.client.invoice_by_reference(ref, draft.invoice_date),
                draft.reference,
            )
            if found is None:
                raise Retry(f"invoice create outcome unknown ({exc}); checked next pass") from None
            invoice = found
        except Rejected as exc:
            record.intent = None
            self.store.save(record)
            raise Parking(f"Moneybird refused the invoice: {exc}") from None
        self._adopt(record, invoice)
        return invoice

    def _adopt(self, record: InvoiceRecord, invoice: dict[str, Any]) -> None:
        """Take Moneybird's word for where this invoice stands."""
        self.store.mark_seen({str(invoice["id"]): invoice.get("state") == "draft"})
        record.invoice_id = str(invoice["id"])
        if isinstance(record, OrderRecord) and invoice.get("contact_id"):
            record.contact_id = str(invoice["contact_id"])  # whoever made it chose the contact
        record.invoice_number = invoice.get("invoice_id") or record.invoice_number
        record.invoice_total = str(invoice.get("total_price_incl_tax") or "") or None
        mb_state = invoice.get("state")
        record.state = (OrderState.DRAFT if mb_state == "draft" else OrderState.OPEN).value
        if record.intent in ("create_invoice", "send_invoice"):
            record.intent = None
        if mb_state == "paid":
            record.intent = "pay"  # makes _pay read the payments instead of adding one
        self.store.save(record)

    def _totals_agree(
        self,
        record: InvoiceRecord,
        invoice: dict[str, Any],
        expected: Totals,
        report: PassReport,
        subject: str = "",
    ) -> bool:
        """Moneybird's own totals against the shop's, before finalizing: beyond the tolerance
        the draft is deleted and the order (or refund) parked; within it, noted."""
        diffs = differences(totals_from_response(invoice), expected)
        tolerance = self.settings.rounding_tolerance
        if any(abs(v) > tolerance for v in diffs.values()):
            reason = "Moneybird computed " + describe_differences(diffs, self.rates())
            self._discard_draft(record)
            self._park(record, f"{reason}{subject}; draft deleted", report)
            return False
        if diffs:
            note = "rounded within tolerance: " + describe_differences(diffs, self.rates())
            record.notes = "; ".join(filter(None, [record.notes, note]))
        return True

    def _discard_draft(self, record: InvoiceRecord) -> None:
        """Delete our own draft (it has no invoice number yet, so nothing is lost)."""
        invoice_id = record.invoice_id
        if invoice_id is None and record.reference:
            found = self.client.invoice_by_reference(record.reference)
            invoice_id = str(found["id"]) if found else None
        if invoice_id is not None:
            invoice = self._read_invoice(invoice_id)
            unpaid_external = self.external and invoice is not None and not invoice.get("payments")
            if invoice is not None and invoice.get("state") != "draft" and not unpaid_external:
                raise Parking(
                    f"invoice {invoice.get('invoice_id')} is already finalized in Moneybird "
                    "while the order no longer books cleanly; correct it by hand"
                )
            record.intent = "delete_draft"
            self.store.save(record)
            if invoice is not None:
                with contextlib.suppress(NotFound):
                    self.client.delete_invoice(invoice_id)
        record.intent = None
        record.invoice_id = None
        record.invoice_total = None
        record.state = OrderState.PENDING.value
        self.store.save(record)

    def _quietly(
        self, read: Callable[[str], dict[str, Any] | None], key: str
    ) -> dict[str, Any] | None:
        """A read right after an ambiguous write: if it fails too, the next pass decides
        (an authentication failure still stops the pass)."""
        try:
            return read(key)
        except AuthError:
            raise
        except ConnectorError:
            return None

    def _read_invoice(self, invoice_id: str) -> dict[str, Any] | None:
        try:
            return self.client.invoice(invoice_id)
        except NotFound:
            return None

    def _send(self, record: InvoiceRecord) -> dict[str, Any]:
        invoice_id = record.invoice_id or ""
        record.intent = "send_invoice"
        self.store.save(record)
        try:
            invoice = self.client.send_invoice(invoice_id, self.config.sync.delivery_method)
        except Ambiguous as exc:
            invoice = self._quietly(self._read_invoice, invoice_id)
            if invoice is None or invoice.get("state") == "draft":
                raise Retry(f"finalizing outcome unknown ({exc}); checked next pass") from None
        self._adopt(record, invoice)
        return invoice

    def _pay(
        self,
        record: InvoiceRecord,
        plans: tuple[PaymentPlan, ...],
        current: dict[str, Any] | None = None,
    ) -> None:
        """Register the payments, one per way of paying, each known in Moneybird by its
        transaction identifier. `current`: the invoice as just read from Moneybird, if any."""
        invoice_id = record.invoice_id or ""
        if not plans:
            return
        first = plans[0]
        rounding_identifier = f"{first.transaction_identifier}-rounding"
        invoice = current
        # Several payments: one may be in Moneybird from an earlier, interrupted attempt.
        if invoice is None and (record.intent or (len(plans) > 1 and not record.payment_id)):
            invoice = self.client.invoice(invoice_id)
        existing = _payments_by_identifier(invoice) if invoice else {}
        if invoice is not None and invoice.get("state") == "draft":
            raise Retry("invoice is still a draft in Moneybird")
        if record.rounding_payment_id is None and rounding_identifier in existing:
            record.rounding_payment_id = existing[rounding_identifier]
        if invoice is not None and invoice.get("state") == "paid":
            ours = [existing[p.transaction_identifier] for p in plans
                    if p.transaction_identifier in existing]  # fmt: skip
            # Nothing left to pay: our payments made it, or Moneybird settled it otherwise.
            record.payment_id = record.payment_id or ",".join(ours) or "settled"
            record.intent = None
            return
        # A credit invoice settled against this (then unpaid) invoice already covers part.
        due = less(plans, _settled_by_credit(invoice)) if invoice else plans
        if record.payment_id is None:
            paid: list[str] = []
            for plan in due:
                identifier = plan.transaction_identifier
                if identifier in existing:
                    paid.append(existing[identifier])
                    continue
                if plan.amount == ZERO:
                    continue
                self.ensure_open_period(plan.payment_date, "the payment", record.number)
                body: dict[str, Any] = {
                    "payment_date": plan.payment_date.isoformat(),
                    "price": fmt(plan.amount),
                    "transaction_identifier": identifier,
                }
                if plan.financial_account_id:
                    body["financial_account_id"] = plan.financial_account_id
                if plan.price_base is not None:
                    body["price_base"] = fmt(plan.price_base)
                paid.append(self._write_payment(record, "pay", invoice_id, body, identifier))
            record.payment_id = ",".join(paid) or None
        amount = sum((p.amount for p in plans), ZERO)
        leftover = parse(record.invoice_total) - amount if record.invoice_total else ZERO
        if leftover != ZERO and record.rounding_payment_id is None:
            body = {
                "payment_date": first.payment_date.isoformat(),
                "price": fmt(leftover),
                "transaction_identifier": rounding_identifier,
                "manual_payment_action": "rounding_error",
            }
            if first.price_base is not None and first.amount:
                body["price_base"] = fmt(cents(leftover * first.price_base / first.amount))
            record.rounding_payment_id = self._write_payment(
                record, "pay_rounding", invoice_id, body, rounding_identifier
            )
        record.intent = None

    def _write_payment(
        self, record: InvoiceRecord, intent: str, invoice_id: str, body: dict, identifier: str
    ) -> str:
        record.intent = intent
        self.store.save(record)
        try:
            payment = self.client.create_payment(invoice_id, body)
        except Ambiguous as exc:
            invoice = self._quietly(self._read_invoice, invoice_id)
            found = _payments_by_identifier(invoice).get(identifier) if invoice else None
            if found is None:
                raise Retry(f"payment outcome unknown ({exc}); checked next pass") from None
            return found
        except Rejected as exc:
            record.intent = None
            self.store.save(record)
            raise Parking(f"Moneybird refused the payment: {exc}") from None
        return str(payment["id"])

    # --- helpers ---------------------------------------------------------------------------

    def rates(self) -> dict[str, MoneybirdTaxRate]:
        """Moneybird's tax rates, and the pass's set-up with them. Moneybird unavailable here
        stops the pass at once: no order could be booked."""
        if self._rates is None:
            try:
                listed = self.client.tax_rates()
            except Unavailable as exc:
                if self.client.streak.count:
                    raise self.client.streak.error() from None
                raise ServiceDown(
                    f"{exc}: the pass stopped, nothing is booked half-way, and the next pass "
                    "carries on"
                ) from None
            self._rates = rates_from_response(listed)
            self._locked_until = self.client.locked_until()
            self.contacts.refresh()
            self.learn_documents()
        return self._rates

    def learn_documents(self) -> None:
        """What Moneybird holds that this state does not know of: documents made by another
        install, or before this state was restored from a backup. One request lists every
        invoice id of the period the pending work falls in; only those never read here (and
        drafts, which may still change) are read, 100 per request. Their references are
        remembered, so an order or refund already in Moneybird is adopted, not booked again."""
        first, last = self._scan_period()
        listed = self.client.invoice_versions(first, last)
        seen = self.store.seen_documents()
        unread = [str(row["id"]) for row in listed if seen.get(str(row["id"]), True)]
        listed_ids = {str(row["id"]) for row in listed}
        refs: dict[str, str] = {}
        marks: dict[str, bool] = {}
        for invoice in self.client.invoices_by_ids(unread):
            invoice_id = str(invoice["id"])
            draft = invoice.get("state") == "draft"
            marks[invoice_id] = draft
            reference = str(invoice.get("reference") or "")
            credit = bool(invoice.get("original_sales_invoice_id"))
            if not reference or (credit and draft):
                continue  # a credit draft still carries its original's reference
            earlier = self.store.invoice_ref(reference)
            first_one = refs.get(reference) or (earlier if earlier in listed_ids else None)
            if first_one and first_one != invoice_id:
                log.warning(
                    "Moneybird holds more than one invoice with reference %s (%s and %s); "
                    "the first is kept as the order's, check the other by hand",
                    reference, first_one, invoice_id,
                )  # fmt: skip
                continue
            refs[reference] = invoice_id
            self._learned[invoice_id] = invoice  # read once, used this pass
        self.store.save_invoice_refs(refs)
        self.store.mark_seen(marks)
        self._creates = 0
        ours = self.store.invoices_recorded(set(refs.values()))
        elsewhere = [ref for ref, invoice_id in refs.items() if invoice_id not in ours]
        if elsewhere:
            log.info(
                "found %d invoices in Moneybird that this state did not know of; "
                "their orders are adopted, not booked again",
                len(elsewhere),
            )

    def _scan_period(self) -> tuple[date, date]:
        """The days the pending work's documents can be dated: from the earliest paid date of
        an unfinished order (or of an order with an open refund) to the day after tomorrow,
        with a day's margin for time zones. Unknown dates: from the start point."""
        tz = self.settings.timezone
        today = utcnow().astimezone(tz).date()
        records = self.store.unfinished()
        for key in self.store.orders_with_open_refunds():
            order = self.store.order(key)
            if order is not None:
                records.append(order)
        paid = [from_text(r.paid_at) for r in records]
        if any(moment is None for moment in paid):
            paid.append(self.start_point())
        days = [moment.astimezone(tz).date() for moment in paid if moment is not None]
        first = min(days, default=today)
        return first - timedelta(days=1), max(today, first) + timedelta(days=2)

    def ensure_open_period(self, day: date, what: str, number: str) -> None:
        """Nothing is booked into a period the bookkeeper has closed in Moneybird."""
        self.rates()  # reads the lock with the pass's set-up
        locked = self._locked_until
        if locked is not None and day <= locked:
            raise Parking(
                f"{what} is dated {day.isoformat()}, in a period closed in Moneybird (locked up "
                f"to {locked.isoformat()}); nothing is booked there. The bookkeeper can reopen "
                f"the period in Moneybird (or book it by hand in an open one), then run "
                f"`connector retry {number}`"
            )

    def fresh_documents(self) -> None:
        """Right before a document is made: learn again after every LEARN_EVERY made, so a
        long pass or an import does not go on from an old picture of Moneybird."""
        if self._rates is None:
            self.rates()
        elif self._creates >= LEARN_EVERY:
            self.learn_documents()

    def _park(self, record: InvoiceRecord, reason: str, report: PassReport) -> None:
        reason = redact(reason, self.config.secrets.values())
        record.state = OrderState.PARKED.value
        record.park_reason = reason
        self.store.save(record)
        if isinstance(record, RefundRecord):
            report.refunds_parked += 1
        else:
            report.parked += 1
        self._decide(record, report, f"parked: {reason}")

    def _fail(self, record: InvoiceRecord, error: str, report: PassReport) -> None:
        error = redact(error, self.config.secrets.values())
        reread = self.store.refund if isinstance(record, RefundRecord) else self.store.order
        fresh = reread(record.key) or record
        repeated = fresh.last_error == error
        fresh.attempts += 1
        fresh.last_error = error
        if error.startswith(INTERNAL) and repeated and fresh.attempts >= INTERNAL_ERROR_PASSES:
            # The same bug on every pass will not go away by itself: a person looks at it.
            self._park(
                fresh,
                f"{error} (the same on {fresh.attempts} passes; parked instead of retried "
                "forever: report it with the order's data, then `connector retry "
                f"{fresh.number}`)",
                report,
            )
            return
        if fresh.state in (OrderState.PENDING, OrderState.FAILED):
            fresh.state = OrderState.FAILED.value
        self.store.save(fresh)
        report.failed += 1
        self._decide(fresh, report, f"will retry: {error}")

    def _decide(self, record: InvoiceRecord, report: PassReport, message: str) -> None:
        # One line per decision; with JSON logs the fields come out as keys too.
        extra = {"order": record.number, "decision": record.state, "invoice": record.invoice_number}
        if isinstance(record, RefundRecord):
            extra["refund"] = record.refund_id
            message = f"refund {record.refund_id} {message}"
        log.info("order %s: %s", record.number, message, extra=extra)
        report.decisions.append(Decision(record.key, record.number, record.state, message))


def _before_start(paid_at: datetime, start: datetime, tz: Any) -> str:
    paid_day = paid_at.astimezone(tz).date().isoformat()
    return (
        f"paid {paid_day}, before the start point {start.astimezone(tz).date().isoformat()}: "
        f"the scheduler books no history; book it with `connector import --since {paid_day}`"
    )


def _settled_by_credit(invoice: dict[str, Any]) -> Decimal:
    return sum(
        (
            parse(p.get("price"), "payment price")
            for p in invoice.get("payments") or []
            if p.get("manual_payment_action") == "invoices_settlement"
        ),
        ZERO,
    )


def _payments_by_identifier(invoice: dict[str, Any]) -> dict[str, str]:
    return {
        str(p.get("transaction_identifier")): str(p["id"])
        for p in invoice.get("payments") or []
        if p.get("transaction_identifier")
    }
