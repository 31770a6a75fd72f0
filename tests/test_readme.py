"""The README, followed literally by a newcomer, matches what the connector does: its commands
table lists every command (and only real ones and options), its exit codes are the ones the
commands use, what it says needs no secrets runs without them, the steps after `connector init`
run where it wrote the config, the container's uid is the one secret files must be readable by,
and the contracts the tests compare against are in the repository."""

from __future__ import annotations

import re
import signal
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from connector.cli import app, common
from tests.conftest import CONTRACTS, ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECRETS = (
    "MONEYBIRD_TOKEN",
    "WOOCOMMERCE_CONSUMER_KEY",
    "WOOCOMMERCE_CONSUMER_SECRET",
    "SHOPIFY_ACCESS_TOKEN",
    "SHOPIFY_CLIENT_ID",
    "SHOPIFY_CLIENT_SECRET",
)


def commands() -> dict[str, Any]:
    """'sync', 'config check', ...: every command, by the words that call it."""
    found: dict[str, Any] = {}

    def walk(words: list[str], command: Any) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk([*words, name], sub)
        else:
            found[" ".join(words)] = command

    walk([], typer.main.get_command(app))
    return found


COMMANDS = commands()


def table_rows() -> list[str]:
    """The commands table's first cells: `connector run`, `connector status [--json]`, ..."""
    start = README.index("| command | what it does |")
    rows = []
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line.split("|")[1].strip().strip("`").replace("\\|", "|"))
    return rows


def called(cell: str) -> str:
    """The command a table cell calls: the longest known command its words begin with."""
    words = cell.removeprefix("connector ").split()
    for length in (2, 1):
        name = " ".join(words[:length])
        if name in COMMANDS:
            return name
    raise AssertionError(f"README's commands table names no command: {cell!r}")


def options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", ())}


def test_the_commands_table_lists_every_command_and_only_real_options() -> None:
    rows = table_rows()
    listed = {called(cell) for cell in rows}
    assert listed == set(COMMANDS), f"missing from the table: {set(COMMANDS) - listed}"
    for cell in rows:
        known = options(COMMANDS[called(cell)])
        for option in re.findall(r"--[a-z][a-z-]*", cell):
            assert option in known, f"{cell}: {option} is no option of it"


def test_the_exit_codes_are_the_ones_the_commands_use() -> None:
    paragraph = README[README.index("Exit codes:") :].split("\n\n")[0]
    said = {int(n) for n in re.findall(r"(?<![\w.-])(\d{1,3})(?=\s)", paragraph)}
    used = {value for name, value in vars(common).items() if name.startswith("EXIT_")}
    used |= {0, 128 + signal.SIGTERM, 128 + signal.SIGINT}  # Interrupted.exit_code
    source = "\n".join(p.read_text() for p in (ROOT / "connector" / "cli").glob("*.py"))
    used |= {int(n) for n in re.findall(r"typer\.Exit\((\d+)\)", source)}
    assert used <= said, f"exit codes missing from the README: {sorted(used - said)}"
    assert said <= used, f"exit codes the README names that no command uses: {sorted(said - used)}"


def test_the_options_every_command_is_said_to_take_are_there() -> None:
    sentence = re.search(
        r"((?:`[a-z]+`(?:,\s|\sand\s)?)+)\stake `--verbose`[^.]*`--log-json`", README
    )
    assert sentence, "the README says which commands take --verbose and --log-json"
    named = set(re.findall(r"`([a-z]+)`", sentence.group(1)))
    having = {name for name, cmd in COMMANDS.items() if {"--verbose", "--log-json"} <= options(cmd)}
    assert named == having


def no_secrets_claims() -> set[str]:
    """Every command the README says needs no secrets: named in a clause that says so, or in
    a paragraph that says it of them all ("None of them needs the secrets")."""
    named: set[str] = set()
    for paragraph in README.split("\n\n"):
        clauses = re.split(r"(?<=[.;])\s", paragraph)
        if re.search(r"[Nn]one of them needs? (the )?secrets", paragraph):
            clauses = [paragraph]
        for clause in clauses:
            if re.search(r"needs? no secrets|[Nn]one of them needs? (the )?secrets", clause):
                found = re.findall(r"`(?:connector )?([a-z]+)", clause)
                named |= {word for word in found if word in COMMANDS}
    return named


def test_what_the_readme_says_needs_no_secrets_runs_without_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims = no_secrets_claims()
    assert {"status", "retry", "health"} <= claims
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "shop")]).exit_code == 0
    monkeypatch.chdir(tmp_path / "shop")
    arguments = {"preview": ["1234"], "retry": []}
    for name in sorted(claims):
        result = runner.invoke(app, [*name.split(), *arguments.get(name, [])])
        assert "not set:" not in result.output, f"`connector {name}` needs secrets after all"
        assert result.exit_code != 2, f"`connector {name}`: {result.output}"


def test_what_the_readme_says_needs_the_secrets_says_which_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clause = re.search(r"((?:`[a-z ]+`(?:,\s|\sand\s)?)+)\sread the shop and Moneybird", README)
    assert clause, "the README says which commands need the secrets"
    named = re.findall(r"`([a-z ]+)`", clause.group(1))
    assert {"preview", "reconcile"} <= set(named)
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "shop")]).exit_code == 0
    monkeypatch.chdir(tmp_path / "shop")
    arguments = {"preview": ["1234"], "import": ["--since", "2026-01-01"]}
    for name in named:
        result = runner.invoke(app, [*name.split(), *arguments.get(name, [])])
        assert result.exit_code == 2 and "not set: " in result.output, (name, result.output)
        assert "MONEYBIRD_TOKEN" in result.output


def test_the_steps_after_init_run_in_the_folder_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = re.search(r"`connector init (\S+) --shop", README)
    assert step, "the README's steps start with `connector init FOLDER`"
    folder = step.group(1)
    block = re.search(r"```sh\n(.*?)```", README[step.end() :], re.DOTALL)
    assert block
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    assert f"cd {folder}" in lines, "the commands after init run where it wrote config.toml"
    assert CliRunner().invoke(app, ["init", str(tmp_path / folder)]).exit_code == 0
    monkeypatch.chdir(tmp_path / folder)
    check = CliRunner().invoke(app, ["config", "check", "--offline"])
    assert check.exit_code == 0, check.output  # the default ./config.toml is found


def test_secret_files_must_be_readable_by_the_containers_uid_and_all_say_so() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    uid = re.search(r"useradd [^\n]*--uid (\d+)", dockerfile)
    assert uid
    advice = f"chown {uid.group(1)} secrets/"
    assert advice in README
    assert advice in (ROOT / "compose.yaml").read_text()
    assert f"readable by uid {uid.group(1)}" in README


def test_the_contracts_are_in_the_repository_with_their_source_and_not_installed() -> None:
    files = sorted(p for p in CONTRACTS.rglob("*") if p.is_file() and p.name != "README.md")
    assert files, "contracts/ holds the services' API descriptions"
    listing = (CONTRACTS / "README.md").read_text(encoding="utf-8")
    for path in files:
        assert f"`{path.relative_to(CONTRACTS)}`" in listing, f"{path}: no source and date"
    assert "../shared/contracts" not in README  # the contracts are here, not beside the clone
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = str(project["tool"]["setuptools"])
    assert "contracts" not in shipped  # for the tests only: an install does not carry them
