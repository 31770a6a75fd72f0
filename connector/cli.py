"""The `connector` command line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from connector import shutdown
from connector.admin.preview import print_credit, refund_previews
from connector.booking.book import Parked
from connector.config import Config, StateSettings, load_config, state_settings
from connector.errors import (
    AdministrationError,
    AuthError,
    ConfigError,
    ConnectorError,
    Interrupted,
    StateError,
)
from connector.money import fmt
from connector.redact import scrub
from connector.runtime import Runtime, build, setup_logging

if TYPE_CHECKING:
    from connector.order import Order
    from connector.state import Store
    from connector.sync.history_import import DryRun

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Books paid webshop orders into Moneybird as paid sales invoices.",
)
# Messages stay whole lines in logs and pipes. Markup only where asked for (markup=True): the
# text printed is mostly the shop's and the tables', where "[gift_cards] sale" is no markup.
console = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)


def _show_version(value: bool) -> None:
    if value:
        from connector import __version__

        console.print(f"moneybird-shop-connector {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Books paid webshop orders into Moneybird as paid sales invoices."""


EXIT_CONFIG = 2
EXIT_AUTH = 3
EXIT_FAILED = 1

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="CONNECTOR_CONFIG", help="Path to config.toml.", show_default=True
    ),
]
DEFAULT_CONFIG = Path("config.toml")


