"""History: `import`, with its progress and its dry run's report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from connector import shutdown
from connector.cli.common import (
    DEFAULT_CONFIG,
    EXIT_CONFIG,
    EXIT_FAILED,
    ConfigOption,
    app,
    build_runtime,
    console,
    err,
    exit_for,
    load,
)
from connector.cli.progress import progress
from connector.errors import ConnectorError, Interrupted
from connector.money import fmt
from connector.redact import scrub

if TYPE_CHECKING:
    from connector.sync.history_import import DryRun


@app.command("import")
def import_history(
    since: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (orders created from then).")],
    until: Annotated[str | None, typer.Option(help="Day after the last, YYYY-MM-DD.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many orders.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Book nothing; write a report to check first.")
    ] = False,
    report: Annotated[Path, typer.Option(help="Folder for the dry run's CSV report.")] = Path(
        "import-report"
    ),
    config: ConfigOption = DEFAULT_CONFIG,
    mode: Annotated[
        str | None,
        typer.Option(
            help="per_order or summary: how the history is booked (default: sync.mode). "
            "summary: consumer orders as one document a day."
        ),
    ] = None,
) -> None:
    """Import the shop's order history, oldest first. Resumable: run it again to carry on."""
    from connector.sync.history_import import dry_run as do_dry_run
    from connector.sync.history_import import import_range, run_import

    cfg = load(config)
    if mode is not None:
        if mode not in ("per_order", "summary"):
            err.print("--mode is per_order or summary")
            raise typer.Exit(EXIT_CONFIG)
        cfg.file.sync.mode = "summary" if mode == "summary" else "per_order"
    try:
        start, end = import_range(since, until, ZoneInfo(cfg.file.sync.timezone))
    except ValueError as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    runtime = build_runtime(cfg)
    per_second = cfg.moneybird.rate_limit / cfg.moneybird.rate_window_seconds
    show, stop_bar = progress(None if dry_run else per_second)
    try:
        if dry_run:
            result = do_dry_run(runtime.engine(), start, end, limit, show)
            files = result.write(report)
        else:
            shutdown.install()
            outcome = run_import(runtime.engine(), start, end, limit, show)
    except Interrupted as exc:
        err.print(f"Import {exc}; run the same command again to carry on where it stopped")
        raise typer.Exit(exc.exit_code) from None
    except ConnectorError as exc:
        exit_for(exc)
    finally:
        if stop_bar is not None:
            stop_bar()
        runtime.close()
    # After the bar is gone: the summary is the last thing on the screen.
    if dry_run:
        _print_dry_run(result, files)
        left = result.left and (
            f"{result.left}; the report covers only the orders read: run the dry run again "
            "for the whole range"
        )
    else:
        console.print(outcome.summary("read"), highlight=False)
        left = outcome.error
    if left:  # exit 0 only when every order in the range was read
        err.print(scrub(f"Import stopped short: {left}"), highlight=False)
        raise typer.Exit(EXIT_FAILED)


def _print_dry_run(result: DryRun, files: list[Path]) -> None:
    table = Table(title="Dry run: what the import would book")
    for column in ("month", "VAT rate", "lines", "net", "VAT", "gross"):
        table.add_column(column, justify="right")
    for (month, rate), (net, vat, gross) in sorted(result.totals.items()):
        table.add_row(
            month, rate, str(result.invoices[(month, rate)]), fmt(net), fmt(vat), fmt(gross)
        )
    console.print(table)
    console.print(
        f"{result.orders} orders: {len(result.parked)} would be parked or wait, "
        f"{result.already_booked} already booked, {len(result.new_contacts)} new contacts."
    )
    for number, reason in result.parked[:20]:
        console.print(f"  order {number}: {reason}", highlight=False)
    if result.refunds:
        console.print(f"{len(result.refunds)} refunds on these orders:")
        for number, refund_id, when, amount, outcome in result.refunds[:20]:
            console.print(
                f"  order {number} refund {refund_id} ({when}, {amount}): {outcome}",
                highlight=False,
            )
    console.print("Report: " + ", ".join(str(f) for f in files), highlight=False)
