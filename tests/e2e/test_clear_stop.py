"""Wrong place, clear stop: a wrong administration, a configuration file that is not there, and
a state file that cannot be used each stop with one clear line and the fix, never a traceback
and never a pass that looks healthy."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from connector import state as state_module
from connector.cli import app
from connector.config import load_config
from connector.ops.alerts import open_problems
from connector.ops.health import HealthServer, health
from connector.runtime import Runtime, setup_logging
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.state import Meta, Store

runner = CliRunner()
WRONG = "987654321"


def one_line(result: Result) -> str:
    """What a command said: one line, and no exception escaped it (a traceback)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


# --- a wrong administration ---------------------------------------------------------------------


def test_a_wrong_administration_stops_the_pass_as_a_configuration_error(
    config_path: Path, moneybird: MoneybirdSandbox
) -> None:
    right = moneybird.administration_id
    contacts = len(moneybird.contacts)
    config_path.write_text(config_path.read_text().replace(f'"{right}"', f'"{WRONG}"'))
    result = runner.invoke(app, ["sync", "--config", str(config_path)])
    assert result.exit_code == 2, result.output
    # config check's own sentence, naming what the token can reach instead
    sentence = f"the token has no access to administration {WRONG}; it can reach: {right} ("
    assert sentence in result.output
    assert "moneybird.administration_id" in result.output
    assert "not found" not in result.output and "retried automatically" not in result.output
    assert moneybird.invoices == {} and len(moneybird.contacts) == contacts
    check = runner.invoke(app, ["config", "check", "--config", str(config_path)])
    assert check.exit_code == 2 and sentence in check.output
    # No order was failed for it: they wait for the right administration.
    status = runner.invoke(app, ["status", "--config", str(config_path), "--json"])
    assert "failed" not in json.loads(status.stdout)["counts"]
    # health and /healthz say why; an alert is raised.
    sick = runner.invoke(app, ["health", "--config", str(config_path)])
    assert sick.exit_code == 1 and sentence in sick.output
    assert "authentication" not in sick.output
    config = load_config(config_path)
    store = Store(config.state_path)
    setup_logging()  # the commands' log handler wrote to the runner's stream, closed by now
    server = HealthServer("127.0.0.1", 0, lambda: health(store, 15)).start()
    try:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
            raise AssertionError("healthy with a wrong administration")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503 and sentence in json.loads(exc.read())["detail"]
        problems = open_problems(config, store)
        assert any(sentence in p.message for p in problems), problems
        assert not any("Authentication" in p.message for p in problems)
    finally:
        server.stop()
        store.close()
    # Put right, the next pass books and health recovers.
    config_path.write_text(config_path.read_text().replace(f'"{WRONG}"', f'"{right}"'))
    fixed = runner.invoke(app, ["sync", "--config", str(config_path)])
    assert fixed.exit_code == 0, fixed.output
    assert len(moneybird.invoices) == 8
    assert runner.invoke(app, ["health", "--config", str(config_path)]).exit_code == 0


# --- a configuration file that is not there ----------------------------------------------------


@pytest.mark.parametrize("command", [["status"], ["health"], ["retry"], ["dashboard"]])
def test_a_missing_configuration_exits_2_and_makes_no_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.delenv("CONNECTOR_STATE_DIR", raising=False)
    said = runner.invoke(app, ["sync"])
    assert said.exit_code == 2
    expected = "configuration file not found (use --config PATH)"
    assert expected in said.output
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "No orders need attention" not in result.output
    assert list(tmp_path.iterdir()) == []  # no data/, no state.db


# --- storage trouble ----------------------------------------------------------------------------


