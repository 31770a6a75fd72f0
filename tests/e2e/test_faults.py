"""Ambiguous failures, authentication failures and secrets, against the sandboxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.errors import AuthError
from connector.ops.status import collect
from connector.runtime import build
from connector.sandbox.moneybird import Fault, MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from tests.conftest import secrets_env, write_config
from tests.helpers import booked_exactly_once

BOOKED = 8


def no_duplicates_no_loss(mb: MoneybirdSandbox) -> None:
    booked_exactly_once(mb, BOOKED, paid=True, payments=1)


@pytest.mark.parametrize(
    ("fault", "explained"),
    [
        # Applied, then no answer within the client's timeout.
        (
            Fault("POST", r"sales_invoices", "after_timeout", delay=1.5),
            "invoice create outcome unknown",
        ),
        (
            Fault("PATCH", r"sales_invoices/\d+/send_invoice", "after_timeout", delay=1.5),
            "finalizing outcome unknown",
        ),
        (
            Fault("POST", r"sales_invoices/\d+/payments", "after_timeout", delay=1.5),
            "payment outcome unknown",
        ),
        # The fourth invoice create is applied and answered with a 500.
        (Fault("POST", r"sales_invoices", "after_500", skip=3), None),
        # The third payment fails before it is applied.
        (
            Fault("POST", r"sales_invoices/\d+/payments", "before_500", skip=2),
            "payment outcome unknown",
        ),
    ],
)
def test_ambiguous_failure_resumes_next_pass_and_status_explains(
    tmp_path: Path,
    shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    fault: Fault,
    explained: str | None,
) -> None:
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    path.write_text(path.read_text().replace("timeout_seconds = 10\n", "timeout_seconds = 1\n"))
    # The timeout faults make the lookup that follows fail too, leaving it to the next pass.
    moneybird.faults.append(fault)
    if fault.mode == "after_timeout":
        moneybird.faults.append(
            Fault("GET", r"sales_invoices/(find_by_reference/.*|\d+)", "before_500", times=4)
        )
    rt = build(load_config(path, environ=secrets_env(shop, moneybird)))
    rt.client._sleep = lambda _s: None
    try:
        first = rt.engine().run_pass()
        if explained:
            assert first.failed == 1
            shown = collect(rt.store)["attention"]
            assert any(explained in (row["reason"] or "") for row in shown), shown
        rt.engine().run_pass()
        no_duplicates_no_loss(moneybird)
        assert rt.store.counts().get("paid") == BOOKED
    finally:
        rt.close()


def test_revoked_woocommerce_key_stops_the_pass_and_it_resumes_when_fixed(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    rt = build(load_config(path, environ=secrets_env(shop, moneybird)))
    try:
        good = shop.consumer_secret
        shop.consumer_secret = "cs_rotated_by_the_shop_owner"
        with pytest.raises(AuthError, match="WooCommerce refused the API keys"):
            rt.engine().run_pass()
        assert moneybird.invoices == {} and len(moneybird.requests) == 0
        shop.consumer_secret = good
        assert rt.engine().run_pass().booked == BOOKED
    finally:
        rt.close()


SECRETS = {
    "MONEYBIRD_TOKEN": "mbtok-SECRET-1111",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_SECRET-2222",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_SECRET-3333",
}


def test_secrets_never_appear_in_logs_state_errors_or_status(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    moneybird.token = SECRETS["MONEYBIRD_TOKEN"]
    shop.consumer_key = SECRETS["WOOCOMMERCE_CONSUMER_KEY"]
    shop.consumer_secret = SECRETS["WOOCOMMERCE_CONSUMER_SECRET"]
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    runner = CliRunner(env=SECRETS)
    seen = []
    # A failing pass: the token is refused.
    moneybird.token = "something-else"
    seen.append(runner.invoke(app, ["sync", "--verbose", "--config", str(path)]).output)
    moneybird.token = SECRETS["MONEYBIRD_TOKEN"]
    # Ambiguous writes, a pass with parked and failed orders, then a good pass.
    moneybird.faults.append(Fault("POST", r"sales_invoices", "after_500", times=2))
    moneybird.faults.append(Fault("POST", r"sales_invoices/\d+/payments", "before_500", times=1))
    for _ in range(2):
        seen.append(runner.invoke(app, ["sync", "--verbose", "--config", str(path)]).output)
        seen.append(
            runner.invoke(app, ["sync", "--log-json", "--verbose", "--config", str(path)]).output
        )
    seen.append(runner.invoke(app, ["status", "--config", str(path)]).output)
    seen.append(runner.invoke(app, ["status", "--json", "--config", str(path)]).output)
    seen.append(runner.invoke(app, ["config", "check", "--config", str(path)]).output)
    shop.consumer_secret = "wrong"
    seen.append(runner.invoke(app, ["config", "check", "--config", str(path)]).output)
    state = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    text = "\n".join(seen)
    assert "booked" in text and "Moneybird refused the token" in text  # the runs did happen
    for secret in SECRETS.values():
        assert secret not in text, secret
        assert secret.encode() not in state, secret
    assert json.loads(seen[-3])["counts"]["paid"] == BOOKED


def test_a_shop_error_page_that_echoes_the_request_leaks_no_key(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox
) -> None:
    """With query-string auth the keys are in the URL; a proxy's error page that echoes the
    URL must not bring them into the state, status, health or the terminal."""
    shop.consumer_key = SECRETS["WOOCOMMERCE_CONSUMER_KEY"]
    shop.consumer_secret = SECRETS["WOOCOMMERCE_CONSUMER_SECRET"]
    moneybird.token = SECRETS["MONEYBIRD_TOKEN"]
    path = write_config(tmp_path, shop.url, moneybird.api_url, moneybird.administration_id)
    path.write_text(
        path.read_text().replace(
            "timeout_seconds = 10\n", "timeout_seconds = 10\nquery_string_auth = true\n", 1
        )
    )
    shop.echo_error_status = 404
    runner = CliRunner(env=SECRETS)
    seen = [runner.invoke(app, ["sync", "--config", str(path)]).output]
    seen.append(runner.invoke(app, ["status", "--json", "--config", str(path)]).output)
    seen.append(runner.invoke(app, ["health", "--config", str(path)]).output)
    state = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    text = "\n".join(seen)
    assert "Bad gateway" in text  # the page did reach the connector's messages
    for secret in SECRETS.values():
        assert secret not in text, secret
        assert secret.encode() not in state, secret
