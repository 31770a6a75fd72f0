"""Pure payout booking: a payout, where its orders and refunds are in Moneybird, and the
payout settings become one financial statement for the provider's financial account and the
links of each of its mutations (docs/payouts.md), or a reason to wait or to park. No I/O here.

Booking sits below the payment providers' modules, so it does not import their records: it
reads a payout through the `PayoutView` and `PartView` protocols, which `payouts.records`'
`Payout` and `PayoutPart` satisfy as they are (a part's kind is compared as text).

The statement moves the provider's balance as the provider did, part by part, and the payout
line takes the net back out, so its mutations add up to 0.00:

- a payment: + gross, linked to the payment registered on its invoice, else to the invoice;
- a refund: - gross, linked to the credit invoice's payment, else to the credit invoice;
- a chargeback: - gross, on the chargebacks ledger (a chargeback has no credit invoice);
- a fee-only part (Mollie's fees of a month): - fee, a line of its own;
- the fees riding on payments and refunds (Shopify Payments): - their sum, one line;
- the payout: - net, on the transfer ledger (the bank line is linked there too).

A fee goes whole to the fees-payable ledger when one is set (Mollie: its VAT arrives with the
monthly invoice, booked against that ledger); else to the fee ledger, with the VAT the provider
states as a second part on the fee-VAT ledger. Parts booked on the same document with the same
registered payment (a day's document in summary mode) share one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from connector.booking.book import Parked
from connector.money import ZERO

PAYMENT, REFUND, CHARGEBACK, FEE = "payment", "refund", "chargeback", "fee"
PAYABLE_DOCUMENTS = ("SalesInvoice", "ExternalSalesInvoice", "Document")
LEDGER = "LedgerAccount"


class PartView(Protocol):
    """What booking reads of a payout's part (`payouts.records.PayoutPart`)."""

    @property
    def kind(self) -> str: ...
    @property
    def provider_id(self) -> str: ...
    @property
    def gross(self) -> Decimal: ...
    @property
    def date(self) -> datetime: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def fee_vat(self) -> Decimal | None: ...
    @property
    def order_reference(self) -> str | None: ...
    @property
    def payment_id(self) -> str | None: ...
    @property
    def description(self) -> str: ...


class PayoutView(Protocol):
    """What booking reads of a payout (`payouts.records.Payout`), checked by `check_payout`."""

    @property
    def provider(self) -> str: ...
    @property
    def payout_id(self) -> str: ...
    @property
    def reference(self) -> str: ...
    @property
    def paid_out(self) -> datetime: ...
    @property
    def net(self) -> Decimal: ...
    @property
    def parts(self) -> Sequence[PartView]: ...


@dataclass(frozen=True)
class Booked:
    """Where Moneybird has what a payment or refund part pays: the (credit) invoice, or the
    day's document in summary mode, and the payment the connector registered on it, if any."""

    document_type: str  # SalesInvoice | ExternalSalesInvoice | Document
    document_id: str
    payment_id: str | None = None
    payment_amount: Decimal | None = None  # the registered payment's amount, positive

    def __post_init__(self) -> None:
        if self.document_type not in PAYABLE_DOCUMENTS:
            raise ValueError(f"a payout part cannot be linked to a {self.document_type}")
        if (self.payment_id is None) != (self.payment_amount is None):
            raise ValueError("a registered payment has both its id and its amount")


@dataclass(frozen=True)
class PayoutSettings:
    """The payout part of the configuration, as Moneybird ids."""

    financial_account_id: str  # the provider's account in Moneybird, not the bank account
    transfer_ledger_id: str
    fee_ledger_id: str
    fees_payable_ledger_id: str | None = None  # Mollie: fees whole, VAT with its invoice
    fee_vat_ledger_id: str | None = None  # where a fee's stated VAT is booked
    chargeback_ledger_id: str | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Amsterdam"))


@dataclass(frozen=True)
class Link:
    """One `link_booking` request: a ledger's amount in `price_base` (positive with the
    mutation), a document's always positive in `price`, a payment none (its own)."""

    booking_type: str
    booking_id: str
    price: Decimal | None = None
    price_base: Decimal | None = None
    description: str = ""


