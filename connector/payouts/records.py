"""A payout as every provider's module gives it: the batch the provider paid to the bank, and
its parts (payments, refunds, chargebacks, fees), each with the provider's own id. Nothing here
knows a provider or Moneybird; `check_payout` refuses a payout whose figures cannot be booked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from connector.errors import ParksItem
from connector.money import BASE_CURRENCY, ZERO, MoneyError, is_cents, parse

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # no payout the connector books is older
AHEAD = timedelta(days=2)  # to the end of tomorrow: a provider's clock is never further ahead
ID_LENGTH = 100  # a provider id is written to Moneybird as the mutation's deduplication id
SHOWN = 60  # characters of a bad value quoted in a reason


class PayoutDataError(ParksItem):
    """A payout's data cannot be booked as it is; the reason names the field and the value."""


class PartKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    FEE = "fee"
    OTHER = "other"


@dataclass(frozen=True)
class PayoutPart:
    """One movement on the provider's balance inside a payout.

    `gross` moves the balance as the sale, refund or chargeback did (a refund and a chargeback
    are negative; a fee-only part has 0). `fee` is what the provider took for it, positive when
    charged; `fee_vat` the VAT inside `fee` (None: the provider states none). So the part adds
    `gross - fee` to the payout."""

    kind: PartKind
    provider_id: str
    gross: Decimal
    date: datetime
    fee: Decimal = ZERO
    fee_vat: Decimal | None = None
    order_reference: str | None = None  # the shop's order number, when the provider has it
    payment_id: str | None = None  # a refund's or chargeback's payment at the provider
    description: str = ""
    # A refund's id in the shop, when the provider has it (Shopify Payments: the refund that
    # made the balance transaction); else the flow finds the order's refund by its amount.
    refund_reference: str | None = None

    @property
    def net(self) -> Decimal:
        return self.gross - self.fee


@dataclass(frozen=True)
class Payout:
    """What the provider paid out in one transfer; `reference` is what the bank line shows."""

    provider: str
    payout_id: str
    reference: str
    currency: str
    paid_out: datetime  # aware, UTC
    net: Decimal
    parts: tuple[PayoutPart, ...] = field(default=())

    def total(self, kind: PartKind) -> Decimal:
        """The gross of the parts of one kind (fees: what the provider took)."""
        if kind is PartKind.FEE:
            return sum((part.fee for part in self.parts), ZERO)
        return sum((p.gross for p in self.parts if p.kind is kind), ZERO)

    @property
    def fee_vat(self) -> Decimal | None:
        stated = [part.fee_vat for part in self.parts if part.fee_vat is not None]
        return sum(stated, ZERO) if stated else None

    @property
    def parts_net(self) -> Decimal:
        return sum((part.net for part in self.parts), ZERO)


@dataclass(frozen=True)
class RefusedPayout:
    """A payout the provider made that cannot be booked as it is: listed, with the reason.
    `paid_out` is its payout date when that could be read (aware UTC, plausible), so the flow
    knows where it stands among the others; None when the date is what is wrong."""

    provider: str
    payout_id: str
    reason: str
    paid_out: datetime | None = None


def shown(value: object) -> str:
    """A value as a reason quotes it: short, and on one line."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def latest_plausible(now: datetime | None = None) -> datetime:
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return datetime.combine(today + AHEAD, datetime.min.time(), tzinfo=UTC)


def check_moment(value: datetime, field_name: str, now: datetime | None = None) -> None:
    """A date a payout of now can have: aware, from 2000 to the end of tomorrow."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise PayoutDataError(f"{field_name} {value.isoformat()} has no time zone")
    if not EARLIEST <= value <= latest_plausible(now):
        raise PayoutDataError(
            f"{field_name} {value.isoformat()} cannot be a payout's (before 2000 or after tomorrow)"
        )


