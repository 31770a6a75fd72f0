"""SIGTERM, Ctrl-C and SIGKILL during a pass: the process stops within seconds at a safe point,
the run is recorded truthfully, and the next pass books every order exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import secrets_env, write_config
from tests.helpers import booked_exactly_once

BOOKED = 8


def slow_sync(tmp_path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> tuple:  # type: ignore[type-arg]
    """A `connector sync` that soon waits on the rate limit (6 requests per 5 minutes)."""
    path = write_config(tmp_path, shop.url, mb.api_url, mb.administration_id,
                        mb_extra="rate_limit = 6")  # fmt: skip
    env = {**os.environ, **secrets_env(shop, mb)}
    child = subprocess.Popen([sys.executable, "-m", "connector", "sync", "--config", str(path)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(mb.accepted) < 2:
        time.sleep(0.05)  # the pass is booking: the contact and the first invoice are in
    time.sleep(0.5)
    return path, child


def last_run(path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(
        app, ["status", "--json", "--config", str(path)], env=secrets_env(shop, mb)
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["runs"][0]


def finish_and_check(path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox) -> None:
    text = path.read_text().replace("rate_limit = 6", "rate_limit = 150")
    path.write_text(text)
    mb.rate_limit = 150
    mb._window.clear()  # the budget the killed pass used has refilled
    result = CliRunner().invoke(app, ["sync", "--config", str(path)], env=secrets_env(shop, mb))
    assert result.exit_code == 0, result.output
    booked_exactly_once(mb, BOOKED, paid=True, payments=1)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_sync_stops_it_within_seconds_and_status_says_interrupted(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, sig: int, code: int
) -> None:
    moneybird.rate_limit = 6
    path, child = slow_sync(tmp_path, shop, moneybird)
    try:
        sent = time.monotonic()
        child.send_signal(sig)
        output, _ = child.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == code, output
    assert took < 10, f"{took:.1f} s to stop"
    assert "Traceback" not in output
    run = last_run(path, shop, moneybird)
    assert run["outcome"] == "interrupted" and "stopped by SIG" in (run["error"] or "")
    finish_and_check(path, shop, moneybird)


def test_a_killed_sync_is_shown_as_interrupted_not_running(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.rate_limit = 6
    path, child = slow_sync(tmp_path, shop, moneybird)
    child.kill()
    child.communicate(timeout=15)
    run = last_run(path, shop, moneybird)
    assert run["outcome"] == "interrupted" and "process ended" in run["error"]
    finish_and_check(path, shop, moneybird)
