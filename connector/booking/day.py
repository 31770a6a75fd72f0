"""Summary booking (sync.mode = "summary"): consumer orders paid on one day become one document
for the day, the way Dutch bookkeepers book webshop revenue (a verzamelfactuur): one line per
ledger account and tax rate, one payment per financial account, the day's orders listed on it.

Pure, like the rest of booking. Each order's part is worked out from its own draft when it
joins its day (a `DayShare`, kept in the state), so the day is built from the state alone and
its total is the sum of its orders by construction. Moneybird rounds VAT once per rate over a
document, the shop once per order: `day_draft` takes the price basis on which the two agree,
and where neither does (a cent or two on a busy day; splitting the day into documents that
each agree was measured to take nearly a document per order), the one that comes closest,
with the difference per rate in the notes. The total stays what the customers paid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector.booking.credit import CreditDraft, OriginalInvoice
from connector.booking.invoice import HUNDRED, InvoiceDraft, InvoiceLine, PaymentPlan, Totals
from connector.booking.mappings import Mappings, line_percentage
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.booking.vat_rules import EU
from connector.money import ZERO, cents
from connector.order import LineKind, Order

Slot = tuple[str, str]  # (ledger account id, tax rate id): one line of the day's document
ORDERS_PER_LINE = 40  # the order list is written on zero lines, this many orders each


def individual_reason(order: Order, mappings: Mappings | None = None) -> str | None:
    """Why this order keeps an invoice of its own even in summary mode, or None when it joins
    its day. The day is for consumers at home and in the EU; everything a customer or the tax
    return needs to see on its own stays individual, and so does what the ledger table says
    (a rule with `individual = true`)."""
    if order.customer.is_business:
        return "a business customer with a VAT number: the ICP listing needs its own invoice"
    shipping = order.customer.shipping
    country = shipping.country if shipping and shipping.country else order.customer.billing.country
    if country and country.upper() not in EU:
        return f"an export to {country.upper()}: its own invoice"
    if order.currency != "EUR":
        return f"in {order.currency}: its own invoice, with its VAT in euros"
    if order.invoice_requested:
        return "the customer asked for an invoice"
    for line in order.lines:
        percentage = line_percentage(order, line)
        if mappings and mappings.individual_line(line.kind, line.sku, line.tax_class, percentage):
            return f"the ledger table books {line.description!r} on an invoice of its own"
    return None


@dataclass(frozen=True)
class DayShare:
    """One order's part of its day: its amounts per (ledger, tax rate), incl. and excl. VAT,
    the VAT the shop charged per rate, and what it paid per financial account."""

    order_key: str
    reference: str  # the order's own reference (WC-1001), listed on the day's document
    day: date
    total: Decimal  # what the customer paid
    gross: dict[Slot, Decimal]
    net: dict[Slot, Decimal]
    vat: dict[str, Decimal]  # per tax rate id
    payments: dict[str, Decimal]  # financial account id ("" when none is mapped) -> amount

    def to_json(self) -> str:
        return json.dumps(
            {
                "order_key": self.order_key,
                "reference": self.reference,
                "day": self.day.isoformat(),
                "total": str(self.total),
                "gross": [[ledger, rate, str(v)] for (ledger, rate), v in self.gross.items()],
                "net": [[ledger, rate, str(v)] for (ledger, rate), v in self.net.items()],
                "vat": {rate: str(v) for rate, v in self.vat.items()},
                "payments": {account: str(v) for account, v in self.payments.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> DayShare:
        data: dict[str, Any] = json.loads(text)
        return cls(
            order_key=data["order_key"],
            reference=data["reference"],
            day=date.fromisoformat(data["day"]),
            total=Decimal(data["total"]),
            gross={(ledger, rate): Decimal(v) for ledger, rate, v in data["gross"]},
            net={(ledger, rate): Decimal(v) for ledger, rate, v in data["net"]},
            vat={rate: Decimal(v) for rate, v in data["vat"].items()},
            payments={account: Decimal(v) for account, v in data["payments"].items()},
        )


def share_of(draft: InvoiceDraft, day: date) -> DayShare:
    """The order's part of its day, from the draft booking made of it: its lines per slot on
    the draft's own basis, the other basis worked out per rate from the VAT the shop charged
    (spread over the rate's ledgers by their amounts, the last cent to the largest)."""
    own: dict[Slot, Decimal] = {}
    for line in draft.lines:
        slot = (line.ledger_account_id, line.tax_rate_id)
        own[slot] = own.get(slot, ZERO) + line.total
    vat = {rate: amount for rate, amount in draft.shop_totals.vat_by_rate.items()}
    other: dict[Slot, Decimal] = {}
    for rate in {rate for _ledger, rate in own}:
        slots = {s: v for s, v in own.items() if s[1] == rate}
        spread = _spread(vat.get(rate, ZERO), slots)
        sign = Decimal(-1) if draft.prices_are_incl_tax else Decimal(1)
        for slot, amount in slots.items():
            other[slot] = amount + sign * spread[slot]
    gross, net = (own, other) if draft.prices_are_incl_tax else (other, own)
    payments: dict[str, Decimal] = {}
    for plan in draft.payments:
        account = plan.financial_account_id or ""
        payments[account] = payments.get(account, ZERO) + plan.amount
    return DayShare(
        order_key=draft.order_key,
        reference=draft.reference,
        day=day,
        total=draft.shop_totals.total_incl_tax,
        gross=gross,
        net=net,
        vat=vat,
        payments=payments,
    )


def _spread(total: Decimal, weights: dict[Slot, Decimal]) -> dict[Slot, Decimal]:
    """`total` over the slots in proportion to their amounts, in cents, adding up exactly."""
    whole = sum(weights.values(), ZERO)
    if not whole:
        first = next(iter(weights))
        return {slot: (total if slot == first else ZERO) for slot in weights}
    shares = {slot: cents(total * amount / whole) for slot, amount in weights.items()}
    largest = max(weights, key=lambda s: abs(weights[s]))
    shares[largest] += total - sum(shares.values(), ZERO)
    return shares


def original_of_share(share: DayShare) -> OriginalInvoice:
    """An order's part of its day, as the refund booking takes the invoice it credits."""
    gross_by_rate: dict[str, Decimal] = {}
    ledgers: dict[str, dict[str, Decimal]] = {}
    for (ledger, rate), amount in share.gross.items():
        gross_by_rate[rate] = gross_by_rate.get(rate, ZERO) + amount
        ledgers.setdefault(rate, {})[ledger] = amount
    return OriginalInvoice(
        number=share.reference,
        currency="EUR",
        totals=Totals(share.total, dict(share.vat)),
        gross_by_rate={rate: amount for rate, amount in gross_by_rate.items() if amount},
        ledgers=ledgers,
    )


def refund_share(credit: CreditDraft, key: str, order: DayShare, day: date) -> DayShare:
    """A refund's part of the day it is paid out on: negative lines and negative payments.
    A refund of everything takes back the order's whole part."""
    payments: dict[str, Decimal] = {}
    for plan in credit.payments:
        account = plan.financial_account_id or ""
        payments[account] = payments.get(account, ZERO) + plan.amount
    if credit.full:
        return DayShare(
            order_key=key,
            reference=credit.reference,
            day=day,
            total=-order.total,
            gross={slot: -amount for slot, amount in order.gross.items()},
            net={slot: -amount for slot, amount in order.net.items()},
            vat={rate: -amount for rate, amount in order.vat.items()},
            payments=payments,
        )
    as_invoice = InvoiceDraft(
        order_key=key, reference=credit.reference, invoice_date=day, currency="EUR",
        prices_are_incl_tax=True, lines=credit.lines, shop_totals=credit.expected,
        predicted=credit.expected, payments=credit.payments,
    )  # fmt: skip
    return share_of(as_invoice, day)


def _summed(*parts: tuple[Decimal, dict[Any, Decimal]]) -> dict[Any, Decimal]:
    """Amounts by key, each part weighted by its sign; keys that come to zero left out."""
    out: dict[Any, Decimal] = {}
    for sign, amounts in parts:
        for key, amount in amounts.items():
            out[key] = out.get(key, ZERO) + sign * amount
    return {key: amount for key, amount in out.items() if amount}


def booked_share(share: DayShare, corrections: list[DayShare]) -> DayShare:
    """What an order's days have booked of it: its own part and every correction since."""
    parts = [share, *corrections]
    return DayShare(
        order_key=share.order_key,
        reference=share.reference,
        day=share.day,
        total=sum((p.total for p in parts), ZERO),
        gross=_summed(*((Decimal(1), p.gross) for p in parts)),
        net=_summed(*((Decimal(1), p.net) for p in parts)),
        vat=_summed(*((Decimal(1), p.vat) for p in parts)),
        payments=_summed(*((Decimal(1), p.payments) for p in parts)),
    )


def correction_share(
    now: DayShare, booked: DayShare, key: str, reference: str, day: date
) -> DayShare | None:
    """The difference between an order as the shop has it now and what its days booked, as a
    part of the day the change is seen; None when nothing the books show has changed (a note,
    a status, a refund: refunds are booked on their own)."""
    one, minus = Decimal(1), Decimal(-1)
    share = DayShare(
        order_key=key,
        reference=reference,
        day=day,
        total=now.total - booked.total,
        gross=_summed((one, now.gross), (minus, booked.gross)),
        net=_summed((one, now.net), (minus, booked.net)),
        vat=_summed((one, now.vat), (minus, booked.vat)),
        payments=_summed((one, now.payments), (minus, booked.payments)),
    )
    if not (share.total or share.gross or share.net or share.vat or share.payments):
        return None
    return share


@dataclass(frozen=True)
class DayDraft:
    """The day's document, and the proof that it equals its orders."""

    reference: str  # e.g. WC-2026-11-29: found again by it after a crash
    day: date
    prices_are_incl_tax: bool
    lines: tuple[InvoiceLine, ...]  # one per (ledger, tax rate), then the order list
    shop_totals: Totals  # the sum of the orders: what the document must show
    predicted: Totals  # what Moneybird will compute from these lines
    payments: tuple[PaymentPlan, ...]  # one per financial account
    orders: tuple[str, ...]  # the order keys it books
    exact: bool  # Moneybird's VAT per rate equals the orders' on this basis
    notes: tuple[str, ...] = field(default=())


def day_draft(
    reference: str,
    day: date,
    shares: list[DayShare],
    rates: dict[str, MoneybirdTaxRate],
    description: str,
) -> DayDraft:
    """The day's document from its orders' shares: on the price basis on which Moneybird's
    VAT per rate (rounded once per rate) equals the sum of the VAT the shop charged; when
    neither basis does, the one that comes closest, the difference per rate in the notes and
    the total settled by a rounding payment."""
    gross: dict[Slot, Decimal] = {}
    net: dict[Slot, Decimal] = {}
    vat: dict[str, Decimal] = {}
    payments: dict[str, Decimal] = {}
    for share in shares:
        for slot, amount in share.gross.items():
            gross[slot] = gross.get(slot, ZERO) + amount
        for slot, amount in share.net.items():
            net[slot] = net.get(slot, ZERO) + amount
        for rate, amount in share.vat.items():
            vat[rate] = vat.get(rate, ZERO) + amount
        for account, amount in share.payments.items():
            payments[account] = payments.get(account, ZERO) + amount
    total = sum((s.total for s in shares), ZERO)
    shop = Totals(total_incl_tax=total, vat_by_rate={r: v for r, v in vat.items() if v})
    tried = []
    for incl in (True, False):
        amounts = gross if incl else net
        predicted = _predict(amounts, rates, incl)
        off = sum(
            (abs(predicted.vat_by_rate.get(r, ZERO) - shop.vat_by_rate.get(r, ZERO))
             for r in set(predicted.vat_by_rate) | set(shop.vat_by_rate)),
            ZERO,
        )  # fmt: skip
        tried.append((off, not incl, incl, amounts, predicted))
    off, _, incl, amounts, predicted = min(tried, key=lambda t: (t[0], t[1]))
    notes = []
    if off:
        for rate in sorted(set(predicted.vat_by_rate) | set(shop.vat_by_rate)):
            delta = predicted.vat_by_rate.get(rate, ZERO) - shop.vat_by_rate.get(rate, ZERO)
            if delta:
                name = rates[rate].name if rate in rates else rate
                notes.append(f"VAT at {name}: Moneybird {delta:+} against the orders' sum")
    lines = [
        InvoiceLine(LineKind.PRODUCT, description, Decimal(1), amount, rate, ledger)
        for (ledger, rate), amount in sorted(amounts.items())
        if amount
    ]
    lines += _order_list(shares, lines[0] if lines else None)
    plans = tuple(
        PaymentPlan(amount, day, f"{reference}/{account or 'unmapped'}", account or None)
        for account, amount in sorted(payments.items())
        if amount
    )
    return DayDraft(
        reference=reference,
        day=day,
        prices_are_incl_tax=incl,
        lines=tuple(lines),
        shop_totals=shop,
        predicted=predicted,
        payments=plans,
        orders=tuple(s.order_key for s in shares),
        exact=not off,
        notes=tuple(notes),
    )


def _predict(
    amounts: dict[Slot, Decimal], rates: dict[str, MoneybirdTaxRate], incl: bool
) -> Totals:
    per_rate: dict[str, Decimal] = {}
    for (_ledger, rate), amount in amounts.items():
        per_rate[rate] = per_rate.get(rate, ZERO) + amount
    vat = {}
    for rate, amount in per_rate.items():
        pct = rates[rate].percentage
        vat[rate] = cents(amount * pct / (HUNDRED + pct)) if incl else cents(amount * pct / HUNDRED)
    base = sum(per_rate.values(), ZERO)
    total = base if incl else base + sum(vat.values(), ZERO)
    return Totals(total_incl_tax=total, vat_by_rate={r: v for r, v in vat.items() if v})


def _order_list(shares: list[DayShare], first: InvoiceLine | None) -> list[InvoiceLine]:
    """The day's orders, by reference and amount, on lines of no amount: who audits a day
    finds every order in it on the document itself."""
    if first is None:
        return []
    listed = [f"{s.reference} {s.total:.2f}" for s in sorted(shares, key=lambda s: s.reference)]
    return [
        InvoiceLine(
            LineKind.PRODUCT,
            "Orders: " + ", ".join(listed[n : n + ORDERS_PER_LINE]),
            Decimal(1),
            ZERO,
            first.tax_rate_id,
            first.ledger_account_id,
        )
        for n in range(0, len(listed), ORDERS_PER_LINE)
    ]
