"""The month's payouts (docs/payouts.md), read and checked: what the state recorded of each
payout paid out in the month, against the provider's financial account and the bank lines in
Moneybird. Read only; with [payouts] off nothing is read.

Requests: per provider, the account's mutations from the first day the month's payouts reach
back to (a payout's payments may be dated before the month) to the month's end, in one request
while they are fewer than 100 (else Moneybird's synchronization endpoint); and the bank lines
the payouts were linked to, by their ids, one request per 100.

Balances count from the month's start: the opening balance is what the connector's own
statements left on the account then (their movements dated before the month of payouts paid
out in it or later), so the account's history before the month is not read. A provider's
balance after a payout is that opening plus the account's mutations in Moneybird from the
month's first day to the payout's day; at the month's end it must equal the month's movements
of payouts paid out later (the provider still held them), 0.00 when there are none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import PayoutsConfig
from connector.money import ZERO, fmt, parse
from connector.moneybird import bank
from connector.moneybird.client import MoneybirdClient
from connector.state import Meta, PayoutRecord, PayoutState, Store, from_text, utcnow
from connector.sync.payout_settings import PROVIDER_LABELS
from connector.sync.payouts import bank_line_overdue
from connector.sync.reconcile.month import Month
from connector.sync.reconcile.report import (
    PAYOUTS,
    Finding,
    PayoutBalance,
    PayoutRow,
    PayoutSection,
    Reconciliation,
)
from connector.sync.reconcile.scope import Scope


@dataclass(frozen=True)
class _Line:
    """A statement line as the connector recorded it, of one payout."""

    payout: PayoutRecord
    day: date
    amount: Decimal
    message: str
    mutation_id: str | None
    kind: str  # payment (or refund, chargeback: the parts), fee, payout
    links: tuple[str, ...]  # how the connector linked it, for people

    def named(self) -> str:
        mutation = f", mutation {self.mutation_id}" if self.mutation_id else ""
        return f"{self.kind} line '{self.message}' ({fmt(self.amount)} on {self.day}{mutation})"


@dataclass
class MonthPayouts:
    """One month's payouts of every provider in [payouts], and what does not add up."""

    store: Store
    client: MoneybirdClient
    config: PayoutsConfig
    tz: ZoneInfo
    month: Month
    accounts: Mapping[str, str] | None = None  # financial account id -> name; None: read them
    now: datetime | None = None
    findings: list[Finding] = field(default_factory=list)

    def read(self) -> PayoutSection:
        section = PayoutSection(
            note=(
                f"Balances count from {self.month.first}: the opening balance is what the "
                "connector's statements left on the account then."
            )
        )
        self.findings = []
        now = self.now or utcnow()
        records = self.store.payouts()
        providers = self.config.providers()
        problem = self.store.get_meta(Meta.PAYOUTS_PROBLEM)
        if problem:
            # The last pass could not read a provider (or the setup): payouts it made may be
            # missing here, so the month's payouts cannot be said to add up.
            self._finding(
                "payouts",
                "unread",
                f"the last pass could not book payouts: {problem}",
                "correct what it names (`connector config check` says more), then run "
                "`connector sync` and reconcile again",
            )
        in_month = [r for r in records if self._in_month(r)]
        names = sorted(providers) + sorted({r.provider for r in in_month} - set(providers))
        accounts = self.accounts
        if providers and accounts is None:
            accounts = {
                str(a.get("id")): str(a.get("name") or a.get("id"))
                for a in self.client.financial_accounts()
            }
        bank_lines = self._bank_lines([r for r in in_month if r.bank_mutation_id])
        for name in names:
            mine = [r for r in in_month if r.provider == name]
            section_of = providers.get(name)
            account_id = (
                _account_named(section_of.financial_account, accounts or {}) if section_of else None
            )
            if section_of is not None and account_id is None:
                self._finding(
                    name,
                    "setup",
                    f"{_label(name)}'s financial account '{section_of.financial_account}' is not "
                    "in Moneybird: its payouts cannot be checked",
                    f"name the account in [payouts.{name}] financial_account (`connector "
                    "config check` says what is wrong)",
                )
            balances: dict[str, Decimal] = {}
            if account_id is not None:
                balances = self._account(
                    name,
                    account_id,
                    (accounts or {}).get(account_id, account_id),
                    mine,
                    [r for r in records if r.provider == name],
                    section,
                )
            for record in mine:
                section.rows.append(self._row(record, balances, bank_lines, now))
        section.rows.sort(key=lambda row: (row.day or date.min, row.provider, row.payout_id))
        return section

    # --- which payouts are the month's -----------------------------------------------------

    def _moment(self, record: PayoutRecord) -> datetime | None:
        """When it was paid out; a refused payout carries no date: when it was seen."""
        return from_text(record.paid_out) or from_text(record.first_seen)

    def _day(self, record: PayoutRecord) -> date | None:
        moment = self._moment(record)
        return moment.astimezone(self.tz).date() if moment else None

    def _in_month(self, record: PayoutRecord) -> bool:
        day = self._day(record)
        return day is not None and self.month.first <= day <= self.month.last

    # --- the provider's account ------------------------------------------------------------

    def _account(
        self,
        provider: str,
        account_id: str,
        account_name: str,
        mine: Sequence[PayoutRecord],
        every: Sequence[PayoutRecord],
        section: PayoutSection,
    ) -> dict[str, Decimal]:
        """Reads the account's mutations, names what does not add up, and returns each posted
        payout's balance after it, by its key."""
        first, last = self.month.first, self.month.last
        lines = [line for record in every for line in _lines(record)]
        keys = {record.key for record in mine}
        own = [line for line in lines if line.payout.key in keys]
        read_from = min([first, *(line.day for line in own)])
        rows = self.client.every_financial_mutation(
            {"period": (read_from, last), "financial_account_id": account_id}
        )
        mutations = {m.id: m for m in (bank.mutation_of(row) for row in rows)}
        known = {line.mutation_id: line for line in lines if line.mutation_id}
        for record in mine:
            self._statement(record, [line for line in own if line.payout is record], mutations)
        strangers = [m for m in mutations.values() if m.id not in known and first <= m.date <= last]
        for mutation in strangers:
            if not mutation.processed:
                self._finding(
                    provider,
                    f"unprocessed:{mutation.id}",
                    f"a movement on {account_name} that no payout booked by the connector "
                    f"explains is unprocessed in Moneybird: {_mutation(mutation)}",
                    "book or link it in Moneybird (or delete it, if it does not belong on "
                    "the account)",
                )
        days = {r.key: d for r in every if (d := self._payout_day(r)) is not None}
        opening = sum(
            (
                line.amount
                for line in lines
                if line.day < first and days.get(line.payout.key, date.max) >= first
            ),
            ZERO,
        )
        held = sum(
            (
                line.amount
                for line in lines
                if first <= line.day <= last and days.get(line.payout.key, date.max) > last
            ),
            ZERO,
        )
        month_mutations = [m for m in mutations.values() if first <= m.date <= last]
        closing = opening + sum((m.amount for m in month_mutations), ZERO)
        balance = PayoutBalance(provider, account_name, opening, closing, held, read_from)
        section.balances.append(balance)
        if not balance.agrees:
            self._balance_finding(provider, balance, strangers, mutations, lines)
        return {
            record.key: opening + sum((m.amount for m in month_mutations if m.date <= day), ZERO)
            for record in mine
            if record.statement_id and (day := self._day(record)) is not None
        }

    def _payout_day(self, record: PayoutRecord) -> date | None:
        """The day its payout line is dated; None for a payout whose statement is not posted
        (its movements are not on the account)."""
        return self._day(record) if record.statement_id else None

    def _statement(
        self, record: PayoutRecord, lines: Sequence[_Line], mutations: Mapping[str, bank.Mutation]
    ) -> None:
        """A posted payout's movements: on the account, and processed."""
        if not record.statement_id:
            return
        recorded = [line for line in lines if line.mutation_id]
        gone = [line for line in recorded if line.mutation_id not in mutations]
        what = _payout(record)
        if recorded and len(gone) == len(recorded):
            self._finding(
                record.provider,
                f"gone:{record.payout_id}",
                f"{what}: its statement '{record.provider} {record.payout_id}' is gone from "
                "Moneybird (none of its movements is on the provider's account)",
                (
                    "the next pass finds it gone and parks it; then `connector retry "
                    f"{record.payout_id}` posts it anew"
                )
                if record.state == PayoutState.BOOKED
                else (
                    "the connector counts it as booked: put the statement back (its movements "
                    "linked as before), or book the payout by hand in Moneybird"
                ),
                record.payout_id,
            )
            return
        for line in gone:
            self._finding(
                record.provider,
                f"gone:{line.mutation_id}",
                f"{what}: its {line.named()} is gone from the provider's account in Moneybird",
                "put the movement back on the provider's account and link it as the "
                f"connector did ({'; '.join(line.links) or 'no link'})",
                record.payout_id,
            )
        for line in recorded:
            mutation = mutations.get(line.mutation_id or "")
            if mutation is None or mutation.processed:
                continue
            if record.state not in (PayoutState.LINKED, PayoutState.DONE):
                cause = (
                    f"{what}: its {line.named()} is not linked yet "
                    f"(open {fmt(mutation.amount_open)})"
                )
                advice = (
                    record.reason
                    or "the next pass links it; if it stays, link it by hand in Moneybird as "
                    f"the connector would ({'; '.join(line.links) or 'no link'})"
                )
            else:
                booked = "fee not booked" if line.kind == "fee" else "not booked"
                cause = (
                    f"{what}: its {line.named()} is unprocessed in Moneybird ({booked}: "
                    f"open {fmt(mutation.amount_open)}); it was linked, then unlinked"
                )
                advice = (
                    "link it again in Moneybird as the connector did "
                    f"({'; '.join(line.links) or 'no link'}); a pass never links a movement "
                    "twice"
                )
            self._finding(
                record.provider, f"unprocessed:{mutation.id}", cause, advice, record.payout_id
            )

    def _balance_finding(
        self,
        provider: str,
        balance: PayoutBalance,
        strangers: Sequence[bank.Mutation],
        mutations: Mapping[str, bank.Mutation],
        lines: Sequence[_Line],
    ) -> None:
        first, last = self.month.first, self.month.last
        missing = [
            line
            for line in lines
            if line.mutation_id and first <= line.day <= last and line.mutation_id not in mutations
        ]
        named = [_mutation(m) for m in strangers] + [
            f"{line.named()} of {_payout(line.payout)}, not on the account" for line in missing
        ]
        unprocessed = [m for m in mutations.values() if not m.processed and m.date <= last]
        said = ", ".join(named[:10]) + (", ..." if len(named) > 10 else "")
        open_ones = ", ".join(_mutation(m) for m in unprocessed[:10])
        expected = (
            "0.00"
            if balance.held == ZERO
            else f"{fmt(balance.held)} (movements of payouts paid out later)"
        )
        self._finding(
            provider,
            "balance",
            f"{balance.account} holds {fmt(balance.closing)} in Moneybird at the end of "
            f"{self.month}, not {expected}"
            + (f"; movements no payout explains: {said}" if said else "")
            + (f"; unprocessed: {open_ones}" if open_ones else ""),
            "book, link or delete the movements named on the provider's account in Moneybird",
        )

    # --- the rows --------------------------------------------------------------------------

    def _row(
        self,
        record: PayoutRecord,
        balances: Mapping[str, Decimal],
        bank_lines: Mapping[str, bank.Mutation],
        now: datetime,
    ) -> PayoutRow:
        figures = _figures(record)
        state = PayoutState(record.state)
        what = _payout(record)
        if state == PayoutState.WAITING:
            self._finding(
                record.provider,
                f"waits:{record.payout_id}",
                f"{what} is not booked: {record.reason or 'it waits for its orders'}",
                "book the orders it names (`connector status` says why each waits; "
                "`connector retry` a parked one once its cause is fixed); the payout is then "
                "booked by the next pass",
                record.payout_id,
            )
        elif state in (PayoutState.REFUSED, PayoutState.PARKED):
            self._finding(
                record.provider,
                f"{state.value}:{record.payout_id}",
                f"{what} is {state.value}: {record.reason or 'no reason recorded'}",
                "do what the reason says; a refused payout is booked by hand in Moneybird",
                record.payout_id,
            )
        elif state == PayoutState.FAILED:
            self._finding(
                record.provider,
                f"failed:{record.payout_id}",
                f"{what} is not booked: {record.last_error or 'an error'} "
                f"({record.attempts} attempts)",
                "retried by the next pass; if it keeps failing, fix what the error names",
                record.payout_id,
            )
        bank_line = self._bank_line(record, state, bank_lines, now)
        return PayoutRow(
            provider=record.provider,
            payout_id=record.payout_id,
            reference=record.reference,
            day=self._day(record),
            gross=_amount(figures, "gross"),
            refunds=_amount(figures, "refunds"),
            chargebacks=_amount(figures, "chargebacks"),
            other=_amount(figures, "other"),
            fees=_amount(figures, "fees"),
            fee_vat=_amount(figures, "fee_vat"),
            net=parse(record.net, "net") if record.net else None,
            state=state.value,
            bank_line=bank_line,
            balance_after=balances.get(record.key),
        )

    def _bank_line(
        self,
        record: PayoutRecord,
        state: PayoutState,
        bank_lines: Mapping[str, bank.Mutation],
        now: datetime,
    ) -> str:
        what = _payout(record)
        net = parse(record.net, "net") if record.net else None
        if state == PayoutState.DONE:
            if net == ZERO or not record.bank_mutation_id:
                return "none needed"
            line = bank_lines.get(record.bank_mutation_id)
            if line is None:
                self._finding(
                    record.provider,
                    f"bank_line_gone:{record.payout_id}",
                    f"{what}: the bank line it was linked to (mutation "
                    f"{record.bank_mutation_id}) is gone from Moneybird",
                    "find the bank line of the payout on the bank account and link it to the "
                    "transfer ledger by hand",
                    record.payout_id,
                )
                return "gone"
            if not line.processed:
                self._finding(
                    record.provider,
                    f"bank_line_unlinked:{record.payout_id}",
                    f"{what}: its bank line {_mutation(line)} is unprocessed in Moneybird "
                    "(linked, then unlinked)",
                    "link the bank line to the transfer ledger again in Moneybird",
                    record.payout_id,
                )
                return "unlinked"
            return "linked"
        if state == PayoutState.LINKED:
            if bank_line_overdue(record, self.config.bank_line_days, now):
                self._finding(
                    record.provider,
                    f"bank_line:{record.payout_id}",
                    f"{what}: no bank line of {record.net} with reference {record.reference} "
                    f"found more than {self.config.bank_line_days} days after the payout",
                    "check the bank account in Moneybird: import the bank's statement if the "
                    "line is missing, or link the line to the transfer ledger by hand if its "
                    "amount or message differ",
                    record.payout_id,
                )
                return "overdue"
            return "awaited"
        return "awaited" if record.statement_id else "not booked"

    def _bank_lines(self, records: Iterable[PayoutRecord]) -> dict[str, bank.Mutation]:
        ids = sorted({r.bank_mutation_id for r in records if r.bank_mutation_id})
        if not ids:
            return {}
        return {
            m.id: m
            for m in (bank.mutation_of(row) for row in self.client.financial_mutations_by_ids(ids))
        }

    def _finding(
        self, provider: str, cause: str, what: str, advice: str, payout_id: str = ""
    ) -> None:
        self.findings.append(
            Finding(
                kind=PAYOUTS,
                order=None,
                reference=f"{provider}:{cause}",
                documents=(f"{provider} {payout_id}",) if payout_id else (),
                what=what,
                advice=advice,
            )
        )