@dataclass(frozen=True)
class StatementLine:
    """One mutation on the provider's account and how it is linked. `part_ids` are the parts
    whose gross it moves, `fee_ids` the parts whose fee it takes."""

    date: date
    amount: Decimal  # positive: into the provider's balance
    message: str
    transaction_id: str  # Moneybird's account_servicer_transaction_id
    links: tuple[Link, ...]
    part_ids: tuple[str, ...] = ()
    fee_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatementDraft:
    financial_account_id: str
    reference: str  # `<provider> <payout id>`: unique per statement in Moneybird
    date: date
    lines: tuple[StatementLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass(frozen=True)
class Waits:
    """The payout cannot be booked yet: what it waits for is booked by a later pass."""

    reason: str
    part_ids: tuple[str, ...]


def statement_reference(payout: PayoutView) -> str:
    return f"{payout.provider} {payout.payout_id}"


def book_payout(
    payout: PayoutView, booked: Mapping[str, Booked], settings: PayoutSettings
) -> StatementDraft | Waits | Parked:
    """The statement for a checked payout. `booked` gives, by the part's provider id, where a
    payment or refund part's order or credit is in Moneybird; a part missing there waits. A
    part that cannot be placed parks the whole payout (nothing of it is booked), also when
    others wait: a person acts either way."""
    where = f"{payout.provider} payout {payout.payout_id}"
    sorting = _Sorting()
    for part in payout.parts:
        sorting.place(payout, part, booked, settings)
    lines: list[StatementLine] = []
    for item in sorting.placed:
        if isinstance(item, StatementLine):
            lines.append(item)
            continue
        parts = sorting.groups[item]
        line = _document_line(payout, parts, booked[parts[0].provider_id], settings)
        if isinstance(line, str):
            sorting.problems.append(line)
        else:
            lines.append(line)
    carried = [p for p in payout.parts if str(p.kind) != FEE and p.fee != ZERO]
    if carried and (fees := _fees_line(payout, carried, settings, sorting.problems)):
        lines.append(fees)
    if sorting.problems:
        return Parked(f"{where}: " + "; ".join(sorting.problems))
    if sorting.waiting:
        reason = f"{where} waits until these are booked: " + "; ".join(sorting.missing)
        return Waits(reason, tuple(sorting.waiting))
    if payout.net != ZERO:
        lines.append(_payout_line(payout, settings))
    return StatementDraft(
        financial_account_id=settings.financial_account_id,
        reference=statement_reference(payout),
        date=_day(payout.paid_out, settings),
        lines=tuple(lines),
    )


GroupKey = tuple[str, str, str, str]  # kind, document type, document id, registered payment


@dataclass
class _Sorting:
    """The parts sorted into lines (or groups of one document's parts), in the parts' order."""

    placed: list[GroupKey | StatementLine] = field(default_factory=list)
    groups: dict[GroupKey, list[PartView]] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def place(
        self,
        payout: PayoutView,
        part: PartView,
        booked: Mapping[str, Booked],
        settings: PayoutSettings,
    ) -> None:
        kind = str(part.kind)
        name = _name(payout, part)
        if kind == FEE:
            if part.gross != ZERO:
                self.problems.append(f"{name} moves {part.gross} besides its fee; book it by hand")
            elif part.fee != ZERO:
                self.placed.append(_fee_only(payout, part, settings, self.problems))
        elif part.gross == ZERO:
            pass  # moves nothing; a fee it carries is on the fees line
        elif kind == CHARGEBACK:
            if settings.chargeback_ledger_id is None:
                self.problems.append(f"{name}: name a chargebacks ledger to book chargebacks on")
            else:
                self.placed.append(_chargeback(part, settings.chargeback_ledger_id, name, settings))
        elif kind in (PAYMENT, REFUND):
            found = booked.get(part.provider_id)
            if found is None:
                self.waiting.append(part.provider_id)
                self.missing.append(name)
                return
            # On a payment registered on the document (a day's, paid by the connector), the
            # day's payments and refunds are one movement: the payment is of their net.
            group = "document" if found.payment_id else kind
            key = (group, found.document_type, found.document_id, found.payment_id or "")
            if key not in self.groups:
                self.groups[key] = []
                self.placed.append(key)
            self.groups[key].append(part)
        else:
            self.problems.append(f"{name} is a {kind} the connector cannot place; book it by hand")


def _name(payout: PayoutView, part: PartView) -> str:
    order = f" (order {part.order_reference})" if part.order_reference else ""
    of = f" of payment {part.payment_id}" if part.payment_id and str(part.kind) != PAYMENT else ""
    return f"{payout.provider} {part.kind} {part.provider_id}{of}{order}"


def _day(moment: datetime, settings: PayoutSettings) -> date:
    return moment.astimezone(settings.timezone).date()


def _document_line(
    payout: PayoutView, parts: Sequence[PartView], found: Booked, settings: PayoutSettings
) -> StatementLine | str:
    """One mutation for the parts paid on one document: linked to the payment registered on
    it, which must be exactly their amount, or to the document itself (paying it)."""
    amount = sum((p.gross for p in parts), ZERO)
    ids = tuple(p.provider_id for p in parts)
    names = ", ".join(_name(payout, p) for p in parts)
    if found.payment_id is not None:
        if found.payment_amount != abs(amount):
            return (
                f"{names}: moved {abs(amount)}, but the payment registered on "
                f"{found.document_type} {found.document_id} is {found.payment_amount}; "
                "book this payout by hand in Moneybird (or correct that payment, then retry)"
            )
        link = Link("Payment", found.payment_id, description=names)
    else:
        link = Link(found.document_type, found.document_id, price=abs(amount), description=names)
    return StatementLine(
        date=_day(max(p.date for p in parts), settings),
        amount=amount,
        message=names,
        transaction_id=ids[0],
        links=(link,),
        part_ids=ids,
    )


def _chargeback(
    part: PartView, ledger_id: str, name: str, settings: PayoutSettings
) -> StatementLine:
    return StatementLine(
        date=_day(part.date, settings),
        amount=part.gross,
        message=name,
        transaction_id=part.provider_id,
        links=(Link(LEDGER, ledger_id, price_base=-part.gross, description=name),),
        part_ids=(part.provider_id,),
    )


def _fee_links(
    fee: Decimal, vat: Decimal | None, what: str, settings: PayoutSettings, problems: list[str]
) -> tuple[Link, ...]:
    """The ledger parts of a mutation of -fee, positive with the mutation: a fee the provider
    gives back (negative) moves money in, and is booked with that mutation too."""
    sign = 1 if fee > ZERO else -1
    fee, vat = fee * sign, None if vat is None else vat * sign
    if settings.fees_payable_ledger_id is not None:
        stated = f", VAT {vat} inside (booked with the provider's invoice)" if vat else ""
        return (
            Link(
                LEDGER, settings.fees_payable_ledger_id, price_base=fee, description=what + stated
            ),
        )
    if not vat:
        return (Link(LEDGER, settings.fee_ledger_id, price_base=fee, description=what),)
    if settings.fee_vat_ledger_id is None:
        problems.append(f"{what} carry VAT {vat}: name the ledger for the fees' VAT")
        return ()
    return (
        Link(LEDGER, settings.fee_ledger_id, price_base=fee - vat, description=what),
        Link(LEDGER, settings.fee_vat_ledger_id, price_base=vat, description=f"VAT on {what}"),
    )


def _fee_only(
    payout: PayoutView, part: PartView, settings: PayoutSettings, problems: list[str]
) -> StatementLine:
    what = part.description or f"{payout.provider} fees {part.provider_id}"
    return StatementLine(
        date=_day(part.date, settings),
        amount=-part.fee,
        message=what,
        transaction_id=part.provider_id,
        links=_fee_links(part.fee, part.fee_vat, what, settings, problems),
        fee_ids=(part.provider_id,),
    )


def _fees_line(
    payout: PayoutView, parts: Sequence[PartView], settings: PayoutSettings, problems: list[str]
) -> StatementLine | None:
    """The fees taken on the payout's payments and refunds, as one mutation."""
    fee = sum((p.fee for p in parts), ZERO)
    stated = [p.fee_vat for p in parts if p.fee_vat is not None]
    vat = sum(stated, ZERO) if stated else None
    what = f"{payout.provider} fees on payout {payout.payout_id} ({len(parts)} transactions)"
    if fee == ZERO:
        if vat:
            problems.append(f"{what} add up to 0.00 but carry VAT {vat}; book them by hand")
        return None
    return StatementLine(
        date=_day(payout.paid_out, settings),
        amount=-fee,
        message=what,
        transaction_id=f"{payout.payout_id}.fees",
        links=_fee_links(fee, vat, what, settings, problems),
        fee_ids=tuple(p.provider_id for p in parts),
    )


def _payout_line(payout: PayoutView, settings: PayoutSettings) -> StatementLine:
    what = f"{payout.provider} payout {payout.payout_id}, reference {payout.reference}"
    return StatementLine(
        date=_day(payout.paid_out, settings),
        amount=-payout.net,
        message=what,
        transaction_id=payout.payout_id,
        links=(
            Link(LEDGER, settings.transfer_ledger_id, price_base=abs(payout.net), description=what),
        ),
    )
