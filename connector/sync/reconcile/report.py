"""What the bookkeeper is told: the findings, the list of orders and refunds, VAT per rate, and
the whole as a summary line, JSON and CSV (admin/reconcile_report.py puts it on the terminal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector.money import ZERO, fmt
from connector.sync.reconcile.month import Month

AGREES, DIFFERENCES, INCOMPLETE = "agrees", "differences", "incomplete"
FINDINGS = ("missing", "duplicates", "unknown", "differences")
PAYOUTS = "payouts"  # the kind of a payout's finding (payouts.py)


@dataclass(frozen=True)
class Finding:
    kind: str  # missing, duplicates, unknown, differences; payouts
    order: str | None
    reference: str
    documents: tuple[str, ...]  # Moneybird's numbers (or ids of drafts)
    what: str
    advice: str
    shop: dict[str, str] = field(default_factory=dict)
    moneybird: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Stable across runs: one alert per finding, cleared when it is gone."""
        return f"{self.kind}:{self.reference}"

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "order": self.order,
            "reference": self.reference,
            "documents": list(self.documents),
            "what": self.what,
            "advice": self.advice,
        }
        if self.shop or self.moneybird:
            found["shop"], found["moneybird"] = self.shop, self.moneybird
        return found


@dataclass(frozen=True)
class Known:
    """Not in Moneybird, and known not to be: parked for a person, or left by the rules."""

    order: str
    reference: str
    reason: str
    # What it is: an order, a refund (of `order`), a change of an order (summary mode's
    # correction), or a day's document; its own amount incl. VAT, as its document would
    # carry it (a refund's negative: money returned), None when the shop's data cannot say.
    kind: str = "order"
    refund_id: str | None = None
    amount: Decimal | None = None
    currency: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "reference": self.reference,
            "reason": self.reason,
            "kind": self.kind,
            "refund_id": self.refund_id,
            "amount": None if self.amount is None else str(self.amount),
            "currency": self.currency or None,
        }


@dataclass(frozen=True)
class VatRow:
    tax_rate_id: str
    name: str
    percentage: str
    box: str  # the VAT return box, from Moneybird's report
    shop: Decimal  # in euros, as are the other columns
    documents: Decimal
    report: Decimal | None  # Moneybird's report for the whole administration
    # The documents' VAT less the shop's on documents that agree by rounding: Moneybird's
    # rounding of what the connector booked, or over a day's orders.
    rounding: Decimal = ZERO

    @property
    def agrees(self) -> bool:
        return self.shop + self.rounding == self.documents

    def as_dict(self) -> dict[str, Any]:
        return {
            "tax_rate_id": self.tax_rate_id,
            "name": self.name,
            "percentage": self.percentage,
            "box": self.box,
            "shop": str(self.shop),
            "documents": str(self.documents),
            "report": None if self.report is None else str(self.report),
            "rounding": str(self.rounding),
            "agrees": self.agrees,
        }


@dataclass(frozen=True)
class OtherCurrencyVat:
    """VAT at one rate on the documents in one other currency: as they carry it, and in euros
    as Moneybird converted them (which is how the VAT table counts them)."""

    currency: str
    tax_rate_id: str
    name: str
    shop: Decimal  # in the currency
    documents: Decimal  # in the currency
    documents_in_euros: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "tax_rate_id": self.tax_rate_id,
            "name": self.name,
            "shop": str(self.shop),
            "documents": str(self.documents),
            "documents_in_euros": str(self.documents_in_euros),
        }


@dataclass(frozen=True)
class Row:
    """One order or refund (or a document of ours no order explains): the bookkeeper's list."""

    order: str
    kind: str
    day: date | None
    document: str
    net: dict[str, Decimal]
    vat: dict[str, Decimal]
    total: Decimal | None
    accounts: tuple[str, ...]
    status: str
    # Moneybird's total less the shop's, settled by the connector's own rounding payment
    rounding: Decimal | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "order": self.order or None,
            "kind": self.kind,
            "date": self.day.isoformat() if self.day else None,
            "document": self.document or None,
            "net": {rate: str(amount) for rate, amount in self.net.items()},
            "vat": {rate: str(amount) for rate, amount in self.vat.items()},
            "total": None if self.total is None else str(self.total),
            "payment_accounts": list(self.accounts),
            "status": self.status,
            "rounding": None if self.rounding is None else str(self.rounding),
        }


