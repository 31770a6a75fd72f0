"""Mollie's settlements as payouts: pure, from API v2's JSON (a settlement, and the payments,
refunds and chargebacks listed under it) to a checked `records.Payout`. No HTTP here.

Mollie deducts its fees from the settlement and invoices them monthly with 21% VAT; the
settlement states them per month in `periods[year][month].costs` (to four decimals, with the
VAT), so each month of a settlement gives one fee part, rounded once. The per-item
`settlementAmount` is deprecated (removed 2027-01-01) and not read: an item in another
currency than the administration's is refused instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from connector.money import BASE_CURRENCY, ZERO, cents, is_cents
from connector.payouts.records import (
    PartKind,
    Payout,
    PayoutDataError,
    PayoutPart,
    check_id,
    check_payout,
    parse_amount,
    parse_moment,
    shown,
)

PROVIDER = "mollie"
# The shop's order number in a payment: the Mollie plugins keep it in the metadata, and the
# default payment description is "Order 1234" (or its Dutch form).
ORDER_KEYS = ("order_id", "order_number", "orderNumber", "order")
# Digits as Mollie writes them: ASCII only ("²".isdigit() holds, but int("²") fails).
YEAR = re.compile(r"[0-9]{4}")
MONTH = re.compile(r"[0-9]{1,2}")
ORDER_IN_DESCRIPTION = re.compile(
    r"^\s*(?:order|bestelling)\s*(?:#|nr\.?|no\.?)?\s*([A-Za-z0-9_-]{1,40})\s*$", re.I
)


def is_paid_out(settlement: Mapping[str, object]) -> bool:
    """Only a settlement Mollie has paid out is a payout; open and pending ones still grow."""
    return settlement.get("status") == "paidout"


def parse_settlement(
    settlement: Mapping[str, object],
    payments: Sequence[Mapping[str, object]] = (),
    refunds: Sequence[Mapping[str, object]] = (),
    chargebacks: Sequence[Mapping[str, object]] = (),
    captures: Sequence[Mapping[str, object]] = (),
    now: datetime | None = None,
) -> Payout:
    """A settlement and its lists (each list's `_embedded` items, all pages) as a checked
    Payout; anything that is not what Mollie sends raises PayoutDataError naming the field."""
    raw_id = settlement.get("id") if isinstance(settlement, Mapping) else None
    settlement_id = check_id(raw_id, "Mollie settlement id")
    where = f"Mollie settlement {settlement_id}"
    if captures:
        raise PayoutDataError(
            f"{where} settles captures, which are not booked yet; book it by hand"
        )
    reference = check_id(settlement.get("reference"), f"{where}: reference")
    currency, net = _amount(settlement, "amount", where)
    paid_out = _moment(settlement, "settledAt", where, now)
    parts: list[PayoutPart] = []
    for index, item in enumerate(payments):
        parts.append(_payment(item, f"{where}: payments[{index}]", now))
    for index, item in enumerate(refunds):
        parts.append(_reversal(item, PartKind.REFUND, f"{where}: refunds[{index}]", now))
    for index, item in enumerate(chargebacks):
        parts.append(_reversal(item, PartKind.CHARGEBACK, f"{where}: chargebacks[{index}]", now))
    revenue, fees = _periods(settlement, settlement_id, paid_out, where)
    listed = sum((part.gross for part in parts), ZERO)
    if revenue is not None and cents(revenue) != listed:
        raise PayoutDataError(
            f"{where}: its payments, refunds and chargebacks add up to {listed}, but its "
            f"periods' revenue is {cents(revenue)}; a list was read incompletely"
        )
    payout = Payout(
        provider=PROVIDER,
        payout_id=settlement_id,
        reference=reference,
        currency=currency,
        paid_out=paid_out,
        net=net,
        parts=(*parts, *fees),
    )
    return check_payout(payout, now)


def _stated_positive(item: Mapping[str, object], where: str) -> Decimal:
    """A payment's, refund's or chargeback's amount: Mollie states each positive."""
    _, amount = _amount(item, "amount", where)
    if amount < ZERO:
        raise PayoutDataError(
            f"{where}.amount.value {amount} is negative; Mollie states it positive"
        )
    return amount


def _payment(item: Mapping[str, object], where: str, now: datetime | None) -> PayoutPart:
    if not isinstance(item, Mapping):
        raise PayoutDataError(f"{where} {shown(item)} is not a payment")
    payment_id = check_id(item.get("id"), f"{where}.id")
    amount = _stated_positive(item, where)
    date = _moment(item, "paidAt", where, now) if item.get("paidAt") else None
    return PayoutPart(
        kind=PartKind.PAYMENT,
        provider_id=payment_id,
        gross=amount,
        date=date or _moment(item, "createdAt", where, now),
        order_reference=_order_reference(item),
        payment_id=payment_id,
        description=_text(item.get("description")),
    )


def _reversal(
    item: Mapping[str, object], kind: PartKind, where: str, now: datetime | None
) -> PayoutPart:
    if not isinstance(item, Mapping):
        raise PayoutDataError(f"{where} {shown(item)} is not a {kind.value}")
    item_id = check_id(item.get("id"), f"{where}.id")
    amount = _stated_positive(item, where)
    if kind is PartKind.CHARGEBACK and item.get("reversedAt") not in (None, ""):
        raise PayoutDataError(f"{where}: chargeback {item_id} was reversed; book it by hand")
    return PayoutPart(
        kind=kind,
        provider_id=item_id,
        gross=-amount,
        date=_moment(item, "createdAt", where, now),
        payment_id=check_id(item.get("paymentId"), f"{where}.paymentId"),
        description=_text(item.get("description")),
    )


def _periods(
    settlement: Mapping[str, object], settlement_id: str, paid_out: datetime, where: str
) -> tuple[Decimal | None, list[PayoutPart]]:
    """The revenue the periods state (None without periods), and one fee part per month."""
    periods = settlement.get("periods")
    if periods is None or periods == {} or periods == []:
        return None, []
    if not isinstance(periods, Mapping):
        raise PayoutDataError(f"{where}: periods {shown(periods)} is not a list of months")
    revenue = ZERO
    fees: list[PayoutPart] = []
    for year, months in sorted(periods.items()):
        if not (isinstance(year, str) and YEAR.fullmatch(year) and isinstance(months, Mapping)):
            raise PayoutDataError(f"{where}: periods {shown(year)} is not a year")
        for month, period in sorted(months.items(), key=lambda kv: str(kv[0]).zfill(2)):
            at = f"{where}: periods.{year}.{month}"
            if not (isinstance(month, str) and MONTH.fullmatch(month) and 1 <= int(month) <= 12):
                raise PayoutDataError(f"{at} is not a month")
            if not isinstance(period, Mapping):
                raise PayoutDataError(f"{at} {shown(period)} is not a period")
            for index, line in enumerate(_list(period, "revenue", at)):
                revenue += _precise(line, "amountNet", f"{at}.revenue[{index}]")
            gross = vat = ZERO
            vat_stated = False
            for index, line in enumerate(_list(period, "costs", at)):
                gross += _precise(line, "amountGross", f"{at}.costs[{index}]")
                if isinstance(line, Mapping) and line.get("amountVat") is not None:
                    vat += _precise(line, "amountVat", f"{at}.costs[{index}]")
                    vat_stated = True
            if gross == ZERO:
                continue
            invoice = period.get("invoiceId")
            label = f"Mollie fees {year}-{int(month):02d}"
            fees.append(
                PayoutPart(
                    kind=PartKind.FEE,
                    provider_id=f"{settlement_id}.fees.{year}{int(month):02d}",
                    gross=ZERO,
                    fee=cents(gross),
                    fee_vat=cents(vat) if vat_stated else None,
                    date=paid_out,
                    description=f"{label} (invoice {invoice})"
                    if isinstance(invoice, str)
                    else label,
                )
            )
    return revenue, fees


def _list(period: Mapping[str, object], key: str, where: str) -> list[object]:
    value = period.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayoutDataError(f"{where}.{key} {shown(value)} is not a list")
    return value


def _amount(item: Mapping[str, object], key: str, where: str) -> tuple[str, Decimal]:
    """A Mollie amount object: the administration's currency, a string of whole cents."""
    value = _money(item, key, where)
    if not is_cents(value):
        raise PayoutDataError(f"{where}.{key}.value {value} is not in whole cents")
    return BASE_CURRENCY, value


def _precise(item: object, key: str, where: str) -> Decimal:
    """An amount Mollie states to four decimals (a settlement's revenue and costs)."""
    if not isinstance(item, Mapping):
        raise PayoutDataError(f"{where} {shown(item)} is not an amount line")
    return _money(item, key, where)


def _money(item: Mapping[str, object], key: str, where: str) -> Decimal:
    if key not in item or item[key] is None:
        raise PayoutDataError(f"{where}.{key} is missing")
    amount = item[key]
    if not isinstance(amount, Mapping):
        raise PayoutDataError(f"{where}.{key} {shown(amount)} is not an amount")
    currency = amount.get("currency")
    if currency != BASE_CURRENCY:
        raise PayoutDataError(
            f"{where}.{key}.currency is {shown(currency)}; only {BASE_CURRENCY} is booked"
        )
    # Mollie sends every amount as a decimal string; a number or anything else is not its.
    return parse_amount(amount.get("value"), f"{where}.{key}.value", 4)


def _moment(item: Mapping[str, object], key: str, where: str, now: datetime | None) -> datetime:
    return parse_moment(item.get(key), f"{where}.{key}", now)


def _order_reference(item: Mapping[str, object]) -> str | None:
    metadata = item.get("metadata")
    if isinstance(metadata, Mapping):
        for key in ORDER_KEYS:
            value = metadata.get(key)
            if isinstance(value, bool):
                continue
            if isinstance(value, int) and not -(10**40) < value < 10**40:
                continue  # no order number
            if isinstance(value, int) or (isinstance(value, str) and value.strip()):
                text = str(value).strip()
                if len(text) <= 40 and text.isprintable():
                    return text
    description = item.get("description")
    if isinstance(description, str):
        match = ORDER_IN_DESCRIPTION.match(description)
        if match:
            return match.group(1)
    return None


def _text(value: object) -> str:
    return " ".join(value.split())[:200] if isinstance(value, str) else ""
