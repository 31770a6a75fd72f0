"""What `connector preview` shows for an order's refunds: what each became, or the credit
invoice it would become (worked out against the booked invoice, or the invoice the order would
become). Reads only."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from connector.booking.book import Parked
from connector.booking.credit import CreditDraft, book_refund, line_map, original_from_draft
from connector.booking.invoice import InvoiceDraft
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.money import fmt
from connector.moneybird.documents import original_of
from connector.order import Order, refund_key
from connector.runtime import Runtime
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
