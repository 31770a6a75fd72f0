"""Day to day: `sync`, `status`, `health`, `retry` and `preview`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from connector import shutdown
from connector.cli.common import (
    DEFAULT_CONFIG,
    EXIT_FAILED,
    ConfigOption,
    LogJsonOption,
    app,
    build_runtime,
    console,
    err,
    exit_for,
    load,
    open_state,
    state_settings_or_exit,
)
from connector.errors import AuthError, ConnectorError, Interrupted, StateError
from connector.redact import scrub


@app.command()
def sync(
    config: ConfigOption = DEFAULT_CONFIG,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug lines too.")] = False,
    log_json: LogJsonOption = False,
) -> None:
    """Run one pass now, then exit."""
    from connector.ops.alerts import Alerter
    from connector.ops.config_watch import ConfigWatcher

    cfg = load(config, verbose, log_json)
    runtime = build_runtime(cfg)
    shutdown.install()
    try:
        # Inside: a state that cannot be written (a full disk) is one line, not a traceback.
        ConfigWatcher(cfg.path, cfg).record(runtime.store)
        try:
            report = runtime.engine().run_pass()
        finally:
            Alerter(runtime.config, runtime.store).after_pass()
    except Interrupted as exc:
        err.print(f"Pass {exc}: the order in hand was finished or left recorded for the next pass")
        raise typer.Exit(exc.exit_code) from None
    except AuthError as exc:
        exit_for(exc, "Authentication failed, nothing was booked half-way: ")
    except ConnectorError as exc:
        exit_for(exc, "Pass stopped: ")
    finally:
        runtime.close()
    console.print(report.summary(), highlight=False)
    if report.before_start:
        console.print(
            f"{report.before_start} orders paid before the start point were left alone: "
            "`connector status` says how to book them",
            highlight=False,
        )
    if report.error:
        err.print(scrub(f"Pass stopped early: {report.error}"), highlight=False)
        raise typer.Exit(EXIT_FAILED)


@app.command()
def status(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Orders per state, orders needing attention with the reason, and the last runs."""
    from connector.ops.status import collect, render

    settings = state_settings_or_exit(config)
    store = open_state(settings)
    try:
        store.settle_dead_runs()
        data = collect(store, config_path=settings.config_path)
    except StateError as exc:  # a damaged page met while reading
        exit_for(exc)
    finally:
        store.close()
    data["config"]["problem_on_disk"] = settings.problem
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        render(data, console)


@app.command()
def health(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Exit 0 when the last pass succeeded within two intervals (for container health checks)."""
    from connector.ops.health import health as check

    settings = state_settings_or_exit(config)  # no secrets needed: it reads the state only
    store = open_state(settings)
    try:
        store.settle_dead_runs()
        ok, message = check(store, settings.interval_minutes)
    except StateError as exc:  # a damaged page met while reading
        exit_for(exc)
    finally:
        store.close()
    console.print(message, highlight=False)
    raise typer.Exit(0 if ok else EXIT_FAILED)


@app.command()
def retry(
    order: Annotated[
        str | None, typer.Argument(help="Order number or payout id; all when left out.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Put parked or failed orders, their refunds, and payouts back in line for the next pass."""
    store = open_state(state_settings_or_exit(config))
    try:
        chosen = store.requeue(order)
        refunds = store.requeue_refunds(order)
        payouts = store.requeue_payouts(order)
    except StateError as exc:  # read-only, full or damaged: one line with its fix
        exit_for(exc, "Not queued: ")
    finally:
        store.close()
    if order is not None and not chosen and not refunds and not payouts:
        err.print(f"Order {order} is not parked or failed, nor any of its refunds, nor a payout.")
        raise typer.Exit(EXIT_FAILED)
    if order is None or chosen or not payouts:
        console.print(f"{len(chosen)} order(s) queued for the next pass.")
    if refunds:
        console.print(f"{len(refunds)} refund(s) queued for the next pass.")
    if payouts:
        console.print(f"{len(payouts)} payout(s) queued for the next pass.")


@app.command()
def preview(
    order: Annotated[
        str,
        typer.Argument(
            help="The shop's order id (Shopify: the number at the end of the order's admin "
            "address, not its #name)."
        ),
    ],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Show the invoice an order would become, and the credit invoice for each refund.
    Sends nothing to Moneybird."""
    from connector.admin.preview import read_preview, show_preview

    cfg = load(config)
    runtime = build_runtime(cfg)
    try:
        found = read_preview(runtime, order)
    except ConnectorError as exc:
        exit_for(exc)
    finally:
        runtime.close()
    if found is None:
        err.print(
            f"Order {order} not found in the shop. preview takes the shop's order id (for "
            "Shopify, the number at the end of the order's admin address), not its number.",
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILED)
    show_preview(console, cfg, found)