@dataclass(frozen=True)
class PayoutRow:
    """One payout paid out in the month: the provider's figures as booked, its state, its bank
    line, and the provider account's balance in Moneybird after it."""

    provider: str
    payout_id: str
    reference: str
    day: date | None  # paid out (sync.timezone); a refused payout: the day it was seen
    gross: Decimal | None  # the payments
    refunds: Decimal | None  # negative: money returned
    chargebacks: Decimal | None
    other: Decimal | None
    fees: Decimal | None  # what the provider took (positive)
    fee_vat: Decimal | None  # the VAT in the fees, where the provider states it
    net: Decimal | None  # what reached the bank
    state: str
    bank_line: str  # linked, awaited, overdue, none needed, unlinked, gone, not booked
    balance_after: Decimal | None  # the provider's account in Moneybird at the end of `day`

    @property
    def bank_line_linked(self) -> bool:
        return self.bank_line == "linked"

    def as_dict(self) -> dict[str, Any]:
        def text(amount: Decimal | None) -> str | None:
            return None if amount is None else fmt(amount)

        return {
            "provider": self.provider,
            "payout": self.payout_id,
            "reference": self.reference or None,
            "date": self.day.isoformat() if self.day else None,
            "gross": text(self.gross),
            "refunds": text(self.refunds),
            "chargebacks": text(self.chargebacks),
            "other": text(self.other),
            "fees": text(self.fees),
            "fee_vat": text(self.fee_vat),
            "net": text(self.net),
            "state": self.state,
            "bank_line": self.bank_line,
            "bank_line_linked": self.bank_line_linked,
            "balance_after": text(self.balance_after),
        }


@dataclass(frozen=True)
class PayoutBalance:
    """A provider's account in Moneybird over the month: its balance at the month's start (what
    the connector's statements left on it), at its end, and what later payouts explain of it."""

    provider: str
    account: str  # the financial account's name
    opening: Decimal
    closing: Decimal
    held: Decimal  # the month's movements of payouts paid out after it: the provider held them
    read_from: date  # the first day of the mutations read

    @property
    def agrees(self) -> bool:
        return self.closing == self.held

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "account": self.account,
            "opening": fmt(self.opening),
            "closing": fmt(self.closing),
            "held_for_later_payouts": fmt(self.held),
            "read_from": self.read_from.isoformat(),
            "agrees": self.agrees,
        }


@dataclass
class PayoutSection:
    """The month's payouts; present only with [payouts] on."""

    rows: list[PayoutRow] = field(default_factory=list)
    balances: list[PayoutBalance] = field(default_factory=list)
    note: str = ""

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for row in self.rows:
            found[row.state] = found.get(row.state, 0) + 1
        return found

    def as_dict(self, findings: list[Finding]) -> dict[str, Any]:
        return {
            "rows": [row.as_dict() for row in self.rows],
            "balances": [balance.as_dict() for balance in self.balances],
            "findings": [f.as_dict() for f in findings],
            "note": self.note,
        }


