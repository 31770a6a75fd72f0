"""`connector sandbox`: a local shop and Moneybird with the demo data, and a config and
environment that make the README's commands work against them without real accounts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector.admin.demo import DOCKER_BRIDGE, SANDBOX_VOLUME, container_commands


@pytest.mark.parametrize(("shop", "booked", "preview"), [
    ("woocommerce", "9 orders seen, 8 booked, 1 parked", "A pass would book order 1003"),
    ("shopify", "8 orders seen, 5 booked, 2 parked", "A pass would book order 2003"),
])  # fmt: skip
def test_the_sandbox_prints_commands_that_work_against_it(
    tmp_path: Path, shop: str, booked: str, preview: str
) -> None:
    folder = tmp_path / "sandbox"
    child = subprocess.Popen(
        [sys.executable, "-m", "connector", "sandbox", "--folder", str(folder), "--shop", shop,
         "--moneybird-port", "0", "--shop-port", "0", "--mollie-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("Ctrl-C" in ln for ln in lines):
            line = child.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        exports = re.search(r"export (.+)", text)
        assert exports, text
        env = {**os.environ, **dict(pair.split("=", 1) for pair in exports.group(1).split())}
        config = folder / "config.toml"
        assert f"connector sync --config {config}" in text and "docker run" in text
        # The container's state is kept on a named volume of its own, so a container started
        # again carries on (and never shares a real install's volume).
        assert f"-v {SANDBOX_VOLUME}:/data" in text
        # What the config says about the demo orders is what the first sync does: books them.
        written = config.read_text()
        assert "history" not in written and "the first sync books the sandbox's orders" in written
        shown = re.search(r"connector (preview \S+) --config", text)
        assert shown, text
        previewed = subprocess.run(
            [sys.executable, "-m", "connector", *shown.group(1).split(), "--config", str(config)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert previewed.returncode == 0, previewed.stderr
        assert preview in previewed.stdout
        sync = subprocess.run(
            [sys.executable, "-m", "connector", "sync", "--config", str(config)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert sync.returncode == 0, sync.stderr
        assert booked in sync.stdout
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=15)
        assert child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "connector", "sandbox", "--folder", str(tmp_path),
             "--moneybird-port", str(port), "--shop-port", "0", "--mollie-port", "0"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Cannot listen on 127.0.0.1 (ports {port} and 0)" in result.stdout
    assert "Choose another --host, --moneybird-port or --shop-port" in result.stdout


@pytest.mark.parametrize("host", ["127.0.0.1", DOCKER_BRIDGE])
def test_every_printed_docker_run_keeps_data_on_a_named_volume(host: str) -> None:
    text = container_commands(Path("/home/me/sandbox"), {"MONEYBIRD_TOKEN": "t"}, host)
    runs = re.findall(r"docker run .*?moneybird-connector", text, re.DOTALL)
    assert runs, text
    for command in runs:
        assert f"-v {SANDBOX_VOLUME}:/data" in command, text
        assert "-e MONEYBIRD_TOKEN=t" in command
    assert SANDBOX_VOLUME != "connector-data"  # the README's volume for a real install
    assert f"docker volume rm {SANDBOX_VOLUME}" in text  # how to start afresh with a new sandbox


def test_the_woocommerce_sandbox_serves_mollie_and_its_payouts_are_booked(tmp_path: Path) -> None:
    """Beside the WooCommerce shop, Mollie with the demo's two payouts; the config has
    [payouts] on against it and the exports carry MOLLIE_API_KEY, so a sync books one payout
    to its bank line and leaves the one holding the parked order 1006 waiting."""
    from connector.config import load_config
    from connector.state import PayoutState, Store

    folder = tmp_path / "sandbox"
    child = subprocess.Popen(
        [sys.executable, "-m", "connector", "sandbox", "--folder", str(folder),
         "--moneybird-port", "0", "--shop-port", "0", "--mollie-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("Ctrl-C" in ln for ln in lines):
            line = child.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        mollie = re.search(r"Mollie at (http://127\.0\.0\.1:\d+),", text)
        exports = re.search(r"export (.+)", text)
        assert mollie and exports, text
        env = {**os.environ, **dict(pair.split("=", 1) for pair in exports.group(1).split())}
        assert env["MOLLIE_API_KEY"].startswith("access_")
        config = folder / "config.toml"
        assert f"connector dashboard --config {config}" in text
        payouts = load_config(config, environ=env).file.payouts
        assert payouts.enabled and payouts.mollie is not None
        assert payouts.mollie.api_url == mollie.group(1)
        sync = subprocess.run(
            [sys.executable, "-m", "connector", "sync", "--config", str(config)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert sync.returncode == 0, sync.stdout + sync.stderr
        store = Store(load_config(config, environ=env).state_path)
        try:
            records = sorted(store.payouts(), key=lambda r: r.paid_out or "")
        finally:
            store.close()
        assert [r.state for r in records] == [PayoutState.DONE, PayoutState.WAITING]
        assert "(order 1006)" in (records[1].reason or "")
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=15)
        assert child.returncode == 0
    finally:
        if child.poll() is None:
            child.kill()


def test_mollie_s_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "connector", "sandbox", "--folder", str(tmp_path),
             "--moneybird-port", "0", "--shop-port", "0", "--mollie-port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Cannot listen on 127.0.0.1 (Mollie's port {port})" in result.stdout
    assert "Choose another --host or --mollie-port" in result.stdout
