"""What `connector status` reports: counts per state, orders needing attention, last runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from connector.state import WAITING, OrderState, Store, from_text, utcnow

ADVICE = {
    OrderState.PARKED.value: "fix the cause (often a mapping table), then `connector retry`",
    OrderState.FAILED.value: "retried automatically on the next pass",
    OrderState.DRAFT.value: "resumed on the next pass after checking Moneybird",
    OrderState.OPEN.value: "payment registered on the next pass after checking Moneybird",
    OrderState.UNPAID.value: "booked once the shop records the payment",
}


def collect(store: Store, runs: int = 5) -> dict[str, Any]:
    attention = store.orders({OrderState.PARKED, OrderState.FAILED, OrderState.UNPAID})
    # Orders half-way in Moneybird whose last step failed: resumed automatically, but shown.
    attention += [r for r in store.orders({OrderState.DRAFT, OrderState.OPEN}) if r.last_error]
    return {
        "counts": store.counts(),
        "contacts_known": store.contact_count(),
        "attention": [
            {
                "order": r.number,
                "key": r.key,
                "state": r.state,
                "reason": r.park_reason if r.state in WAITING else r.last_error,
                "attempts": r.attempts,
                "what_to_do": ADVICE.get(r.state, ""),
            }
            for r in attention
        ],
        "runs": [
            {
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "outcome": run.outcome,
                "seen": run.seen,
                "booked": run.booked,
                "parked": run.parked,
                "failed": run.failed,
                "moneybird_requests": run.requests,
                "error": run.error,
            }
            for run in store.runs(runs)
        ],
    }


def render(data: dict[str, Any], console: Console) -> None:
    counts = Table(title="Orders per state")
    counts.add_column("state")
    counts.add_column("orders", justify="right")
    for state in OrderState:
        counts.add_row(state.value, str(data["counts"].get(state.value, 0)))
    console.print(counts)
    console.print(f"Contacts known: {data['contacts_known']}")
    if data["attention"]:
        table = Table(title="Orders needing attention")
        for column in ("order", "state", "reason", "what to do"):
            table.add_column(column, overflow="fold")
        for row in data["attention"]:
            table.add_row(row["order"], row["state"], row["reason"] or "", row["what_to_do"])
        console.print(table)
    else:
        console.print("No orders need attention.")
    runs = Table(title="Last runs")
    for column in ("started (UTC)", "outcome", "seen", "booked", "parked", "retry", "requests"):
        runs.add_column(column)
    for run in data["runs"]:
        outcome = run["outcome"] + (f": {run['error']}" if run["error"] else "")
        runs.add_row(
            (run["started_at"] or "")[:19],
            outcome,
            str(run["seen"]),
            str(run["booked"]),
            str(run["parked"]),
            str(run["failed"]),
            str(run["moneybird_requests"]),
        )
    console.print(runs)


def health(store: Store, interval_minutes: float, now: datetime | None = None) -> tuple[bool, str]:
    """Healthy when the last pass ended well, within two intervals."""
    now = now or utcnow()
    runs = [r for r in store.runs(5) if r.finished_at]
    if not runs:
        return False, "no pass has finished yet"
    last = runs[0]
    finished = from_text(last.finished_at)
    assert finished is not None
    age = now - finished
    if age > timedelta(minutes=2 * interval_minutes):
        return False, f"last pass finished {int(age.total_seconds() // 60)} minutes ago"
    if last.outcome != "ok":
        return False, f"last pass failed: {last.error}"
    return True, f"last pass ok, {int(age.total_seconds())} seconds ago"
