"""A reconciliation shown to people: tables on the terminal, a CSV for the bookkeeper."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.private_files import write_csv as write_private_csv
from connector.sync.payout_settings import PROVIDER_LABELS
from connector.sync.reconcile import FINDINGS, Known, Reconciliation


def render(result: Reconciliation, console: Console) -> None:
    console.print(result.summary(), highlight=False)
    if result.error:
        return
    titles = {
        "missing": "Missing in Moneybird",
        "duplicates": "More than one document",
        "unknown": "Documents no order explains",
        "differences": "Documents that differ from the shop",
    }
    for kind in FINDINGS:
        findings = getattr(result, kind)
        if not findings:
            continue
        table = Table(title=titles[kind], title_justify="left", show_lines=True)
        for column in ("order", "document", "what", "what to do"):
            table.add_column(column, overflow="fold")
        for f in findings:
            table.add_row(f.order or "", ", ".join(f.documents), f.what, f.advice)
        console.print(table)
    known = [("parked", k) for k in result.parked] + [("not booked", k) for k in result.not_booked]
    if known:
        table = Table(title="Known, not in Moneybird", title_justify="left")
        for column in ("order", "what", "amount", "state", "why"):
            table.add_column(
                column, overflow="fold", justify="right" if column == "amount" else "left"
            )
        for label, k in known:
            table.add_row(k.order, _what(k), _amount(k), label, k.reason)
        console.print(table)
    _vat(result, console)
    _payouts(result, console)
    console.print(f"{result.requests} Moneybird requests", highlight=False)


def _what(known: Known) -> str:
    """An order, or which of its refunds."""
    if known.kind == "refund" and known.refund_id:
        return f"refund {known.refund_id}"
    return known.kind


def _amount(known: Known) -> str:
    """Its own amount (a refund's negative), in its currency when not euros."""
    if known.amount is None:
        return ""
    other = f" {known.currency}" if known.currency and known.currency != "EUR" else ""
    return f"{known.amount:.2f}{other}"


def _vat(result: Reconciliation, console: Console) -> None:
    """VAT per rate in euros beside Moneybird's report; the other currencies apart."""
    if result.vat:
        rounded = any(row.rounding for row in result.vat)
        table = Table(title="VAT per rate, in euros", title_justify="left")
        columns = ["tax rate", "box", "shop", "connector's documents", "Moneybird report"]
        for column in columns + (["of which rounding"] if rounded else []):
            table.add_column(column, justify="left" if column in ("tax rate", "box") else "right")
        for row in result.vat:
            mark = "" if row.agrees else " ≠"
            report = "" if row.report is None else f"{row.report:.2f}"
            cells = [row.name, row.box, f"{row.shop:.2f}", f"{row.documents:.2f}{mark}", report]
            table.add_row(*cells, *([f"{row.rounding:+.2f}"] if rounded else []))
        console.print(table)
    if result.vat_other_currencies:
        table = Table(
            title="VAT on documents in other currencies (counted above in euros)",
            title_justify="left",
        )
        for column in ("currency", "tax rate", "shop", "connector's documents", "in euros"):
            left = column in ("currency", "tax rate")
            table.add_column(column, justify="left" if left else "right")
        for other in result.vat_other_currencies:
            table.add_row(
                other.currency,
                other.name,
                f"{other.shop:.2f}",
                f"{other.documents:.2f}",
                f"{other.documents_in_euros:.2f}",
            )
        console.print(table)
    if result.vat:
        console.print(result.vat_note, highlight=False)


def _payouts(result: Reconciliation, console: Console) -> None:
    """The month's payouts, each provider's balance, and what does not add up ([payouts] on)."""
    section = result.payouts
    if section is None:
        return
    if section.rows:
        # Chargebacks and the fees' VAT only where there are any: the table stays readable.
        chargebacks = any(row.chargebacks for row in section.rows)
        refunds = any(row.refunds for row in section.rows)
        fee_vat = any(row.fee_vat is not None for row in section.rows)
        columns = [("payout", False), ("reference", False), ("date", False), ("gross", True)] + (
                   [("refunds", True)] if refunds else []) + (
                   [("chargebacks", True)] if chargebacks else []) + [
                   ("fees", True)] + ([("fee VAT", True)] if fee_vat else []) + [
                   ("net", True), ("state", False), ("bank line", False),
                   ("balance", True)]  # fmt: skip
        # One provider (the usual case): named in the title, so its ids keep to one line.
        providers = sorted({row.provider for row in section.rows})
        only = PROVIDER_LABELS.get(providers[0], providers[0]) if len(providers) == 1 else ""
        title = "Payouts" + (f": {only}" if only else "") + " (balance: the provider's account "
        title += "in Moneybird after it)"
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        widths = {"payout": 12, "reference": 10, "date": 10, "state": 7, "bank line": 10}
        for column, amount in columns:
            table.add_column(
                column,
                overflow="fold",
                no_wrap=amount,
                min_width=widths.get(column),
                justify="right" if amount else "left",
            )
        for row in section.rows:
            named = row.payout_id if len(providers) == 1 else f"{row.provider} {row.payout_id}"
            cells = [named, row.reference,
                     row.day.isoformat() if row.day else "", _money(row.gross)] + (
                     [_money(row.refunds)] if refunds else []) + (
                     [_money(row.chargebacks)] if chargebacks else []) + [
                     _money(row.fees)] + ([_money(row.fee_vat)] if fee_vat else []) + [
                     _money(row.net), row.state, row.bank_line,
                     _money(row.balance_after)]  # fmt: skip
            table.add_row(*[Text(cell) for cell in cells])
        console.print(table)
    else:
        console.print(f"No payouts paid out in {result.month}.", highlight=False)
    for balance in section.balances:
        mark = "" if balance.agrees else f", not {balance.held:.2f}"
        console.print(
            f"{balance.account} ({balance.provider}) in Moneybird: {balance.opening:.2f} at the "
            f"month's start, {balance.closing:.2f} at its end{mark}",
            highlight=False,
        )
    if section.note:
        console.print(section.note, highlight=False)
    if result.payout_findings:
        table = Table(title="Payouts that do not add up", title_justify="left", show_lines=True)
        for column in ("payout", "what", "what to do"):
            table.add_column(column, overflow="fold")
        for f in result.payout_findings:
            table.add_row(*[Text(cell) for cell in (", ".join(f.documents), f.what, f.advice)])
        console.print(table)


def _money(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:.2f}"


def write_csv(result: Reconciliation, path: Path) -> None:
    """One row per order (and refund) for the bookkeeper; opens in a spreadsheet, readable by
    its owner alone, no cell run as a formula."""
    write_private_csv(path, result.csv_rows())
