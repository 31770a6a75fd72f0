"""`connector <command> --help` says what the source says: every option explained, and a
section name such as `[dashboard] host` shown as written, not eaten as markup."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from connector.cli import app

SECTION = re.compile(r"\[[a-z_][a-z_.]*\]")  # [dashboard], [logging], [gift_cards] ...


def commands() -> list[tuple[list[str], Any]]:
    """Every command, with the words that call it (`config check` is two)."""
    found: list[tuple[list[str], Any]] = []

    def walk(words: list[str], command: Any) -> None:
        if hasattr(command, "commands"):  # a group: `config`, `mappings`, the app
            for name, sub in command.commands.items():
                walk([*words, name], sub)
        else:
            found.append((words, command))

    walk([], typer.main.get_command(app))
    return found


ALL = commands()


def test_every_command_is_found() -> None:
    names = {" ".join(words) for words, _ in ALL}
    assert {"sync", "run", "preview", "reconcile", "dashboard", "config check"} <= names


@pytest.mark.parametrize(("words", "command"), ALL, ids=[" ".join(w) for w, _ in ALL])
def test_help_shows_every_option_explained_and_section_names_as_written(
    words: list[str], command: Any
) -> None:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    texts = [command.help or ""]
    for param in command.params:
        if "--help" in getattr(param, "opts", ()):
            continue
        text = getattr(param, "help", None) or ""
        assert text.strip(), f"connector {' '.join(words)}: {param.name} has no help text"
        texts.append(text)
    for text in texts:
        for section in SECTION.findall(text):
            assert section in shown, f"connector {' '.join(words)} --help lost {section}"
        # The words themselves, whatever the line breaks.
        assert " ".join(text.split()) in shown, f"connector {' '.join(words)}: {text!r}"