class Payouts:
    """The month's payouts in a reconciliation run; nothing with [payouts] off."""

    def __init__(self, scope: Scope, result: Reconciliation) -> None:
        self.scope, self.result = scope, result

    def read(self) -> None:
        config = self.scope.engine.config.file.payouts
        if not config.enabled:
            return
        reading = MonthPayouts(
            self.scope.store,
            self.scope.client,
            config,
            self.scope.tz,
            self.scope.month,
            self.scope.accounts or None,
        )
        self.result.payouts = reading.read()
        self.result.payout_findings = reading.findings


def _lines(record: PayoutRecord) -> list[_Line]:
    if not record.lines or not record.statement_id:
        return []
    found = []
    for line in json.loads(record.lines):
        if line.get("fee_ids"):
            kind = "fee"
        elif not line.get("part_ids"):
            kind = "payout"
        else:
            kind = "payment" if parse(line["amount"], "amount") >= ZERO else "refund"
        links = tuple(
            f"{link['booking_type']} {link['booking_id']}"
            + (f" {link['price_base']}" if link.get("price_base") else "")
            for link in line.get("links") or []
        )
        found.append(
            _Line(
                payout=record,
                day=date.fromisoformat(line["date"]),
                amount=parse(line["amount"], "amount"),
                message=str(line.get("message") or ""),
                mutation_id=None if line.get("mutation_id") is None else str(line["mutation_id"]),
                kind=kind,
                links=links,
            )
        )
    return found


