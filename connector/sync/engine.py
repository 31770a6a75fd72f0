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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from connector import shutdown
from connector.booking.book import Parked, book, planned_payments, reference_for
from connector.booking.credit import line_map, net_of_refunds
from connector.booking.day import individual_reason
from connector.booking.invoice import (
    InvoiceDraft,
)
from connector.booking.payments import PaymentProblem, less
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.config import Config
from connector.errors import (
    AuthError,
    ConnectorError,
    Interrupted,
    Outcome,
    Parking,
    ParksItem,
    Retry,
    StateError,
    as_a_pass_records_it,
    internal,
    outcome,
)
from connector.lookups.ecb import EcbRates
from connector.lookups.vat_numbers import VatNumberChecks
from connector.lookups.vies import ViesClient
from connector.money import BASE_CURRENCY, cents
from connector.moneybird.client import MoneybirdClient
from connector.moneybird.documents import BookedInvoice, booked_or_none, invoice_body
from connector.order import Order, order_key
from connector.payouts.provider import PayoutProvider
from connector.redact import excerpt, redact
from connector.shops.checks import field_error
from connector.shops.shop import Poll, Shop
from connector.state import (
    Intent,
    Meta,
    OrderRecord,
    OrderState,
    PassLock,
    RefundState,
    Store,
    from_text,
    to_text,
    utcnow,
)
from connector.sync.adoption import not_this_sale, refunds_netted
from connector.sync.days import DayFlow
from connector.sync.payout_settings import (
    PayoutSetupError,
    cached_setup,
    keep_setup,
    resolve_payouts,
)
from connector.sync.payouts import PayoutFlow, PayoutSetup
from connector.sync.refunds import RefundFlow, unread_refunds_reason
from connector.sync.report import PassReport
from connector.sync.writes import InvoiceWriter

log = logging.getLogger(__name__)
CLOCK_STEP = timedelta(minutes=1)  # a shop clock this far behind what ours says has stepped back
FIRST_START = (
    "no pass has run yet: the first one books only orders paid from its own moment on (set "
    "sync.start to book from an earlier day, or use `connector import`)"
)
PAYLOADS_KEPT = 500  # orders a poll keeps in memory for the pass; more are read again by id
CAPABILITIES_KEPT = timedelta(days=1)  # what the shop supports is asked again after this


class PassBusy(ConnectorError):
    pass


@dataclass
class Verdict:
    """What a pass would do with an order: "book", "park", "skip" or "retry", and why."""

    action: str
    reason: str = ""
    order: Order | None = None
    draft: InvoiceDraft | None = None


