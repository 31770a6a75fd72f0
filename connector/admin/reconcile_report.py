"""A reconciliation shown to people: tables on the terminal, a CSV for the bookkeeper."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from connector.private_files import write_csv as write_private_csv
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


def write_csv(result: Reconciliation, path: Path) -> None:
    """One row per order (and refund) for the bookkeeper; opens in a spreadsheet, readable by
    its owner alone, no cell run as a formula."""
    write_private_csv(path, result.csv_rows())
