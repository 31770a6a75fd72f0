"""Reconciliation in operation: run on demand or monthly, recorded for `status` and the alerts,
and shown to people (a table, JSON, a CSV for the bookkeeper).

`connector run` reconciles the previous month once, [reconcile] days_after_month_end days after
it ended; while that month disagrees it is reconciled again once a day, so a correction made in
Moneybird clears its alert.
"""

from __future__ import annotations

import csv
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connector.runtime import Runtime
from connector.state import Store, from_text, utcnow
from connector.sync.reconcile import AGREES, FINDINGS, Month, Reconciliation, reconcile

log = logging.getLogger(__name__)
RECHECK = timedelta(days=1)  # a month that disagrees is looked at again this often


def run_and_record(runtime: Runtime, month: Month, now: datetime | None = None) -> Reconciliation:
    """Reconcile the month and keep the outcome (raises Busy while a pass runs)."""
    result = reconcile(runtime.engine(), month, runtime.config.file.reconcile.lookback_days)
    record(runtime.store, result, now or utcnow())
    return result


def record(store: Store, result: Reconciliation, now: datetime) -> None:
    """The outcome for `status`; the findings for the alerts. A run that could not complete
    keeps the findings of the last one that did: nothing is cleared by not looking."""
    findings = [
        (f"reconcile:{result.month}:{f.key}", _message(result.month, f.order, f.what, f.advice))
        for f in result.findings
    ]
    if result.error:
        previous = store.reconciliation(str(result.month))
        findings = [tuple(pair) for pair in json.loads(previous.findings)] if previous else []
    store.save_reconciliation(str(result.month), now, result.outcome, result.summary(), findings)


def _message(month: Month, order: str | None, what: str, advice: str) -> str:
    about = f"order {order}" if order else "a document"
    return f"Reconciliation of {month}: {about}: {what}. What to do: {advice}."


def open_findings(store: Store) -> list[tuple[str, str]]:
    """Every finding of every month's last reconciliation: each is an alert until it clears."""
    found: list[tuple[str, str]] = []
    for done in store.reconciliations():
        found.extend((key, message) for key, message in json.loads(done.findings))
    return found


def due(store: Store, runtime: Runtime, now: datetime | None = None) -> Month | None:
    """The month `connector run` should reconcile now, if any."""
    settings = runtime.config.file.reconcile
    if not settings.monthly:
        return None
    now = now or utcnow()
    today = now.astimezone(runtime.engine().settings.timezone).date()
    month = Month.of(today).previous()
    if today < month.next().first + timedelta(days=settings.days_after_month_end):
        return None
    done = store.reconciliation(str(month))
    if done is None:
        return month
    if done.outcome == AGREES:
        return None
    last = from_text(done.reconciled_at)
    return month if last is None or now - last >= RECHECK else None


def monthly(runtime: Runtime, now: datetime | None = None) -> Reconciliation | None:
    """After a pass: the previous month's reconciliation, when it is due. Never raises."""
    try:
        month = due(runtime.store, runtime, now)
        if month is None:
            return None
        result = run_and_record(runtime, month, now)
        log.info("reconciliation: %s", result.summary())
        return result
    except Exception:  # the schedule goes on; the next tick tries again
        log.exception("reconciliation failed")
        return None


# --- showing it -----------------------------------------------------------------------------


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
        for column in ("order", "", "why"):
            table.add_column(column, overflow="fold")
        for label, k in known:
            table.add_row(k.order, label, k.reason)
        console.print(table)
    if result.vat:
        table = Table(title="VAT per rate", title_justify="left")
        for column in ("tax rate", "box", "shop", "connector's documents", "Moneybird report"):
            table.add_column(column, justify="left" if column in ("tax rate", "box") else "right")
        for row in result.vat:
            mark = "" if row.shop == row.documents else " ≠"
            report = "" if row.report is None else f"{row.report:.2f}"
            table.add_row(
                row.name, row.box, f"{row.shop:.2f}", f"{row.documents:.2f}{mark}", report
            )
        console.print(table)
        console.print(result.vat_note, highlight=False)
    console.print(f"{result.requests} Moneybird requests", highlight=False)


def write_csv(result: Reconciliation, path: Path) -> None:
    """One row per order (and refund) for the bookkeeper; opens in a spreadsheet."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(result.csv_rows())