class SyncEngine:
    def __init__(
        self,
        config: Config,
        store: Store,
        shop: Shop,
        client: MoneybirdClient,
        payout_providers: Sequence[PayoutProvider] = (),
    ) -> None:
        self.config = config
        self.store = store
        self.shop = shop
        self.client = client
        self._start: datetime | None = None
        self.writer = InvoiceWriter(config, store, client, shop.streak, self.start_point)
        self.contacts = self.writer.contacts
        self.settings = self.writer.settings
        self.external = self.writer.external
        # Days are booked whatever the mode is now (an import in summary mode, a mode changed
        # back); orders join them in summary mode only.
        self.days = DayFlow(self.writer, shop.name, shop.label)
        self.refunds = RefundFlow(
            self.writer, shop, self.order_from, self.draft, self.days.join_refund
        )
        self.summary = config.sync.mode == "summary"
        # An import books days too: their providers' parts as the last pass knew them.
        self.days.payout_accounts_known = not config.file.payouts.enabled
        if config.file.payouts.enabled:
            known = json.loads(store.get_meta(Meta.PAYOUT_ACCOUNTS) or "[]")
            self.days.payout_accounts = frozenset(known)
            self.days.payouts_since = self._payouts_since()
        self.payouts = (
            PayoutFlow(store, client, shop.name, payout_providers, self.external)
            if config.file.payouts.enabled and payout_providers
            else None
        )
        shop.know(self._known_capabilities())
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

    def _known_capabilities(self) -> dict[str, bool]:
        """What the shop was found to support by a run in the last day: not asked again (a
        shop upgraded since is asked again within a day)."""
        try:
            kept = json.loads(self.store.get_meta(Meta.SHOP_CAPABILITIES) or "{}")
            at = from_text(kept.get("at"))
        except (ValueError, AttributeError):
            return {}
        if at is None or utcnow() - at > CAPABILITIES_KEPT or kept.get("url") != self._shop_url:
            return {}
        found = kept.get("found")
        return {str(k): bool(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def _remember_capabilities(self) -> None:
        found = self.shop.capabilities()
        if found and found != self._known_capabilities():
            kept = {"at": utcnow().isoformat(), "url": self._shop_url, "found": found}
            self.store.set_meta(Meta.SHOP_CAPABILITIES, json.dumps(kept))

    @property
    def _shop_url(self) -> str:
        return self.config.shop.url

    def order_from(self, payload: dict[str, Any]) -> Order:
        """The shop's order, with the rate source's euro rates for an order in another
        currency ([sync] exchange_rates = "ecb"), where the shop gives no euro amounts."""
        order = self.shop.to_order(payload)
        ecb = self.ecb
        if order.currency == BASE_CURRENCY or ecb is None:
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
            found = ecb.per_euro(order.currency, moment.astimezone(tz).date())
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

    def booking(
        self, order: Order, rates: dict[str, MoneybirdTaxRate] | None = None
    ) -> InvoiceDraft | Parked:
        """The invoice a pass makes of this order (refunds netted on it in "net" mode), or why
        it parks it. Raises Retry when an outside service should be asked again first.
        `rates`: Moneybird's tax rates when already read (else read with the pass's set-up)."""
        result = self.draft(order, rates)
        if isinstance(result, Parked) and result.later:
            if self.vies_waits:
                raise Retry(result.reason)  # nothing booked; the outside service is asked again
            result = Parked(
                f"{result.reason}; run `connector retry {order.number}` once VIES answers "
                '(or set vat.vies_unavailable = "wait" to try again every pass)'
            )
        net = self.config.file.refunds.before_booking == "net"
        unread = unread_refunds_reason(order, "the invoice net of its refunds") if net else None
        if unread and not isinstance(result, Parked):
            result = Parked(unread)
        if net and order.refunds and not isinstance(result, Parked):
            result = net_of_refunds(result, order, rates or self.rates(), self.settings)
        return result

    def not_bookable(self, order: Order) -> str | None:
        """Why the shop says not to book this order, said as what happened when it is its
        refunds the shop does not return (a fully refunded order, say)."""
        reason = self.shop.not_bookable(order)
        if reason:
            return unread_refunds_reason(order, "the sale and its refunds", True) or reason
        return None

    def verdict(self, payload: dict[str, Any]) -> Verdict:
        """What a pass would do with this order as the shop has it now: book it (and as what
        invoice), park it (and why), skip it (and why), or leave it to retry. Worked out the
        way the pass does, in the same order, writing nothing."""
        listed = self.shop.unlisted(payload)
        if listed:
            return Verdict("skip", listed)
        try:
            summary = self.shop.summary(payload)
        except Exception as exc:  # what the pass parks the order with (unreadable)
            return Verdict("park", self.unreadable_reason(exc))
        record = self.store.order(order_key(self.shop.name, summary.order_id))
        if record is not None and record.state == OrderState.PAID:
            return Verdict("skip", f"already booked as invoice {record.invoice_number}")
        start = self.known_start()
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
            reason = self.not_bookable(order)
            if reason:
                return Verdict("park", reason, order)
            if not order.is_paid:
                return Verdict("skip", "waits: not paid yet: the shop has no paid date for it")
            result = self.booking(order)
            fresh = record is None or (record.invoice_id is None and record.intent is None)
            existing = self._found(order, result, look_up=True) if fresh else None
            if existing is not None and not existing.is_draft:
                number = existing.number or existing.reference
                adopts = (
                    f"already booked in Moneybird as invoice {number} (by another install, or "
                    "before this state was restored): a pass adopts it"
                )
                return Verdict("skip", adopts, order)
            if isinstance(result, Parked):
                return Verdict("park", redact(result.reason, self.config.secrets.values()), order)
            self.writer.ensure_open_period(result.invoice_date, "the invoice", order.number)
        except ConnectorError as exc:
            fate = outcome(exc)
            if fate is Outcome.STOP:
                raise
            return Verdict("park" if fate is Outcome.PARK else "retry", str(exc))
        return Verdict("book", "", order, result)

    def known_start(self) -> datetime | None:
        """The start point if one is set or recorded (None before the first pass)."""
        if self._start is not None or self.config.sync.start is not None:
            return self.start_point()
        # A state an earlier version wrote has a start before its first pass here.
        recorded = from_text(self.store.get_meta(Meta.START))
        return recorded or self.store.start_of_earlier_version()

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
            self._remember_capabilities()
            for record in self.store.unfinished():
                shutdown.check()  # a stop asked for ends the pass here, between orders
                self._process(record, polled.get(record.key), report)
            for key in self.store.orders_with_open_refunds():
                shutdown.check()
                self.refunds.process_order(key, polled.get(key), report)
            for record in self.store.changed_after_day():
                shutdown.check()
                self._correct(record, polled.get(record.key), report)
            setup = self._payout_setup(report) if self.payouts is not None else None
            self.days.payout_accounts = self._payout_accounts(setup)
            self.days.payouts_since = self._payouts_since()
            enabled = self.config.file.payouts.enabled
            self.days.payout_accounts_known = not enabled or setup is not None
            self.days.book_settled(report)
            if self.payouts is not None and setup is not None:
                self._book_payouts(self.payouts, setup, report)
            if self.payouts is not None:
                self.store.set_meta(Meta.PAYOUTS_PROBLEM, "; ".join(report.payout_problems))
            run.outcome = "ok"
            self.store.set_meta(Meta.AUTH_ERROR, "")
        except AuthError as exc:
            run.outcome, run.error, report.error = "error", str(exc), str(exc)
            self.store.set_meta(Meta.AUTH_ERROR, str(exc))
            raise
        except Interrupted as exc:
            run.outcome, run.error, report.error = "interrupted", str(exc), str(exc)
            log.warning("pass %s at a safe point; the next pass carries on", exc)
            raise
        except ConnectorError as exc:
            said = as_a_pass_records_it(exc)
            run.outcome, run.error, report.error = "error", said, said
            log.error("pass stopped: %s", exc)
        except StateError:
            run.outcome, run.error = "error", "the state file cannot be written"
            raise
        except Exception as exc:  # a bug: logged once with its traceback, the pass reported
            run.outcome = "error"
            run.error = report.error = internal(exc)
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
                self.store.set_meta(Meta.UNREADABLE, json.dumps(report.unreadable))
        return report

    def _payout_setup(self, report: PassReport) -> PayoutSetup | None:
        """[payouts] as Moneybird ids for this pass; None (said) when it cannot be used. Read
        from Moneybird once a day, or when [payouts] changed, or after a payout was parked (a
        ledger renamed?): an idle pass asks Moneybird nothing for it."""
        tz = self.settings.timezone
        resolved = cached_setup(self.store, self.config.file.payouts, tz)
        if resolved is None:
            found = resolve_payouts(self.config.file.payouts, self.client, tz)
            if isinstance(found, PayoutSetupError):
                report.payout_problems.append(found.reason)
                log.error("payouts not booked: %s", found.reason)
                self.store.set_meta(Meta.PAYOUT_SETUP, "")
                return None
            resolved = found
            keep_setup(self.store, self.config.file.payouts, tz, resolved)
        since = self.start_point()
        if resolved.since is not None:
            since = datetime.combine(resolved.since, time.min, tzinfo=tz).astimezone(UTC)
        accounts = sorted(s.financial_account_id for s in resolved.providers.values())
        self.store.set_meta(Meta.PAYOUT_ACCOUNTS, json.dumps(accounts))
        return PayoutSetup(
            resolved.bank_account_id,
            resolved.providers,
            since,
            resolved.bank_line_days,
            resolved.fed,
        )

    def _payouts_since(self) -> date | None:
        """The first day whose orders' payouts are booked ([payouts] since, else the start):
        a day before it is paid as without payouts, since no payout of it will be read."""
        if self.config.file.payouts.since is not None:
            return self.config.file.payouts.since
        start = self.known_start()
        return start.astimezone(self.settings.timezone).date() if start else None

    def _payout_accounts(self, setup: PayoutSetup | None) -> frozenset[str]:
        """The providers' accounts whose payouts pay the days' documents: as resolved now, or
        as last resolved when the setup cannot be read this pass; none with [payouts] off."""
        if self.payouts is None:
            return frozenset()
        if setup is not None:
            return frozenset(s.financial_account_id for s in setup.settings.values())
        return frozenset(json.loads(self.store.get_meta(Meta.PAYOUT_ACCOUNTS) or "[]"))

    def _book_payouts(self, flow: PayoutFlow, setup: PayoutSetup, report: PassReport) -> None:
        """The providers' payouts, after the orders they pay are booked. A provider that
        cannot be read is said (status, the log); the pass goes on."""
        done = flow.book(setup)
        if done.parked or done.errors:
            self.store.set_meta(Meta.PAYOUT_SETUP, "")  # read it anew: something may have moved
        report.payouts_booked += done.booked
        report.payouts_linked += done.linked
        report.payout_problems.extend(done.errors)

    def _poll(self, report: PassReport) -> dict[str, dict[str, Any]]:
        """Record every changed order durably, page by page, then move the watermark only as
        far as the read was complete. A shop clock that went back since the last poll widens
        the read by as much, so orders stamped before the old watermark are still found."""
        start = self.start_point()
        watermark = from_text(self.store.get_meta(Meta.WATERMARK))
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
            self.store.set_meta(Meta.SHOP_CLOCK, f"{to_text(poll.shop_time)}|{to_text(ours)}")
        if poll.complete_until is not None:
            self.store.set_meta(Meta.WATERMARK, to_text(poll.complete_until) or "")
        # Said by `status` until a pass reads the list to its end.
        self.store.set_meta(Meta.READ_INCOMPLETE, poll.incomplete or "")
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
                except Exception as exc:  # one bad element never stops the others
                    if outcome(exc) is Outcome.STOP:
                        raise
                    self.unreadable(payload, exc, report)
                    continue
                if key is not None and len(polled) < PAYLOADS_KEPT:
                    polled[key] = payload
        return poll

    @staticmethod
    def unreadable_reason(exc: Exception) -> str:
        """Why an order whose data cannot be read is parked (what verdict and a pass say)."""
        return f"the shop's data for this order cannot be read: {field_error(exc)}"

    def unreadable(self, payload: Any, exc: Exception, report: PassReport) -> None:
        """An element of the shop's order list that cannot be read: its order parked (one
        nothing was written for yet; a booked one stands, said in the log), else kept for
        `status` and the alerts. The pass goes on with the others either way."""
        reason = self.unreadable_reason(exc)
        named = self.shop.identify(payload)
        if named is None:
            sample = excerpt(repr(payload), 120, self.config.secrets.values())
            report.unreadable.append(f"an element of the order list without an order id ({sample})")
            log.error("the shop's order list holds an element that is not an order: %s", sample)
            return
        order_id, number = named
        report.seen += 1
        record = self.store.order(order_key(self.shop.name, order_id))
        modified = str(payload.get("date_modified_gmt") or payload.get("updatedAt") or "")
        if record is not None and (
            record.invoice_id or record.intent or record.day or record.state == OrderState.PAID
        ):
            log.warning("order %s: %s; its booking stands", record.number, reason)
            return
        if (
            record is not None
            and record.state == OrderState.PARKED
            and record.modified_at == modified
        ):
            return  # parked for it already, and not changed since
        if record is None:
            record = OrderRecord(key=order_key(self.shop.name, order_id), shop=self.shop.name,
                                 order_id=order_id, number=number)  # fmt: skip
        record.modified_at = modified
        self.writer.park(record, reason, report)

    def _clock_step(self, shop_now: datetime | None, ours: datetime) -> timedelta | None:
        """How far the shop's clock went back since the last poll, measured against ours."""
        last = (self.store.get_meta(Meta.SHOP_CLOCK) or "").split("|")
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
        moves it back to what it imported. A state an earlier version wrote without one keeps
        that version's start: where its books begin, never the upgrade's moment."""
        if self._start is not None:
            return self._start
        recorded = from_text(self.store.get_meta(Meta.START))
        configured = None
        if self.config.sync.start is not None:
            day = datetime.combine(self.config.sync.start, datetime.min.time())
            configured = day.replace(tzinfo=self.settings.timezone).astimezone(UTC)
        if configured is None and recorded is None:
            earlier = self.store.start_of_earlier_version()
            recorded = earlier or utcnow().replace(microsecond=0)
            self.store.set_meta(Meta.START, to_text(recorded) or "")
            if earlier is None:  # a new state's first pass
                self._count_history(recorded)
            else:
                # No history counted: that version read the shop from its beginning, so the
                # orders before its first one are none it left for `import`.
                log.info("a state from an earlier version starts where its books begin: %s",
                         to_text(recorded))  # fmt: skip
        self._start = min(m for m in (configured, recorded) if m is not None)
        return self._start

    def move_start(self, moment: datetime) -> None:
        """An import books from `moment` on: the start point is never later than that."""
        if moment < self.start_point():
            self.store.set_meta(Meta.START, to_text(moment) or "")
            self._start = moment
            self._count_history(moment)  # what is left before the new start

    def _count_history(self, start: datetime) -> None:
        """At the first start: how many orders the shop had before it (one request), so
        `status` can say what the scheduler leaves for `connector import`."""
        try:
            count = self.shop.count_before(start)
        except ConnectorError as exc:
            log.info("could not count the orders before the start: %s", exc)
            count = None
        # "?": the shop has orders from before but did not say how many (count headers gone).
        self.store.set_meta(Meta.BEFORE_START_COUNT, "?" if count is None else str(count))
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
        key = order_key(self.shop.name, summary.order_id)
        report.seen += 1
        record = self.store.order(key)
        new_refunds = self.refunds.record(key, summary.number, summary.refunds)
        if record is not None and record.state == OrderState.PAID:
            if record.day and summary.modified != record.modified_at:
                return self._changed_after_day(record, summary.modified)
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
        elif record.state == OrderState.IN_DAY:
            if summary.modified == record.modified_at:
                return None  # unchanged
            if not self.days.open_day(record):
                return self._changed_after_day(record, summary.modified)
            record.state = OrderState.PENDING.value  # changed before its day settled: again
        record.modified_at = summary.modified
        record.paid_at = to_text(summary.paid_at) or record.paid_at
        if record.state == OrderState.UNPAID:
            record.park_reason = summary.waiting
            report.unpaid += 1
        self.store.save(record)
        return key

    def _changed_after_day(self, record: OrderRecord, modified: str) -> str:
        """Kept durably: the pass compares it (a correction, if its amounts moved)."""
        if record.changed != modified:
            record.changed = modified
            self.store.save(record)
        return record.key

    def process(self, key: str, payload: dict[str, Any] | None, report: PassReport) -> None:
        record = self.store.order(key)
        if record is None:
            return
        if record.changed is not None:  # changed after its day's document (record_seen)
            self._correct(record, payload, report)
        elif record.state not in (OrderState.PAID, OrderState.PARKED):
            self._process(record, payload, report)

    def _correct(
        self, record: OrderRecord, payload: dict[str, Any] | None, report: PassReport
    ) -> None:
        """An order whose day's document is made, changed in the shop: its draft as booked
        then (the refunds netted on it then, none since: those are booked on their own days)
        against what its days hold. Trouble reading it is said and looked at again next pass;
        the order's booking stands either way."""
        try:
            payload = payload or self.shop.order(record.order_id)
            if payload is None:  # gone from the shop: the reconciliation names it
                log.warning("order %s changed after its day's document and is gone from the "
                            "shop; its day stands", record.number)  # fmt: skip
                record.changed = None
                self.store.save(record)
                return
            order = self.order_from(payload)
            netted = {r.refund_id for r in self.store.refunds(order_key=record.key)
                      if r.state == RefundState.NET}  # fmt: skip
            as_booked = replace(order, refunds=tuple(
                r for r in order.refunds if r.refund_id in netted))  # fmt: skip
            try:
                draft: InvoiceDraft | Parked = self.booking(as_booked)
            except ParksItem as exc:
                draft = Parked(str(exc))
            alone = individual_reason(order, self.config.mappings)
            if alone is not None:  # e.g. an invoice asked for after the day: not ours to guess
                draft = Parked(f"it now needs an invoice of its own ({alone})")
            self.days.correct(record, draft, record.changed or self.shop.summary(payload).modified,
                              report)  # fmt: skip
        except Exception as exc:
            if outcome(exc) is Outcome.STOP:
                raise
            why = str(exc) if isinstance(exc, ConnectorError) else internal(exc)
            log.warning("order %s changed after its day's document; not looked at yet: %s",
                        record.number, why)  # fmt: skip

    # --- one order -------------------------------------------------------------------------

    def _process(
        self, record: OrderRecord, payload: dict[str, Any] | None, report: PassReport
    ) -> None:
        def work() -> None:
            nonlocal payload
            if payload is None:
                payload = self.shop.order(record.order_id)
                if payload is None:
                    self.writer.park(record, "the order no longer exists in the shop", report)
                    return
            order = self.order_from(payload)
            self._book(record, order, report, self.shop.summary(payload).waiting)

        self.writer.guarded(record, report, work)

    def _book(
        self, record: OrderRecord, order: Order, report: PassReport, waiting: str | None = None
    ) -> None:
        # The amount is kept whatever becomes of the order (parked, unpaid): people see it.
        record.total, record.currency = str(order.total), order.currency
        paid_by = [p.transaction_id for p in order.payments] or [order.transaction_id]
        record.transaction_ids = ",".join(t for t in paid_by if t) or record.transaction_ids
        current = self._resume(record)  # Moneybird's invoice as just read, payments and all
        if record.state == OrderState.OPEN:
            self._pay_finalized(record, order, report, current)
            return
        if self._not_yet(record, order, report, waiting):
            return
        result = self.booking(order)
        existing = None
        if record.invoice_id is None and record.intent is None:
            existing = self._found(order, result)
            if existing is not None and not existing.is_draft:
                # Booked already (another install, a restored state): it stands as it is,
                # whatever the tables say now, never parked for a person to book again.
                self._adopt_booked(record, order, existing, report, result)
                return
        draft = self._draft_for(record, order, report, result)
        if draft is None:
            return
        joins = self.summary and existing is None and record.invoice_id is None
        if (
            joins
            and record.intent is None
            and individual_reason(order, self.config.mappings) is None
        ):
            self.days.join(record, order, draft, report)
            return
        self._make_invoice(record, order, draft, report, current, existing)

    def _found(
        self, order: Order, result: InvoiceDraft | Parked, look_up: bool = False
    ) -> BookedInvoice | None:
        """The invoice Moneybird holds under the order's reference, made by another install or
        before this state was restored, when it is this sale; Parking naming both when a
        document there carries the reference but is another sale. `look_up`: asked of
        Moneybird by reference when the state has not learned it (an order a pass has not
        recorded yet, whose days the pass's scan of Moneybird did not cover)."""
        self.writer.fresh_documents()
        if isinstance(result, InvoiceDraft):
            reference, drafted = result.reference, result.shop_totals.total_incl_tax
        else:
            reference, drafted = reference_for(order, self.settings.reference_template), None
        existing = self.writer.known(reference)
        if existing is None and look_up:
            day = order.paid_at.astimezone(self.settings.timezone).date() if order.paid_at else None
            existing = booked_or_none(self.client.invoice_by_reference(reference, day))
        if existing is None:
            return None
        self._is_this_sale(order, existing, drafted)
        return existing

    def _is_this_sale(
        self, order: Order, invoice: BookedInvoice, drafted: Decimal | None = None
    ) -> None:
        tolerance, tz = self.settings.rounding_tolerance, self.settings.timezone
        why = not_this_sale(order, invoice, self.store, tolerance, tz, drafted)
        if why is not None:
            raise Parking(why)

    def _adopt_booked(
        self,
        record: OrderRecord,
        order: Order,
        invoice: BookedInvoice,
        report: PassReport,
        result: InvoiceDraft | Parked,
    ) -> None:
        """Take a finalized invoice of this sale that Moneybird has, then pay what is left
        (the refunds netted on it are those its total shows, not today's)."""
        if isinstance(result, InvoiceDraft):
            self.refunds.save_line_map(record.key, line_map(result))  # for its credits
        record.reference = invoice.reference
        record.total = str(order.total)
        record.currency = order.currency
        record.paid_at = to_text(order.paid_at)
        net = self.config.file.refunds.before_booking == "net"
        if net and order.refunds and invoice.total is not None:
            tolerance = self.settings.rounding_tolerance
            netted = refunds_netted(order, Decimal(invoice.total), tolerance)
            if netted:  # netted on it when it was made: not to be credited again
                self.refunds.booked_net(record.key, netted)
        self.writer.adopt(record, invoice)
        self._pay_finalized(record, order, report, invoice, adopted=True)

    def _resume(self, record: OrderRecord) -> BookedInvoice | None:
        """Resuming (a lost finalize answer, a draft, a retried order): Moneybird says where the
        invoice stands. One deleted there, before it was numbered, is booked anew."""
        if not record.invoice_id or (
            record.intent != Intent.SEND_INVOICE and record.state == OrderState.OPEN
        ):
            return None
        invoice = self.writer.read_invoice(record.invoice_id)
        if invoice is None:
            record.invoice_id = record.invoice_total = record.intent = None
            record.state = OrderState.PENDING.value
            self.store.save(record)
        else:
            self.writer.adopt(record, invoice)
        return invoice

    def _pay_finalized(
        self,
        record: OrderRecord,
        order: Order,
        report: PassReport,
        current: BookedInvoice | None,
        adopted: bool = False,
    ) -> None:
        """Finalized: the invoice stands whatever changed since; only the payment is left."""
        if order.paid_at is None:
            raise Parking("the shop no longer has a paid date for a finalized invoice")
        try:
            plans = planned_payments(order, self.config.mappings, self.settings)
        except PaymentProblem as problem:
            raise Parking(str(problem)) from None
        refunded = self.refunds.net_amount(record.key)  # refunds booked on the invoice
        self.writer.pay(record, less(plans, refunded), current)
        self._paid(record, report, adopted)

    def _not_yet(
        self, record: OrderRecord, order: Order, report: PassReport, waiting: str | None
    ) -> bool:
        """An order nothing was written for yet that the shop says not to book (parked), or
        that waits for its payment (unpaid): True, and it is recorded so."""
        if record.invoice_id is not None or record.intent is not None:
            return False
        reason = self.not_bookable(order)
        if reason:
            self.writer.park(record, reason, report)
            return True
        if waiting or not order.is_paid:
            record.state = OrderState.UNPAID.value
            record.park_reason = waiting or "not paid yet: the shop has no paid date for it"
            self.store.save(record)
            report.unpaid += 1
            return True
        return False

    def _draft_for(
        self, record: OrderRecord, order: Order, report: PassReport, result: InvoiceDraft | Parked
    ) -> InvoiceDraft | None:
        """The invoice the order becomes (`result`), recorded on the order (with where its
        lines went, for its refunds); None when it parks (our own draft, if any, deleted)."""
        if isinstance(result, Parked):
            if record.invoice_id or record.intent:
                self.writer.discard_draft(record)
            self.writer.park(record, result.reason, report)
            return None
        if self.config.file.refunds.before_booking == "net" and order.refunds:
            self.refunds.booked_net(record.key, order.refunds)
        self.refunds.save_line_map(record.key, line_map(result))
        record.reference = result.reference
        record.total = str(order.total)
        record.currency = order.currency
        record.paid_at = to_text(order.paid_at)
        record.notes = "; ".join(result.notes) or None
        return result

    def _make_invoice(
        self,
        record: OrderRecord,
        order: Order,
        draft: InvoiceDraft,
        report: PassReport,
        current: BookedInvoice | None,
        existing: BookedInvoice | None = None,
    ) -> None:
        """Adopt the invoice of this sale Moneybird already has (`existing`, or the one a lost
        create made), or create it; then check Moneybird's totals, finalize and pay."""
        invoice = current
        if record.intent == Intent.DELETE_DRAFT:
            self.writer.discard_draft(record)
        adopted = False
        if existing is not None and record.invoice_id is None and record.intent is None:
            # Made by another install or before this state was restored: Moneybird's.
            self.writer.adopt(record, existing)
            invoice = current = existing
            adopted = True
        if record.invoice_id is None and record.intent == Intent.CREATE_INVOICE:
            invoice = booked_or_none(
                self.client.invoice_by_reference(draft.reference, draft.invoice_date)
            )
            if invoice is not None:
                if invoice.contact_id != record.contact_id:  # not on the contact we sent
                    self._is_this_sale(order, invoice, draft.shop_totals.total_incl_tax)
                self.writer.adopt(record, invoice)
        if record.invoice_id is None:
            self.writer.ensure_open_period(draft.invoice_date, "the invoice", order.number)
            invoice = self._create_invoice(record, order, draft)
            # Created open (external): checked here instead of before finalizing.
            check = self.writer.totals_agree
            if self.external and not check(record, invoice, draft.shop_totals, report):
                return
        if record.state == OrderState.DRAFT and invoice is not None:
            if not self.writer.totals_agree(record, invoice, draft.shop_totals, report):
                return
            current = self.writer.send(record)
        if record.state != OrderState.OPEN:
            raise Retry(f"invoice not finalized (state {record.state}); checked next pass")
        self.writer.pay(record, draft.payments, current)
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
        self.writer.decide(record, report, message)

    def _create_invoice(
        self, record: OrderRecord, order: Order, draft: InvoiceDraft
    ) -> BookedInvoice:
        contact_id = self.contacts.resolve(order.customer)
        record.contact_id = contact_id
        source = self.shop.label if self.external else None
        body = invoice_body(draft, contact_id, source)
        return self.writer.create_invoice(record, body, draft.reference, draft.invoice_date)

    # --- helpers ---------------------------------------------------------------------------

    def rates(self) -> dict[str, MoneybirdTaxRate]:
        """Moneybird's tax rates, read with the pass's set-up (see InvoiceWriter.rates)."""
        return self.writer.rates()


def _before_start(paid_at: datetime, start: datetime, tz: Any) -> str:
    paid_day = paid_at.astimezone(tz).date().isoformat()
    return (
        f"paid {paid_day}, before the start point {start.astimezone(tz).date().isoformat()}: "
        f"the scheduler books no history; book it with `connector import --since {paid_day}`"
    )
