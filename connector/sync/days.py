"""Summary booking's days (sync.mode = "summary"): a consumer order joins the document of the
day it was paid on; once the day has settled ([summary] settle_days), the day's document is
made in Moneybird as an external sales invoice and paid per financial account, and every order
in it is booked by it.

The same guarantees as an order's invoice: the intent is committed before each write, a lost
answer is settled by reading Moneybird (the day's reference, e.g. WC-2026-11-29), and a
document already there is adopted, never made twice. A day whose document exists takes no
more orders: one paid on it but seen later joins the day it is seen, and says so.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector.booking.book import Parked
from connector.booking.credit import book_refund
from connector.booking.day import (
    DayDraft,
    DayShare,
    booked_share,
    correction_share,
    day_draft,
    original_of_share,
    refund_share,
    share_of,
)
from connector.booking.invoice import InvoiceDraft, PaymentPlan
from connector.errors import ConnectorError, Outcome, Parking, internal, outcome
from connector.money import ZERO, cents, fmt, parse
from connector.moneybird.client import MoneybirdClient
from connector.moneybird.documents import (
    BookedInvoice,
    booked,
    booked_or_none,
    day_body,
    listed_ids,
    paid_on_account,
    payment_body,
    rounding_body,
)
from connector.order import Address, Customer, Order
from connector.state import (
    CorrectionRecord,
    DayRecord,
    DayState,
    Intent,
    OrderRecord,
    OrderState,
    RefundRecord,
    RefundState,
    Store,
    to_text,
    utcnow,
)
from connector.sync.refunds import recorded_line_map, shop_refund
from connector.sync.report import PassReport
from connector.sync.writes import InvoiceWriter

log = logging.getLogger(__name__)


class DayFlow:
    def __init__(self, writer: InvoiceWriter, shop_name: str, shop_label: str) -> None:
        self.writer = writer
        self.store = writer.store
        self.config = writer.config
        self.settings = writer.settings
        self.summary = writer.config.file.summary
        self.shop = shop_name
        self.label = shop_label
        # The day's document is an external sales invoice, whatever the orders' own are.
        self.client: MoneybirdClient = writer.client.for_documents("external_sales_invoices")
        self._there: dict[str, BookedInvoice] = {}  # the due days' documents Moneybird has
        # The providers' accounts whose payouts pay the day's documents ([payouts] on).
        self.payout_accounts: frozenset[str] = frozenset()
        # Whether payout_accounts is known for sure (this pass resolved [payouts], or it is off):
        # only then is a day's part no longer covered paid as without payouts.
        self.payout_accounts_known = False
        self.payouts_since: date | None = None  # days before it: no payout of them is read

    def reference(self, day: date) -> str:
        """WC-2026-11-29: the template's prefix, then the day (one shop, one document a day)."""
        prefix = self.settings.reference_template.split("{", 1)[0]
        return f"{prefix}{day.isoformat()}"

    # --- an order joins its day --------------------------------------------------------------

    def join(
        self, record: OrderRecord, order: Order, draft: InvoiceDraft, report: PassReport
    ) -> None:
        assert order.paid_at is not None
        day, note = self._open_day(order.paid_at, "paid")
        self.writer.ensure_open_period(day, "the day's document", order.number)
        record.day = day.isoformat()
        record.day_share = share_of(draft, day).to_json()
        record.state = OrderState.IN_DAY.value
        record.notes = "; ".join(filter(None, [record.notes, note])) or None
        self.store.save(record)
        report.in_days += 1
        self.writer.decide(record, report, f"joins the day's document {self.reference(day)}")

    def join_refund(
        self, order_record: OrderRecord, order: Order, record: RefundRecord, report: PassReport
    ) -> None:
        """A refund of an order in a day: negative lines (and payments) in the document of the
        day it was paid out on, worked out from the order's part of its own day."""
        refund = shop_refund(order, record)
        # What the order's days booked of it: its own part and any correction since.
        share = self.booked_of(order_record)
        booked = recorded_line_map(self.store, order_record.key) or {}
        credit = book_refund(
            order, refund, original_of_share(share), booked, self.writer.rates(),
            self.config.mappings, self.settings,
        )  # fmt: skip
        if isinstance(credit, Parked):
            raise Parking(credit.reason)
        day, note = self._open_day(refund.created_at, "paid out")
        self.writer.ensure_open_period(day, "the day's document", record.number)
        record.amount = str(refund.amount)
        record.refunded_at = to_text(refund.created_at)
        record.reference = credit.reference
        record.day = day.isoformat()
        record.day_share = refund_share(credit, record.key, share, day).to_json()
        record.state = RefundState.IN_DAY.value
        record.notes = "; ".join(filter(None, [*credit.notes, note])) or None
        self.store.save(record)
        self.writer.decide(record, report, f"joins the day's document {self.reference(day)}")

    def _today(self) -> date:
        return utcnow().astimezone(self.settings.timezone).date()

    def _open_day(self, moment: datetime, what: str) -> tuple[date, str | None]:
        """The day of `moment`, or, when its documents are made already (they are never
        edited), the day it is seen, with a note saying so."""
        day = moment.astimezone(self.settings.timezone).date()
        if not self.store.day_closed(self.shop, day.isoformat()):
            return day, None
        seen = self._today()
        return seen, f"{what} on {day}, whose documents were made already: booked with {seen}"

    def booked_of(self, record: OrderRecord) -> DayShare:
        """The order as its days have booked it: its own part, plus each correction since."""
        corrections = [
            DayShare.from_json(c.day_share) for c in self.store.corrections(order_key=record.key)
            if c.day_share and c.state != OrderState.PARKED
        ]  # fmt: skip
        return booked_share(DayShare.from_json(record.day_share or ""), corrections)

    def correct(
        self,
        record: OrderRecord,
        draft: InvoiceDraft | Parked,
        modified: str,
        report: PassReport,
    ) -> None:
        """An order changed in the shop after its day's document was made: what changed in its
        amounts, VAT or payments is booked in the document of the day the change is seen (a
        closed day is never edited), and said. A change that cannot be booked exactly is
        parked as a correction for a person; the order's own booking stands."""
        seen = self._today()
        earlier = self.store.corrections(order_key=record.key)
        n = len(earlier) + 1
        was = f"after its day's document {record.invoice_number or record.day} was made"
        reason = None
        if isinstance(draft, Parked):
            delta, reason = None, f"changed in the shop {was}, and cannot be booked: {draft.reason}"
        else:
            before = self.booked_of(record)
            delta = correction_share(share_of(draft, seen), before, f"{record.key}:C{n}",
                                     f"{before.reference}-C{n}", seen)  # fmt: skip
            paid = sum(delta.payments.values(), ZERO) if delta is not None else ZERO
            if delta is not None and paid != delta.total:
                reason = (
                    f"changed in the shop {was}: its total moved by {fmt(delta.total)} but its "
                    f"payments by {fmt(paid)}; book the difference by hand"
                )
        if reason is not None:
            amount = str(delta.total) if delta is not None else None
            if not any(c.park_reason == reason and c.amount == amount for c in earlier):
                correction = CorrectionRecord(
                    key=f"{record.key}:C{n}", order_key=record.key, number=record.number,
                    reference=delta.reference if delta else "", amount=amount,
                    state=OrderState.PARKED.value, park_reason=reason,
                )  # fmt: skip
                self.store.save(correction)
                self.writer.decide(correction, report, f"a correction parked: {reason}")
        elif delta is not None:
            self.writer.ensure_open_period(seen, "the day's document", record.number)
            note = f"changed in the shop {was}: {fmt(delta.total)} booked with {seen}"
            correction = CorrectionRecord(
                key=delta.order_key, order_key=record.key, number=record.number,
                reference=delta.reference, amount=str(delta.total), day=seen.isoformat(),
                day_share=delta.to_json(), notes=note,
            )  # fmt: skip
            self.store.save(correction)
            report.in_days += 1
            self.writer.decide(correction, report, f"{note}, in {self.reference(seen)}")
        record.modified_at = modified  # only now: a crash before this looks again
        record.changed = None
        self.store.save(record)

    def open_day(self, record: OrderRecord) -> bool:
        """The order's day still takes changes: its documents are not fixed yet."""
        return record.day is None or not self.store.day_closed(self.shop, record.day)

    # --- a settled day becomes its documents ----------------------------------------------------

    def book_settled(self, report: PassReport, now: datetime | None = None) -> None:
        """Every day that has settled: its orders fixed, then its document made and paid
        (resumed where a pass left it)."""
        today = (now or utcnow()).astimezone(self.settings.timezone).date()
        last = (today - timedelta(days=self.summary.settle_days + 1)).isoformat()
        for day in self.store.waiting_days(self.shop):
            if day <= last and not self.store.day_closed(self.shop, day):
                self._close(day)
        if self.payout_accounts_known:
            self._no_longer_left_to_payouts()
        waiting = {DayState.CLOSED, DayState.OPEN, DayState.FAILED}
        due = [r for r in self.store.days(waiting) if r.shop == self.shop]
        self._there = self._in_moneybird([r for r in due if r.invoice_id is None])
        for record in due:
            try:
                self._book(record, report)
            except Exception as exc:
                fate = outcome(exc)
                if fate is Outcome.STOP:
                    raise
                self._settle(record, exc, fate)
            self.writer.stop_if_down()

    def _no_longer_left_to_payouts(self) -> None:
        """Days whose provider part was left to the payouts, when that provider's payouts are
        no longer booked ([payouts] turned off, its section removed): the part the payouts did
        not pay is paid as without payouts, once, so no document stays open for ever."""
        for record in self.store.days({DayState.PAID}):
            left = json.loads(record.payout_accounts or "[]")
            gone = [a for a in left if a not in self.payout_accounts]
            if record.shop != self.shop or not gone or not record.invoice_id:
                continue
            try:
                self._pay_what_is_left(record, gone, left)
            except Exception as exc:
                if outcome(exc) is Outcome.STOP:
                    raise
                record.last_error = str(exc)  # tried again next pass
                self.store.save(record)

    def _pay_what_is_left(self, record: DayRecord, gone: list[str], left: list[str]) -> None:
        """Each gone provider's own share of the day, less what its movements paid already:
        a share still left to another provider's payouts stays theirs."""
        invoice = booked(self.client.invoice(record.invoice_id or ""))
        shares = left_to_payouts(self.store, record)
        for account in gone:
            identifier = f"{record.reference}/{account}"
            due = cents(shares.get(account, ZERO) - paid_on_account(invoice, account))
            if identifier in invoice.payments or due == ZERO:
                continue
            plan = PaymentPlan(due, date.fromisoformat(record.day), identifier, account)
            self._write_payment(record, Intent.PAY, payment_body(plan), identifier)
        kept = [a for a in left if a not in gone]
        record.payout_accounts = json.dumps(kept) if kept else None
        record.intent = None
        self.store.save(record)

    def _in_moneybird(self, days: list[DayRecord]) -> dict[str, BookedInvoice]:
        """The external sales invoices Moneybird has around these days, by reference, read
        once for them all (one request, plus one per hundred documents): a day made by another
        install, or before this state was restored, is adopted instead of made again."""
        if not days:
            return {}
        first = min(date.fromisoformat(r.day) for r in days) - timedelta(days=1)
        last = max(date.fromisoformat(r.day) for r in days) + timedelta(days=1)
        ids = listed_ids(self.client.invoice_versions(first, last))
        found = [booked(invoice) for invoice in self.client.invoices_by_ids(ids)] if ids else []
        return {invoice.reference: invoice for invoice in found}

    def _close(self, day: str) -> None:
        """Fix the orders the day's document books, before anything is written: a pass that
        resumes finds the same document, whatever arrives meanwhile."""
        keys = [
            o.key for o in self.store.orders_in_day(self.shop, day)
            if o.state == OrderState.IN_DAY and o.day_share
        ]  # fmt: skip
        keys += [
            r.key for r in self.store.refunds_in_day(self.shop, day)
            if r.state == RefundState.IN_DAY and r.day_share
        ]  # fmt: skip
        keys += [
            c.key for c in self.store.corrections(shop=self.shop, day=day)
            if c.state == OrderState.IN_DAY and c.day_share
        ]  # fmt: skip
        reference = self.reference(date.fromisoformat(day))
        self.store.save(
            DayRecord(key=f"{self.shop}:{day}:1", shop=self.shop, day=day, part=1,
                      order_keys=json.dumps(keys), number=reference, reference=reference,
                      orders=len(keys))
        )  # fmt: skip

    def _settle(self, record: DayRecord, exc: Exception, fate: Outcome) -> None:
        """A document's trouble is its own: parked for a person, or retried next pass."""
        message = str(exc) if isinstance(exc, ConnectorError) else internal(exc)
        if fate is Outcome.PARK:
            record.state, record.park_reason = DayState.PARKED.value, message
        else:
            record.attempts += 1
            record.last_error = message
            if record.state == DayState.CLOSED:
                record.state = DayState.FAILED.value
        self.store.save(record)
        log.warning("day %s: %s", record.number, message)

    def _book(self, record: DayRecord, report: PassReport) -> None:
        keys = json.loads(record.order_keys)
        # A refund's key is its order's key and more: the refunds are looked up apart.
        items: list[OrderRecord | RefundRecord | CorrectionRecord] = [
            found for key in keys
            if (found := self._item(key)) is not None and found.day_share
        ]  # fmt: skip
        shares = [DayShare.from_json(item.day_share or "") for item in items]
        day = date.fromisoformat(record.day)
        description = f"{self.summary.description} {day:%d-%m-%Y}"
        draft = day_draft(record.reference or "", day, shares, self.writer.rates(), description)
        record.total = str(draft.shop_totals.total_incl_tax)
        record.notes = "; ".join(draft.notes) or None
        invoice = self._document(record, draft)
        self._pay(record, draft, invoice)
        record.state = DayState.PAID.value
        record.booked_at = utcnow().isoformat()
        record.last_error = record.park_reason = None
        self.store.save(record)
        for item in items:
            if item.state != OrderState.IN_DAY:  # the same word for orders and refunds
                continue
            item.state = OrderState.PAID.value
            item.invoice_id, item.invoice_number = record.invoice_id, record.invoice_number
            item.booked_at = record.booked_at
            item.last_error = item.park_reason = None
            self.store.save(item)
            message = f"booked in the day's document {record.number}"
            if isinstance(item, CorrectionRecord):
                self.writer.decide(item, report, f"correction {item.reference} {message}")
                continue
            if isinstance(item, RefundRecord):
                report.refunds_booked += 1
            else:
                report.booked += 1
            self.writer.decide(item, report, message)

    def _item(self, key: str) -> OrderRecord | RefundRecord | CorrectionRecord | None:
        """An order, refund or correction a day books, by its key (a refund's and a
        correction's keys are their order's key and more: each is looked up apart)."""
        return self.store.order(key) or self.store.refund(key) or self.store.correction(key)

    def _document(self, record: DayRecord, draft: DayDraft) -> BookedInvoice:
        """The day's document: the one Moneybird has (after a lost answer, or made by another
        install), else made now."""
        if record.invoice_id is not None:
            invoice = booked(self.client.invoice(record.invoice_id))
        elif record.intent is not None:  # a write whose answer was lost: Moneybird says
            invoice = self._this_day(self._find(draft), draft) or self._create(record, draft)
        else:
            there = self._there.get(draft.reference)
            invoice = self._this_day(there, draft) or self._create(record, draft)
        record.intent = None
        record.invoice_id = invoice.id
        record.invoice_number = invoice.number or draft.reference
        record.invoice_total = invoice.total
        record.contact_id = invoice.contact_id
        record.state = DayState.OPEN.value
        self.store.save(record)
        return invoice

    def _this_day(self, found: BookedInvoice | None, draft: DayDraft) -> BookedInvoice | None:
        """A document found under the day's reference, taken only when it is this day's: the
        same date and the same total. Another (a second shop with the same prefix) parks the
        day naming both, and nothing is written on it."""
        if found is None:
            return None
        total = parse(found.total, "total") if found.total else None
        expected = draft.shop_totals.total_incl_tax
        tolerance = self.settings.rounding_tolerance
        agrees = total is not None and abs(total - expected) <= tolerance
        if found.invoice_date == draft.day.isoformat() and agrees:
            return found
        raise Parking(
            f"Moneybird already holds {found.reference} ({found.described}), which is not "
            f"this day's document ({expected}, {draft.day.isoformat()}): two shops share the "
            "reference prefix — give this shop its own `sync.reference_template`"
        )

    def _find(self, draft: DayDraft) -> BookedInvoice | None:
        return booked_or_none(self.client.invoice_by_reference(draft.reference, draft.day))

    def _create(self, record: DayRecord, draft: DayDraft) -> BookedInvoice:
        self.writer.ensure_open_period(draft.day, "the day's document", record.number)
        body = day_body(draft, self._contact(), self.label)
        return self.writer.write(
            record, Intent.CREATE_INVOICE,
            lambda: booked(self.client.create_invoice(body)),
            lambda: self._this_day(self._find(draft), draft),
            "day document create", "Moneybird refused the day's document",
        )  # fmt: skip

    def _contact(self) -> str:
        if self.summary.contact_id:
            return self.summary.contact_id
        country = self.config.file.vat.shop_country
        who = Customer("", Address(company=self.summary.contact_name, country=country))
        return self.writer.contacts.resolve(who)

    def _pay(self, record: DayRecord, draft: DayDraft, invoice: BookedInvoice) -> None:
        """One payment per financial account, each known by its transaction identifier; what
        Moneybird's total differs from the orders' by (its rounding), one rounding payment.
        A provider whose payouts are booked pays its part with its payouts' movements: no
        payment is registered for it (it would be paid twice), and that is remembered."""
        existing = invoice.payments
        done = []
        left: list[str] = json.loads(record.payout_accounts or "[]")
        since = self.payouts_since
        booked_by_payouts = since is None or date.fromisoformat(record.day) >= since
        for plan in draft.payments:
            identifier = plan.transaction_identifier
            account = plan.financial_account_id
            if (
                identifier not in existing
                and account
                and account in self.payout_accounts
                and booked_by_payouts
            ):
                left = sorted({*left, account})
                continue
            if identifier not in existing:
                body = payment_body(plan)
                existing[identifier] = self._write_payment(record, Intent.PAY, body, identifier)
            done.append(existing[identifier])
        if left:
            record.payout_accounts = json.dumps(left)
        paid = sum((p.amount for p in draft.payments), ZERO)
        leftover = cents(parse(invoice.total) - paid) if invoice.total else ZERO
        rounding = f"{draft.reference}-rounding"
        if leftover != ZERO and rounding not in existing and draft.payments:
            body = rounding_body(draft.payments[0], leftover, rounding)
            record.rounding_payment_id = self._write_payment(
                record, Intent.PAY_ROUNDING, body, rounding
            )
            note = f"Moneybird's total differs by {fmt(leftover)}: a rounding payment"
            record.notes = "; ".join(filter(None, [record.notes, note]))
        record.payment_id = ",".join(done) or None
        record.intent = None
        self.store.save(record)

    def _write_payment(
        self, record: DayRecord, intent: Intent, body: dict[str, Any], identifier: str
    ) -> str:
        invoice_id = record.invoice_id or ""
        return self.writer.write_payment(record, intent, invoice_id, body, identifier, self.client)


def left_to_payouts(store: Store, record: DayRecord) -> dict[str, Decimal]:
    """What a day's document left to the providers' payouts, per financial account: its
    items' payments through the accounts it remembers as left to them, summed as its document
    was made (every item's own share, a change's apart)."""
    accounts = set(json.loads(record.payout_accounts or "[]"))
    left: dict[str, Decimal] = {}
    if not accounts:
        return left
    for key in json.loads(record.order_keys):
        # A refund's and a change's keys are their order's key and more: looked up apart.
        item = store.order(key) or store.refund(key) or store.correction(key)
        if item is None or not item.day_share:
            continue
        for account, amount in DayShare.from_json(item.day_share).payments.items():
            if account in accounts:
                left[account] = left.get(account, ZERO) + amount
    return left
