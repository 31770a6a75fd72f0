"""Durable state in SQLite (WAL, synchronous=FULL): orders, contacts, watermark, runs.

Every write to Moneybird is preceded by a committed `intent` on the order, so a crash at any
moment leaves a record saying what may have happened and must be checked before writing again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import event, func
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from connector import __version__
from connector.errors import StateError
from connector.private_files import FILE_MODE, private_folder
from connector.redact import scrub

log = logging.getLogger(__name__)


class OrderState(StrEnum):
    PENDING = "pending"  # seen, paid, not booked yet
    UNPAID = "unpaid"  # seen, but the shop has no paid date yet
    DRAFT = "draft"  # draft invoice exists in Moneybird
    OPEN = "open"  # invoice finalized (numbered), payment not registered yet
    PAID = "paid"  # done
    PARKED = "parked"  # needs a person; see park_reason
    FAILED = "failed"  # a passing error; retried on the next pass
    BEFORE_START = "before_start"  # paid before the start point: history, for `import` only
    IN_DAY = "in_day"  # paid; waits in its day's summary document (sync.mode = "summary")


class Intent(StrEnum):
    """The Moneybird write in flight on an order or refund, committed before the request, and
    what a pass that finds it left behind does first (Moneybird decides what happened)."""

    CREATE_INVOICE = "create_invoice"  # find the invoice by reference before creating one
    SEND_INVOICE = "send_invoice"  # read the invoice: finalized, or still a draft to send
    PAY = "pay"  # read the payments; add only those whose transaction id is missing
    PAY_ROUNDING = "pay_rounding"  # the same, for the rounding difference
    DELETE_DRAFT = "delete_draft"  # delete our draft if it is still there, then book anew
    DUPLICATE_CREDIT = "duplicate_credit"  # the credit drafts made since intent_at (one kept)
    EDIT_CREDIT = "edit_credit"  # read the credit draft: its reference says if the edit landed
    SETTLE_CREDIT = "settle_credit"  # read the credit invoice: paid means settled


class Meta(StrEnum):
    """The keys of the state's meta table: every one the connector keeps."""

    START = "start"  # orders paid before this are history, never booked by a pass
    BEFORE_START_COUNT = "orders_before_start"  # the shop's count at the first start
    UNREADABLE = "unreadable_elements"  # the last pass's list elements that named no order
    WATERMARK = "watermark"  # orders changed before this were read
    SHOP_CLOCK = "shop_clock"  # the shop's clock and ours at the last poll: "<shop>|<ours>"
    AUTH_ERROR = "auth_error"  # the last pass's authentication failure, if any
    IMPORT_HEARTBEAT = "import_heartbeat"  # an import holds the pass lock; it beats while busy
    CONFIG_HASH = "config_hash"  # the configuration in force (files' fingerprint)
    CONFIG_LOADED_AT = "config_loaded_at"
    CONFIG_PATH = "config_path"
    CONFIG_ERROR = "config_error"  # an edit that did not load, kept from taking effect
    CONFIG_CHECK = "config_check"  # the last `config check`: when, and each finding (JSON)
    SHOP_CAPABILITIES = "shop_capabilities"  # what the shop supports, and when found (JSON)
    # Why the last pass's read of the order list stopped short ("" when it read to the end).
    READ_INCOMPLETE = "read_incomplete"
    # The last pass's payout trouble: a setup to correct or a provider not read ("" when none).
    PAYOUTS_PROBLEM = "payouts_problem"
    # The providers' financial accounts as last resolved (JSON list): a day's document leaves
    # their part to the payouts even in a pass whose [payouts] setup cannot be read.
    PAYOUT_ACCOUNTS = "payout_accounts"
    PAYOUT_SETUP = "payout_setup"  # [payouts] as Moneybird ids, with what it was read from
    BANK_SEARCHED_AT = "bank_searched_at"  # when the bank account was last looked at
    # The release that last opened the file, upgrading its format (absent: written before
    # releases were numbered, 0.1.0), so a later upgrade can tell what it is reading.
    VERSION = "version"


