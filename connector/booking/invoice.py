"""The invoice draft booking produces, and Moneybird's arithmetic predicted on it.

Moneybird computes VAT per tax rate over the summed line amounts (see `tax_totals` in its
responses), so the prediction here does the same; the create response is checked against the
shop anyway before an invoice is finalized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from connector.money import ZERO, cents
from connector.order import LineKind

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class InvoiceLine:
    kind: LineKind
    description: str
    amount: Decimal  # quantity
    price: Decimal  # unit price, incl. or excl. VAT as the invoice says
    tax_rate_id: str
    ledger_account_id: str
    line_id: str = ""  # the shop line it books, so a refund of that line can find it

    @property
    def total(self) -> Decimal:
        return cents(self.amount * self.price)


@dataclass(frozen=True)
class Totals:
    total_incl_tax: Decimal
    vat_by_rate: dict[str, Decimal]  # Moneybird tax_rate_id -> VAT amount


@dataclass(frozen=True)
class PaymentPlan:
    amount: Decimal
    payment_date: date
    transaction_identifier: str
    financial_account_id: str | None
    price_base: Decimal | None = None  # the amount in euros, for an invoice in another currency


@dataclass(frozen=True)
class InvoiceDraft:
    order_key: str
    reference: str
    invoice_date: date
    currency: str
    prices_are_incl_tax: bool
    lines: tuple[InvoiceLine, ...]
    shop_totals: Totals  # what the shop charged: the figures the invoice must equal
    predicted: Totals  # what Moneybird will compute from these lines
    payments: tuple[PaymentPlan, ...]  # one per way the customer paid
    workflow_id: str | None = None
    document_style_id: str | None = None
    notes: tuple[str, ...] = field(default=())  # rounding decisions, shown in preview/status


def line_totals_by_rate(lines: tuple[InvoiceLine, ...]) -> dict[str, Decimal]:
    """The lines' amounts summed per tax rate, as Moneybird sums them before its VAT."""
    totals: dict[str, Decimal] = {}
    for line in lines:
        totals[line.tax_rate_id] = totals.get(line.tax_rate_id, ZERO) + line.total
    return totals


def vat_in(gross: Decimal, percentage: Decimal) -> Decimal:
    """The VAT contained in an amount including VAT, rounded to cents."""
    return cents(gross * percentage / (HUNDRED + percentage))


def predict(lines: tuple[InvoiceLine, ...], percentages: dict[str, Decimal], incl: bool) -> Totals:
    """Moneybird's totals for these lines: VAT per rate, rounded once on the rate's total."""
    base = line_totals_by_rate(lines)
    vat: dict[str, Decimal] = {}
    for rate_id, amount in base.items():
        pct = percentages[rate_id]
        vat[rate_id] = vat_in(amount, pct) if incl else cents(amount * pct / HUNDRED)
    gross = sum(base.values(), ZERO)
    total = gross if incl else gross + sum(vat.values(), ZERO)
    return Totals(total_incl_tax=total, vat_by_rate=vat)


def differences(actual: Totals, expected: Totals) -> dict[str, Decimal]:
    """Non-zero differences actual - expected: key "total" and one per tax rate id."""
    diffs: dict[str, Decimal] = {}
    if actual.total_incl_tax != expected.total_incl_tax:
        diffs["total"] = actual.total_incl_tax - expected.total_incl_tax
    for rate_id in sorted(set(actual.vat_by_rate) | set(expected.vat_by_rate)):
        delta = actual.vat_by_rate.get(rate_id, ZERO) - expected.vat_by_rate.get(rate_id, ZERO)
        if delta:
            diffs[rate_id] = delta
    return diffs
