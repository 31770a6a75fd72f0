"""Reconciliation in operation: run on demand or monthly, and recorded for `status` and the
alerts (admin/reconcile_report.py shows it to people).

`connector run` reconciles the previous month once, [reconcile] days_after_month_end days after
it ended; while a month disagrees (that one, or one reconciled by hand) it is reconciled again
once a day, so a correction made in Moneybird clears its alert.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from connector.runtime import Runtime
from connector.state import Store, from_text, utcnow
from connector.sync.reconcile import AGREES, PAYOUTS, Busy, Month, Reconciliation, reconcile

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
        (
            f"reconcile:{result.month}:{f.key}",
            _message(result.month, f.order, f.what, f.advice, f.kind),
        )
        for f in result.findings
    ]
    previous = store.reconciliation(str(result.month))
    if result.error:
        findings = [tuple(pair) for pair in json.loads(previous.findings)] if previous else []
    report = {**result.as_dict(), "csv": result.csv_rows()} if not result.error else None
    if result.error and previous is not None:
        report = json.loads(previous.report)  # the last complete picture stays on show
    store.save_reconciliation(
        str(result.month), now, result.outcome, result.summary(), findings, report
    )


def _message(month: Month, order: str | None, what: str, advice: str, kind: str = "") -> str:
    about = f"order {order}" if order else "payouts" if kind == PAYOUTS else "a document"
    return f"Reconciliation of {month}: {about}: {what}. What to do: {advice}."


def open_findings(store: Store) -> list[tuple[str, str]]:
    """Every finding of every month's last reconciliation: each is an alert until it clears."""
    found: list[tuple[str, str]] = []
    for done in store.reconciliations():
        found.extend((key, message) for key, message in json.loads(done.findings))
    return found


def due(store: Store, runtime: Runtime, now: datetime | None = None) -> list[Month]:
    """The months `connector run` should reconcile now: the previous one once it is due and
    not yet done, and every month whose last reconciliation disagreed, once a day."""
    settings = runtime.config.file.reconcile
    if not settings.monthly:
        return []
    now = now or utcnow()
    today = now.astimezone(runtime.engine().settings.timezone).date()
    months = []
    previous = Month.of(today).previous()
    ready = today >= previous.next().first + timedelta(days=settings.days_after_month_end)
    if ready and store.reconciliation(str(previous)) is None:
        months.append(previous)
    for done in store.reconciliations():
        last = from_text(done.reconciled_at)
        if done.outcome != AGREES and (last is None or now - last >= RECHECK):
            months.append(Month.parse(done.month))
    return sorted(set(months), key=str)


def monthly(runtime: Runtime, now: datetime | None = None) -> list[Reconciliation]:
    """After a pass: the reconciliations that are due. Never raises."""
    results = []
    try:
        for month in due(runtime.store, runtime, now):
            result = run_and_record(runtime, month, now)
            log.info("reconciliation: %s", result.summary())
            results.append(result)
    except Busy as exc:  # a `connector sync` or import by hand: after the next pass, then
        log.info("reconciliation waits: %s", exc)
    except Exception:  # the schedule goes on; the next tick tries again
        log.exception("reconciliation failed")
    return results
