"""A service that is down is said the same way by every command (the service, its address, the
cause); only a pass adds what that means for it: nothing half-way, the next pass carries on."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from connector.cli import app
from connector.errors import PASS_CARRIES_ON, ServiceDown, as_a_pass_records_it
from connector.sandbox.moneybird import MoneybirdSandbox


def test_the_pass_adds_its_own_words_to_an_outage_and_nothing_else_does() -> None:
    down = ServiceDown("Moneybird at moneybird.com is unavailable (it answered 503)")
    assert "pass" not in str(down)
    assert as_a_pass_records_it(down) == f"{down}: {PASS_CARRIES_ON}"
    assert as_a_pass_records_it(ValueError("other")) == "other"


def test_sync_with_moneybird_down_says_the_pass_stopped_and_the_next_carries_on(
    config_path: Path, moneybird: MoneybirdSandbox
) -> None:
    moneybird.down_status = 503
    result = CliRunner().invoke(app, ["sync", "--config", str(config_path)])
    assert result.exit_code == 1, result.output
    host = moneybird.api_url.split("/")[2]
    assert f"Moneybird at {host} is unavailable (it answered 503;" in result.output
    assert PASS_CARRIES_ON in result.output
    status = CliRunner().invoke(app, ["status", "--config", str(config_path), "--json"])
    assert PASS_CARRIES_ON in status.output  # the run is recorded with the pass's words