DONE = {OrderState.PAID}
WAITING = {OrderState.PARKED, OrderState.UNPAID, OrderState.BEFORE_START}


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_text(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def from_text(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class OrderRecord(SQLModel, table=True):
    __tablename__ = "orders"
    key: str = Field(primary_key=True)  # "<shop>:<order id>"
    shop: str
    order_id: str
    number: str = ""
    state: str = OrderState.PENDING.value
    intent: str | None = None  # the Moneybird write in flight, if any
    reference: str | None = None
    contact_id: str | None = None
    invoice_id: str | None = None
    invoice_number: str | None = None
    payment_id: str | None = None
    rounding_payment_id: str | None = None
    total: str | None = None  # shop total as text (Decimal)
    paid_at: str | None = None  # UTC ISO
    currency: str | None = None
    invoice_total: str | None = None
    park_reason: str | None = None
    last_error: str | None = None
    notes: str | None = None
    attempts: int = 0
    modified_at: str | None = None  # shop's modification time, UTC ISO
    first_seen: str = Field(default_factory=lambda: utcnow().isoformat())
    updated_at: str = Field(default_factory=lambda: utcnow().isoformat())
    booked_at: str | None = None
    day: str | None = None  # summary mode: the day (YYYY-MM-DD) whose document books it
    day_share: str | None = None  # its part of that day (booking.day.DayShare, JSON)
    # Summary mode: the shop's modified stamp of a change seen after its day's document was
    # made; kept until the change is compared (and booked as a correction if amounts moved).
    changed: str | None = None
    # The shop's payment transaction ids (a Mollie `tr_…`), comma-separated: how a provider's
    # payout finds the order a payment or refund belongs to.
    transaction_ids: str | None = None


class DayState(StrEnum):
    CLOSED = "closed"  # the day has settled: its orders are fixed, its document still to make
    OPEN = "open"  # the document exists in Moneybird; payments still to register
    PAID = "paid"  # done: every order in it is booked
    FAILED = "failed"  # a passing error; retried on the next pass
    PARKED = "parked"  # needs a person


class DayRecord(SQLModel, table=True):
    """A day's summary document (sync.mode = "summary"): made when the day has settled, with
    the orders it books fixed then. `part` leaves room for a day in more than one document.
    Field names match OrderRecord's where the write steps are shared (intent, invoice,
    payments)."""

    __tablename__ = "days"
    key: str = Field(primary_key=True)  # "<shop>:<YYYY-MM-DD>:<part>"
    shop: str
    day: str = Field(index=True)  # YYYY-MM-DD in sync.timezone
    part: int = 1
    order_keys: str = "[]"  # JSON: the orders this document books
    number: str = ""  # the document's reference, for people and logs
    state: str = DayState.CLOSED.value
    intent: str | None = None
    reference: str | None = None
    contact_id: str | None = None
    invoice_id: str | None = None
    invoice_number: str | None = None
    invoice_total: str | None = None
    payment_id: str | None = None
    rounding_payment_id: str | None = None
    # The financial accounts whose part of the day is left to the providers' payouts (JSON
    # list): their movements pay the document, so the connector registers no payment there.
    payout_accounts: str | None = None
    orders: int = 0
    total: str | None = None
    park_reason: str | None = None
    last_error: str | None = None
    notes: str | None = None
    attempts: int = 0
    updated_at: str = Field(default_factory=lambda: utcnow().isoformat())
    booked_at: str | None = None


class RefundState(StrEnum):
    PENDING = "pending"  # seen; the credit invoice is still to be made
    WAITING = "waiting"  # the order itself is not booked: reported, not booked against nothing
    DRAFT = "draft"  # credit invoice drafted in Moneybird
    OPEN = "open"  # credit invoice finalized, refund payment not registered yet
    PAID = "paid"  # done: credited and paid out (or settled against the original)
    PARKED = "parked"
    FAILED = "failed"
    NET = "net"  # booked on the order's own invoice (refunds.before_booking = "net")
    IN_DAY = "in_day"  # summary mode: waits in the document of the day it was paid out


# Refunds a pass carries on with (the others are done, or wait for a person or their order).
OPEN_REFUNDS = {RefundState.PENDING, RefundState.DRAFT, RefundState.OPEN, RefundState.FAILED}


class RefundRecord(SQLModel, table=True):
    """One shop refund, booked once as a credit invoice linked to the order's invoice. Field
    names match OrderRecord's where the invoice steps are shared (send, pay)."""

    __tablename__ = "refunds"
    key: str = Field(primary_key=True)  # "<order key>:<refund id>"
    order_key: str = Field(index=True)
    refund_id: str
    number: str = ""  # the order's number, for people
    state: str = RefundState.PENDING.value
    intent: str | None = None
    intent_at: str | None = None  # when the intent was recorded (finds a lost duplicate)
    reference: str | None = None
    amount: str | None = None
    refunded_at: str | None = None
    invoice_id: str | None = None  # the credit invoice
    invoice_number: str | None = None
    invoice_total: str | None = None
    payment_id: str | None = None
    rounding_payment_id: str | None = None
    park_reason: str | None = None
    last_error: str | None = None
    notes: str | None = None
    attempts: int = 0
    first_seen: str = Field(default_factory=lambda: utcnow().isoformat())
    updated_at: str = Field(default_factory=lambda: utcnow().isoformat())
    booked_at: str | None = None
    day: str | None = None  # summary mode: the day (YYYY-MM-DD) whose document books it
    day_share: str | None = None  # its (negative) part of that day (booking.day.DayShare)


class PayoutState(StrEnum):
    """Where a provider's payout is (docs/payouts.md)."""

    WAITING = "waiting"  # a part's order or refund is not booked yet; completes when it is
    REFUSED = "refused"  # the provider's figures cannot be booked as they are (reason)
    PARKED = "parked"  # needs a person; see reason
    FAILED = "failed"  # a passing error; retried on the next pass
    BOOKED = "booked"  # its statement is on the provider's account; parts still to link
    LINKED = "linked"  # every part linked; the bank line is awaited
    DONE = "done"  # the bank line is linked too


# Payouts a pass carries on with; done, refused and parked wait for nothing it can do.
OPEN_PAYOUTS = {PayoutState.WAITING, PayoutState.FAILED, PayoutState.BOOKED, PayoutState.LINKED}


class PayoutIntent(StrEnum):
    """The Moneybird write in flight on a payout, committed before the request."""

    STATEMENT = "statement"  # find the mutations by the provider's ids before posting again
    LINK = "link"  # read the mutation: linked already, or still to link
    BANK = "bank"  # read the bank line: linked already, or still to link


class PayoutRecord(SQLModel, table=True):
    """One payout of a payment provider, booked once as a statement on the provider's
    financial account in Moneybird, its parts linked, and the bank line linked."""

    __tablename__ = "payouts"
    key: str = Field(primary_key=True)  # "<provider>:<payout id>"
    provider: str = Field(index=True)
    payout_id: str
    reference: str = ""  # what the bank line shows
    paid_out: str | None = None  # UTC ISO
    net: str | None = None  # what reached the bank (Decimal as text)
    figures: str | None = None  # gross, refunds, chargebacks, fees, fee VAT, parts (JSON)
    state: str = PayoutState.WAITING.value
    intent: str | None = None
    intent_at: str | None = None
    statement_id: str | None = None
    lines: str | None = None  # the statement as posted, each line's mutation and links (JSON)
    bank_mutation_id: str | None = None
    reason: str | None = None  # why it waits, is refused or parked
    notes: str | None = None
    last_error: str | None = None
    attempts: int = 0
    first_seen: str = Field(default_factory=lambda: utcnow().isoformat())
    updated_at: str = Field(default_factory=lambda: utcnow().isoformat())
    booked_at: str | None = None
    done_at: str | None = None


class CorrectionRecord(SQLModel, table=True):
    """Summary mode: an order changed in the shop after its day's document was made. The
    difference is booked in the document of the day the change was seen (a closed day is never
    edited); `state` takes OrderState's words (in_day, paid, parked)."""

    __tablename__ = "corrections"
    key: str = Field(primary_key=True)  # "<order key>:C<n>"
    order_key: str = Field(index=True)
    number: str = ""  # the order's number, for people
    reference: str = ""  # e.g. WC-1001-C1, listed on the day's document
    state: str = OrderState.IN_DAY.value
    amount: str | None = None  # what the change adds to the order's total (negative: less)
    seen_at: str = Field(default_factory=lambda: utcnow().isoformat())
    day: str | None = Field(default=None, index=True)  # the day whose document books it
    day_share: str | None = None  # the difference as a part of that day (booking.day.DayShare)
    invoice_id: str | None = None  # the day's document
    invoice_number: str | None = None
    park_reason: str | None = None
    last_error: str | None = None
    notes: str | None = None
    first_seen: str = Field(default_factory=lambda: utcnow().isoformat())
    updated_at: str = Field(default_factory=lambda: utcnow().isoformat())
    booked_at: str | None = None


class BookedLinesRecord(SQLModel, table=True):
    """Which Moneybird tax rate and ledger each shop line was booked at, as JSON, so a later
    refund of a line goes back exactly where the line went, whatever the tables say then."""

    __tablename__ = "booked_lines"
    order_key: str = Field(primary_key=True)
    lines: str


class ContactRecord(SQLModel, table=True):
    __tablename__ = "contacts"
    email_key: str = Field(primary_key=True)  # normalised email, or a stand-in when missing
    customer_id: str
    contact_id: str | None = None  # None while the create is in flight or unresolved
    creating: bool = False  # intent: a create was sent and its outcome is not yet known
    created_here: bool = False
    updated_at: str = Field(default_factory=lambda: utcnow().isoformat())


class ContactFieldsRecord(SQLModel, table=True):
    """The contact fields last booked for a customer (JSON): a later order that differs from
    them updates the Moneybird contact, only in what changed."""

    __tablename__ = "contact_fields"
    email_key: str = Field(primary_key=True)
    fields: str


class ContactVersionRecord(SQLModel, table=True):
    """The version of each Moneybird contact last read, so a refresh fetches only changes."""

    __tablename__ = "contact_versions"
    contact_id: str = Field(primary_key=True)
    version: int


class VatCheckRecord(SQLModel, table=True):
    """A VIES answer about a VAT number (valid or not), kept as the proof of the check and so
    a returning business customer is not asked about again every order."""

    __tablename__ = "vat_checks"
    number: str = Field(primary_key=True)
    status: str  # valid, invalid
    checked_at: str
    consultation: str = ""


class MetaRecord(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class RunRecord(SQLModel, table=True):
    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    started_at: str
    finished_at: str | None = None
    outcome: str = "running"  # running, ok, error
    seen: int = 0
    booked: int = 0
    parked: int = 0
    failed: int = 0
    adopted: int = 0  # found already in Moneybird, not booked by this run
    requests: int = 0
    error: str | None = None


class InvoiceRefRecord(SQLModel, table=True):
    """Invoices found in Moneybird by reference (made by another install, or before this
    state was restored): never create one of these again, adopt it."""

    __tablename__ = "moneybird_invoices"
    reference: str = Field(primary_key=True)
    invoice_id: str


class SeenDocumentRecord(SQLModel, table=True):
    """Every Moneybird invoice this state has read or made, so learning what is new there
    reads only the others (a draft is read again: it may still change)."""

    __tablename__ = "moneybird_seen"
    id: str = Field(primary_key=True)
    draft: bool = False


class AlertRecord(SQLModel, table=True):
    __tablename__ = "alerts"
    key: str = Field(primary_key=True)  # "auth", "stalled", "order:<key>"
    message: str
    opened_at: str
    announced: bool = False  # the "problem" message was delivered
    cleared: bool = False  # solved; the "resolved" message is still to be delivered


class ReconciliationRecord(SQLModel, table=True):
    """The last reconciliation of a month: its outcome, and each finding (kept for alerts,
    which tell a finding once and its clearing once)."""

    __tablename__ = "reconciliations"
    month: str = Field(primary_key=True)  # "YYYY-MM"
    reconciled_at: str
    outcome: str  # agrees, differences, incomplete
    summary: str
    findings: str = "[]"  # JSON list of [key, message]
    report: str = "{}"  # JSON: the whole reconciliation, and its CSV rows, for the dashboard


class PassLock:
    """One pass at a time per state file, across processes (scheduler, manual sync); also
    held while a new state's tables are made, so two first passes never make them twice."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.path = state_path.with_suffix(state_path.suffix + ".lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        try:
            self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            what = f"cannot open the pass lock {self.path}"
            raise state_error(what, exc, self.state_path) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def wait(self, seconds: float) -> bool:
        """Acquire, waiting up to `seconds` for whoever holds it; False if it stayed held."""
        deadline = time.monotonic() + seconds
        while not self.acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


class Store:
    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = path
        try:
            private_folder(path.parent)
        except OSError as exc:
            raise state_error(f"cannot create state folder {path.parent}", exc, path) from None
        _keep_private(path)
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": busy_timeout})
        event.listen(self.engine, "connect", _pragmas(busy_timeout))
        try:
            self._make_tables_when_free(busy_timeout)
        except DatabaseError as exc:
            self.engine.dispose()
            raise state_error(f"the state file {path} cannot be used", exc, path) from None
        except StateError:
            self.engine.dispose()
            raise
        self._record_version()

    def close(self) -> None:
        self.engine.dispose()

    def _make_tables_when_free(self, wait: float) -> None:
        """`_make_tables`, again while another process is making a new file's tables: SQLite
        answers "locked" at once (its busy wait does not cover a new file's first schema and
        WAL set-up), so this waits for it, up to `wait`."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self._make_tables(wait)
                return
            except OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _make_tables(self, wait: float) -> None:
        """Make the tables and columns missing, holding the pass lock: two first passes on a
        new state would otherwise both find no tables and both make them (the second failing
        on "table already exists"). A state that has them all takes no lock, so `status`
        opens it beside a running pass. A lock held longer than `wait` is held by a pass (an
        older version's, with a newer `status` beside it): the columns are added without it."""
        if self._tables_complete():
            return
        lock = PassLock(self.path)
        held = lock.wait(wait)
        try:
            # Made meanwhile by whoever held the lock: nothing to write (a write here could
            # meet that process's next write and be refused at once).
            if not self._tables_complete():
                SQLModel.metadata.create_all(self.engine)
                self._add_new_columns()
        finally:
            if held:
                lock.release()

    def _tables_complete(self) -> bool:
        with self.engine.connect() as connection:
            for table in SQLModel.metadata.sorted_tables:
                rows = connection.exec_driver_sql(f'PRAGMA table_info("{table.name}")')
                present = {row[1] for row in rows}
                if any(column.name not in present for column in table.columns):
                    return False
        return True

    def _add_new_columns(self) -> None:
        """A state file from an earlier version lacks columns added since: add them (each
        new column has a default), so an upgrade keeps the state and its history."""
        with self.engine.begin() as connection:
            for table in SQLModel.metadata.sorted_tables:
                rows = connection.exec_driver_sql(f'PRAGMA table_info("{table.name}")')
                present = {row[1] for row in rows}
                for column in table.columns:
                    if column.name in present:
                        continue
                    kind = column.type.compile(dialect=self.engine.dialect)
                    default = getattr(column.default, "arg", None)
                    literal = "NULL" if default is None or callable(default) else repr(default)
                    connection.exec_driver_sql(
                        f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind} '
                        f"DEFAULT {literal}"
                    )

    def _record_version(self) -> None:
        """Say which release the file is now in the format of; written only when it changes.
        A file that cannot be written (a copy opened read-only) is still read."""
        if self.get_meta(Meta.VERSION) != __version__:
            with contextlib.suppress(DatabaseError, StateError), self.session() as s:
                s.merge(MetaRecord(key=Meta.VERSION, value=__version__))
                s.commit()

    def start_of_earlier_version(self) -> datetime | None:
        """Where the books of a state without a start point begin: the earlier of its
        watermark and the first paid date it recorded (history aside); None for a new state.

        Versions before start points (up to 12db893, 2026-11-22) booked every paid order they
        listed, and their first pass listed the whole shop: their books begin at their first
        order, and what was paid after their last pass is still due. The upgrade's moment
        would make those orders history. An earlier start than needed books nothing twice and
        reads no more of the shop: an order already recorded is never judged by the start, and
        the poll reads from the watermark."""
        with self.session() as s:
            query = select(func.min(OrderRecord.paid_at)).where(
                col(OrderRecord.paid_at).is_not(None),
                col(OrderRecord.paid_at) >= "2000",  # no shop's order is older; junk never
                OrderRecord.state != OrderState.BEFORE_START.value,
            )
            first_paid = from_text(s.exec(query).one())
        found = [m for m in (first_paid, from_text(self.get_meta(Meta.WATERMARK))) if m]
        return min(found, default=None)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session; whatever the database says goes wrong in it (a damaged page read, a
        write refused) is a StateError saying what to do, never a traceback."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except DatabaseError as exc:
            what = f"the state file {self.path} cannot be used"
            raise state_error(what, exc, self.path) from None

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A committed write, or StateError: with the state locked, full or read-only,
        nothing may be written to Moneybird either."""
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                yield s
                s.commit()
        except DatabaseError as exc:
            raise state_error(f"cannot write the state file {self.path}", exc, self.path) from None

    # --- orders ----------------------------------------------------------------------------

    def order(self, key: str) -> OrderRecord | None:
        with self.session() as s:
            return s.get(OrderRecord, key)

    def save(self, record: SQLModel) -> None:
        """Commit one record now: callers rely on it being on disk before the next request.
        No secret is ever stored: every text is scrubbed of them on the way in (a shop's
        error page may echo the request, keys and all)."""
        if isinstance(
            record,
            (OrderRecord, ContactRecord, RefundRecord, DayRecord, CorrectionRecord, PayoutRecord),
        ):
            record.updated_at = utcnow().isoformat()
        for name, value in list(record.__dict__.items()):
            if isinstance(value, str) and not name.startswith("_"):
                clean = scrub(value)
                if clean != value:
                    setattr(record, name, clean)
        with self._writing() as s:
            s.merge(record)

    # --- invoices found in Moneybird -------------------------------------------------------

    def invoice_ref(self, reference: str) -> str | None:
        with self.session() as s:
            row = s.get(InvoiceRefRecord, reference)
            return row.invoice_id if row else None

    def save_invoice_refs(self, refs: dict[str, str]) -> None:
        with self._writing() as s:
            for reference, invoice_id in refs.items():
                s.merge(InvoiceRefRecord(reference=reference, invoice_id=invoice_id))

    def invoices_recorded(self, invoice_ids: set[str]) -> set[str]:
        """Which of these invoices an order or refund here already names."""
        found: set[str] = set()
        with self.session() as s:
            for column in (col(OrderRecord.invoice_id), col(RefundRecord.invoice_id)):
                found |= {i for i in s.exec(select(column).where(column.in_(invoice_ids))) if i}
        return found

    def seen_documents(self) -> dict[str, bool]:
        """Invoice id -> whether it was a draft when last read."""
        with self.session() as s:
            return {r.id: r.draft for r in s.exec(select(SeenDocumentRecord))}

    def mark_seen(self, documents: dict[str, bool]) -> None:
        with self._writing() as s:
            for invoice_id, draft in documents.items():
                s.merge(SeenDocumentRecord(id=invoice_id, draft=draft))

    def orders(self, states: set[OrderState] | None = None) -> list[OrderRecord]:
        with self.session() as s:
            query = select(OrderRecord)
            if states:
                query = query.where(col(OrderRecord.state).in_([st.value for st in states]))
            return list(s.exec(query.order_by(OrderRecord.first_seen, OrderRecord.key)))

    # --- summary days ----------------------------------------------------------------------

    def day(self, key: str) -> DayRecord | None:
        with self.session() as s:
            return s.get(DayRecord, key)

    def days(self, states: set[DayState] | None = None) -> list[DayRecord]:
        with self.session() as s:
            query = select(DayRecord)
            if states:
                query = query.where(col(DayRecord.state).in_([st.value for st in states]))
            return list(s.exec(query.order_by(DayRecord.day, DayRecord.key)))

    def orders_in_day(self, shop: str, day: str) -> list[OrderRecord]:
        """The orders waiting for this day's documents (or booked by them)."""
        with self.session() as s:
            query = select(OrderRecord).where(OrderRecord.shop == shop, OrderRecord.day == day)
            return list(s.exec(query.order_by(OrderRecord.key)))

    def waiting_days(self, shop: str | None = None) -> list[str]:
        """The days with orders or refunds waiting in them (of one shop, or all), oldest
        first."""
        with self.session() as s:
            orders = select(OrderRecord.day).where(OrderRecord.state == OrderState.IN_DAY.value)
            refunds = select(RefundRecord.day).where(RefundRecord.state == RefundState.IN_DAY.value)
            changes = select(CorrectionRecord.day).where(
                CorrectionRecord.state == OrderState.IN_DAY.value
            )
            if shop is not None:
                orders = orders.where(OrderRecord.shop == shop)
                refunds = refunds.where(col(RefundRecord.order_key).startswith(f"{shop}:"))
                changes = changes.where(col(CorrectionRecord.order_key).startswith(f"{shop}:"))
            days = set(s.exec(orders.distinct())) | set(s.exec(refunds.distinct()))
            days |= set(s.exec(changes.distinct()))
            return sorted(day for day in days if day)

    def corrections(
        self, order_key: str | None = None, shop: str | None = None, day: str | None = None
    ) -> list[CorrectionRecord]:
        """Corrections of one order, or those in one day of a shop, oldest first."""
        with self.session() as s:
            query = select(CorrectionRecord)
            if order_key is not None:
                query = query.where(CorrectionRecord.order_key == order_key)
            if shop is not None:
                query = query.where(col(CorrectionRecord.order_key).startswith(f"{shop}:"))
            if day is not None:
                query = query.where(CorrectionRecord.day == day)
            return list(s.exec(query.order_by(CorrectionRecord.seen_at, CorrectionRecord.key)))

    def correction(self, key: str) -> CorrectionRecord | None:
        with self.session() as s:
            return s.get(CorrectionRecord, key)

    def refunds_in_day(self, shop: str, day: str) -> list[RefundRecord]:
        with self.session() as s:
            query = select(RefundRecord).where(
                col(RefundRecord.order_key).startswith(f"{shop}:"), RefundRecord.day == day
            )
            return list(s.exec(query.order_by(RefundRecord.key)))

    def day_closed(self, shop: str, day: str) -> bool:
        """The day's documents are fixed: an order seen now joins a later day."""
        with self.session() as s:
            query = select(DayRecord).where(DayRecord.shop == shop, DayRecord.day == day)
            return s.exec(query).first() is not None

    def orders_by_keys(self, keys: list[str]) -> dict[str, OrderRecord]:
        """Many orders in one query (a page of them), by key; those not here are left out."""
        with self.session() as s:
            found = s.exec(select(OrderRecord).where(col(OrderRecord.key).in_(keys)))
            return {record.key: record for record in found}

    def contacts_known(self, email_keys: list[str]) -> set[str]:
        """Which of these customers the state has a contact for, in one query."""
        with self.session() as s:
            query = select(ContactRecord.email_key).where(
                col(ContactRecord.email_key).in_(email_keys)
            )
            return set(s.exec(query))

    def orders_paid_between(self, start: str, end: str) -> list[OrderRecord]:
        """Orders paid in [start, end) (UTC ISO text, as paid_at is kept)."""
        with self.session() as s:
            query = select(OrderRecord).where(
                col(OrderRecord.paid_at) >= start, col(OrderRecord.paid_at) < end
            )
            return list(s.exec(query.order_by(OrderRecord.paid_at, OrderRecord.key)))

    def refunds_made_between(self, start: str, end: str) -> list[RefundRecord]:
        with self.session() as s:
            query = select(RefundRecord).where(
                col(RefundRecord.refunded_at) >= start, col(RefundRecord.refunded_at) < end
            )
            return list(s.exec(query.order_by(RefundRecord.refunded_at, RefundRecord.key)))

    def known_documents(self) -> dict[str, tuple[str, str | None]]:
        """Every document the connector booked, by its reference and by its id: the order's
        number and when the order was paid (or the refund made)."""
        found: dict[str, tuple[str, str | None]] = {}
        with self.session() as s:
            for order in s.exec(
                select(OrderRecord).where(col(OrderRecord.invoice_id).is_not(None))
            ):
                for name in (order.reference, order.invoice_id):
                    if name:
                        found[name] = (order.number, order.paid_at)
            for refund in s.exec(
                select(RefundRecord).where(col(RefundRecord.invoice_id).is_not(None))
            ):
                for name in (refund.reference, refund.invoice_id):
                    if name:
                        found[name] = (refund.number, refund.refunded_at)
        return found

    def changed_after_day(self) -> list[OrderRecord]:
        """Orders changed in the shop after their day's document was made, not compared yet."""
        with self.session() as s:
            query = select(OrderRecord).where(col(OrderRecord.changed).is_not(None))
            return list(s.exec(query.order_by(OrderRecord.key)))

    def unfinished(self) -> list[OrderRecord]:
        """Orders a pass must carry on with even if the shop does not list them again."""
        return self.orders(
            {OrderState.PENDING, OrderState.DRAFT, OrderState.OPEN, OrderState.FAILED}
        )

    def requeue(self, which: str | None = None) -> list[OrderRecord]:
        """Put parked and failed orders (or the one named by number, id or key) back in line."""
        chosen = [
            r
            for r in self.orders({OrderState.PARKED, OrderState.FAILED})
            if which is None or which in (r.number, r.order_id, r.key)
        ]
        for record in chosen:
            record.state = OrderState.PENDING.value
            record.park_reason = record.last_error = None
            record.attempts = 0
            self.save(record)
        return chosen

    def counts(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.exec(select(OrderRecord.state, func.count()).group_by(OrderRecord.state))
            return {state: count for state, count in rows}

    # --- refunds ---------------------------------------------------------------------------

    def refund(self, key: str) -> RefundRecord | None:
        with self.session() as s:
            return s.get(RefundRecord, key)

    def refunds(
        self, states: set[RefundState] | None = None, order_key: str | None = None
    ) -> list[RefundRecord]:
        with self.session() as s:
            query = select(RefundRecord)
            if states:
                query = query.where(col(RefundRecord.state).in_([st.value for st in states]))
            if order_key is not None:
                query = query.where(RefundRecord.order_key == order_key)
            order_by = (RefundRecord.refunded_at, RefundRecord.first_seen, RefundRecord.key)
            return list(s.exec(query.order_by(*order_by)))

    def orders_with_open_refunds(self) -> list[str]:
        keys = [r.order_key for r in self.refunds(OPEN_REFUNDS)]
        return list(dict.fromkeys(keys))

    def refund_counts(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.exec(select(RefundRecord.state, func.count()).group_by(RefundRecord.state))
            return {state: count for state, count in rows}

    def requeue_refunds(self, which: str | None = None) -> list[RefundRecord]:
        chosen = [
            r
            for r in self.refunds({RefundState.PARKED, RefundState.FAILED, RefundState.WAITING})
            if which is None or which in (r.number, r.refund_id, r.key, r.order_key)
        ]
        for record in chosen:
            record.state = RefundState.PENDING.value
            record.park_reason = record.last_error = None
            record.attempts = 0
            self.save(record)
        return chosen

    def payout(self, key: str) -> PayoutRecord | None:
        with self.session() as s:
            return s.get(PayoutRecord, key)

    def payouts(
        self, states: set[PayoutState] | None = None, provider: str | None = None
    ) -> list[PayoutRecord]:
        """Payouts oldest first (by the date they were paid out)."""
        with self.session() as s:
            q = select(PayoutRecord)
            if states is not None:
                q = q.where(col(PayoutRecord.state).in_([x.value for x in states]))
            if provider is not None:
                q = q.where(PayoutRecord.provider == provider)
            return list(s.exec(q.order_by(col(PayoutRecord.paid_out), col(PayoutRecord.key))))

    def orders_by_transaction(self, shop: str, transaction_id: str) -> list[OrderRecord]:
        """The shop's orders paid by this payment transaction (a provider's payment id)."""
        with self.session() as s:
            q = select(OrderRecord).where(
                OrderRecord.shop == shop,
                col(OrderRecord.transaction_ids).contains(transaction_id),
            )
            rows = list(s.exec(q))
        return [r for r in rows if transaction_id in (r.transaction_ids or "").split(",")]

    def day_of(self, shop: str, day: str, key: str) -> DayRecord | None:
        """The day's document that books this order (or refund) key."""
        with self.session() as s:
            q = select(DayRecord).where(DayRecord.shop == shop, DayRecord.day == day)
            rows = list(s.exec(q))
        return next((r for r in rows if key in json.loads(r.order_keys or "[]")), None)

    def orders_by_number(self, shop: str, number: str) -> list[OrderRecord]:
        with self.session() as s:
            q = select(OrderRecord).where(OrderRecord.shop == shop, OrderRecord.number == number)
            return list(s.exec(q))

    def requeue_payouts(self, which: str | None = None) -> list[PayoutRecord]:
        """Parked, refused or failed payouts (all, or the one with this payout id) back in
        line: one with its statement posted carries on linking (Moneybird's mutation says what
        a person linked by hand), one without is booked anew when its provider lists it next.
        One waiting for its bank line is looked for at the next pass (a person linked it?)."""
        stuck = {PayoutState.PARKED, PayoutState.REFUSED, PayoutState.FAILED, PayoutState.LINKED}
        chosen = [r for r in self.payouts(stuck) if which is None or which in (r.payout_id, r.key)]
        for record in chosen:
            if record.state != PayoutState.LINKED:
                record.state = (
                    PayoutState.BOOKED if record.statement_id else PayoutState.WAITING
                ).value
            record.reason = record.last_error = None
            self.save(record)
        return chosen

    def payout_counts(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.exec(select(PayoutRecord.state, func.count()).group_by(PayoutRecord.state))
            return {state: n for state, n in rows}

    def booked_lines(self, order_key: str) -> str | None:
        with self.session() as s:
            row = s.get(BookedLinesRecord, order_key)
            return row.lines if row else None

    # --- contacts --------------------------------------------------------------------------

    def contact(self, email_key: str) -> ContactRecord | None:
        with self.session() as s:
            return s.get(ContactRecord, email_key)

    def contact_fields(self, email_key: str) -> str | None:
        with self.session() as s:
            row = s.get(ContactFieldsRecord, email_key)
            return row.fields if row else None

    def contact_versions(self) -> dict[str, int]:
        with self.session() as s:
            return {r.contact_id: r.version for r in s.exec(select(ContactVersionRecord))}

    def save_contact_versions(self, versions: dict[str, int]) -> None:
        with self._writing() as s:
            for contact_id, version in versions.items():
                s.merge(ContactVersionRecord(contact_id=contact_id, version=version))

    def contact_count(self) -> int:
        with self.session() as s:
            return int(s.exec(select(func.count()).select_from(ContactRecord)).one())

    def vat_check(self, number: str) -> VatCheckRecord | None:
        with self.session() as s:
            return s.get(VatCheckRecord, number)

    # --- meta and runs ---------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaRecord, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.save(MetaRecord(key=key, value=value))

    def save_reconciliation(
        self,
        month: str,
        at: datetime,
        outcome: str,
        summary: str,
        findings: list[tuple[str, str]],
        report: dict[str, Any] | None = None,
    ) -> None:
        self.save(
            ReconciliationRecord(
                month=month,
                reconciled_at=to_text(at) or "",
                outcome=outcome,
                summary=summary,
                findings=json.dumps(findings),
                report=json.dumps(report or {}),
            )
        )

    def reconciliation(self, month: str) -> ReconciliationRecord | None:
        with self.session() as s:
            return s.get(ReconciliationRecord, month)

    def reconciliations(self) -> list[ReconciliationRecord]:
        """Every month reconciled, the most recently reconciled first."""
        with self.session() as s:
            query = select(ReconciliationRecord)
            return list(s.exec(query.order_by(col(ReconciliationRecord.reconciled_at).desc())))

    def close_dead_runs(self) -> None:
        """Runs still marked running while the caller holds the pass lock: their process died
        (killed, power lost) before it could say how they ended."""
        with self._writing() as s:
            for run in s.exec(select(RunRecord).where(RunRecord.outcome == "running")):
                run.outcome = "interrupted"
                run.error = run.error or "the process ended during this run (killed or lost power)"
                s.add(run)

    def settle_dead_runs(self) -> None:
        """When no pass holds the lock, runs still marked running have died: say so (for
        `status` and `health`, which run beside the passes)."""
        lock = PassLock(self.path)
        try:
            if lock.acquire():
                try:
                    self.close_dead_runs()
                finally:
                    lock.release()
        except StateError:
            pass  # they only read: a state that cannot be written is shown as it stands

    def start_run(self) -> RunRecord:
        run = RunRecord(started_at=utcnow().isoformat())
        with self._writing() as s:
            s.add(run)
        return run  # the insert gave it its id

    def runs(self, limit: int = 10) -> list[RunRecord]:
        with self.session() as s:
            query = select(RunRecord).order_by(col(RunRecord.id).desc()).limit(limit)
            return list(s.exec(query))


# SQLite's primary result codes (https://sqlite.org/rescode.html) for each kind of trouble, and
# the words its messages use, for an error that carries no code.
_FULL = ({13}, ("disk is full",))
_NOT_WRITABLE = ({3, 8, 14, 23}, ("readonly", "read-only", "permission denied", "unable to open"))
_DAMAGED = ({11, 26}, ("malformed", "not a database", "corrupt"))
_IN_USE = ({5, 6}, ("locked", "busy"))
_ERRNO = {
    errno.ENOSPC: _FULL, errno.EDQUOT: _FULL,
    errno.EACCES: _NOT_WRITABLE, errno.EPERM: _NOT_WRITABLE, errno.EROFS: _NOT_WRITABLE,
    # the state folder cannot be made: a file is where it or a folder above it would be
    errno.EEXIST: _NOT_WRITABLE, errno.ENOTDIR: _NOT_WRITABLE,
}  # fmt: skip


SIBLINGS = ("-wal", "-shm", "-journal", ".lock")  # SQLite's files beside it, and the pass lock


def _keep_private(path: Path) -> None:
    """The state holds customers' names and addresses: readable by its owner alone. A new
    file is made 0600 before SQLite opens it (SQLite gives its -wal, -shm and -journal the
    file's own mode); a looser one, made by an earlier version or copied in, is tightened."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise state_error(f"cannot create the state file {path}", exc, path) from None
    else:
        try:
            os.fchmod(fd, FILE_MODE)  # whatever the umask
        finally:
            os.close(fd)
        return
    for each in (path, *(path.with_name(path.name + s) for s in SIBLINGS)):
        try:
            mode = stat.S_IMODE(each.stat().st_mode)
            if mode & 0o077:
                os.chmod(each, mode & 0o700)
        except FileNotFoundError:
            continue
        except OSError as exc:  # another user's file: said, and it is still used
            log.warning("%s is readable by others and cannot be made private: %s", each, exc)
            continue
        if mode & 0o077:
            log.warning(
                "%s was readable by others (%04o); it is now private to its owner (%04o)",
                each, mode, mode & 0o700,
            )  # fmt: skip


def state_error(what: str, exc: BaseException, path: Path) -> StateError:
    """One line: what failed on the state file at `path`, why (SQLite's or the system's
    words), and the fix for that kind of trouble. A full disk, a file or folder that may not
    be written, and a damaged file each have their own: telling someone whose file is
    damaged to make its folder writable sends them the wrong way."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, OSError) and cause.strerror:
        reason = cause.strerror
    else:
        reason = str(cause).strip() or type(cause).__name__
    return StateError(f"{what} ({reason}). Fix: {_fix(cause, reason, path)}")


def _fix(cause: BaseException, reason: str, path: Path) -> str:
    code = getattr(cause, "sqlite_errorcode", None)
    by_errno = _ERRNO.get(cause.errno or 0) if isinstance(cause, OSError) else None

    def kind(codes: set[int], words: tuple[str, ...]) -> bool:
        if by_errno is not None:
            return by_errno == (codes, words)
        if isinstance(code, int):
            return code & 0xFF in codes  # an extended code's low byte is its primary one
        return any(word in reason.lower() for word in words)

    if kind(*_FULL):
        return (
            f"free space on the disk that holds {path.parent} (or set [state] path to a disk "
            "with room), then run it again"
        )
    if kind(*_DAMAGED):
        return (
            "move it aside (with its -wal and -shm files), or restore it from a backup. Moved "
            "aside, the connector starts a new one and learns from Moneybird which orders are "
            "already booked, so nothing is booked twice"
        )
    if kind(*_IN_USE):
        return (
            "another program holds the state file (a backup tool, a database browser): close "
            "it, then run it again"
        )
    if kind(*_NOT_WRITABLE):
        return (
            f"make {path.parent} and the state files in it writable for the user the connector "
            "runs as (in the container, mount a volume at /data), or set [state] path to a "
            "folder that is"
        )
    return f"check the disk that holds {path.parent} (the system log says more), then run it again"


def _pragmas(busy_timeout: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an intent is on disk before the request
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    return on_connect
