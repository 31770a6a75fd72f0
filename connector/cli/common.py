"""What every command shares: the application, the two consoles, the options every command
takes, the exit codes, and how a configuration, the state or the runtime is opened (or why it
cannot be, in one line)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from connector.config import Config, StateSettings, load_config, state_settings
from connector.errors import AdministrationError, AuthError, ConfigError, ConnectorError, StateError
from connector.redact import scrub
from connector.runtime import Runtime, build, setup_logging

if TYPE_CHECKING:
    from connector.state import Store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Books paid webshop orders into Moneybird as paid sales invoices.",
    # Help is plain text: "[dashboard] host" is a section name, not markup to be eaten.
    rich_markup_mode=None,
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


def exit_for(exc: ConnectorError, prefix: str = "") -> NoReturn:
    """Say what went wrong and exit: 2 for a wrong administration (a configuration error),
    3 for authentication, 1 for anything else."""
    if isinstance(exc, AdministrationError):  # it says what it is, and the fix
        text = str(exc)
        err.print(scrub(text[:1].upper() + text[1:]), highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    err.print(scrub(f"{prefix}{exc}"), highlight=False)
    raise typer.Exit(EXIT_AUTH if isinstance(exc, AuthError) else EXIT_FAILED) from None


def open_state(settings: StateSettings) -> Store:
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


def state_problem(exc: Exception) -> NoReturn:
    """The state cannot be opened: one line with the fix for its kind of trouble (the
    StateError says it), exit 2 (nothing ran)."""
    err.print(str(exc), highlight=False)
    raise typer.Exit(EXIT_CONFIG) from None


def build_runtime(cfg: Config) -> Runtime:
    """The runtime, or one line saying why its state cannot be used and how to fix it."""
    try:
        return build(cfg)
    except StateError as exc:
        state_problem(exc)


def config_error(exc: ConfigError) -> None:
    err.print("[red]Configuration error[/red]", markup=True)
    err.print(str(exc), highlight=False)


def state_settings_or_exit(path: Path) -> StateSettings:
    """For the commands that only read or re-queue state: work even with a broken edit."""
    try:
        return state_settings(path)
    except ConfigError as exc:
        config_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None


LogJsonOption = Annotated[
    bool, typer.Option("--log-json", help="Log as JSON lines (also: [logging] format).")
]


def load(
    path: Path, verbose: bool = False, log_json: bool = False, mappings_optional: bool = False
) -> Config:
    try:
        config = load_config(path, mappings_optional=mappings_optional)
    except ConfigError as exc:
        config_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None
    as_json = log_json or config.file.logging.format == "json"
    setup_logging(verbose, config.secrets.values(), as_json=as_json)
    from connector.admin.config_check import ignored_settings

    for where, message in ignored_settings(config):
        logging.getLogger(__name__).warning("%s: %s", where, message)
    return config


EXIT_DIFFERENCES = 5
