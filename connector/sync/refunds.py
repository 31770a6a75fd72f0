"""The refund steps of the sync engine: each shop refund on a booked order becomes one credit
invoice linked to the order's invoice, finalized and paid out (or settled against an unpaid
original).

    pending -> draft -> open -> paid        (waiting / parked / failed on the side)

Every write is preceded by a committed intent on the refund record. Moneybird's
duplicate_creditinvoice cannot be looked up by our reference until the draft is renamed, so a
lost answer is resolved by listing the drafts that carry the original's reference, were
created after the intent and credit the original.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector.booking.book import Parked
from connector.booking.credit import BookedLine, CreditDraft, LineMap, book_refund, line_map
from connector.booking.invoice import InvoiceDraft
from connector.errors import Parking, Retry
from connector.money import ZERO, fmt, parse
from connector.moneybird.client import Rejected
from connector.moneybird.documents import BookedInvoice, booked, credit_edit_body, original_of
from connector.order import Order, Refund, refund_key
from connector.order import oldest_first as by_date
from connector.shops.shop import Shop
from connector.state import (
    OPEN_REFUNDS,
    BookedLinesRecord,
    Intent,
    OrderRecord,
    OrderState,
    RefundRecord,
    RefundState,
    Store,
    from_text,
    to_text,
    utcnow,
)
from connector.sync.report import PassReport
from connector.sync.writes import InvoiceWriter

log = logging.getLogger(__name__)
PAYABLE = {"open", "late", "reminded", "pending_payment"}


def recorded_line_map(store: Store, order_key: str) -> LineMap | None:
    """Where each of the order's lines was booked, as recorded when its invoice was made."""
    stored = store.booked_lines(order_key)
    if stored is None:
        return None
    return {
        line_id: tuple(BookedLine(rate, ledger, Decimal(share)) for rate, ledger, share in entries)
        for line_id, entries in json.loads(stored).items()
    }


def oldest_first(records: list[RefundRecord], order: Order) -> list[RefundRecord]:
    """An order's refunds in the order they are booked: by their date in the shop, then id,
    so credit invoice numbers run with their dates (the shop lists the newest first). One
    the shop does not return comes last: it is parked, not booked."""
    dated = {r.refund_id: by_date(r.created_at, r.refund_id) for r in order.refunds}
    last = (datetime.max.replace(tzinfo=UTC), 0, "")
    return sorted(records, key=lambda r: dated.get(r.refund_id, last))


def shop_refund(order: Order, record: RefundRecord) -> Refund:
    """The refund as the shop returns it; Parking saying what happened when it does not
    (its amount kept on the record from the order's listing)."""
    refund = next((r for r in order.refunds if r.refund_id == record.refund_id), None)
    if refund is not None:
        return refund
    listed = next((r for r in order.refunds_unread if r.refund_id == record.refund_id), None)
    if listed is None:
        raise Parking(
            f"order {order.number} no longer lists refund {record.refund_id} in the shop "
            "(deleted there): nothing is credited for it"
        )
    record.amount = str(listed.amount)
    raise Parking(unread_refund(order, [listed.refund_id]))


def unread_refund(
    order: Order, refund_ids: list[str], so: str = "its credit invoice", status: bool = False
) -> str:
    """Why refunds the order lists and the shop does not return are not booked (`so`: what
    cannot be booked without them; `status`: the order's status in the shop said first)."""
    listed = {r.refund_id: r for r in order.refunds_unread}
    named = ", ".join(
        f"refund {i} of {fmt(listed[i].amount)}" if i in listed else f"refund {i}"
        for i in refund_ids
    )
    head = f"order {order.number}"
    if status:
        head += f" is '{order.status}' in the shop and"
    return (
        f"{head} lists {named}, but the shop does not return "
        f"{'it' if len(refund_ids) == 1 else 'them'} when the order's refunds are read "
        f"(deleted, or not readable with the shop's API keys), so {so} cannot be booked: "
        f"check the order's refunds in the shop, then `connector retry {order.number}`"
    )


def unread_refunds_reason(order: Order, so: str, status: bool = False) -> str | None:
    """Why an order that cannot be booked without all its refunds is parked, when the shop
    does not return refunds it lists; None when it returns them all."""
    if not order.refunds_unread:
        return None
    return unread_refund(order, [r.refund_id for r in order.refunds_unread], so, status)


