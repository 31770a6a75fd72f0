"""Serving: `run`, `dashboard`, `sandbox` and `demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.cli.common import (
    DEFAULT_CONFIG,
    EXIT_CONFIG,
    ConfigOption,
    LogJsonOption,
    app,
    config_error,
    console,
    err,
    load,
    open_state,
    state_problem,
    state_settings_or_exit,
)
from connector.config import load_config
from connector.errors import ConfigError, StateError
from connector.runtime import setup_logging


@app.command()
def run(
    config: ConfigOption = DEFAULT_CONFIG,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug lines too.")] = False,
    log_json: LogJsonOption = False,
) -> None:
    """Sync now and then every sync.interval_minutes until stopped (SIGTERM/Ctrl-C)."""
    from connector.ops.scheduler import run_forever

    cfg = load(config, verbose, log_json)
    beside = None
    if cfg.file.dashboard.enabled:
        from functools import partial

        from connector.dashboard.server import beside_the_scheduler

        beside = partial(beside_the_scheduler, token=dashboard_token())
    try:
        signum = run_forever(cfg, beside)
    except StateError as exc:  # the state cannot be opened at start: nothing ran
        state_problem(exc)
    if signum is not None:
        raise typer.Exit(128 + signum)


def dashboard_token() -> str | None:
    from connector.dashboard.server import dashboard_token

    try:
        return dashboard_token()
    except ConfigError as exc:
        config_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None


@app.command()
def dashboard(
    config: ConfigOption = DEFAULT_CONFIG,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: [dashboard] host).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: [dashboard] port).")] = None,
) -> None:
    """Serve the web dashboard until stopped. Reading needs no secret; Retry needs
    DASHBOARD_TOKEN. With the connector's secrets in the environment, an order's page also
    shows the shop's order and Moneybird's invoice beside each other."""
    from connector.dashboard.app import Source, create_app
    from connector.dashboard.live import Live
    from connector.dashboard.server import DashboardServer

    try:
        cfg = load_config(config)
        live: Live | None = Live(lambda: cfg)
    except ConfigError as exc:
        if "not set:" not in str(exc):
            config_error(exc)
            raise typer.Exit(EXIT_CONFIG) from None
        cfg = load_config(config, require_secrets=False)  # the state's pages need no secret
        live = None
    setup_logging(False, cfg.secrets.values())
    token = dashboard_token()
    store = open_state(state_settings_or_exit(config))
    app_ = create_app(Source(lambda: cfg, lambda: store, live, token))
    try:
        server = DashboardServer(app_, host or cfg.dashboard_host, port or cfg.dashboard_port)
    except OSError as exc:
        err.print(f"The dashboard cannot listen there: {exc.strerror or exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    mode = "Retry enabled" if token else "read-only: set DASHBOARD_TOKEN to enable Retry"
    shops = "" if live else "; without the secrets, order pages show the state alone"
    console.print(f"Dashboard on {server.url} ({mode}{shops}). Ctrl-C stops it.", highlight=False)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.close()
        store.close()


@app.command()
def sandbox(
    shop: Annotated[
        str, typer.Option("--shop", help="woocommerce or shopify.", case_sensitive=False)
    ] = "woocommerce",
    folder: Annotated[Path, typer.Option(help="Where to write its config.")] = Path("sandbox"),
    moneybird_port: Annotated[int, typer.Option(help="0: any free port.")] = 18080,
    shop_port: Annotated[int, typer.Option(help="0: any free port.")] = 18081,
    mollie_port: Annotated[
        int, typer.Option(help="Mollie's, beside a WooCommerce shop; 0: any free port.")
    ] = 18082,
    host: Annotated[
        str,
        typer.Option(
            help="The local address to listen on; 172.17.0.1 (Docker's bridge) lets a container "
            "started with -p reach it."
        ),
    ] = "127.0.0.1",
) -> None:
    """A local shop and Moneybird with the demo data (beside a WooCommerce shop also Mollie,
    with payouts to book), and a config pointing at them, to try every command (and the
    container) without real accounts. Runs until Ctrl-C."""
    from connector.admin.demo import serve_sandbox

    code = serve_sandbox(
        console, folder, shop.lower(), moneybird_port, shop_port, host=host, mollie_port=mollie_port
    )
    raise typer.Exit(code)


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep the demo's state folder afterwards.")] = False,
    shop: Annotated[
        str, typer.Option(help="Which shop to emulate: woocommerce or shopify.")
    ] = "woocommerce",
) -> None:
    """Start a local shop and Moneybird sandbox (and Mollie beside WooCommerce), sync the demo
    shop and book its payouts, show what happened."""
    from connector.admin.demo import run_demo

    if shop not in ("woocommerce", "shopify"):
        err.print("--shop is woocommerce or shopify")
        raise typer.Exit(EXIT_CONFIG)
    raise typer.Exit(run_demo(console, keep=keep, platform=shop))
