"""What `connector status` reports: counts per state, orders needing attention, last runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.config import fingerprint
from connector.state import (
    WAITING,
    DayState,
    Meta,
    OrderState,
    PayoutState,
    RefundState,
    Store,
    from_text,
)
from connector.sync.payout_settings import kept_bank_line_days
from connector.sync.payouts import bank_line_overdue

ADVICE = {
    OrderState.PARKED.value: (
        "fix what the reason names (a mapping table, the shop's data), then `connector retry`"
    ),
    OrderState.FAILED.value: "retried automatically on the next pass",
    OrderState.DRAFT.value: "resumed on the next pass after checking Moneybird",
    OrderState.OPEN.value: "payment registered on the next pass after checking Moneybird",
    OrderState.UNPAID.value: "booked once the shop records the payment",
}

# The meta key where the engine keeps why the last pass's read of the order list stopped
# short (the shop's Poll.incomplete; "" when it read to the end). To become
READ_INCOMPLETE = Meta.READ_INCOMPLETE

REFUND_ADVICE = {
    RefundState.PARKED.value: "fix the cause, then `connector retry` with the order number",
    RefundState.FAILED.value: "retried automatically on the next pass",
    RefundState.WAITING.value: "not booked against nothing: book or retry the order first",
}


PAYOUT_ADVICE = {
    PayoutState.REFUSED.value: (
        "book it by hand in Moneybird, or `connector retry <payout id>` once the provider "
        "corrected it"
    ),
    PayoutState.PARKED.value: "do what the reason says, then `connector retry <payout id>`",
    PayoutState.FAILED.value: "retried automatically on the next pass",
}


def config_status(store: Store, config_path: Path | None = None) -> dict[str, Any]:
    """The configuration in force (as the running connector recorded it) against the files."""
    return {
        "path": store.get_meta(Meta.CONFIG_PATH) or (str(config_path) if config_path else None),
        "hash_in_force": store.get_meta(Meta.CONFIG_HASH),
        "loaded_at": store.get_meta(Meta.CONFIG_LOADED_AT),
        "hash_on_disk": fingerprint(config_path) if config_path else None,
        "edit_not_applied": store.get_meta(Meta.CONFIG_ERROR) or None,
    }


def collect(store: Store, runs: int = 5, config_path: Path | None = None) -> dict[str, Any]:
    attention = store.orders({OrderState.PARKED, OrderState.FAILED, OrderState.UNPAID})
    # Orders half-way in Moneybird whose last step failed: resumed automatically, but shown.
    attention += [r for r in store.orders({OrderState.DRAFT, OrderState.OPEN}) if r.last_error]
    return {
        "config": config_status(store, config_path),
        "counts": store.counts(),
        "unreadable": unreadable_elements(store),
        "read_incomplete": store.get_meta(READ_INCOMPLETE) or None,
        "history": _history(store),
        "refund_counts": store.refund_counts(),
        "refunds_attention": [
            {
                "order": r.number,
                "refund": r.refund_id,
                "state": r.state,
                "amount": r.amount,
                "reason": r.park_reason or r.last_error,
                "what_to_do": REFUND_ADVICE.get(r.state, ""),
            }
            for r in store.refunds({RefundState.PARKED, RefundState.FAILED, RefundState.WAITING})
        ],
        "contacts_known": store.contact_count(),
        "days": _days(store),
        "payouts": _payouts(store),
        "attention": [
            {
                "order": r.number,
                "key": r.key,
                "state": r.state,
                "reason": r.park_reason if r.state in WAITING else r.last_error,
                "attempts": r.attempts,
                "what_to_do": ADVICE.get(r.state, ""),
                "total": r.total,  # the shop's, once a pass has read the order
                "currency": r.currency,
            }
            for r in attention
        ],
        "reconciliations": [
            {
                "month": done.month,
                "outcome": done.outcome,
                "summary": done.summary,
                "reconciled_at": done.reconciled_at,
            }
            for done in store.reconciliations()[:3]
        ],
        "runs": [
            {
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "seconds": _seconds(run.started_at, run.finished_at),
                "outcome": run.outcome,
                "seen": run.seen,
                "booked": run.booked,
                "parked": run.parked,
                "failed": run.failed,
                "already_in_moneybird": run.adopted,
                "moneybird_requests": run.requests,
                "error": run.error,
            }
            for run in store.runs(runs)
        ],
    }


def _payouts(store: Store) -> dict[str, Any]:
    """[payouts]: booked to the end, waiting for their orders, waiting for the bank line, and
    those a person must look at; the setup or provider problem of the last pass."""
    counts = store.payout_counts()
    stuck = {PayoutState.REFUSED, PayoutState.PARKED, PayoutState.FAILED}
    days = kept_bank_line_days(store)
    late = [r for r in store.payouts({PayoutState.LINKED}) if bank_line_overdue(r, days)]
    return {
        "counts": counts,
        "done": counts.get(PayoutState.DONE.value, 0),
        "waiting_for_orders": counts.get(PayoutState.WAITING.value, 0),
        "waiting_for_bank_line": counts.get(PayoutState.LINKED.value, 0),
        "bank_line_overdue": [
            {
                "provider": r.provider,
                "payout": r.payout_id,
                "reference": r.reference,
                "net": r.net,
                "paid_out": r.paid_out,
            }
            for r in late
        ],
        "bank_line_days": days,
        "attention": [
            {
                "provider": r.provider,
                "payout": r.payout_id,
                "reference": r.reference or None,
                "state": r.state,
                "net": r.net,
                "reason": r.reason or r.last_error,
                "what_to_do": PAYOUT_ADVICE.get(r.state, ""),
            }
            for r in store.payouts(stuck)
        ],
        "waiting": [
            {"provider": r.provider, "payout": r.payout_id, "reason": r.reason}
            for r in store.payouts({PayoutState.WAITING})
        ],
        "problem": store.get_meta(Meta.PAYOUTS_PROBLEM) or None,
    }


def _days(store: Store) -> dict[str, Any]:
    """Summary mode: the days booked, those whose documents are being made (or retried, or
    parked), and the days orders wait in until they settle."""
    records = store.days()
    shops = {record.shop for record in records} | {
        o.shop for o in store.orders({OrderState.IN_DAY})
    }
    waiting = sorted({day for shop in shops for day in store.waiting_days(shop)})
    return {
        "booked": sum(record.state == DayState.PAID for record in records),
        "open": [
            {"day": r.day, "state": r.state, "reason": r.park_reason or r.last_error}
            for r in records
            if r.state != DayState.PAID
        ],
        "waiting": waiting,
        "corrections": _corrections(store),
    }


def _corrections(store: Store) -> dict[str, Any]:
    """Orders changed after their day's document was made: the changes booked, waiting in a
    day, and those parked for a person (the order's day stands; the reconciliation shows it)."""
    found = store.corrections()
    return {
        "booked": sum(c.state == OrderState.PAID for c in found),
        "waiting": sum(c.state == OrderState.IN_DAY for c in found),
        "parked": [
            {"order": c.number, "reason": c.park_reason}
            for c in found
            if c.state == OrderState.PARKED
        ],
    }


def unreadable_elements(store: Store) -> list[str]:
    """Elements of the shop's order list the last pass could not read as orders."""
    try:
        found = json.loads(store.get_meta(Meta.UNREADABLE) or "[]")
    except ValueError:
        return []
    return [str(item) for item in found] if isinstance(found, list) else []


def _history(store: Store) -> dict[str, Any]:
    """What the scheduler leaves alone: orders paid before its start point."""
    start = from_text(store.get_meta(Meta.START))
    counted = store.get_meta(Meta.BEFORE_START_COUNT)
    seen = len([r for r in store.orders({OrderState.BEFORE_START}) if start is None or (
        (paid := from_text(r.paid_at)) is not None and paid < start
    )])  # fmt: skip
    count: int | None = max(int(counted) if counted and counted.isdigit() else 0, seen)
    if counted == "?" and not count:
        count = None  # the shop has some, but did not say how many
    return {
        "start": start.isoformat() if start else None,
        "orders_before_start": count,
        "what_to_do": "book them with `connector import --since <date>`" if count != 0 else "",
    }


def _plain(*cells: str | None) -> list[Text]:
    """Table cells shown as they are: a reason naming "[gift_cards] sale" is no markup."""
    return [Text(cell or "") for cell in cells]


def _seconds(started: str | None, finished: str | None) -> float | None:
    start, end = from_text(started), from_text(finished)
    return round((end - start).total_seconds(), 1) if start and end else None


def render(data: dict[str, Any], console: Console) -> None:
    _render_config(data["config"], console)
    _render_counts(data, console)
    _render_history(data, console)
    _render_attention(data, console)
    _render_payouts(data, console)
    _render_reconciliations(data, console)
    _render_runs(data, console)


def _render_reconciliations(data: dict[str, Any], console: Console) -> None:
    for done in data.get("reconciliations", [])[:1]:
        colour = {"agrees": "green", "differences": "red"}.get(done["outcome"], "yellow")
        console.print(
            f"Last reconciliation ({done['reconciled_at'][:16]} UTC): "
            f"[{colour}]{done['outcome']}[/{colour}]",
            markup=True,
            highlight=False,
        )
        console.print(done["summary"], markup=False, highlight=False)


def _render_config(cfg: dict[str, Any], console: Console) -> None:
    if cfg["hash_in_force"]:
        console.print(
            f"Configuration in force: {cfg['hash_in_force']} (loaded {cfg['loaded_at'][:19]} UTC)"
            f" from {cfg['path']}",
            highlight=False,
        )
        if cfg["edit_not_applied"] or cfg.get("problem_on_disk"):
            console.print(
                "[red]An edit was NOT applied; the configuration above keeps running:[/red]",
                markup=True,
            )
            console.print(
                cfg["edit_not_applied"] or cfg["problem_on_disk"], markup=False, highlight=False
            )
        elif cfg["hash_on_disk"] and cfg["hash_on_disk"] != cfg["hash_in_force"]:
            console.print(
                f"The files on disk ({cfg['hash_on_disk']}) take effect at the next pass."
            )
    elif cfg.get("problem_on_disk"):
        console.print("[red]The configuration on disk does not load:[/red]", markup=True)
        console.print(cfg["problem_on_disk"], markup=False, highlight=False)


def _render_counts(data: dict[str, Any], console: Console) -> None:
    counts = Table(title="Orders per state")
    counts.add_column("state")
    counts.add_column("orders", justify="right")
    for state in OrderState:
        counts.add_row(state.value, str(data["counts"].get(state.value, 0)))
    console.print(counts)
    refund_counts = data.get("refund_counts") or {}
    if refund_counts:
        console.print(
            "Refunds: "
            + ", ".join(
                f"{refund_counts[st.value]} {st.value}"
                for st in RefundState
                if refund_counts.get(st.value)
            ),
            highlight=False,
        )
    console.print(f"Contacts known: {data['contacts_known']}")
    days = data.get("days") or {}
    if days.get("booked") or days.get("waiting") or days.get("open"):
        waiting = ", ".join(days["waiting"][:5]) + (" ..." if len(days["waiting"]) > 5 else "")
        console.print(
            f"Summary days: {days['booked']} booked"
            + (f", {len(days['open'])} being made or retried" if days["open"] else "")
            + (f"; orders waiting in {len(days['waiting'])} day(s) to settle: {waiting}"
               if days["waiting"] else ""),
            highlight=False,
        )  # fmt: skip
    changes = days.get("corrections") or {}
    if changes.get("booked") or changes.get("waiting") or changes.get("parked"):
        console.print(
            f"Changes after a day's document: {changes['booked']} booked as corrections, "
            f"{changes['waiting']} waiting in their day, {len(changes['parked'])} parked",
            highlight=False,
        )
        for parked in changes["parked"]:
            console.print(f"  order {parked['order']}: {parked['reason']}", highlight=False)


def _render_history(data: dict[str, Any], console: Console) -> None:
    history = data.get("history") or {}
    if history.get("what_to_do"):
        how_many, day = history["orders_before_start"], (history["start"] or "")[:10]
        start = f"the start ({day})" if day else "the start point (sync.start)"
        said = (
            f"Orders paid before {start} are not booked by the scheduler (the shop did not "
            "say how many)"
            if how_many is None
            else f"{how_many} orders paid before {start} are not booked by the scheduler"
        )
        console.print(f"{said}: {history['what_to_do']}", highlight=False)
    if data.get("read_incomplete"):
        _warn(
            console,
            "The last pass did not read the shop's whole order list:",
            f"{data['read_incomplete']}. The next pass carries on from where it stopped; if "
            "every pass says this, check the shop (or a plugin changing its order list).",
        )
    for element in data.get("unreadable") or []:
        _warn(
            console,
            "The shop listed something that is not an order:",
            f"{element}; the other orders were booked. Check the shop (or a plugin changing its "
            "order list).",
        )


def _warn(console: Console, label: str, text: str) -> None:
    """A red label, then the shop's own words as they are (never read as markup)."""
    console.print(f"[red]{label}[/red] ", end="", markup=True)
    console.print(text, markup=False, highlight=False)


def _render_attention(data: dict[str, Any], console: Console) -> None:
    if data["attention"]:
        table = Table(title="Orders needing attention")
        for column in ("order", "state", "reason", "what to do"):
            table.add_column(column, overflow="fold")
        for row in data["attention"]:
            table.add_row(*_plain(row["order"], row["state"], row["reason"], row["what_to_do"]))
        console.print(table)
    else:
        console.print("No orders need attention.")
    if data.get("refunds_attention"):
        table = Table(title="Refunds needing attention")
        for column in ("order", "refund", "amount", "state", "reason", "what to do"):
            table.add_column(column, overflow="fold")
        for row in data["refunds_attention"]:
            table.add_row(*_plain(
                row["order"], row["refund"], row["amount"], row["state"], row["reason"],
                row["what_to_do"],
            ))  # fmt: skip
        console.print(table)


def _render_payouts(data: dict[str, Any], console: Console) -> None:
    """Only where payouts are booked (or [payouts] could not be): nothing otherwise."""
    payouts = data.get("payouts") or {}
    if not payouts.get("counts") and not payouts.get("problem"):
        return
    counts = payouts["counts"]
    others = ", ".join(
        f"{counts[state.value]} {state.value}"
        for state in (PayoutState.BOOKED, PayoutState.FAILED)
        if counts.get(state.value)
    )
    console.print(
        f"Payouts: {payouts['done']} booked, {payouts['waiting_for_orders']} waiting for their "
        f"orders, {payouts['waiting_for_bank_line']} waiting for the bank line, "
        f"{len(payouts['attention'])} needing attention" + (f"; {others}" if others else ""),
        highlight=False,
    )
    for late in payouts.get("bank_line_overdue") or []:
        console.print(
            f"  {late['provider']} payout {late['payout']}: no bank line of {late['net']} with "
            f"reference {late['reference']} after {payouts['bank_line_days']} days; if the bank "
            "printed it otherwise, link it to the transfer ledger by hand",
            highlight=False,
        )
    for waiting in payouts.get("waiting") or []:
        console.print(
            f"  {waiting['provider']} payout {waiting['payout']}: {waiting['reason'] or ''}",
            markup=False,
            highlight=False,
        )
    if payouts.get("problem"):
        _warn(console, "Payouts were not all booked in the last pass:", payouts["problem"])
    if payouts["attention"]:
        table = Table(title="Payouts needing attention")
        for column in ("provider", "payout", "net", "state", "reason", "what to do"):
            table.add_column(column, overflow="fold")
        for row in payouts["attention"]:
            table.add_row(*_plain(
                row["provider"], row["payout"], row["net"], row["state"], row["reason"],
                row["what_to_do"],
            ))  # fmt: skip
        console.print(table)


def _render_runs(data: dict[str, Any], console: Console) -> None:
    runs = Table(title="Last runs")
    for column in ("started (UTC)", "took", "outcome", "seen", "booked", "already there",
                   "parked", "retry", "requests"):  # fmt: skip
        runs.add_column(column)
    for run in data["runs"]:
        outcome = run["outcome"] + (f": {run['error']}" if run["error"] else "")
        runs.add_row(
            (run["started_at"] or "")[:19],
            f"{run['seconds']} s" if run["seconds"] is not None else "",
            Text(outcome),
            str(run["seen"]),
            str(run["booked"]),
            str(run["already_in_moneybird"]),
            str(run["parked"]),
            str(run["failed"]),
            str(run["moneybird_requests"]),
        )
    console.print(runs)