def _exit_for(exc: ConnectorError, prefix: str = "") -> NoReturn:
    """Say what went wrong and exit: 2 for a wrong administration (a configuration error),
    3 for authentication, 1 for anything else."""
    if isinstance(exc, AdministrationError):  # it says what it is, and the fix
        text = str(exc)
        err.print(scrub(text[:1].upper() + text[1:]), highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    err.print(scrub(f"{prefix}{exc}"), highlight=False)
    raise typer.Exit(EXIT_AUTH if isinstance(exc, AuthError) else EXIT_FAILED) from None


def _open_state(settings: StateSettings) -> Store:
    """The state named by the files on disk, or one clear line saying why it cannot be read."""
    from connector.state import Store

    try:
        return Store(settings.state_path)
    except StateError as exc:
        err.print(
            f"{exc} (config.toml on disk names this state file; a `connector run` started "
            "with an earlier configuration keeps using its own)",
            highlight=False,
        )
        raise typer.Exit(EXIT_FAILED) from None


def _state_problem(exc: Exception) -> NoReturn:
    """The state cannot be opened: one line with the fix for its kind of trouble (the
    StateError says it), exit 2 (nothing ran)."""
    err.print(str(exc), highlight=False)
    raise typer.Exit(EXIT_CONFIG) from None


def _build(cfg: Config) -> Runtime:
    """The runtime, or one line saying why its state cannot be used and how to fix it."""
    try:
        return build(cfg)
    except StateError as exc:
        _state_problem(exc)


def _config_error(exc: ConfigError) -> None:
    err.print("[red]Configuration error[/red]", markup=True)
    err.print(str(exc), highlight=False)


def _state_settings(path: Path) -> StateSettings:
    """For the commands that only read or re-queue state: work even with a broken edit."""
    try:
        return state_settings(path)
    except ConfigError as exc:
        _config_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None


LogJsonOption = Annotated[
    bool, typer.Option("--log-json", help="Log as JSON lines (also: [logging] format).")
]


def _load(
    path: Path, verbose: bool = False, log_json: bool = False, mappings_optional: bool = False
) -> Config:
    try:
        config = load_config(path, mappings_optional=mappings_optional)
    except ConfigError as exc:
        _config_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None
    as_json = log_json or config.file.logging.format == "json"
    setup_logging(verbose, config.secrets.values(), as_json=as_json)
    from connector.admin.config_check import ignored_settings

    for where, message in ignored_settings(config):
        logging.getLogger(__name__).warning("%s: %s", where, message)
    return config


config_app = typer.Typer(no_args_is_help=True, help="Check the configuration.")
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(
    config: ConfigOption = DEFAULT_CONFIG,
    offline: Annotated[
        bool, typer.Option("--offline", help="Only the files; do not contact the services.")
    ] = False,
) -> None:
    """Validate config.toml and the tables, then against Moneybird and the shop."""
    from connector.admin.config_check import ERROR, OK, check

    report = check(config, live=not offline)
    marks = {OK: "[green]ok[/green]", ERROR: "[red]error[/red]"}
    for finding in report.findings:
        mark = marks.get(finding.level, "[yellow]warning[/yellow]")
        console.print(f"{mark}  ", end="", markup=True)
        console.print(f"{finding.where}: {finding.message}", highlight=False)
    if report.ok:
        console.print("[green]All is well.[/green]", markup=True)
    else:
        console.print(f"[red]{len(report.errors)} problem(s) to fix.[/red]", markup=True)
        raise typer.Exit(EXIT_CONFIG)


mappings_app = typer.Typer(no_args_is_help=True, help="Work on the mapping tables.")
app.add_typer(mappings_app, name="mappings")


@mappings_app.command("suggest")
def mappings_suggest(
    config: ConfigOption = DEFAULT_CONFIG,
    write: Annotated[
        bool, typer.Option("--write", help="Write the proposals into the tables.")
    ] = False,
) -> None:
    """Propose rules from Moneybird's rates and accounts and the shop's rates and payment
    methods. Prints a diff; --write applies it, keeping your comments and layout."""
    from connector.admin.mappings_suggest import suggest

    cfg = _load(config, mappings_optional=True)
    runtime = _build(cfg)
    try:
        admins = {str(a["id"]): a for a in runtime.client.administrations()}
        home = str(admins.get(cfg.moneybird.administration_id, {}).get("country") or "NL")
        proposals = suggest(
            cfg,
            runtime.client.tax_rates(),
            runtime.client.ledger_accounts(),
            runtime.client.financial_accounts(),
            runtime.shop.tax_rates(),
            runtime.shop.payment_gateways(),
            home_country=home,
        )
    except ConnectorError as exc:
        _exit_for(exc)
    finally:
        runtime.close()
    changed = [p for p in proposals if p.changed]
    if not changed:
        console.print("The tables already cover everything Moneybird and the shop have.")
        return
    for proposal in changed:
        if write:
            proposal.path.parent.mkdir(parents=True, exist_ok=True)
            proposal.path.write_text(proposal.new, encoding="utf-8")
            console.print(f"wrote {proposal.path}", highlight=False)
        else:
            console.print(proposal.diff(), markup=False, highlight=False, end="")
    if not write:
        console.print(
            "Review the above, then run again with --write, then `connector config check`."
        )


@app.command()
def sync(
    config: ConfigOption = DEFAULT_CONFIG,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    log_json: LogJsonOption = False,
) -> None:
    """Run one pass now, then exit."""
    from connector.ops.alerts import Alerter
    from connector.ops.config_watch import ConfigWatcher

    cfg = _load(config, verbose, log_json)
    runtime = _build(cfg)
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
        _exit_for(exc, "Authentication failed, nothing was booked half-way: ")
    except ConnectorError as exc:
        _exit_for(exc, "Pass stopped: ")
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
    from datetime import UTC, datetime

    from connector.sync.history_import import dry_run as do_dry_run
    from connector.sync.history_import import run_import

    cfg = _load(config)
    if mode is not None:
        if mode not in ("per_order", "summary"):
            err.print("--mode is per_order or summary")
            raise typer.Exit(EXIT_CONFIG)
        cfg.file.sync.mode = "summary" if mode == "summary" else "per_order"
    try:
        start = datetime.fromisoformat(since).replace(tzinfo=UTC)
        end = datetime.fromisoformat(until).replace(tzinfo=UTC) if until else None
    except ValueError:
        err.print("--since and --until take dates like 2026-01-31")
        raise typer.Exit(EXIT_CONFIG) from None
    runtime = _build(cfg)
    per_second = cfg.moneybird.rate_limit / cfg.moneybird.rate_window_seconds
    show, stop_bar = _progress(None if dry_run else per_second)
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
        _exit_for(exc)
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


def _progress(
    per_second: float | None,
) -> tuple[Callable[[int, int | None, int], None], Callable[[], None] | None]:
    """On a terminal a rich progress bar, with log lines printed above it; in container logs
    a line every 25 orders. The time left comes from the pace so far (before there is one,
    from the Moneybird budget: about 3.3 requests per order at `per_second`; a dry run has no
    budget to wait for)."""
    import logging
    import time as _time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    started = _time.monotonic()

    def seconds_left(done: int, total: int) -> float | None:
        if done >= 5:
            return (total - done) * (_time.monotonic() - started) / done
        return (total - done) * 3.3 / per_second if per_second else None

    if console.is_terminal:
        bar = Progress(TextColumn("orders"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[note]}"), console=console)  # fmt: skip
        task = bar.add_task("import", total=None, note="")
        bar.start()
        above = _AboveTheBar(bar.console)
        handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        streams = [h.setStream(above) for h in handlers]

        def update(done: int, total: int | None, requests: int) -> None:
            left = seconds_left(done, total) if total else None
            eta = f", ~{_duration(left)} to go" if left is not None else ""
            bar.update(
                task, completed=done, total=total, note=f"{requests} Moneybird requests{eta}"
            )

        def stop() -> None:
            bar.stop()
            for handler, stream in zip(handlers, streams, strict=True):
                handler.setStream(stream)

        return update, stop
    last = {"shown": 0}

    def show(done: int, total: int | None, requests: int) -> None:
        if done - last["shown"] < 25 and done != total:
            return
        last["shown"] = done
        left = seconds_left(done, total) if total else None
        eta = f", about {_duration(left)} to go" if left is not None else ""
        of = f"/{total}" if total else ""
        elapsed = int(_time.monotonic() - started)
        line = f"{done}{of} orders, {requests} Moneybird requests, {elapsed} s{eta}"
        console.print(line, highlight=False)

    return show, None


class _AboveTheBar:
    """A stream for log lines while a progress bar is live: printed above it, not through it."""

    def __init__(self, target: Console) -> None:
        self.target = target

    def write(self, text: str) -> int:
        if text.strip():
            self.target.print(text.rstrip("\n"), markup=False, highlight=False)
        return len(text)

    def flush(self) -> None:
        pass


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s"
    return f"{int(seconds // 60)} min"


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


@app.command()
def sandbox(
    shop: Annotated[
        str, typer.Option("--shop", help="woocommerce or shopify.", case_sensitive=False)
    ] = "woocommerce",
    folder: Annotated[Path, typer.Option(help="Where to write its config.")] = Path("sandbox"),
    moneybird_port: Annotated[int, typer.Option(help="0: any free port.")] = 18080,
    shop_port: Annotated[int, typer.Option(help="0: any free port.")] = 18081,
    host: Annotated[
        str,
        typer.Option(
            help="The local address to listen on; 172.17.0.1 (Docker's bridge) lets a container "
            "started with -p reach it."
        ),
    ] = "127.0.0.1",
) -> None:
    """A local shop and Moneybird with the demo data, and a config pointing at them, to try
    every command (and the container) without real accounts. Runs until Ctrl-C."""
    from connector.admin.demo import serve_sandbox

    raise typer.Exit(
        serve_sandbox(console, folder, shop.lower(), moneybird_port, shop_port, host=host)
    )


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Where to write them (made if need be).")] = Path(
        "."
    ),
    shop: Annotated[
        str, typer.Option("--shop", help="woocommerce or shopify.", case_sensitive=False)
    ] = "woocommerce",
) -> None:
    """Write a starter config.toml and mapping tables, and say what to do next."""
    from connector.admin.starter import write_starter

    platform = shop.lower()
    if platform not in ("woocommerce", "shopify"):
        err.print("--shop takes woocommerce or shopify")
        raise typer.Exit(EXIT_CONFIG)
    try:
        written = write_starter(folder, platform)
    except (FileExistsError, FileNotFoundError) as exc:
        err.print(str(exc), highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    secrets = (
        "SHOPIFY_ACCESS_TOKEN"
        if platform == "shopify"
        else "WOOCOMMERCE_CONSUMER_KEY and WOOCOMMERCE_CONSUMER_SECRET"
    )
    config = folder / "config.toml"
    console.print(
        "Next:\n"
        f"  1. in {config}: the shop's url and moneybird.administration_id\n"
        f"  2. export MONEYBIRD_TOKEN and {secrets}\n"
        f"  3. connector mappings suggest --config {config}   (then --write)\n"
        f"  4. connector config check --config {config}\n"
        f"  5. connector preview <order number> --config {config}\n"
        f"  6. connector sync --config {config}   (the first pass books orders paid from now on)",
        highlight=False,
    )


@app.command()
def run(
    config: ConfigOption = DEFAULT_CONFIG,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    log_json: LogJsonOption = False,
) -> None:
    """Sync now and then every sync.interval_minutes until stopped (SIGTERM/Ctrl-C)."""
    from connector.ops.scheduler import run_forever

    cfg = _load(config, verbose, log_json)
    beside = None
    if cfg.file.dashboard.enabled:
        from functools import partial

        from connector.dashboard.server import beside_the_scheduler

        beside = partial(beside_the_scheduler, token=_dashboard_token())
    try:
        signum = run_forever(cfg, beside)
    except StateError as exc:  # the state cannot be opened at start: nothing ran
        _state_problem(exc)
    if signum is not None:
        raise typer.Exit(128 + signum)


def _dashboard_token() -> str | None:
    from connector.dashboard.server import dashboard_token

    try:
        return dashboard_token()
    except ConfigError as exc:
        _config_error(exc)
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
            _config_error(exc)
            raise typer.Exit(EXIT_CONFIG) from None
        cfg = load_config(config, require_secrets=False)  # the state's pages need no secret
        live = None
    setup_logging(False, cfg.secrets.values())
    token = _dashboard_token()
    store = _open_state(_state_settings(config))
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


EXIT_DIFFERENCES = 5


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

    Exit 0: they agree; 5: differences found; 1: it could not complete."""
    from connector.admin.reconcile_report import render, write_csv
    from connector.ops.reconciliation import run_and_record
    from connector.state import utcnow
    from connector.sync.reconcile import Busy, Month

    cfg = _load(config)
    try:
        chosen = Month.parse(month) if month else None
    except ValueError as exc:
        err.print(f"--month: {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    runtime = _build(cfg)
    try:
        if chosen is None:
            chosen = Month.of(utcnow().astimezone(runtime.engine().settings.timezone).date())
            chosen = chosen.previous()
        result = run_and_record(runtime, chosen)
    except Busy as exc:
        err.print(f"Not reconciled: {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
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


@app.command()
def status(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Orders per state, orders needing attention with the reason, and the last runs."""
    from connector.ops.status import collect, render

    settings = _state_settings(config)
    store = _open_state(settings)
    try:
        store.settle_dead_runs()
        data = collect(store, config_path=settings.config_path)
    except StateError as exc:  # a damaged page met while reading
        _exit_for(exc)
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

    settings = _state_settings(config)  # no secrets needed: it reads the state only
    store = _open_state(settings)
    try:
        store.settle_dead_runs()
        ok, message = check(store, settings.interval_minutes)
    except StateError as exc:  # a damaged page met while reading
        _exit_for(exc)
    finally:
        store.close()
    console.print(message, highlight=False)
    raise typer.Exit(0 if ok else EXIT_FAILED)


@app.command()
def retry(
    order: Annotated[str | None, typer.Argument(help="Order number; all when left out.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Put parked or failed orders, and their refunds, back in line for the next pass."""
    store = _open_state(_state_settings(config))
    try:
        chosen = store.requeue(order)
        refunds = store.requeue_refunds(order)
    except StateError as exc:  # read-only, full or damaged: one line with its fix
        _exit_for(exc, "Not queued: ")
    finally:
        store.close()
    if order is not None and not chosen and not refunds:
        err.print(f"Order {order} is not parked or failed, nor any of its refunds.")
        raise typer.Exit(EXIT_FAILED)
    console.print(f"{len(chosen)} order(s) queued for the next pass.")
    if refunds:
        console.print(f"{len(refunds)} refund(s) queued for the next pass.")


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
    cfg = _load(config)
    runtime = _build(cfg)
    try:
        payload = runtime.shop.order(order)
        if payload is None:
            err.print(
                f"Order {order} not found in the shop. preview takes the shop's order id (for "
                "Shopify, the number at the end of the order's admin address), not its number.",
                highlight=False,
            )
            raise typer.Exit(EXIT_FAILED)
        engine = runtime.engine()
        verdict = engine.verdict(payload)  # the pass's own decision path, writing nothing
        booked = verdict.action == "skip" and verdict.reason.startswith("already booked")
        rates = engine.rates() if verdict.draft is not None or booked else {}
        names = _account_names(runtime) if verdict.draft is not None else {}
        credits = []
        if booked:  # its refunds are still to come, or were credited: say which
            parsed = engine.order_from(payload)
            original = engine.draft(parsed, rates)
            if not isinstance(original, Parked):
                credits = refund_previews(runtime, parsed, original, rates)
        elif verdict.draft is not None and verdict.order is not None:
            credits = refund_previews(runtime, verdict.order, verdict.draft, rates)
    except ConnectorError as exc:
        _exit_for(exc)
    finally:
        runtime.close()
    number = verdict.order.number if verdict.order else order
    if verdict.action != "book" or verdict.draft is None:
        what = {"park": "park it", "skip": "skip it", "retry": "leave it to retry"}
        console.print(
            f"A pass would {what.get(verdict.action, verdict.action)}: order {number}: "
            f"{verdict.reason}",
            highlight=False,
        )
        for refund_id, credit in credits:
            print_credit(console, number, refund_id, credit, rates)
        return
    result = verdict.draft
    if cfg.file.sync.mode == "summary" and verdict.order is not None:
        _summary_preview(cfg, verdict.order, number)
    console.print(f"A pass would book order {number} as this invoice:", highlight=False)
    incl = "incl." if result.prices_are_incl_tax else "excl."
    table = Table(title=f"Invoice for order {number}, reference {result.reference}")
    for column in ("description", "qty", f"price ({incl} VAT)", "tax rate", "ledger"):
        table.add_column(column, overflow="fold")
    for line in result.lines:
        table.add_row(
            line.description,
            f"{line.amount.normalize():f}",
            fmt(line.price),
            f"{rates[line.tax_rate_id].name} ({line.tax_rate_id})",
            _named(names, line.ledger_account_id),
        )
    console.print(table)
    console.print(
        f"Date {result.invoice_date}, {result.currency}; "
        f"total {fmt(result.predicted.total_incl_tax)} "
        f"(shop: {fmt(result.shop_totals.total_incl_tax)})"
    )
    for rate_id, vat in result.predicted.vat_by_rate.items():
        console.print(f"  VAT {rates[rate_id].name}: {fmt(vat)}")
    for payment in result.payments:
        account = _named(names, payment.financial_account_id or "") or "(none)"
        console.print(
            f"Payment {fmt(payment.amount)} on {payment.payment_date}, account {account}",
            highlight=False,
        )
    for note in result.notes:
        console.print(f"Note: {note}", highlight=False)
    for refund_id, credit in credits:
        print_credit(console, number, refund_id, credit, rates)


def _summary_preview(cfg: Config, order: Order, number: str) -> None:
    """Summary mode: the day the order joins, or why it keeps an invoice of its own."""
    from zoneinfo import ZoneInfo

    from connector.booking.day import individual_reason

    alone = individual_reason(order, cfg.mappings)
    if alone is not None:
        console.print(f"Summary mode keeps it on its own: {alone}.", highlight=False)
        return
    tz = ZoneInfo(cfg.sync.timezone)
    day = order.paid_at.astimezone(tz).date() if order.paid_at else None
    console.print(
        f"Summary mode: order {number} would join the day's document of {day}, made "
        f"{cfg.file.summary.settle_days} days after it; its part of that day:",
        highlight=False,
    )


def _account_names(runtime: Runtime) -> dict[str, str]:
    """Moneybird's names for its ledger and financial accounts, by id (two reads)."""
    names: dict[str, str] = {}
    for account in [*runtime.client.ledger_accounts(), *runtime.client.financial_accounts()]:
        name = account.get("name") or account.get("identifier") or ""
        names[str(account.get("id"))] = str(name)
    return names


def _named(names: dict[str, str], account_id: str) -> str:
    name = names.get(account_id)
    return f"{name} ({account_id})" if name else account_id


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Keep the demo's state folder afterwards.")] = False,
    shop: Annotated[
        str, typer.Option(help="Which shop to emulate: woocommerce or shopify.")
    ] = "woocommerce",
) -> None:
    """Start a local shop and Moneybird sandbox, sync the demo shop, show what happened."""
    from connector.admin.demo import run_demo

    if shop not in ("woocommerce", "shopify"):
        err.print("--shop is woocommerce or shopify")
        raise typer.Exit(EXIT_CONFIG)
    raise typer.Exit(run_demo(console, keep=keep, platform=shop))