@dataclass
class Reconciliation:
    month: Month
    timezone: str
    orders: int = 0
    refunds: int = 0
    documents: int = 0
    missing: list[Finding] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)
    unknown: list[Finding] = field(default_factory=list)
    differences: list[Finding] = field(default_factory=list)
    parked: list[Known] = field(default_factory=list)
    not_booked: list[Known] = field(default_factory=list)  # by the rules: before start, waits
    vat: list[VatRow] = field(default_factory=list)
    vat_other_currencies: list[OtherCurrencyVat] = field(default_factory=list)
    vat_note: str = ""
    rows: list[Row] = field(default_factory=list)
    rate_names: dict[str, str] = field(default_factory=dict)
    # The month's payouts and what does not add up in them; None with [payouts] off.
    payouts: PayoutSection | None = None
    payout_findings: list[Finding] = field(default_factory=list)
    requests: int = 0
    error: str | None = None

    @property
    def order_findings(self) -> list[Finding]:
        return [*self.missing, *self.duplicates, *self.unknown, *self.differences]

    @property
    def findings(self) -> list[Finding]:
        return [*self.order_findings, *self.payout_findings]

    @property
    def outcome(self) -> str:
        if self.error:
            return INCOMPLETE
        return DIFFERENCES if self.findings else AGREES

    def summary(self) -> str:
        if self.error:
            return f"{self.month}: could not complete: {self.error}"
        labels = {"missing": "missing", "duplicates": "duplicated", "unknown": "unknown",
                  "differences": "differing"}  # fmt: skip
        counts = "Moneybird disagrees: " + ", ".join(
            f"{len(getattr(self, k))} {labels[k]}" for k in FINDINGS if getattr(self, k)
        )
        known = ""
        if self.parked or self.not_booked:
            known = f"; known, not booked: {len(self.parked)} parked, "
            known += f"{len(self.not_booked)} left by the rules"
        verdict = "Moneybird agrees with the shop" if not self.order_findings else counts
        rounded = [row.rounding for row in self.rows if row.rounding]
        if rounded and not self.order_findings:
            amounts = ", ".join(f"{abs(r)}" for r in rounded[:5])
            amounts += ", ..." if len(rounded) > 5 else ""
            verdict += (
                f" (with the connector's own rounding on {_count(len(rounded), 'document')}: "
                f"{amounts})"
            )
        return (
            f"{self.month}: {_count(self.orders, 'order')} and "
            f"{_count(self.refunds, 'refund')} in the shop, "
            f"{_count(self.documents, 'document')} in Moneybird: {verdict}{known}"
            f"{self._payouts_summary()}"
        )

    def _payouts_summary(self) -> str:
        """The payouts' part of the summary line; nothing with [payouts] off."""
        if self.payouts is None:
            return ""
        counts = self.payouts.counts()
        states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        told = f"; {_count(len(self.payouts.rows), 'payout')}" + (f" ({states})" if states else "")
        if self.payout_findings:
            return told + f": {_count(len(self.payout_findings), 'payout finding')}"
        return told + ": they add up"

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": str(self.month),
            "timezone": self.timezone,
            "outcome": self.outcome,
            "summary": self.summary(),
            "counts": {
                "orders": self.orders,
                "refunds": self.refunds,
                "documents": self.documents,
            },
            "orders": [row.as_dict() for row in self.rows],
            **{kind: [f.as_dict() for f in getattr(self, kind)] for kind in FINDINGS},
            "parked": [k.as_dict() for k in self.parked],
            "not_booked": [k.as_dict() for k in self.not_booked],
            "vat": [row.as_dict() for row in self.vat],
            "vat_other_currencies": [row.as_dict() for row in self.vat_other_currencies],
            "vat_note": self.vat_note,
            **(
                {"payouts": self.payouts.as_dict(self.payout_findings)}
                if self.payouts is not None
                else {}
            ),
            "moneybird_requests": self.requests,
            "error": self.error,
        }

    def csv_rows(self) -> list[list[str]]:
        """A header and one row per order or refund, net and VAT per rate in columns."""
        rates = sorted({r for row in self.rows for r in (*row.net, *row.vat)})
        names = [self.rate_names.get(r, r) for r in rates]
        header = ["order", "kind", "date", "document", *[f"net {n}" for n in names]]
        header += [f"VAT {n}" for n in names] + ["total", "payment account", "status"]
        table = [header]
        for row in self.rows:
            table.append(
                [
                    row.order,
                    row.kind,
                    row.day.isoformat() if row.day else "",
                    row.document,
                    *[_text(row.net.get(r)) for r in rates],
                    *[_text(row.vat.get(r)) for r in rates],
                    _text(row.total),
                    "; ".join(row.accounts),
                    row.status,
                ]
            )
        return table


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")


def _text(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:.2f}"
