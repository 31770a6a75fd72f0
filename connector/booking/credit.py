"""Pure refund booking: a shop refund on a booked order becomes a credit-invoice draft, or a
parking reason. No I/O here.

A full refund keeps Moneybird's own duplicate of the original (every line negated). A partial
refund replaces the duplicated lines: refunded lines go back at the ledger and tax rate they were
booked at; an amount without lines is spread over the original's VAT rates in proportion to the
original amounts (or booked on one configured ledger and rate). Partial credit invoices carry
prices including VAT, so their total is exactly what the shop paid back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from connector import invoice_texts
from connector.booking.book import BookingSettings, Parked, describe_differences, reference_for
from connector.booking.invoice import (
    InvoiceDraft,
    InvoiceLine,
    PaymentPlan,
    Totals,
    differences,
    line_totals_by_rate,
    predict,
    vat_in,
)
from connector.booking.mappings import Mappings
from connector.booking.payments import PaymentProblem, less, payout_plans
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.money import ZERO, fmt, split
from connector.order import LineKind, Order, Refund


@dataclass(frozen=True)
class BookedLine:
    """Where (part of) a shop line was booked on the original invoice."""

    tax_rate_id: str
    ledger_account_id: str
    share: Decimal  # the part of the shop line's amount on this invoice line; 1 when whole


LineMap = dict[str, tuple[BookedLine, ...]]


def line_map(draft: InvoiceDraft) -> LineMap:
    """Which Moneybird tax rate and ledger each shop line was booked at."""
    totals: dict[str, dict[tuple[str, str], Decimal]] = {}
    for line in draft.lines:
        if not line.line_id:
            continue
        parts = totals.setdefault(line.line_id, {})
        key = (line.tax_rate_id, line.ledger_account_id)
        parts[key] = parts.get(key, ZERO) + line.total
    found: LineMap = {}
    for line_id, parts in totals.items():
        whole = sum(parts.values(), ZERO)
        found[line_id] = tuple(
            BookedLine(rate, ledger, (value / whole) if whole else Decimal(1) / len(parts))
            for (rate, ledger), value in parts.items()
        )
    return found


@dataclass(frozen=True)
class CreditDraft:
    reference: str
    invoice_date: date
    full: bool  # keep Moneybird's duplicate of the original as it is
    lines: tuple[InvoiceLine, ...]  # partial refunds: negative, prices incl. VAT
    expected: Totals  # what the shop paid back: the figures the credit invoice must equal
    payments: tuple[PaymentPlan, ...]  # negative: money going out, one per way paid back
    notes: tuple[str, ...] = field(default=())
    # What Moneybird computes of it (None: as `expected`): where it differs from the shop's
    # figures, within the rounding tolerance, that is the booking's own rounding.
    predicted: Totals | None = None


@dataclass(frozen=True)
class OriginalInvoice:
    """The invoice a refund credits, as booking needs it: read from Moneybird
    (moneybird/documents.py), or made from the draft before it exists (preview, dry run)."""

    number: str
    currency: str | None
    totals: Totals  # total incl. VAT, and VAT per Moneybird rate
    gross_by_rate: dict[str, Decimal]  # its amount per rate incl. VAT (rates with an amount)
    ledgers: dict[str, dict[str, Decimal]]  # rate -> ledger -> its lines' amount there


class _Park(Exception):
    pass


def refund_reference(order: Order, refund: Refund, settings: BookingSettings) -> str:
    """The original's reference plus the shop's refund id: unique per refund, URL-safe."""
    tail = re.sub(r"[^A-Za-z0-9]+", "-", refund.refund_id.rsplit("/", 1)[-1]).strip("-")
    return f"{reference_for(order, settings.reference_template)}-R{tail}"


def book_refund(
    order: Order,
    refund: Refund,
    original: OriginalInvoice,
    booked: LineMap,
    rates: dict[str, MoneybirdTaxRate],
    mappings: Mappings,
    settings: BookingSettings,
) -> CreditDraft | Parked:
    """`original`: the credited invoice; `booked`: its line map."""
    try:
        return _book_refund(order, refund, original, booked, rates, mappings, settings)
    except _Park as park:
        return Parked(str(park))
    except ArithmeticError:
        return Parked("the refund's amounts are too large or too precise to book; check it")


def _book_refund(
    order: Order,
    refund: Refund,
    original: OriginalInvoice,
    booked: LineMap,
    rates: dict[str, MoneybirdTaxRate],
    mappings: Mappings,
    settings: BookingSettings,
) -> CreditDraft:
    tolerance = settings.rounding_tolerance
    number = original.number
    if refund.amount <= ZERO:
        raise _Park(f"refund amount {fmt(refund.amount)} is not positive")
    invoiced_in = original.currency or order.currency
    if invoiced_in != order.currency:
        raise _Park(
            f"the refund is read in {order.currency} but invoice {number} is in {invoiced_in} "
            "(was sync.currencies changed after it was booked?)"
        )
    refunded_on = refund.created_at.astimezone(settings.timezone).date()
    try:
        payments = payout_plans(order, refund, mappings, refunded_on, settings.gift_card_methods)
    except PaymentProblem as problem:
        raise _Park(str(problem)) from None
    reference = refund_reference(order, refund, settings)
    refunded_before = sum(
        (r.amount for r in order.refunds if r.refund_id != refund.refund_id), ZERO
    )
    if refund.amount == order.total and refunded_before == ZERO:
        original_totals = original.totals
        expected = Totals(
            -original_totals.total_incl_tax,
            {rate: -vat for rate, vat in original_totals.vat_by_rate.items()},
        )
        gap = expected.total_incl_tax + refund.amount
        if abs(gap) > tolerance:
            raise _Park(
                f"the full refund of {fmt(refund.amount)} differs from invoice {number}'s "
                f"total {fmt(original_totals.total_incl_tax)}"
            )
        rounding = (f"{fmt(gap)} between invoice and refund settled as rounding",) if gap else ()
        return CreditDraft(reference, refunded_on, True, (), expected, payments, rounding)
    if refunded_before + refund.amount > order.total + tolerance:
        raise _Park(
            f"refunds add up to {fmt(refunded_before + refund.amount)}, more than the order "
            f"total {fmt(order.total)}"
        )

    lines, vat = refund_lines(order, refund, booked, number, rates)
    notes: list[str] = []
    remainder = refund.amount - refund.lines_total
    if remainder < -tolerance:
        raise _Park(
            f"the refunded lines add up to {fmt(refund.lines_total)}, more than the "
            f"refund of {fmt(refund.amount)}"
        )
    if remainder > tolerance or (remainder > ZERO and not lines):
        extra, extra_vat = _amount_only(remainder, refund, original, rates, settings)
        lines.extend(extra)
        for rate_id, amount in extra_vat.items():
            vat[rate_id] = vat.get(rate_id, ZERO) + amount
        how = "proportionally over the original VAT rates"
        if settings.refund_amount_only == "fixed":
            how = "on the configured refund ledger and rate"
        notes.append(f"{fmt(remainder)} refunded without lines, booked {how}")
    percentages = {line.tax_rate_id: _percentage(rates, line.tax_rate_id) for line in lines}
    expected = Totals(-refund.amount, {rate: -amount for rate, amount in vat.items()})
    predicted = predict(tuple(lines), percentages, incl=True)
    diffs = differences(predicted, expected)
    too_big = {k: v for k, v in diffs.items() if abs(v) > tolerance}
    if too_big:
        raise _Park("Moneybird would compute " + describe_differences(too_big, rates))
    if diffs:
        notes.append("within rounding tolerance: " + describe_differences(diffs, rates))
    return CreditDraft(
        reference, refunded_on, False, tuple(lines), expected, payments, tuple(notes), predicted
    )


def refund_lines(
    order: Order,
    refund: Refund,
    booked: LineMap,
    number: str,
    rates: dict[str, MoneybirdTaxRate],
) -> tuple[list[InvoiceLine], dict[str, Decimal]]:
    """Credit lines (gross, negative) for the refunded lines, with the shop's VAT per rate."""
    lines: list[InvoiceLine] = []
    vat: dict[str, Decimal] = {}
    for refunded in refund.lines:
        entries = booked.get(refunded.line_id)
        if not entries:
            raise _Park(
                f"refunded line '{refunded.description}' (shop line {refunded.line_id}) is not "
                f"on invoice {number}"
            )
        original_line = order.line(refunded.line_id)
        description = original_line.description if original_line else refunded.description
        if refunded.kind is LineKind.PRODUCT and refunded.quantity not in (ZERO, Decimal(1)):
            description = f"{refunded.quantity.normalize():f} x {description}"
        shares = [e.share for e in entries]
        grosses = split(refunded.net + refunded.tax, shares)
        taxes = [refunded.tax]
        if len(entries) > 1:  # booked split over rates (shipping VAT): each part's own VAT
            taxes = [
                vat_in(gross, _percentage(rates, e.tax_rate_id))
                for e, gross in zip(entries, grosses, strict=True)
            ]
        for entry, gross, tax in zip(entries, grosses, taxes, strict=True):
            lines.append(
                InvoiceLine(
                    refunded.kind,
                    description,
                    Decimal(-1),
                    gross,
                    entry.tax_rate_id,
                    entry.ledger_account_id,
                    refunded.line_id,
                )
            )
            vat[entry.tax_rate_id] = vat.get(entry.tax_rate_id, ZERO) + tax
    return lines, vat


