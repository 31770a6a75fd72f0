"""Reports: `reconcile`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from connector.cli.common import (
    DEFAULT_CONFIG,
    EXIT_CONFIG,
    EXIT_DIFFERENCES,
    EXIT_FAILED,
    ConfigOption,
    app,
    build_runtime,
    console,
    err,
    load,
)
from connector.redact import scrub


@app.command()
def reconcile(
    month: Annotated[
        str | None,
        typer.Option(help="The month, YYYY-MM (in sync.timezone); default: the previous one."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write one row per order to this file.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Compare a month in the shop with Moneybird, to the order and the cent (reads only).

    With [payouts] on, also the month's payouts: each with its figures, its bank line and the
    provider account's balance in Moneybird after it.

    Exit 0: they agree; 5: differences found (or a payout that does not add up); 1: it could
    not complete; 2: --month is not a month, or one that has not begun."""
    from connector.admin.reconcile_report import render, write_csv
    from connector.ops.reconciliation import run_and_record
    from connector.state import utcnow
    from connector.sync.reconcile import Busy, Month, NotBegun

    cfg = load(config)
    try:
        chosen = Month.parse(month) if month else None
    except ValueError as exc:
        err.print(f"--month: {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    runtime = build_runtime(cfg)
    try:
        if chosen is None:
            chosen = Month.of(utcnow().astimezone(runtime.engine().settings.timezone).date())
            chosen = chosen.previous()
        result = run_and_record(runtime, chosen)
    except Busy as exc:
        err.print(f"Not reconciled: {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    except NotBegun as exc:
        err.print(f"--month: {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    finally:
        runtime.close()
    if csv_file is not None and not result.error:
        try:
            write_csv(result, csv_file)
        except OSError as exc:
            err.print(f"--csv: cannot write {csv_file}: {exc.strerror}", highlight=False)
            raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n")
    else:
        render(result, console)
        if csv_file is not None and not result.error:
            console.print(f"{len(result.rows)} rows written to {csv_file}", highlight=False)
    if result.error:
        err.print(scrub(f"Reconciliation could not complete: {result.error}"), highlight=False)
        raise typer.Exit(EXIT_FAILED)
    if result.findings:
        raise typer.Exit(EXIT_DIFFERENCES)