class RefundFlow:
    """Takes the write path and the order's reading and booking from the sync engine; knows
    nothing else of it."""

    def __init__(
        self,
        writer: InvoiceWriter,
        shop: Shop,
        order_from: Callable[[dict[str, Any]], Order],
        draft: Callable[[Order], InvoiceDraft | Parked],
        join_day: Callable[[OrderRecord, Order, RefundRecord, PassReport], None],
    ) -> None:
        self.writer = writer
        self.shop = shop
        self.order_from = order_from
        self.draft = draft
        self.store = writer.store
        self.client = writer.client
        self.config = writer.config
        # Summary mode: a refund of an order booked in a day joins the day it is paid out on.
        self.join_day = join_day

    # --- recording -------------------------------------------------------------------------

    def record(self, order_key: str, number: str, refund_ids: tuple[str, ...]) -> int:
        """Record refunds the shop lists on an order; how many were new."""
        new = 0
        for refund_id in refund_ids:
            key = refund_key(order_key, refund_id)
            if self.store.refund(key) is None:
                self.store.save(
                    RefundRecord(key=key, order_key=order_key, refund_id=refund_id, number=number)
                )
                new += 1
        return new

    def wake(self, order_key: str) -> None:
        """The order is booked now: its waiting refunds can be credited."""
        for record in self.store.refunds({RefundState.WAITING}, order_key):
            record.state = RefundState.PENDING.value
            record.park_reason = None
            self.store.save(record)

    def booked_net(self, order_key: str, refunds: tuple[Refund, ...]) -> None:
        """refunds.before_booking = "net": these refunds are lines on the order's invoice."""
        for refund in refunds:
            key = refund_key(order_key, refund.refund_id)
            record = self.store.refund(key) or RefundRecord(
                key=key, order_key=order_key, refund_id=refund.refund_id
            )
            record.state = RefundState.NET.value
            record.amount = str(refund.amount)
            record.refunded_at = to_text(refund.created_at)
            record.park_reason = None
            record.notes = "booked on the order's own invoice (refunds.before_booking = 'net')"
            self.store.save(record)

    def net_amount(self, order_key: str) -> Decimal:
        return sum(
            (parse(r.amount, "amount") for r in self.store.refunds({RefundState.NET}, order_key)),
            ZERO,
        )

    def save_line_map(self, order_key: str, booked: LineMap) -> None:
        data = {
            line_id: [[e.tax_rate_id, e.ledger_account_id, str(e.share)] for e in entries]
            for line_id, entries in booked.items()
        }
        self.store.save(BookedLinesRecord(order_key=order_key, lines=json.dumps(data)))

    # --- processing ------------------------------------------------------------------------

    def process_order(
        self, order_key: str, payload: dict[str, Any] | None, report: PassReport
    ) -> None:
        order_record = self.store.order(order_key)
        refunds = self.store.refunds(OPEN_REFUNDS, order_key)
        if not refunds:
            return
        if order_record is None:
            for refund in refunds:
                self._wait(refund, "the order is unknown here", report)
            return
        if order_record.day and order_record.day_share:
            self._to_days(order_record, payload, refunds, report)
            return
        if not self._original_booked(order_record):
            self._until_booked(order_record, refunds, report)
            return
        try:
            if payload is None:
                payload = self.shop.order(order_record.order_id)
            if payload is None:
                for refund in refunds:
                    self.writer.park(refund, "the order no longer exists in the shop", report)
                return
            order = self.order_from(payload)
        except Exception as exc:  # each refund takes the outcome the order's trouble has
            for refund in refunds:
                self.writer.settle(refund, exc, report)
            return
        for refund in oldest_first(refunds, order):

            def work(r: RefundRecord = refund) -> None:
                self._book(order_record, order, r, report)

            if not self.writer.guarded(refund, report, work):
                break  # in sequence: a later refund never overtakes an unresolved one

    def _until_booked(
        self, order_record: OrderRecord, refunds: list[RefundRecord], report: PassReport
    ) -> None:
        """The order has no final invoice: its refunds wait, said so when a person must act."""
        if order_record.state in (
            OrderState.UNPAID,
            OrderState.PARKED,
            OrderState.FAILED,
            OrderState.BEFORE_START,
        ):
            why = order_record.park_reason or order_record.last_error or order_record.state
            for refund in refunds:
                self._wait(refund, f"order {order_record.number} is not booked: {why}", report)
        # else still on its way: the refund follows once the invoice is final

    def _to_days(
        self,
        order_record: OrderRecord,
        payload: dict[str, Any] | None,
        refunds: list[RefundRecord],
        report: PassReport,
    ) -> None:
        """Refunds of an order in a day: each joins the day it is paid out on."""
        try:
            payload = payload or self.shop.order(order_record.order_id)
            if payload is None:
                raise Parking("the order no longer exists in the shop")
            order = self.order_from(payload)
        except Exception as exc:
            for refund in refunds:
                self.writer.settle(refund, exc, report)
            return
        for refund in oldest_first(refunds, order):
            work = lambda r=refund: self.join_day(order_record, order, r, report)  # noqa: E731
            if not self.writer.guarded(refund, report, work):
                break

    def _original_booked(self, order_record: OrderRecord) -> bool:
        return bool(order_record.invoice_id and order_record.invoice_number) and (
            order_record.state != OrderState.DRAFT
        )

    def _book(
        self, order_record: OrderRecord, order: Order, record: RefundRecord, report: PassReport
    ) -> None:
        refund = shop_refund(order, record)
        record.amount = str(refund.amount)
        record.refunded_at = to_text(refund.created_at)
        if self.writer.external:
            raise Parking(
                "refunds on external sales invoices are not booked automatically; "
                "book the credit in Moneybird by hand"
            )
        original = self.writer.read_invoice(order_record.invoice_id or "")
        if original is None:
            raise Parking(f"invoice {order_record.invoice_number} no longer exists in Moneybird")
        booked = self._line_map(order_record, order)
        credit = book_refund(
            order,
            refund,
            original_of(original.raw),
            booked,
            self.writer.rates(),
            self.config.mappings,
            self.writer.settings,
        )
        if isinstance(credit, Parked):
            if record.invoice_id:
                self.writer.discard_draft(record)
            raise Parking(credit.reason)
        record.reference = credit.reference
        record.notes = "; ".join(credit.notes) or None
        self.store.save(record)

        current: BookedInvoice | None = None
        adopted = False
        if record.invoice_id is None:
            current, adopted = self._find_credit(record, order_record, credit)
        elif record.state != RefundState.OPEN or record.intent in (
            Intent.EDIT_CREDIT,
            Intent.SEND_INVOICE,
        ):
            current = self.writer.read_invoice(record.invoice_id)
            if current is None:  # deleted in Moneybird while still a draft: credit anew
                record.invoice_id = record.intent = None
                record.state = RefundState.PENDING.value
                self.store.save(record)
                raise Retry("the credit draft is gone from Moneybird; made again next pass")
            self.writer.adopt(record, current)
        if record.invoice_id is None:
            self.writer.ensure_open_period(credit.invoice_date, "the credit invoice", record.number)
            current = self._duplicate(record, order_record)
        if record.state == RefundState.DRAFT and current is not None:
            if current.reference != credit.reference:
                current = self._edit(record, current, credit)
            if not self.writer.totals_agree(
                record, current, credit.expected, report, " for the credit invoice"
            ):
                return
            current = self.writer.send(record)
        if record.state != RefundState.OPEN:
            raise Retry(f"credit invoice not finalized (state {record.state})")
        self._pay_out(record, original, credit, current)
        record.state = RefundState.PAID.value
        record.booked_at = utcnow().isoformat()
        record.park_reason = record.last_error = None
        self.store.save(record)
        if adopted:
            report.adopted += 1
            self.writer.decide(
                record,
                report,
                f"already in Moneybird as credit invoice {record.invoice_number} "
                f"(credits {order_record.invoice_number}); adopted, {self._how_paid(record)}",
            )
            return
        report.refunds_booked += 1
        self.writer.decide(
            record,
            report,
            f"credited as {record.invoice_number} (credits {order_record.invoice_number}), "
            f"{self._how_paid(record)}",
        )

    # --- steps -----------------------------------------------------------------------------

    def _line_map(self, order_record: OrderRecord, order: Order) -> LineMap:
        recorded = recorded_line_map(self.store, order_record.key)
        if recorded is not None:
            return recorded
        # Booked before lines were recorded (or the state was rebuilt): today's tables.
        draft = self.draft(order)
        return {} if isinstance(draft, Parked) else line_map(draft)

    def _find_credit(
        self, record: RefundRecord, order_record: OrderRecord, credit: CreditDraft
    ) -> tuple[BookedInvoice | None, bool]:
        """The credit invoice already in Moneybird, if any, and whether it was made elsewhere
        (another install, or before this state was restored) rather than by a lost answer."""
        if record.intent is None:
            self.writer.fresh_documents()
        # Credited by another install, or before this state was restored.
        found = self.writer.known(credit.reference)
        if found is not None and found.credits != order_record.invoice_id:
            # Another sale's credit under the same reference (a second shop, a numbering
            # that started over): not this refund's, and nothing is written on it.
            raise Parking(
                f"Moneybird already holds {found.reference} ({found.described}), which does "
                f"not credit this order's invoice {order_record.invoice_number}: two shops, or "
                "a numbering that started over, share references — give this shop its own "
                "`sync.reference_template`"
            )
        elsewhere = found is not None
        if found is None and record.intent == Intent.DUPLICATE_CREDIT:
            found = self._lost_duplicate(record, order_record)
        if found is not None:
            self.writer.adopt(record, found)
            record.intent = None
            self.store.save(record)
        return found, elsewhere

    def _lost_duplicate(
        self, record: RefundRecord, order_record: OrderRecord
    ) -> BookedInvoice | None:
        """The draft a duplicate_creditinvoice with a lost answer made, if it made one."""
        since = (from_text(record.intent_at) or utcnow()) - timedelta(minutes=5)
        stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        drafts = [
            d
            for d in map(booked, self.client.draft_invoices(order_record.reference or "", stamp))
            if d.credits == order_record.invoice_id
        ]
        drafts.sort(key=lambda d: d.created_at)
        for extra in drafts[1:]:  # a repeated lost attempt: ours, unnumbered, never booked
            self.client.delete_invoice(extra.id)
        return drafts[0] if drafts else None

    def _duplicate(self, record: RefundRecord, order_record: OrderRecord) -> BookedInvoice:
        record.intent_at = utcnow().isoformat()  # what a lost answer's draft is found by
        self.writer.count_create()
        credit = self.writer.write(
            record, Intent.DUPLICATE_CREDIT,
            lambda: booked(self.client.duplicate_credit_invoice(order_record.invoice_id or "")),
            lambda: self._lost_duplicate(record, order_record),
            "credit", f"Moneybird refused to credit invoice {order_record.invoice_number}",
        )  # fmt: skip
        self.writer.adopt(record, credit)
        record.intent = None
        self.store.save(record)
        return credit

    def _edit(
        self, record: RefundRecord, current: BookedInvoice, credit: CreditDraft
    ) -> BookedInvoice:
        """Name the draft after the refund and give it the refunded lines (one PATCH, so the
        reference tells whether it was applied)."""
        invoice_id = record.invoice_id or ""

        def applied() -> BookedInvoice | None:
            updated = self.writer.read_invoice(invoice_id)
            return updated if updated and updated.reference == credit.reference else None

        try:
            updated = self.writer.write(
                record, Intent.EDIT_CREDIT,
                lambda: booked(
                    self.client.update_invoice(invoice_id, credit_edit_body(credit, current.raw))
                ),
                applied, "credit edit", None,
            )  # fmt: skip
        except Rejected as exc:  # our own draft, refused as edited: deleted, not left behind
            self.writer.discard_draft(record)
            raise Parking(f"Moneybird refused the credit invoice: {exc}") from None
        record.intent = None
        self.store.save(record)
        return updated

    def _pay_out(
        self,
        record: RefundRecord,
        original: BookedInvoice,
        credit: CreditDraft,
        current: BookedInvoice | None,
    ) -> None:
        """The refund went out of the payment account; an original never paid in Moneybird is
        settled against its credit invoice instead."""
        if record.payment_id is None and record.intent != Intent.PAY:
            if record.intent == Intent.SETTLE_CREDIT or current is None:
                current = self.writer.read_invoice(record.invoice_id or "")
            if current is not None and current.state == "paid":
                record.payment_id = record.payment_id or "settled"
                record.intent = None
                self.store.save(record)
                return
            unpaid = original.total_unpaid
            never_paid = not original.has_payments  # by the customer, as Moneybird knows
            if original.state in PAYABLE and unpaid > ZERO and never_paid:
                self._settle(record, original, unpaid)
                return
        self.writer.pay(record, credit.payments, current)
        self.store.save(record)

    def _settle(self, record: RefundRecord, original: BookedInvoice, unpaid: Decimal) -> None:
        credit_total = -parse(record.invoice_total or "0", "invoice_total")
        if credit_total > unpaid:
            raise Parking(
                f"invoice {original.number} is unpaid for {unpaid} only, less than "
                f"the credit of {credit_total}; settle credit invoice {record.invoice_number} "
                "by hand"
            )
        invoice_id = record.invoice_id or ""

        def settled() -> BookedInvoice | None:
            after = self.writer.read_invoice(invoice_id)
            return after if after and after.state == "paid" else None

        self.writer.write(
            record, Intent.SETTLE_CREDIT, lambda: self.client.settle_credit_invoice(invoice_id),
            settled, "settlement", "Moneybird refused the settlement",
        )  # fmt: skip
        record.payment_id = f"settled against {original.number}"
        record.intent = None
        self.store.save(record)

    # --- outcomes --------------------------------------------------------------------------

    @staticmethod
    def _how_paid(record: RefundRecord) -> str:
        if record.payment_id and record.payment_id.startswith("settled against"):
            return record.payment_id
        return "paid out"

    def _wait(self, record: RefundRecord, reason: str, report: PassReport) -> None:
        if record.state == RefundState.WAITING and record.park_reason == reason:
            return
        record.state = RefundState.WAITING.value
        record.park_reason = reason
        self.store.save(record)
        report.refunds_waiting += 1
        self.writer.decide(record, report, f"not booked: {reason}")