def parse_moment(value: object, field_name: str, now: datetime | None = None) -> datetime:
    """A date a provider wrote (ISO 8601 with its offset) in UTC, checked by check_moment.
    Whatever the value, anything else raises PayoutDataError naming the field: a date UTC
    cannot hold (year 1 or 9999 with an offset) too, so it refuses one payout, no more."""
    if not isinstance(value, str) or not value:
        raise PayoutDataError(f"{field_name} {shown(value)} is not a date")
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise PayoutDataError(f"{field_name} {shown(value)} is not a date") from None
    if found.utcoffset() is None:
        raise PayoutDataError(f"{field_name} {shown(value)} has no time zone")
    try:
        found = found.astimezone(UTC)
    except OverflowError:
        raise PayoutDataError(
            f"{field_name} {shown(value)} cannot be a payout's (before 2000 or after tomorrow)"
        ) from None
    check_moment(found, field_name, now)
    return found


def check_id(value: object, field_name: str) -> str:
    """A provider's id or reference: printable, no spaces, short enough for Moneybird."""
    if not isinstance(value, str) or not value:
        raise PayoutDataError(f"{field_name} {shown(value)} is not an id")
    if len(value) > ID_LENGTH or not value.isascii() or not value.isprintable() or " " in value:
        raise PayoutDataError(f"{field_name} {shown(value)} is not an id")
    return value


def check_payout(payout: Payout, now: datetime | None = None) -> Payout:
    """The payout as read, when it can be booked: in the administration's currency, whole
    cents, plausible dates, ids unique, and its parts adding up to what reached the bank.
    Else PayoutDataError naming what is wrong, so it waits, listed, and nothing is booked."""
    what = f"{payout.provider} payout {payout.payout_id}"
    check_id(payout.payout_id, f"{payout.provider} payout id")
    check_id(payout.reference, f"{what}: reference")
    if payout.currency != BASE_CURRENCY:
        raise PayoutDataError(
            f"{what} is in {shown(payout.currency)}; only payouts in {BASE_CURRENCY} are booked"
        )
    check_moment(payout.paid_out, f"{what}: payout date", now)
    if payout.paid_out.utcoffset() != timedelta(0):
        raise PayoutDataError(f"{what}: payout date {payout.paid_out.isoformat()} is not UTC")
    if not is_cents(payout.net):
        raise PayoutDataError(f"{what}: amount {payout.net} is not in whole cents")
    if not payout.parts:
        raise PayoutDataError(f"{what} has no parts; nothing explains its amount")
    seen: set[tuple[PartKind, str]] = set()
    for part in payout.parts:
        name = f"{what}: {part.kind.value} {part.provider_id}"
        check_id(part.provider_id, f"{what}: {part.kind.value} id")
        if (part.kind, part.provider_id) in seen:
            raise PayoutDataError(f"{name} appears twice")
        seen.add((part.kind, part.provider_id))
        check_moment(part.date, f"{name} date", now)
        for label, amount in (("amount", part.gross), ("fee", part.fee)):
            if not is_cents(amount):
                raise PayoutDataError(f"{name} {label} {amount} is not in whole cents")
        if part.fee_vat is not None:
            if not is_cents(part.fee_vat):
                raise PayoutDataError(f"{name} fee VAT {part.fee_vat} is not in whole cents")
            if abs(part.fee_vat) > abs(part.fee) or (part.fee_vat * part.fee < ZERO):
                raise PayoutDataError(f"{name} fee VAT {part.fee_vat} exceeds its fee {part.fee}")
        if part.kind in (PartKind.REFUND, PartKind.CHARGEBACK) and part.gross > ZERO:
            raise PayoutDataError(f"{name} amount {part.gross} adds to the balance")
        if part.kind is PartKind.PAYMENT and part.gross < ZERO:
            raise PayoutDataError(f"{name} amount {part.gross} takes from the balance")
    if payout.parts_net != payout.net:
        raise PayoutDataError(
            f"{what}: its parts add up to {payout.parts_net}, not to the {payout.net} paid out "
            f"(a difference of {payout.net - payout.parts_net}); it is not booked until they do"
        )
    return payout


def parse_amount(value: object, where: str, places: int) -> Decimal:
    """A provider's amount, sent as a decimal string (at most `places` decimals): the one
    place such a string is read, so a number, an exponent or another script's digits are
    refused alike, naming the field."""
    pattern = rf"-?[0-9]{{1,10}}(\.[0-9]{{1,{places}}})?"
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise PayoutDataError(f"{where} {shown(value)} is not an amount string")
    try:
        return parse(value, where)
    except MoneyError as exc:
        raise PayoutDataError(str(exc)) from None
