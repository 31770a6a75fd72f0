"""Setting up: `init`, `config check` and `mappings suggest`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

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
from connector.errors import ConnectorError


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
    # The same steps as the README's: from inside the folder, where config.toml is the default.
    inside = [] if folder.resolve() == Path.cwd().resolve() else [f"cd {shlex.quote(str(folder))}"]
    steps = [
        *inside,
        "edit config.toml: the shop's url and moneybird.administration_id",
        f"export MONEYBIRD_TOKEN and {secrets}",
        "connector mappings suggest   (then --write)",
        "connector config check",
        "connector preview <the shop's order id>",
        "connector sync   (the first pass books orders paid from now on)",
    ]
    console.print(
        "Next:\n" + "\n".join(f"  {n}. {step}" for n, step in enumerate(steps, 1)),
        highlight=False,
    )


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
    from connector.admin.config_check import ERROR, OK, UNCHECKED, check

    report = check(config, live=not offline)
    marks = {OK: "[green]ok[/green]", ERROR: "[red]error[/red]"}
    marks[UNCHECKED] = "[cyan]unchecked[/cyan]"
    for finding in report.findings:
        mark = marks.get(finding.level, "[yellow]warning[/yellow]")
        console.print(f"{mark}  ", end="", markup=True)
        console.print(f"{finding.where}: {finding.message}", highlight=False)
    colour = {OK: "green", ERROR: "red"}.get(report.verdict_level, "yellow")
    console.print(report.verdict, style=colour, highlight=False)
    if not report.ok:
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
    methods (Shopify, which lists no rates: those its orders of the last 90 days used).
    Prints a diff; --write applies it, keeping your comments and layout."""
    from connector.admin.mappings_suggest import from_services

    cfg = load(config, mappings_optional=True)
    runtime = build_runtime(cfg)
    try:
        proposals = from_services(cfg, runtime.client, runtime.shop)
    except ConnectorError as exc:
        exit_for(exc)
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
