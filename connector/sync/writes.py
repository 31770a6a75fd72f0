"""The one write path to Moneybird for sales invoices and credit invoices, and the record
transitions that follow from what happened to them.

Every write goes the same way: the intent is committed on the order's (or refund's) record,
the request is sent, and Moneybird's answer is adopted onto the record. An answer that got
lost (`Ambiguous`) is resolved by reading Moneybird; if that read fails too the item is left
to the next pass, whose intent says what to check. A refused write (`Rejected`) parks it.
What an exception does to the item is decided in one place, `errors.outcome`, through
`guarded`, for orders and refunds alike.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from connector.booking.book import describe_differences
from connector.booking.invoice import PaymentPlan, Totals, differences
from connector.booking.payments import less
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.config import Config
from connector.errors import (
    INTERNAL,
    AuthError,
    ConnectorError,
    Outcome,
    Parking,
    Retry,
    ServiceDown,
    internal,
    outcome,
)
from connector.money import ZERO, parse
from connector.moneybird.client import Ambiguous, MoneybirdClient, NotFound, Rejected, Unavailable
from connector.moneybird.documents import (
    BookedInvoice,
    booked,
    booked_or_none,
    listed_ids,
    payment_body,
    payment_id,
    rates_from_response,
    rounding_body,
)
from connector.outage import FailureStreak
from connector.redact import redact
from connector.shops import checks
from connector.state import (
    CorrectionRecord,
    DayRecord,
    Intent,
    OrderRecord,
    OrderState,
    RefundRecord,
    Store,
    from_text,
    utcnow,
)
from connector.sync.contacts import ContactBook
from connector.sync.report import Decision, PassReport
from connector.sync.settings import booking_settings

log = logging.getLogger(__name__)
InvoiceRecord = OrderRecord | RefundRecord  # both carry an invoice through send and pay
T = TypeVar("T")
LEARN_EVERY = 100  # documents made between two looks at what else Moneybird holds
INTERNAL_ERROR_PASSES = 3  # the same internal error this often: parked, not retried forever


class InvoiceWriter:
    def __init__(
        self,
        config: Config,
        store: Store,
        client: MoneybirdClient,
        shop_streak: FailureStreak,
        start_point: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.contacts = ContactBook(store, client)
        self.settings = booking_settings(config)
        self.external = config.sync.document == "external_sales_invoice"
        self._streaks = (client.streak, shop_streak)
        self._start_point = start_point
        self._rates: dict[str, MoneybirdTaxRate] | None = None
        self._set_up = False  # the pass's set-up is done (closed books, contacts, documents)
        self._locked_until: date | None = None  # Moneybird's closed books, read with the rates
        self._learned: dict[str, BookedInvoice] = {}
        self._creates = 0  # documents made since Moneybird was last read for new ones

    # --- an item's work and its outcome ----------------------------------------------------

    def guarded(self, record: InvoiceRecord, report: PassReport, work: Callable[[], None]) -> bool:
        """Run one order's (or refund's) work: its trouble parks or fails it, never the pass,
        except what stops every write, and an outage of Moneybird or the shop (the pass
        stops rather than fail order after order). False when it is left to retry."""
        done = False
        try:
            work()
            done = True
        except Exception as exc:
            done = self.settle(record, exc, report) is Outcome.PARK
        self.stop_if_down()
        return done

    def settle(self, record: InvoiceRecord, exc: Exception, report: PassReport) -> Outcome:
        """What `exc` means for this order or refund, recorded (or re-raised: the pass stops)."""
        fate = outcome(exc)
        if fate is Outcome.STOP:
            raise exc
        if fate is Outcome.PARK:
            self.park(record, str(exc), report)
        elif fate is Outcome.RETRY:
            self.fail(record, str(exc), report)
        else:  # one bad order must not stop the others
            log.error("unexpected error on order %s", record.number, exc_info=exc)
            self.fail(record, internal(exc), report)
        return fate

    def stop_if_down(self) -> None:
        """Moneybird or the shop failed several requests in a row: stop the pass (one line
        naming the service, its host and the cause); the next pass carries on."""
        for streak in self._streaks:
            if streak.down:
                raise streak.error()

    def park(self, record: InvoiceRecord, reason: str, report: PassReport) -> None:
        reason = redact(reason, self.config.secrets.values())
        record.state = OrderState.PARKED.value
        record.park_reason = reason
        self.store.save(record)
        if isinstance(record, RefundRecord):
            report.refunds_parked += 1
        else:
            report.parked += 1
        self.decide(record, report, f"parked: {reason}")

    def fail(self, record: InvoiceRecord, error: str, report: PassReport) -> None:
        error = redact(error, self.config.secrets.values())
        reread = self.store.refund if isinstance(record, RefundRecord) else self.store.order
        fresh = reread(record.key) or record
        repeated = fresh.last_error == error
        fresh.attempts += 1
        fresh.last_error = error
        if error.startswith(INTERNAL) and repeated and fresh.attempts >= INTERNAL_ERROR_PASSES:
            # The same bug on every pass will not go away by itself: a person looks at it.
            self.park(
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
        self.decide(fresh, report, f"will retry: {error}")

    def decide(
        self, record: InvoiceRecord | CorrectionRecord, report: PassReport, message: str
    ) -> None:
        # One line per decision; with JSON logs the fields come out as keys too.
        extra = {"order": record.number, "decision": record.state, "invoice": record.invoice_number}
        if isinstance(record, RefundRecord):
            extra["refund"] = record.refund_id
            message = f"refund {record.refund_id} {message}"
        log.info("order %s: %s", record.number, message, extra=extra)
        report.decisions.append(Decision(record.key, record.number, record.state, message))

    # --- writes ----------------------------------------------------------------------------

    def write(
        self,
        record: InvoiceRecord | DayRecord,
        intent: Intent,
        send: Callable[[], T],
        recheck: Callable[[], T | None],
        what: str,
        refused: str | None,
    ) -> T:
        """One write: the intent committed first; a lost answer resolved by `recheck` (a read
        of Moneybird returning what the write made, or None: left to the next pass); a refusal
        parks the item with `refused` and Moneybird's message (None: left to the caller)."""
        record.intent = intent.value
        self.store.save(record)
        try:
            return send()
        except Ambiguous as exc:
            found = self.quietly(recheck)
            if found is None:
                raise Retry(f"{what} outcome unknown ({exc}); checked next pass") from None
            return found
        except Rejected as exc:
            if refused is None:
                raise
            record.intent = None
            self.store.save(record)
            raise Parking(f"{refused}: {exc}") from None

    def create_invoice(
        self, record: OrderRecord, body: dict[str, Any], reference: str, day: date
    ) -> BookedInvoice:
        self._creates += 1

        def made() -> BookedInvoice | None:
            # Only ours when on the contact we sent: another sale may carry the reference.
            found = booked_or_none(self.client.invoice_by_reference(reference, day))
            return found if found is not None and found.contact_id == record.contact_id else None

        invoice = self.write(
            record, Intent.CREATE_INVOICE, lambda: booked(self.client.create_invoice(body)),
            made, "invoice create", "Moneybird refused the invoice",
        )  # fmt: skip
        self.adopt(record, invoice)
        return invoice

    def count_create(self) -> None:
        """A document is about to be made another way (a credit invoice): counted for
        `fresh_documents`."""
        self._creates += 1

    def send(self, record: InvoiceRecord) -> BookedInvoice:
        invoice_id = record.invoice_id or ""

        def finalized() -> BookedInvoice | None:
            invoice = self.read_invoice(invoice_id)
            return None if invoice is None or invoice.is_draft else invoice

        method = self.config.sync.delivery_method
        invoice = self.write(
            record, Intent.SEND_INVOICE,
            lambda: booked(self.client.send_invoice(invoice_id, method)),
            finalized, "finalizing", None,
        )  # fmt: skip
        self.adopt(record, invoice)
        return invoice

    def adopt(self, record: InvoiceRecord, invoice: BookedInvoice) -> None:
        """Take Moneybird's word for where this invoice stands."""
        self.store.mark_seen({invoice.id: invoice.is_draft})
        record.invoice_id = invoice.id
        if isinstance(record, OrderRecord) and invoice.contact_id:
            record.contact_id = invoice.contact_id  # whoever made it chose the contact
        record.invoice_number = invoice.number or record.invoice_number
        record.invoice_total = invoice.total
        record.state = (OrderState.DRAFT if invoice.is_draft else OrderState.OPEN).value
        if record.intent in (Intent.CREATE_INVOICE, Intent.SEND_INVOICE):
            record.intent = None
        if invoice.state == "paid":
            record.intent = Intent.PAY.value  # makes pay() read the payments instead of adding one
        self.store.save(record)

    def totals_agree(
        self,
        record: InvoiceRecord,
        invoice: BookedInvoice,
        expected: Totals,
        report: PassReport,
        subject: str = "",
    ) -> bool:
        """Moneybird's own totals against the shop's, before finalizing: beyond the tolerance
        the draft is deleted and the order (or refund) parked; within it, noted."""
        diffs = differences(invoice.totals, expected)
        tolerance = self.settings.rounding_tolerance
        if any(abs(v) > tolerance for v in diffs.values()):
            reason = "Moneybird computed " + describe_differences(diffs, self.rates())
            self.discard_draft(record)
            self.park(record, f"{reason}{subject}; draft deleted", report)
            return False
        if diffs:
            note = "rounded within tolerance: " + describe_differences(diffs, self.rates())
            record.notes = "; ".join(filter(None, [record.notes, note]))
        return True

    def discard_draft(self, record: InvoiceRecord) -> None:
        """Delete our own draft (it has no invoice number yet, so nothing is lost)."""
        invoice_id = record.invoice_id
        if invoice_id is None and record.reference:
            found = booked_or_none(self.client.invoice_by_reference(record.reference))
            invoice_id = found.id if found else None
        if invoice_id is not None:
            invoice = self.read_invoice(invoice_id)
            unpaid_external = self.external and invoice is not None and not invoice.has_payments
            if invoice is not None and not invoice.is_draft and not unpaid_external:
                raise Parking(
                    f"invoice {invoice.number} is already finalized in Moneybird "
                    "while the order no longer books cleanly; correct it by hand"
                )
            record.intent = Intent.DELETE_DRAFT.value
            self.store.save(record)
            if invoice is not None:
                with contextlib.suppress(NotFound):
                    self.client.delete_invoice(invoice_id)
        record.intent = None
        record.invoice_id = None
        record.invoice_total = None
        record.state = OrderState.PENDING.value
        self.store.save(record)

    def pay(
        self,
        record: InvoiceRecord,
        plans: tuple[PaymentPlan, ...],
        current: BookedInvoice | None = None,
    ) -> None:
        """Register the payments, one per way of paying, each known in Moneybird by its
        transaction identifier. `current`: the invoice as just read from Moneybird, if any."""
        invoice_id = record.invoice_id or ""
        if not plans:
            return
        invoice = current
        # Several payments: one may be in Moneybird from an earlier, interrupted attempt.
        if invoice is None and (record.intent or (len(plans) > 1 and not record.payment_id)):
            invoice = booked(self.client.invoice(invoice_id))
        existing = invoice.payments if invoice else {}
        if invoice is not None and invoice.is_draft:
            raise Retry("invoice is still a draft in Moneybird")
        rounding_identifier = f"{plans[0].transaction_identifier}-rounding"
        if record.rounding_payment_id is None and rounding_identifier in existing:
            record.rounding_payment_id = existing[rounding_identifier]
        if invoice is not None and invoice.state == "paid":
            ours = [existing[p.transaction_identifier] for p in plans
                    if p.transaction_identifier in existing]  # fmt: skip
            # Nothing left to pay: our payments made it, or Moneybird settled it otherwise.
            record.payment_id = record.payment_id or ",".join(ours) or "settled"
            record.intent = None
            return
        # A credit invoice settled against this (then unpaid) invoice already covers part.
        due = less(plans, invoice.settled_by_credit) if invoice else plans
        if record.payment_id is None:
            paid = [self._payment(record, invoice_id, plan, existing) for plan in due]
            record.payment_id = ",".join(p for p in paid if p) or None
        self._rounding(record, invoice_id, plans, rounding_identifier)
        record.intent = None

    def _payment(
        self, record: InvoiceRecord, invoice_id: str, plan: PaymentPlan, existing: dict[str, str]
    ) -> str | None:
        """One way of paying, unless Moneybird has it already (or it is zero)."""
        identifier = plan.transaction_identifier
        if identifier in existing:
            return existing[identifier]
        if plan.amount == ZERO:
            return None
        self.ensure_open_period(plan.payment_date, "the payment", record.number)
        body = payment_body(plan)
        return self.write_payment(record, Intent.PAY, invoice_id, body, identifier)

    def _rounding(
        self,
        record: InvoiceRecord,
        invoice_id: str,
        plans: tuple[PaymentPlan, ...],
        identifier: str,
    ) -> None:
        """What the payments leave of Moneybird's total (a cent of its rounding) is booked
        as a rounding difference, once."""
        amount = sum((p.amount for p in plans), ZERO)
        leftover = parse(record.invoice_total) - amount if record.invoice_total else ZERO
        if leftover == ZERO or record.rounding_payment_id is not None:
            return
        body = rounding_body(plans[0], leftover, identifier)
        record.rounding_payment_id = self.write_payment(
            record, Intent.PAY_ROUNDING, invoice_id, body, identifier
        )

    def write_payment(
        self,
        record: InvoiceRecord | DayRecord,
        intent: Intent,
        invoice_id: str,
        body: dict[str, Any],
        identifier: str,
        client: MoneybirdClient | None = None,
    ) -> str:
        """One payment on a document (of `client`'s kind: a day's document is an external
        sales invoice), its lost answer settled by Moneybird's list of the document's
        payments, by transaction identifier."""
        to = client or self.client

        def registered() -> str | None:
            try:
                invoice = booked(to.invoice(invoice_id))
            except NotFound:
                return None
            return invoice.payments.get(identifier)

        return self.write(
            record, intent, lambda: payment_id(to.create_payment(invoice_id, body)),
            registered, "payment", "Moneybird refused the payment",
        )  # fmt: skip

    # --- reads -----------------------------------------------------------------------------

    def quietly(self, read: Callable[[], T | None]) -> T | None:
        """A read right after an ambiguous write: if it fails too, the next pass decides
        (an authentication failure still stops the pass)."""
        try:
            return read()
        except AuthError:
            raise
        except ConnectorError:
            return None

    def read_invoice(self, invoice_id: str) -> BookedInvoice | None:
        try:
            return booked(self.client.invoice(invoice_id))
        except NotFound:
            return None

    def known(self, reference: str) -> BookedInvoice | None:
        """The document Moneybird holds under this reference, as learned (another install
        made it, or it was made before this state was restored), or None."""
        invoice_id = self.store.invoice_ref(reference)
        if not invoice_id:
            return None
        return self._learned.pop(invoice_id, None) or self.read_invoice(invoice_id)

    def rates(self) -> dict[str, MoneybirdTaxRate]:
        """Moneybird's tax rates, and the pass's set-up with them. Moneybird unavailable here
        stops the pass at once: no order could be booked."""
        if not self._set_up:
            rates = self.rates_for_reading()
            self._locked_until = self.client.locked_until()
            self.contacts.refresh()
            self.learn_documents()
            self._set_up = True
            return rates
        return self.rates_for_reading()

    def rates_for_reading(self) -> dict[str, MoneybirdTaxRate]:
        """Moneybird's tax rates alone, for work that writes nothing (reconciliation): a write
        still gets the whole set-up first, through rates()."""
        if self._rates is None:
            try:
                listed = self.client.tax_rates()
            except Unavailable as exc:
                if self.client.streak.count:
                    raise self.client.streak.error() from None
                raise ServiceDown(str(exc)) from None  # a pass adds what it means for it
            self._rates = rates_from_response(listed)
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
        ids = listed_ids(listed)
        unread = [invoice_id for invoice_id in ids if seen.get(invoice_id, True)]
        in_period = set(ids)
        refs: dict[str, str] = {}
        marks: dict[str, bool] = {}
        for invoice in map(booked, self.client.invoices_by_ids(unread)):
            invoice_id, draft, reference = invoice.id, invoice.is_draft, invoice.reference
            marks[invoice_id] = draft
            credit = invoice.credits is not None
            if not reference or (credit and draft):
                continue  # a credit draft still carries its original's reference
            earlier = self.store.invoice_ref(reference)
            first_one = refs.get(reference) or (earlier if earlier in in_period else None)
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
        # A date no order can have (kept by an older version) must not widen the scan for all.
        paid = [m if m is None or checks.is_plausible(m) else None for m in paid]
        if any(moment is None for moment in paid):
            paid.append(self._start_point())
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
        if not self._set_up:
            self.rates()
        elif self._creates >= LEARN_EVERY:
            self.learn_documents()
