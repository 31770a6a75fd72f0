"""What `connector preview` shows: the invoice an order would become (or what a pass would do
instead), and for its refunds what each became or the credit invoice it would become (worked
out against the booked invoice, or the invoice the order would become). Reads only."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from connector.booking.book import Parked
from connector.booking.credit import CreditDraft, book_refund, line_map, original_from_draft
from connector.booking.invoice import InvoiceDraft
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.config import Config
from connector.money import fmt
from connector.moneybird.documents import original_of
from connector.order import Order, refund_key
from connector.runtime import Runtime
from connector.sync.engine import Verdict
from connector.sync.refunds import recorded_line_map
from connector.sync.settings import booking_settings


def refund_previews(
    runtime: Runtime, order: Order, draft: InvoiceDraft, rates: dict[str, MoneybirdTaxRate]
) -> list[tuple[str, CreditDraft | Parked | str]]:
    """Per refund: what it became, or the credit invoice it would become."""
    cfg = runtime.config
    settings = booking_settings(cfg)
    record = runtime.store.order(order.key)
    original = original_from_draft(draft)
    if record is not None and record.invoice_id and record.invoice_number:
        original = original_of(runtime.client.invoice(record.invoice_id))
    # As the engine will: the lines where they were booked, else where they would be.
    booked = recorded_line_map(runtime.store, order.key)
    if booked is None:
        booked = line_map(draft)
    found: list[tuple[str, CreditDraft | Parked | str]] = []
    for refund in order.refunds:
        done = runtime.store.refund(refund_key(order.key, refund.refund_id))
        if done is not None and done.state in ("paid", "net"):
            found.append(
                (refund.refund_id, f"already booked ({done.state}) {done.invoice_number or ''}")
            )
            continue
        if cfg.file.refunds.before_booking == "net" and not (record and record.invoice_number):
            found.append((refund.refund_id, "would be lines on the order's own invoice (net)"))
            continue
        credit = book_refund(order, refund, original, booked, rates, cfg.mappings, settings)
        found.append((refund.refund_id, credit))
    return found


def print_credit(
    console: Console,
    number: str,
    refund_id: str,
    credit: CreditDraft | Parked | str,
    rates: dict[str, MoneybirdTaxRate],
) -> None:
    if isinstance(credit, str):
        console.print(f"Refund {refund_id}: {credit}", highlight=False)
        return
    if isinstance(credit, Parked):
        console.print(f"Refund {refund_id} would be parked: {credit.reason}", highlight=False)
        return
    if credit.full:
        console.print(
            f"Refund {refund_id}: credit invoice {credit.reference}, the original in full "
            f"(Moneybird's duplicate), total {fmt(credit.expected.total_incl_tax)}",
            highlight=False,
        )
    else:
        table = Table(title=f"Credit invoice for refund {refund_id} of order {number}, "
                      f"reference {credit.reference}")  # fmt: skip
        for column in ("description", "qty", "price (incl. VAT)", "tax rate", "ledger"):
            table.add_column(column, overflow="fold")
        for line in credit.lines:
            table.add_row(line.description, f"{line.amount.normalize():f}", fmt(line.price),
                          rates[line.tax_rate_id].name, line.ledger_account_id)  # fmt: skip
        console.print(table)
    for payout in credit.payments:
        console.print(
            f"Refund payment {fmt(payout.amount)} on {payout.payment_date}, "
            f"account {payout.financial_account_id or '(none)'}",
            highlight=False,
        )
    for note in credit.notes:
        console.print(f"Note: {note}", highlight=False)


@dataclass
class Preview:
    """What a pass would do with one order, read without writing: its verdict, the tax rates
    and account names to show it with, and what each refund became or would become."""

    number: str
    verdict: Verdict
    rates: dict[str, MoneybirdTaxRate]
    names: dict[str, str]
    credits: list[tuple[str, CreditDraft | Parked | str]]


def read_preview(runtime: Runtime, order_id: str) -> Preview | None:
    """The order as a pass would see it (its own decision path, writing nothing); None when
    the shop has no such order."""
    payload = runtime.shop.order(order_id)
    if payload is None:
        return None
    engine = runtime.engine()
    verdict = engine.verdict(payload)
    booked = verdict.action == "skip" and verdict.reason.startswith("already booked")
    rates = engine.rates() if verdict.draft is not None or booked else {}
    names = _account_names(runtime) if verdict.draft is not None else {}
    credits: list[tuple[str, CreditDraft | Parked | str]] = []
    if booked:  # its refunds are still to come, or were credited: say which
        parsed = engine.order_from(payload)
        original = engine.draft(parsed, rates)
        if not isinstance(original, Parked):
            credits = refund_previews(runtime, parsed, original, rates)
    elif verdict.draft is not None and verdict.order is not None:
        credits = refund_previews(runtime, verdict.order, verdict.draft, rates)
    number = verdict.order.number if verdict.order else order_id
    return Preview(number, verdict, rates, names, credits)


def show_preview(console: Console, cfg: Config, found: Preview) -> None:
    """The invoice (or what a pass would do instead), its VAT and payments, then the refunds."""
    verdict, rates, names, number = found.verdict, found.rates, found.names, found.number
    if verdict.action != "book" or verdict.draft is None:
        what = {"park": "park it", "skip": "skip it", "retry": "leave it to retry"}
        console.print(
            f"A pass would {what.get(verdict.action, verdict.action)}: order {number}: "
            f"{verdict.reason}",
            highlight=False,
        )
        for refund_id, credit in found.credits:
            print_credit(console, number, refund_id, credit, rates)
        return
    result = verdict.draft
    if cfg.file.sync.mode == "summary" and verdict.order is not None:
        _summary_preview(console, cfg, verdict.order, number)
    console.print(f"A pass would book order {number} as this invoice:", highlight=False)
    incl = "incl." if result.prices_are_incl_tax else "excl."
    table = Table(title=f"Invoice for order {number}, reference {result.reference}")
    for column in ("description", "qty", f"price ({incl} VAT)", "tax rate", "ledger"):
        table.add_column(column, overflow="fold")
    for line in result.lines:
        table.add_row(
            line.description,
            f"{line.amount.normalize():f}",
            fmt(line.price),
            f"{rates[line.tax_rate_id].name} ({line.tax_rate_id})",
            _named(names, line.ledger_account_id),
        )
    console.print(table)
    console.print(
        f"Date {result.invoice_date}, {result.currency}; "
        f"total {fmt(result.predicted.total_incl_tax)} "
        f"(shop: {fmt(result.shop_totals.total_incl_tax)})"
    )
    for rate_id, vat in result.predicted.vat_by_rate.items():
        console.print(f"  VAT {rates[rate_id].name}: {fmt(vat)}")
    for payment in result.payments:
        account = _named(names, payment.financial_account_id or "") or "(none)"
        console.print(
            f"Payment {fmt(payment.amount)} on {payment.payment_date}, account {account}",
            highlight=False,
        )
    for note in result.notes:
        console.print(f"Note: {note}", highlight=False)
    for refund_id, credit in found.credits:
        print_credit(console, number, refund_id, credit, rates)


def _summary_preview(console: Console, cfg: Config, order: Order, number: str) -> None:
    """Summary mode: the day the order joins, or why it keeps an invoice of its own."""
    from zoneinfo import ZoneInfo

    from connector.booking.day import individual_reason

    alone = individual_reason(order, cfg.mappings)
    if alone is not None:
        console.print(f"Summary mode keeps it on its own: {alone}.", highlight=False)
        return
    tz = ZoneInfo(cfg.sync.timezone)
    day = order.paid_at.astimezone(tz).date() if order.paid_at else None
    console.print(
        f"Summary mode: order {number} would join the day's document of {day}, made "
        f"{cfg.file.summary.settle_days} days after it; its part of that day:",
        highlight=False,
    )


def _account_names(runtime: Runtime) -> dict[str, str]:
    """Moneybird's names for its ledger and financial accounts, by id (two reads)."""
    names: dict[str, str] = {}
    for account in [*runtime.client.ledger_accounts(), *runtime.client.financial_accounts()]:
        name = account.get("name") or account.get("identifier") or ""
        names[str(account.get("id"))] = str(name)
    return names


def _named(names: dict[str, str], account_id: str) -> str:
    name = names.get(account_id)
    return f"{name} ({account_id})" if name else account_id