def _amount_only(
    amount: Decimal,
    refund: Refund,
    original: OriginalInvoice,
    rates: dict[str, MoneybirdTaxRate],
    settings: BookingSettings,
) -> tuple[list[InvoiceLine], dict[str, Decimal]]:
    return spread(amount, refund, original.gross_by_rate, original.ledgers, rates, settings)


def spread(
    amount: Decimal,
    refund: Refund,
    gross: dict[str, Decimal],
    ledgers: dict[str, dict[str, Decimal]],
    rates: dict[str, MoneybirdTaxRate],
    settings: BookingSettings,
) -> tuple[list[InvoiceLine], dict[str, Decimal]]:
    """Lines (gross, negative) for an amount refunded without lines, and their VAT per rate:
    over `gross` (the original's amount per tax rate) in proportion, and within each rate over
    its ledgers (`ledgers`: rate -> ledger -> amount) in proportion, so a product refund goes
    back on the product ledgers, not on whichever single line was largest; or on the fixed
    ledger and rate."""
    description = invoice_texts.REFUND_WITHOUT_LINES + (
        f": {refund.reason}" if refund.reason else ""
    )
    if settings.refund_amount_only == "fixed":
        rate = rates.get(settings.refund_tax_rate_id or "")
        if rate is None or not rate.usable_for_sales:
            raise _Park(
                f"refunds.tax_rate_id {settings.refund_tax_rate_id!r} is not an active sales "
                "tax rate in Moneybird"
            )
        line = InvoiceLine(
            LineKind.PRODUCT,
            description,
            Decimal(-1),
            amount,
            rate.id,
            settings.refund_ledger_account_id or "",
        )
        return [line], {rate.id: vat_in(amount, rate.percentage)}
    if not gross or any(v < ZERO for v in gross.values()) or sum(gross.values()) <= ZERO:
        raise _Park(
            "an amount-only refund cannot be spread over the original invoice's VAT rates "
            "(no positive amounts per rate); book it by hand, or set [refunds] amount_only = "
            "'fixed' with the ledger_account_id and tax_rate_id to book such refunds on"
        )
    rate_ids = list(gross)
    portions = split(amount, [gross[r] for r in rate_ids])
    lines: list[InvoiceLine] = []
    vat: dict[str, Decimal] = {}
    for rate_id, portion in zip(rate_ids, portions, strict=True):
        if portion == ZERO:
            continue
        # Revenue ledgers only: a discount line's negative amount is no place to credit to.
        parts = {ledger: v for ledger, v in (ledgers.get(rate_id) or {}).items() if v > ZERO}
        if not parts:
            raise _Park(f"the original invoice has no line at tax rate {rate_id}")
        ledger_ids = sorted(parts)
        for ledger_id, share in zip(
            ledger_ids, split(portion, [parts[ledger] for ledger in ledger_ids]), strict=True
        ):
            if share:
                line = InvoiceLine(
                    LineKind.PRODUCT, description, Decimal(-1), share, rate_id, ledger_id
                )
                lines.append(line)
        vat[rate_id] = vat_in(portion, _percentage(rates, rate_id))
    return lines, vat


