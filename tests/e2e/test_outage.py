"""Moneybird or the shop down: a pass ends promptly with one line naming the service, its host
and the cause, exits 1, books nothing half-way, and the next pass books everything."""

from __future__ import annotations

import re
import socket
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


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once closed


def sync(path: Path, env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    result = CliRunner().invoke(app, ["sync", "--config", str(path)], env=env)
    return result.exit_code, result.output, time.monotonic() - started


@pytest.mark.parametrize("outage", ["refused", "503"])
def test_moneybird_down_ends_the_pass_within_a_minute_and_the_next_books_all(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, outage: str
) -> None:
    env = secrets_env(shop, moneybird)
    if outage == "refused":
        port = closed_port()
        api = f"http://127.0.0.1:{port}/api/v2"
    else:
        moneybird.down_status = 503
        api = moneybird.api_url
    path = write_config(tmp_path, shop.url, api, moneybird.administration_id)
    code, output, seconds = sync(path, env)
    assert code == 1, output
    assert seconds < 60, f"the pass took {seconds:.0f} s"
    lines = [ln for ln in output.splitlines() if "is unavailable" in ln or "unreachable" in ln]
    assert lines, output
    if outage == "refused":
        assert f"127.0.0.1:{port}" in output and "connection refused" in output.lower()
    else:
        assert "503" in output
    assert moneybird.invoices == {}
    # Moneybird is back: the next pass books every order, once.
    moneybird.down_status = None
    path.write_text(path.read_text().replace(api, moneybird.api_url))
    code, output, _ = sync(path, env)
    assert code == 0, output
    booked_exactly_once(moneybird, BOOKED, paid=True)


def test_moneybird_going_down_mid_pass_stops_it_after_three_failed_requests(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """The set-up worked; at the first write Moneybird goes down (503 to everything). The
    pass stops after three failed requests instead of trying order after order."""
    from connector.config import load_config
    from connector.runtime import build

    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    runtime = build(load_config(path, environ=secrets_env(shop, moneybird)))
    runtime.client._sleep = lambda _s: None

    def goes_down(method: str, route: str, applied: bool) -> None:
        if "synchronization" not in route:
            moneybird.down_status = 503

    moneybird.write_hook = goes_down
    try:
        report = runtime.engine().run_pass()
    finally:
        runtime.close()
    assert report.error is not None and "Moneybird at 127.0.0.1" in report.error
    assert re.search(
        r"is unavailable \(it answered 503; [3-9] requests in a row failed\)", report.error
    )
    assert report.failed <= 2  # the orders it got to; the others wait for the next pass
    assert [i for i in moneybird.invoices.values() if i["state"] != "draft"] == []