def _figures(record: PayoutRecord) -> dict[str, Any]:
    try:
        found = json.loads(record.figures or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _amount(figures: Mapping[str, Any], key: str) -> Decimal | None:
    value = figures.get(key)
    return None if value is None else parse(value, key)


def _account_named(value: str, accounts: Mapping[str, str]) -> str | None:
    """The account [payouts] names, by its id, else by its name (case and spaces aside)."""
    if value in accounts:
        return value

    def squeezed(text: str) -> str:
        return " ".join(text.split()).casefold()

    named = [aid for aid, name in accounts.items() if squeezed(name) == squeezed(value)]
    return named[0] if len(named) == 1 else None


def provider_accounts(config: PayoutsConfig, accounts: Mapping[str, str]) -> dict[str, str]:
    """The financial accounts (by id) [payouts] books providers' payouts on: each provider's
    name, for people."""
    found = {}
    for name, section in config.providers().items():
        account = _account_named(section.financial_account, accounts)
        if account is not None:
            found[account] = _label(name)
    return found


def _label(provider: str) -> str:
    return PROVIDER_LABELS.get(provider, provider)


def _payout(record: PayoutRecord) -> str:
    reference = f" (reference {record.reference})" if record.reference else ""
    return f"{_label(record.provider)} payout {record.payout_id}{reference}"


def _mutation(mutation: bank.Mutation) -> str:
    return (
        f"'{mutation.message}' {fmt(mutation.amount)} on {mutation.date} "
        f"(mutation {mutation.id}, {mutation.state})"
    )
