"""What the Payouts page shows, gathered from the state alone: each provider's payouts per
month in the books' zone, their figures, and where each stands in words a bookkeeper reads.
Plain data for the template; no HTML here. No personal data: reasons name orders by number."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.state import Meta, PayoutRecord, PayoutState, Store, from_text
from connector.sync.payout_settings import PROVIDER_LABELS
from connector.sync.payouts import bank_line_overdue

# Where a payout stands, as the counts at the top of the page name them.
BOOKED = "booked"
ORDERS = "orders"
BANK = "bank"
PERSON = "person"
AGAIN = "again"
COUNTED = {
    BOOKED: "booked",
    ORDERS: "waiting for orders",
    BANK: "waiting for the bank line",
    PERSON: "needing a person",
    AGAIN: "carried on at the next pass",
}
# The flow's words for the two waits that need no one (sync/payouts.py, booking/payout.py).
WAITS_FOR_ORDERS = "waits until these are booked: "
WAITS_FOR_BANK = "waits for the bank line"
FIGURES = ("gross", "refunds", "chargebacks", "other", "fees", "fee_vat", "net")


@dataclass(frozen=True)
class Standing:
    kind: str  # one of COUNTED's keys
    words: str
    overdue: bool = False


def standing(record: PayoutRecord, overdue: bool) -> Standing:
    """Where a payout is, said as a bookkeeper would: booked and linked, waiting (for what), or
    what a person must do."""
    state, reason = record.state, record.reason or ""
    if state == PayoutState.DONE:
        return Standing(BOOKED, "booked, bank line linked")
    if state == PayoutState.WAITING:
        _, marker, parts = reason.partition(WAITS_FOR_ORDERS)
        return Standing(ORDERS, f"waiting for orders: {parts if marker else reason}".rstrip(": "))
    if state in (PayoutState.REFUSED, PayoutState.PARKED):
        return Standing(PERSON, f"needs you: {reason or 'see the log'}")
    if (
        state in (PayoutState.BOOKED, PayoutState.LINKED)
        and reason
        and not (state == PayoutState.LINKED and reason.startswith(WAITS_FOR_BANK))
    ):
        # Moneybird refused a link, or more than one bank line fits: a person picks.
        return Standing(PERSON, f"needs you: {reason}")
    if record.last_error:  # a passing error: the next pass tries again by itself
        return Standing(AGAIN, f"tried again at the next pass: {record.last_error}")
    if state == PayoutState.LINKED:
        return Standing(BANK, "booked, waiting for the bank line", overdue)
    if state == PayoutState.BOOKED:
        return Standing(AGAIN, "booked, its movements are linked at the next pass")
    return Standing(AGAIN, f"{state}: carried on at the next pass")


def payouts_page(
    store: Store, tz: tzinfo, bank_line_days: int, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    months: dict[str, list[dict[str, Any]]] = {}
    undated: list[dict[str, Any]] = []
    counts = dict.fromkeys(COUNTED, 0)
    overdue = 0
    for record in store.payouts():
        row = _row(record, tz, bank_line_days, now)
        counts[row["kind"]] += 1
        overdue += row["overdue"]
        paid_out = from_text(record.paid_out)
        if paid_out is None:  # a payout refused before its figures were read
            undated.append(row)
        else:
            months.setdefault(paid_out.astimezone(tz).strftime("%Y-%m"), []).append(row)
    tables: list[dict[str, Any]] = []
    for month in sorted(months, reverse=True):
        rows = sorted(months[month], key=lambda r: (r["paid_out"], r["payout_id"]), reverse=True)
        tables.append({"month": month, "rows": rows, "totals": _totals(rows)})
    every = [row for table in tables for row in table["rows"]] + undated
    return {
        "months": tables,
        "undated": undated,
        "counts": [
            {"kind": kind, "label": label, "count": counts[kind]}
            for kind, label in COUNTED.items()
            if kind != AGAIN or counts[kind]
        ],
        "overdue": overdue,
        "bank_line_days": bank_line_days,
        "other": any(row["figures"]["other"] for row in every),
        "problem": store.get_meta(Meta.PAYOUTS_PROBLEM) or "",
        "total": len(every),
    }


def _row(record: PayoutRecord, tz: tzinfo, days: int, now: datetime) -> dict[str, Any]:
    late = bank_line_overdue(record, days, now)
    where = standing(record, late)
    paid_out = from_text(record.paid_out)
    return {
        "provider": PROVIDER_LABELS.get(record.provider, record.provider),
        "payout_id": record.payout_id,
        "reference": record.reference,
        "paid_out": paid_out.astimezone(tz).date().isoformat() if paid_out else "",
        "figures": _figures(record),
        "kind": where.kind,
        "state": record.state,
        "words": where.words,
        "overdue": where.overdue,
        "notes": record.notes or "",
    }


def _figures(record: PayoutRecord) -> dict[str, Decimal | None]:
    """The payout's figures as a statement shows them: what it took (refunds, chargebacks,
    fees and their VAT) negative, so that a row adds up to its net."""
    try:
        data = json.loads(record.figures or "{}")
    except ValueError:
        data = {}
    return {
        "gross": _amount(data.get("gross")),
        "refunds": _amount(data.get("refunds")),
        "chargebacks": _amount(data.get("chargebacks")),
        "other": _amount(data.get("other")) or None,  # shown only where some payout has it
        "fees": _negated(_amount(data.get("fees"))),
        "fee_vat": _negated(_amount(data.get("fee_vat"))),
        "net": _amount(record.net),
    }


def _amount(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _negated(value: Decimal | None) -> Decimal | None:
    return -value if value else value  # never "-0.00"


def _totals(rows: list[dict[str, Any]]) -> dict[str, Decimal | None]:
    totals: dict[str, Decimal | None] = {}
    for name in FIGURES:
        stated = [row["figures"][name] for row in rows if row["figures"][name] is not None]
        totals[name] = sum(stated, Decimal("0.00")) if stated else None
    return totals
