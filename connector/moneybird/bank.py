"""Moneybird's bank format, both ways: financial statements and their mutations as sent, the
filter terms of `GET /financial_mutations`, link_booking's body, and the mutations read back.
Nothing outside this module knows Moneybird's JSON for the bank."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from connector.money import ZERO, fmt, parse

# The terms `GET /financial_mutations` understands; `synchronization` knows the first four.
LIST_TERMS = (
    "period",
    "state",
    "mutation_type",
    "financial_account_id",
    "amount_from",
    "amount_to",
)
SYNC_TERMS = ("period", "state", "mutation_type", "financial_account_id")
MOST_LISTED = 100  # the list answers at most this many; more need the synchronization endpoint

# What `link_booking` can be asked to link, and how its amount is sent.
PRICED_BOOKINGS = ("SalesInvoice", "ExternalSalesInvoice", "Document", "VatDocument")
LEDGER_BOOKING = "LedgerAccount"
AMOUNT_FROM_RECORD = (
    "Payment",
    "PaymentTransaction",
    "PaymentTransactionBatch",
    "PurchaseTransaction",
    "PurchaseTransactionBatch",
)
# What `unlink_booking` takes: a payment, or a ledger booking by the booking's own id.
UNLINKABLE = ("Payment", "LedgerAccountBooking")

FilterValue = str | Decimal | tuple[date, date] | Sequence[str]


@dataclass(frozen=True)
class BankLine:
    """One movement to put on a financial account: the provider's own id rides along as
    Moneybird's `account_servicer_transaction_id`, meant for de-duplication."""

    date: date
    amount: Decimal  # positive: money in, negative: money out
    message: str
    contra_account_name: str = ""
    account_servicer_transaction_id: str = ""
    batch_reference: str = ""


def is_bank_path(path: str) -> bool:
    """Whether a request path is one of the bank's (scope `bank`)."""
    return path.startswith(("financial_statements", "financial_mutations"))


def statement_body(
    financial_account_id: str, reference: str, official_date: date, lines: Iterable[BankLine]
) -> dict[str, Any]:
    """`POST /financial_statements`: one statement, its mutations in the order given."""
    mutations = []
    for line in lines:
        mutation = {
            "date": line.date.isoformat(),
            "amount": fmt(line.amount),
            "message": line.message,
        }
        # Empty texts are left out rather than sent blank: Moneybird keeps them as given.
        for key in ("contra_account_name", "account_servicer_transaction_id", "batch_reference"):
            if value := getattr(line, key):
                mutation[key] = value
        mutations.append(mutation)
    return {
        "financial_statement": {
            "financial_account_id": financial_account_id,
            "reference": reference,
            "official_date": official_date.isoformat(),
            "financial_mutations_attributes": mutations,
        }
    }


def filter_text(terms: Mapping[str, FilterValue]) -> str:
    """Moneybird's `key:value,key:value` filter. A period is a (first, last) pair of days or one
    of Moneybird's names; several states or types are joined with `|`; amounts as decimals.
    Any filter replaces Moneybird's default this-year period, so a period must be named."""
    unknown = set(terms) - set(LIST_TERMS)
    if unknown:
        raise ValueError(f"financial mutations cannot be filtered on {sorted(unknown)}")
    if "period" not in terms:
        raise ValueError("a financial-mutation filter names its period")
    parts = []
    for key in LIST_TERMS:
        if key not in terms:
            continue
        value = terms[key]
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], date):
            first, last = value
            text = f"{first:%Y%m%d}..{last:%Y%m%d}"
        elif isinstance(value, Decimal):
            text = fmt(abs(value))  # Moneybird compares absolute amounts
        elif isinstance(value, str):
            text = value
        else:
            text = "|".join(str(v) for v in value)
        if not text or any(c in text for c in ",:"):
            raise ValueError(f"filter term {key} cannot be {text!r}")
        parts.append(f"{key}:{text}")
    return ",".join(parts)


def sync_terms(terms: Mapping[str, FilterValue]) -> dict[str, FilterValue]:
    """The terms the synchronization endpoint understands (it has no amount bounds)."""
    return {k: v for k, v in terms.items() if k in SYNC_TERMS}