@contextlib.contextmanager
def writes_fail(message: str) -> Iterator[None]:
    """Every write to a SQLite database fails with SQLite's own error (a full disk, say)."""

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in {
            "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "REPLACE",
        }:  # fmt: skip
            raise sqlite3.OperationalError(message)

    event.listen(Engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", refuse)


def test_a_full_disk_at_the_start_of_a_pass_is_one_line_about_space(config_path: Path) -> None:
    assert runner.invoke(app, ["sync", "--config", str(config_path)]).exit_code == 0
    with writes_fail("database or disk is full"):
        result = runner.invoke(app, ["sync", "--config", str(config_path)])
        again = runner.invoke(app, ["retry", "--config", str(config_path)])
    for said in (result, again):
        assert said.exit_code != 0
        line = one_line(said)
        assert "database or disk is full" in line and "free space" in line, line
        assert "writable" not in line and "move it aside" not in line


def test_the_scheduler_logs_a_full_disk_as_one_line_not_a_traceback(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlmodel import select

    from connector.ops.scheduler import one_pass
    from connector.state import AlertRecord

    assert one_pass(runtime) is not None  # books 8, parks 1006
    with runtime.store.session() as s:  # 1006's alert is new again: the alerts must write
        for alert in s.exec(select(AlertRecord)):
            s.delete(alert)
        s.commit()
    caplog.clear()
    with writes_fail("database or disk is full"):
        assert one_pass(runtime) is None
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.exc_info for r in errors] == [None, None], errors  # no traceback
    said = [r.getMessage() for r in errors]
    assert said[0].startswith("pass stopped: cannot write the state file")
    assert said[1].startswith("alerts not recorded: ")
    assert all("free space" in line for line in said), said


def test_a_new_state_on_a_full_disk_is_one_line_about_space(config_path: Path) -> None:
    with writes_fail("database or disk is full"):
        result = runner.invoke(app, ["sync", "--config", str(config_path)])
    assert result.exit_code == 2
    line = one_line(result)
    assert "free space" in line and "writable" not in line, line


def test_a_read_only_state_is_one_line_about_permissions(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(app, ["sync", "--config", str(config_path)]).exit_code == 0  # 1 parked
    pragmas = state_module._pragmas

    def read_only(busy_timeout: float) -> Any:
        inner = pragmas(busy_timeout)

        def on_connect(dbapi_connection: Any, record: Any) -> None:
            inner(dbapi_connection, record)
            # SQLite's own refusal: "attempt to write a readonly database", as for a file
            # this user may read but not write (the tests may run as root, who may write all).
            dbapi_connection.execute("PRAGMA query_only = 1")

        return on_connect

    monkeypatch.setattr(state_module, "_pragmas", read_only)
    for command in (["retry"], ["retry", "1006"], ["sync"]):
        result = runner.invoke(app, [*command, "--config", str(config_path)])
        assert result.exit_code != 0, (command, result.output)
        line = one_line(result)
        assert "readonly" in line and "writable" in line, (command, line)
        assert "move it aside" not in line and "free space" not in line
    status = runner.invoke(app, ["status", "--config", str(config_path)])
    assert status.exit_code == 0 and "1006" in status.output  # reading needs no writing


@pytest.mark.parametrize(
    "command", [["sync"], ["status"], ["health"], ["retry"], ["import", "--since", "2026-01-01"]]
)
def test_a_corrupt_state_says_move_it_aside_or_restore_a_backup(
    config_path: Path, command: list[str]
) -> None:
    damaged = config_path.parent / "state.db"
    damaged.write_bytes(b"overwritten by a backup tool that was not told about WAL " * 80)
    damaged.chmod(0o600)  # private, as the connector keeps it: no line about tightening it
    result = runner.invoke(app, [*command, "--config", str(config_path)])
    assert result.exit_code in (1, 2), result.output
    line = one_line(result)
    assert str(damaged) in line and "move it aside" in line and "backup" in line, line
    assert "writable" not in line and "free space" not in line


def test_two_first_passes_on_a_new_state_never_see_a_table_already_there(tmp_path: Path) -> None:
    """Two first passes open a new state at once. Both looking for the tables before either
    makes them used to end one of them on 'table orders already exists'; the pass lock now
    covers making them, so the second waits, finds them made, and goes on."""
    from sqlmodel import SQLModel

    path = tmp_path / "state.db"
    both_looked = threading.Barrier(2, timeout=1.5)

    def after_looking(*_args: Any, **_kwargs: Any) -> None:
        # Between looking for the tables and making them: wait for the other to look too.
        # A broken barrier: the other is held back by the lock, there is no race to set up.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_looked.wait()

    problems: list[BaseException] = []

    def first_pass() -> None:
        try:
            store = Store(path)
            store.start_run()
            store.close()
        except BaseException as exc:
            problems.append(exc)

    event.listen(SQLModel.metadata, "before_create", after_looking)
    try:
        passes = [threading.Thread(target=first_pass) for _ in range(2)]
        for thread in passes:
            thread.start()
        for thread in passes:
            thread.join(timeout=60)
    finally:
        event.remove(SQLModel.metadata, "before_create", after_looking)
    assert problems == []
    store = Store(path)
    try:
        assert len(store.runs()) == 2 and store.get_meta(Meta.START) is None
    finally:
        store.close()
