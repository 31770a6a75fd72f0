"""`connector run`: a pass at start, clean shutdown on SIGTERM; and the health check."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from connector.cli import app
from connector.ops.health import health
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Meta, Store, utcnow
from tests.conftest import secrets_env, write_config


def test_run_syncs_at_start_and_stops_cleanly_on_sigterm(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **secrets_env(shop, moneybird), "CONNECTOR_HEALTH_PORT": str(port)}
    child = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and sum(i["state"] == "paid" for i in moneybird.invoices.values()) < 8
        ):
            time.sleep(0.1)
        healthz = f"http://127.0.0.1:{port}/healthz"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(healthz, timeout=5) as response:
                    body = json.loads(response.read())
                    break
            except OSError:  # not listening yet, or 503 before the first pass has finished
                time.sleep(0.1)
        assert body["status"] == "ok"
        child.send_signal(signal.SIGTERM)
        output, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, output  # 128 + SIGTERM, as a stopped service reports
    assert "pass done: 9 orders seen, 8 booked, 1 parked" in output
    assert moneybird.token not in output and "cs_sandbox_secret" not in output
    runner = CliRunner(env=secrets_env(shop, moneybird))
    result = runner.invoke(app, ["health", "--config", str(config)])
    assert result.exit_code == 0, result.output


def test_health_turns_bad_when_passes_stop(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        assert health(store, 15) == (False, "no pass has finished yet")
        run = store.start_run()
        run.outcome, run.finished_at = "ok", utcnow().isoformat()
        store.save(run)
        assert health(store, 15)[0] is True
        later = utcnow() + timedelta(minutes=31)
        ok, message = health(store, 15, now=later)
        assert not ok and "31 minutes ago" in message
        failed = store.start_run()
        failed.outcome, failed.error, failed.finished_at = (
            "error",
            "shop down",
            utcnow().isoformat(),
        )
        store.save(failed)
        ok, message = health(store, 15)  # finished, but did not succeed: not working
        assert not ok and message == "the last pass failed: shop down"
        stuck = store.start_run()  # a pass that began 31 minutes ago and never ended
        stuck.started_at = (utcnow() - timedelta(minutes=31)).isoformat()
        store.save(stuck)
        assert health(store, 15) == (False, "a pass has been running for 31 minutes")
        store.set_meta(Meta.AUTH_ERROR, "Moneybird refused the token (401)")
        assert health(store, 15) == (
            False,
            "authentication fails: Moneybird refused the token (401)",
        )
    finally:
        store.close()


def test_a_second_install_logs_what_it_adopted_apart_from_what_it_booked(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, caplog: Any
) -> None:
    from connector.config import load_config
    from connector.ops.scheduler import one_pass
    from connector.runtime import build

    lines = []
    for install in ("first", "second"):  # two installs, each with its own (empty) state
        folder = tmp_path / install
        folder.mkdir()
        path = write_config(folder, shop.url, moneybird.api_url, moneybird.administration_id)
        runtime = build(load_config(path, environ=secrets_env(shop, moneybird)))
        caplog.clear()
        with caplog.at_level("INFO", logger="connector.ops.scheduler"):
            one_pass(runtime)
        runtime.close()
        lines += [r.getMessage() for r in caplog.records if "pass done" in r.getMessage()]
    assert lines[0].startswith("pass done: 9 orders seen, 8 booked, 1 parked")
    assert lines[1].startswith(
        "pass done: 9 orders seen, 0 booked, 8 already in Moneybird (adopted), 1 parked"
    )
    assert len(moneybird.invoices) == 8


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_serves_the_dashboard_beside_the_scheduler_when_enabled(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    config.write_text(config.read_text() + "\n[dashboard]\nenabled = true\n")
    port = free_port()
    env = {**os.environ, **secrets_env(shop, moneybird), "CONNECTOR_DASHBOARD_PORT": str(port)}
    child = subprocess.Popen(
        [sys.executable, "-m", "connector", "run", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline, page = time.monotonic() + 30, ""
        while time.monotonic() < deadline and not ("1006" in page and "Healthy" in page):
            time.sleep(0.2)  # listening, and the first pass finished
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode()
            except OSError:
                continue
        # The pass's orders, on the page served by the same process.
        assert "Healthy" in page and "1006" in page and "no tax rule maps shop rate 3" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/orders/woocommerce:1003") as r:
            order = r.read().decode()
        assert "invoice 2026-0003" in order and "differs" not in order
        child.send_signal(signal.SIGTERM)
        output, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, output
    assert f"dashboard on http://127.0.0.1:{port}/" in output


def test_dashboard_command_without_secrets_shows_the_state_and_refuses_a_taken_port(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    config = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    runner = CliRunner(env=secrets_env(shop, moneybird))
    assert runner.invoke(app, ["sync", "--config", str(config)]).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = CliRunner().invoke(
            app, ["dashboard", "--config", str(config), "--port", str(taken.getsockname()[1])]
        )
    assert busy.exit_code == 2 and "cannot listen there" in busy.output
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONEYBIRD", "WOO"))}
    child = subprocess.Popen(
        [sys.executable, "-m", "connector", "dashboard", "--config", str(config),
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline, page = time.monotonic() + 20, ""
        while time.monotonic() < deadline and not page:
            try:
                url = f"http://127.0.0.1:{port}/orders/woocommerce:1003"
                with urllib.request.urlopen(url, timeout=5) as response:
                    page = response.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "Order 1003" in page and "need the connector&#39;s secrets" in page
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert "read-only: set DASHBOARD_TOKEN to enable Retry" in output