def within_amounts(mutation: Mapping[str, Any], terms: Mapping[str, FilterValue]) -> bool:
    """Whether a mutation's absolute amount lies within the filter's bounds, as the list
    endpoint judges them (for rows read through synchronization, which cannot filter so)."""
    amount = abs(parse(mutation.get("amount"), "amount"))
    low, high = terms.get("amount_from"), terms.get("amount_to")
    if isinstance(low, (str, Decimal)) and amount < abs(Decimal(str(low))):
        return False
    return not (isinstance(high, (str, Decimal)) and amount > abs(Decimal(str(high))))


def link_body(
    booking_type: str,
    booking_id: str,
    price: Decimal | None,
    price_base: Decimal | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """`PATCH /financial_mutations/{id}/link_booking`. A ledger booking carries its amount in
    `price_base` (positive with the mutation, negative against it); an invoice or document
    always a positive `price` (the direction is the mutation's); a payment none (its own)."""
    body: dict[str, Any] = {"booking_type": booking_type, "booking_id": booking_id}
    if booking_type == LEDGER_BOOKING:
        amount = price_base if price_base is not None else price
        if amount is None:
            raise ValueError("a ledger booking needs its amount")
        body["price_base"] = fmt(amount)
    elif booking_type in PRICED_BOOKINGS:
        if price is None or price < ZERO or (price_base is not None and price_base < ZERO):
            raise ValueError(f"a {booking_type} link takes a positive amount")
        body["price"] = fmt(price)
        body["price_base"] = fmt(price if price_base is None else price_base)
    elif booking_type not in AMOUNT_FROM_RECORD:
        raise ValueError(f"link_booking does not take booking type {booking_type}")
    if description:
        body["description"] = description
    return body


def unlink_body(booking_type: str, booking_id: str) -> dict[str, Any]:
    """`DELETE /financial_mutations/{id}/unlink_booking`: a payment, or a ledger booking by its
    own id (not the ledger's)."""
    if booking_type not in UNLINKABLE:
        raise ValueError(f"unlink_booking takes {' or '.join(UNLINKABLE)}, not {booking_type}")
    return {"booking_type": booking_type, "booking_id": booking_id}


def link_answer(answer: Any, mutation_id: str) -> dict[str, Any] | str:
    """link_booking's answer: the whole mutation since 2026-10-13, before that an integer
    (a status code, not an id). The mutation when given, else the mutation's id to read."""
    if isinstance(answer, dict) and str(answer.get("id")) == str(mutation_id):
        return answer
    return str(mutation_id)


@dataclass(frozen=True)
class Mutation:
    """A financial mutation as the connector reads it."""

    id: str
    financial_account_id: str
    date: date
    amount: Decimal
    amount_open: Decimal
    message: str
    state: str  # unprocessed | processed
    account_servicer_transaction_id: str | None
    batch_reference: str | None
    statement_id: str | None
    payment_ids: tuple[str, ...]
    ledger_booking_ids: tuple[str, ...]  # the bookings' own ids: what unlink_booking takes
    ledger_ids: tuple[str, ...] = ()  # the ledger accounts those bookings are on

    @property
    def processed(self) -> bool:
        return self.state == "processed"


def mutation_of(row: Mapping[str, Any]) -> Mutation:
    def text(key: str) -> str | None:
        value = row.get(key)
        return None if value in (None, "") else str(value)

    return Mutation(
        id=str(row["id"]),
        financial_account_id=str(row.get("financial_account_id")),
        date=date.fromisoformat(str(row["date"])[:10]),
        amount=parse(row.get("amount"), "amount"),
        amount_open=parse(row.get("amount_open", row.get("amount")), "amount_open"),
        message=str(row.get("message") or ""),
        state=str(row.get("state") or "unprocessed"),
        account_servicer_transaction_id=text("account_servicer_transaction_id"),
        batch_reference=text("batch_reference"),
        statement_id=text("financial_statement_id"),
        payment_ids=tuple(str(p["id"]) for p in row.get("payments") or []),
        ledger_booking_ids=tuple(str(b["id"]) for b in row.get("ledger_account_bookings") or []),
        ledger_ids=tuple(
            str(b.get("ledger_account_id")) for b in row.get("ledger_account_bookings") or []
        ),
    )


def statement_mutations(answer: Mapping[str, Any]) -> list[Mutation]:
    """The mutations of a created statement, in the order they were sent."""
    return [mutation_of(row) for row in answer.get("financial_mutations") or []]
