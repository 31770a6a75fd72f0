"""Day-to-day operation: reload, status of the config in force, health, alerts, JSON logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from connector.cli import app
from connector.config import Config, load_config
from connector.errors import AuthError
from connector.ops.alerts import Alerter
from connector.ops.config_watch import ConfigWatcher
from connector.ops.health import HealthServer, health
from connector.runtime import Runtime, build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Meta, OrderState, Store, utcnow
from tests.conftest import ROOT, secrets_env, write_config
from tests.e2e.conftest import Webhook


def own_tables(
    tmp_path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox, extra: str = ""
) -> Path:
    path = write_config(tmp_path, shop.url, mb.api_url, mb.administration_id, extra=extra)
    path.write_text(path.read_text().replace(str(ROOT / "mappings"), str(tmp_path / "mappings")))
    (tmp_path / "mappings").mkdir(exist_ok=True)
    for name in ("tax.toml", "ledger.toml", "payment.toml"):
        (tmp_path / "mappings" / name).write_text((ROOT / "mappings" / name).read_text())
    return path


# --- reload -------------------------------------------------------------------------------------


def test_watcher_applies_good_edits_and_keeps_the_last_good_config(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    env = secrets_env(shop, moneybird)
    path = own_tables(tmp_path, shop, moneybird)
    watcher = ConfigWatcher(path, load_config(path, env), load=lambda p: load_config(p, env))
    assert watcher.poll() is False  # nothing changed
    first = watcher.good_hash
    path.write_text(path.read_text().replace("[sync]\n", "[sync]\ninterval_minutes = 5\n"))
    assert watcher.poll() is True
    watcher.accept()  # its runtime was built
    assert watcher.good.sync.interval_minutes == 5 and watcher.good_hash != first
    tax = tmp_path / "mappings" / "tax.toml"
    good_tax = tax.read_text()
    tax.write_text(good_tax.replace("shop_rate_id = 2", "shop_rate_id = = 2"))  # a typo
    assert watcher.poll() is False
    assert watcher.good.sync.interval_minutes == 5  # still running the last good one
    assert "tax.toml" in (watcher.error or "") and "not valid TOML" in (watcher.error or "")
    tax.write_text(good_tax)  # undone
    assert watcher.poll() is False and watcher.error is None


def test_running_connector_keeps_going_on_a_broken_edit_and_status_says_so(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    path = own_tables(tmp_path, shop, moneybird, extra="interval_minutes = 0.02\n")
    child = _connector_run(path, shop, moneybird)
    runner = CliRunner(env=secrets_env(shop, moneybird))
    try:
        assert _wait(lambda: len(moneybird.invoices) == 8)
        tax = tmp_path / "mappings" / "tax.toml"
        tax.write_text(tax.read_text().replace('percentage = "9"', 'percentage = "9%"'))
        assert _wait(lambda: _status(runner, path)["config"]["edit_not_applied"] is not None)
        status = _status(runner, path)
        assert "percentage" in status["config"]["edit_not_applied"]
        assert status["config"]["hash_on_disk"] != status["config"]["hash_in_force"]
        # The old configuration still books: a new order arrives and is booked.
        from datetime import UTC, datetime

        from connector.sandbox.seed import JEROEN, Item, woo_order

        shop.put_order(woo_order(1030, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)], "0", datetime.now(UTC)))  # fmt: skip
        assert _wait(lambda: len(moneybird.invoices) == 9)
        tax.write_text(tax.read_text().replace('percentage = "9%"', 'percentage = "9.0"'))
        assert _wait(lambda: _status(runner, path)["config"]["edit_not_applied"] is None)
        status = _status(runner, path)
        assert status["config"]["hash_on_disk"] == status["config"]["hash_in_force"]
    finally:
        child.terminate()
        output, _ = child.communicate(timeout=30)
    assert child.returncode == 143  # stopped by SIGTERM
    assert output.count("configuration edit NOT applied") == 1  # reported once, not every pass
    assert "configuration reloaded" in output


def test_an_edit_saved_in_latin_1_or_with_a_state_path_that_cannot_be_made_changes_nothing(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    path = own_tables(tmp_path, shop, moneybird, extra="interval_minutes = 0.02\n")
    good = path.read_bytes()
    child = _connector_run(path, shop, moneybird)
    runner = CliRunner(env=secrets_env(shop, moneybird))
    from datetime import UTC, datetime

    from connector.sandbox.seed import JEROEN, Item, woo_order

    try:
        assert _wait(lambda: len(moneybird.invoices) == 8)
        # An editor that saves in Latin-1: "Café" is not UTF-8.
        path.write_bytes(good.replace(b"[sync]\n", "[sync]\n# Café\n".encode("latin-1")))
        assert _wait(lambda: _status(runner, path)["config"]["edit_not_applied"] is not None)
        assert "not UTF-8" in _status(runner, path)["config"]["edit_not_applied"]
        shop.put_order(woo_order(1031, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)], "0", datetime.now(UTC)))  # fmt: skip
        assert _wait(lambda: len(moneybird.invoices) == 9)  # the running configuration books
        # A state path that cannot be created: the edit loads, its runtime cannot be built.
        blocker = tmp_path / "a-file"
        blocker.write_text("not a folder")
        path.write_bytes(
            good.replace(b'path = "state.db"', f'path = "{blocker}/state.db"'.encode())
        )
        shop.put_order(woo_order(1032, JEROEN, [Item("Espresso blend 1kg", "EB-1000", 1, "21.50", 2)], "0", datetime.now(UTC)))  # fmt: skip
        assert _wait(lambda: len(moneybird.invoices) == 10)  # the old client was not closed
        result = runner.invoke(app, ["status", "--config", str(path)])
        assert result.exit_code == 1 and "cannot create state folder" in result.output
        path.write_bytes(good)
        assert _wait(lambda: _status(runner, path)["config"]["edit_not_applied"] is None)
    finally:
        child.terminate()
        output, _ = child.communicate(timeout=30)
    assert "Traceback" not in output
    assert output.count("configuration edit NOT applied") == 2  # each reported once
    assert "cannot create state folder" in output


def _connector_run(
    path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> subprocess.Popen[str]:
    env = {**os.environ, **secrets_env(shop, moneybird), "CONNECTOR_HEALTH_PORT": "0"}
    return subprocess.Popen([sys.executable, "-m", "connector", "run", "--config", str(path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _status(runner: CliRunner, path: Path) -> dict[str, Any]:
    result = runner.invoke(app, ["status", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _wait(condition: Any, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


# --- health -------------------------------------------------------------------------------------


def test_health_endpoint_turns_unhealthy_when_passes_stop(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    clock = {"now": utcnow()}
    server = HealthServer("127.0.0.1", 0, lambda: health(store, 15, now=clock["now"])).start()
    url = f"http://127.0.0.1:{server.port}/healthz"
    try:
        assert _get(url) == (503, {"status": "unhealthy", "detail": "no pass has finished yet"})
        run = store.start_run()
        run.outcome, run.finished_at = "ok", utcnow().isoformat()
        store.save(run)
        status, body = _get(url)
        assert status == 200 and body["status"] == "ok"
        clock["now"] = utcnow() + timedelta(minutes=31)  # passes stopped for two intervals
        status, body = _get(url)
        assert status == 503 and "31 minutes ago" in body["detail"]
        clock["now"] = utcnow()
        store.set_meta(Meta.AUTH_ERROR, "Moneybird refused the token (401)")
        status, body = _get(url)
        assert status == 503 and "authentication fails" in body["detail"]
        assert _get(url.replace("/healthz", "/other"))[0] == 404
    finally:
        server.stop()
        store.close()


def test_idle_connections_to_healthz_neither_pile_up_threads_nor_block_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import threading

    from connector.ops import health as health_module

    monkeypatch.setattr(health_module, "CONNECTION_TIMEOUT", 0.5)
    store = Store(tmp_path / "state.db")
    run = store.start_run()
    run.outcome, run.finished_at = "ok", utcnow().isoformat()
    store.save(run)
    server = HealthServer("127.0.0.1", 0, lambda: health(store, 15)).start()
    before = threading.active_count()
    idle = []
    try:
        for _ in range(200):  # connect, send nothing
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        time.sleep(0.3)
        assert threading.active_count() - before <= health_module.MAX_CONNECTIONS
        time.sleep(1.0)  # the idle ones time out and free their slots
        assert _get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200
    finally:
        for sock in idle:
            sock.close()
        server.stop()
        store.close()


def test_health_needs_no_secrets(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[shop]\nplatform = "woocommerce"\nurl = "https://shop.example.nl"\n\n'
        '[moneybird]\nadministration_id = "1"\n\n[state]\npath = "state.db"\n'
    )
    store = Store(tmp_path / "state.db")
    run = store.start_run()
    run.outcome, run.finished_at = "ok", utcnow().isoformat()
    store.save(run)
    store.close()
    result = CliRunner(env={}).invoke(app, ["health", "--config", str(path)], env={})
    assert result.exit_code == 0, result.output
    assert "last pass succeeded" in result.output


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if body.startswith(b"{") else None


def test_auth_failure_is_recorded_and_cleared(
    runtime: Runtime, moneybird: MoneybirdSandbox
) -> None:
    good = moneybird.token
    moneybird.token = "rotated"
    with pytest.raises(AuthError):
        runtime.engine().run_pass()
    assert health(runtime.store, 15)[0] is False
    moneybird.token = good
    runtime.engine().run_pass()
    assert health(runtime.store, 15)[0] is True


# --- alerts -------------------------------------------------------------------------------------


def alerting(
    tmp_path: Path, shop: WooCommerceSandbox, mb: MoneybirdSandbox, section: str
) -> Config:
    path = write_config(tmp_path, shop.url, mb.api_url, mb.administration_id)
    path.write_text(path.read_text() + section)
    return load_config(path, environ={**secrets_env(shop, mb), "SMTP_PASSWORD": "smtp-secret-9"})


def test_each_problem_is_announced_once_and_its_recovery_once(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, webhook: Webhook
) -> None:
    config = alerting(
        tmp_path, shop, moneybird, f'\n[alerts]\nwebhook_url = "{webhook.server.url}/hook"\n'
    )
    rt = build(config)
    try:
        rt.engine().run_pass()
        Alerter(config, rt.store).after_pass()
        assert len(webhook.received) == 1
        first = webhook.received[0]
        assert [p["key"] for p in first["problems"]] == ["order:woocommerce:1006"]
        assert (
            "Order 1006 is parked: no tax rule maps shop rate 3" in first["problems"][0]["message"]
        )
        assert "connector retry" in first["problems"][0]["message"]  # and what to do
        rt.engine().run_pass()
        Alerter(config, rt.store).after_pass()
        assert len(webhook.received) == 1  # not again 15 minutes later
        # The token is revoked: one alert, however many passes fail.
        good = moneybird.token
        moneybird.token = "revoked"
        for _ in range(2):
            rt.store.requeue("1006")  # give the pass Moneybird work
            with pytest.raises(AuthError):
                rt.engine().run_pass()
            Alerter(config, rt.store).after_pass()
        assert len(webhook.received) == 2
        assert [p["key"] for p in webhook.received[1]["problems"]] == ["auth"]
        # 1006 was put back in line, so it is no longer parked: that is reported as resolved.
        assert [p["key"] for p in webhook.received[1]["resolved"]] == ["order:woocommerce:1006"]
        assert "revoked" not in json.dumps(webhook.received)
        moneybird.token = good
        rt.engine().run_pass()
        Alerter(config, rt.store).after_pass()
        assert len(webhook.received) == 3
        third = webhook.received[2]
        # Authentication works again; 1006 is parked again by this pass: a problem once more.
        assert [p["key"] for p in third["resolved"]] == ["auth"]
        assert [p["key"] for p in third["problems"]] == ["order:woocommerce:1006"]
    finally:
        rt.close()


def test_undelivered_alert_is_sent_after_the_next_pass(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, webhook: Webhook
) -> None:
    config = alerting(
        tmp_path, shop, moneybird, f'\n[alerts]\nwebhook_url = "{webhook.server.url}/hook"\n'
    )
    rt = build(config)
    try:
        rt.engine().run_pass()
        webhook.fail = 1
        assert Alerter(config, rt.store).after_pass() == {"new": [], "cleared": []}
        sent = Alerter(config, rt.store).after_pass()
        assert [p.key for p in sent["new"]] == ["order:woocommerce:1006"]
        assert len(webhook.received) == 1
    finally:
        rt.close()


def test_no_successful_pass_for_a_while_is_a_problem(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, webhook: Webhook
) -> None:
    section = f'\n[alerts]\nwebhook_url = "{webhook.server.url}/hook"\nno_success_minutes = 60\n'
    config = alerting(tmp_path, shop, moneybird, section)
    store = Store(config.state_path)
    try:
        ok = store.start_run()
        ok.outcome, ok.finished_at = "ok", utcnow().isoformat()
        store.save(ok)
        failed = store.start_run()
        failed.outcome, failed.error, failed.finished_at = (
            "error",
            "shop unreachable (ConnectError)",
            utcnow().isoformat(),
        )
        store.save(failed)
        alerter = Alerter(config, store)
        assert alerter.after_pass()["new"] == []
        later = utcnow() + timedelta(minutes=61)
        sent = alerter.after_pass(now=later)
        assert [p.key for p in sent["new"]] == ["stalled"]
        assert "shop unreachable" in sent["new"][0].message
        assert alerter.after_pass(now=later + timedelta(minutes=15))["new"] == []
    finally:
        store.close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def test_alert_by_email(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    mailbox = Mailbox()
    with socket.socket() as probe:  # aiosmtpd cannot take port 0: find a free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        section = (f'\n[alerts]\nemail_to = ["boekhouder@example.nl"]\nemail_from = "shop@example.nl"\n'
                   f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_starttls = false\n')  # fmt: skip
        config = alerting(tmp_path, shop, moneybird, section)
        rt = build(config)
        try:
            rt.engine().run_pass()
            Alerter(config, rt.store).after_pass()
            Alerter(config, rt.store).after_pass()
        finally:
            rt.close()
        assert len(mailbox.messages) == 1
        mail = mailbox.messages[0]
        assert mail.rcpt_tos == ["boekhouder@example.nl"]
        text = mail.content.decode()
        assert "Subject: Shop connector: 1 new problem(s)" in text
        assert "Order 1006 is parked" in text
    finally:
        controller.stop()


# --- logs ---------------------------------------------------------------------------------------


def test_json_logs_have_one_line_per_order_decision_and_no_secrets(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    env = {**os.environ, **secrets_env(shop, moneybird)}
    result = subprocess.run([sys.executable, "-m", "connector", "sync", "--log-json", "--config", str(path)],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    decisions = {line["order"]: line for line in lines if "decision" in line}
    assert set(decisions) == {
        "1001",
        "1002",
        "1003",
        "1004",
        "1005",
        "1006",
        "1007",
        "1009",
        "1010",
    }
    assert decisions["1006"]["decision"] == "parked"
    assert "no tax rule maps" in decisions["1006"]["message"]
    assert decisions["1001"]["decision"] == "paid" and decisions["1001"]["invoice"]
    for secret in secrets_env(shop, moneybird).values():
        assert secret not in result.stderr + result.stdout


def test_status_shows_the_configuration_in_force(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    runner = CliRunner(env=secrets_env(shop, moneybird))
    runner.invoke(app, ["sync", "--config", str(path)])
    result = runner.invoke(app, ["status", "--config", str(path)])
    assert "Configuration in force:" in result.output
    data = _status(runner, path)
    assert data["config"]["hash_in_force"] == data["config"]["hash_on_disk"]
    assert data["runs"][0]["seconds"] is not None
    assert data["counts"][OrderState.PAID.value] == 8