def net_of_refunds(
    draft: InvoiceDraft,
    order: Order,
    rates: dict[str, MoneybirdTaxRate],
    settings: BookingSettings,
) -> InvoiceDraft | Parked:
    """refunds.before_booking = "net": one invoice for what the customer kept, the refunds as
    negative lines at the rates and ledgers their lines were booked at."""
    try:
        return _net_of_refunds(draft, order, rates, settings)
    except _Park as park:
        return Parked(str(park))


def _net_of_refunds(
    draft: InvoiceDraft,
    order: Order,
    rates: dict[str, MoneybirdTaxRate],
    settings: BookingSettings,
) -> InvoiceDraft:
    if not draft.prices_are_incl_tax:
        raise _Park(
            "refunds.before_booking = 'net' needs prices including VAT; this order's are "
            "excluding VAT: use 'invoice_and_credit'"
        )
    booked = line_map(draft)
    gross = line_totals_by_rate(draft.lines)
    ledgers: dict[str, dict[str, Decimal]] = {}
    for line in draft.lines:
        at_rate = ledgers.setdefault(line.tax_rate_id, {})
        at_rate[line.ledger_account_id] = at_rate.get(line.ledger_account_id, ZERO) + line.total
    lines = list(draft.lines)
    vat = dict(draft.shop_totals.vat_by_rate)
    refunded = ZERO
    notes = list(draft.notes)
    for refund in order.refunds:
        credit, credit_vat = refund_lines(order, refund, booked, "this order", rates)
        remainder = refund.amount - refund.lines_total
        if abs(remainder) > settings.rounding_tolerance or (remainder > ZERO and not credit):
            extra, extra_vat = spread(
                remainder,
                refund,
                {k: v for k, v in gross.items() if v},
                ledgers,
                rates,
                settings,
            )
            credit.extend(extra)
            for rate_id, amount in extra_vat.items():
                credit_vat[rate_id] = credit_vat.get(rate_id, ZERO) + amount
        lines.extend(credit)
        for rate_id, amount in credit_vat.items():
            vat[rate_id] = vat.get(rate_id, ZERO) - amount
        refunded += refund.amount
        notes.append(f"refund {refund.refund_id} of {fmt(refund.amount)} booked on this invoice")
    total = draft.shop_totals.total_incl_tax - refunded
    if total < ZERO:
        raise _Park(f"refunds exceed the order total by {fmt(-total)}")
    expected = Totals(total, vat)
    percentages = {line.tax_rate_id: _percentage(rates, line.tax_rate_id) for line in lines}
    predicted = predict(tuple(lines), percentages, incl=True)
    diffs = differences(predicted, expected)
    too_big = {k: v for k, v in diffs.items() if abs(v) > settings.rounding_tolerance}
    if too_big:
        raise _Park("Moneybird would compute " + describe_differences(too_big, rates))
    return replace(
        draft,
        lines=tuple(lines),
        shop_totals=expected,
        predicted=predicted,
        payments=less(draft.payments, refunded),
        notes=tuple(notes),
    )


def original_from_draft(draft: InvoiceDraft) -> OriginalInvoice:
    """The invoice a draft will become, to work out the credit for a refund before the
    original exists (preview, dry run)."""
    gross: dict[str, Decimal] = {}
    vat: dict[str, Decimal] = {}
    for rate_id, amount in line_totals_by_rate(draft.lines).items():
        vat[rate_id] = draft.predicted.vat_by_rate.get(rate_id, ZERO)
        gross[rate_id] = amount if draft.prices_are_incl_tax else amount + vat[rate_id]
    ledgers: dict[str, dict[str, Decimal]] = {}
    for line in draft.lines:
        at_rate = ledgers.setdefault(line.tax_rate_id, {})
        at_rate[line.ledger_account_id] = (
            at_rate.get(line.ledger_account_id, ZERO) + line.amount * line.price
        )
    return OriginalInvoice(
        number=draft.reference,
        currency=draft.currency,
        totals=Totals(draft.predicted.total_incl_tax, vat),
        gross_by_rate={rate: amount for rate, amount in gross.items() if amount != ZERO},
        ledgers=ledgers,
    )


def _percentage(rates: dict[str, MoneybirdTaxRate], rate_id: str) -> Decimal:
    rate = rates.get(rate_id)
    if rate is None:
        raise _Park(f"tax rate {rate_id} of the original invoice no longer exists")
    return rate.percentage
