"""Issue 28.1: no piece of a secret, in any form it takes on the wire, reaches any output.

Gateways in front of the shop and Moneybird answer errors with a page that quotes the whole
request (URL and query, every header, the body). WooCommerce over HTTPS sends its keys as Basic
auth, over HTTP as OAuth 1.0a parameters; Shopify gets a token by client credentials at run
time. Every surface is searched for any 8 characters of any secret: literal, URL-encoded and
base64 (the Basic pair too).
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.ops.health import HealthServer, health
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import Store
from tests.conftest import write_config
from tests.e2e.conftest import Webhook

pytestmark = pytest.mark.e2e


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


# Shaped as the real ones are (random, hex): the sandboxes' defaults are words.
KEY = "ck_" + _hex("key", 40)
SECRET = "cs_" + _hex("secret", 40)
MB_TOKEN = _hex("moneybird", 32) + _hex("token", 32)
CLIENT_ID = _hex("client id", 32)
CLIENT_SECRET = "shpss_" + _hex("client secret", 32)
PIECE = 8


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    }


def _pieces(secrets: list[str], pairs: list[tuple[str, str]]) -> set[str]:
    forms: set[str] = set()
    for secret in [*secrets, *(f"{a}:{b}" for a, b in pairs)]:
        forms |= _forms(secret)
    return {f[i : i + PIECE] for f in forms for i in range(len(f) - PIECE + 1)}


def _leaks(surfaces: dict[str, str], pieces: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for where, text in surfaces.items():
        hits = sorted({text[i : i + PIECE] for i in range(len(text))} & pieces)
        if hits:
            found[where] = hits
    return found


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A throwaway self-signed certificate for 127.0.0.1: the server's context, and the file
    the client is told to trust (test only: the product verifies as ever)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


def _healthz(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())


def _surfaces(path: Path, env: dict[str, str], webhook: Webhook) -> dict[str, str]:
    """Every place a text goes: the commands' output and JSON log, the state's bytes,
    /healthz, the alerts."""
    runner = CliRunner(env=env)
    seen: dict[str, str] = {}
    for name, args in (
        ("sync", ["sync", "--log-json"]),
        ("status", ["status", "--json"]),
        ("health", ["health"]),
    ):
        result = runner.invoke(app, [*args, "--config", str(path)])
        seen[name] = result.output + result.stderr + repr(result.exception or "")
    state = b"".join(p.read_bytes() for p in path.parent.glob("state.db*"))
    seen["state"] = state.decode("latin-1")
    store = Store(path.parent / "state.db")
    server = HealthServer("127.0.0.1", 0, lambda: health(store, 15)).start()
    try:
        seen["/healthz"] = _healthz(server.port)
    finally:
        server.stop()
        store.close()
    seen["alerts"] = json.dumps(webhook.received)
    return seen


def _config(tmp_path: Path, shop_url: str, mb: MoneybirdSandbox, webhook: Webhook) -> Path:
    path = write_config(tmp_path, shop_url, mb.api_url, mb.administration_id)
    path.write_text(path.read_text() + f'\n[alerts]\nwebhook_url = "{webhook.server.url}/h"\n')
    return path


@pytest.fixture
def https_shop(shop: WooCommerceSandbox, tls: tuple[ssl.SSLContext, Path]) -> Iterator[Any]:
    """The seeded shop's orders, served over HTTPS with the test's keys."""
    secure = WooCommerceSandbox(
        consumer_key=KEY, consumer_secret=SECRET, tls=tls[0], orders=shop.orders,
        tax_rates=shop.tax_rates, payment_gateways=shop.payment_gateways, refunds=shop.refunds,
    )  # fmt: skip
    secure.start()
    yield secure
    secure.stop()


# WooCommerce's excerpts are cut at 100 characters (a page) and 200 (a JSON message); each lead
# makes the cut fall inside the credential the page quotes first.
ECHOES = [(400, False, ""), (401, True, "." * 150), (403, False, ""), (404, True, "." * 150),
          (500, False, ""), (502, True, "")]  # fmt: skip


def test_woocommerce_basic_auth_over_https_echoed_in_every_error_leaks_nothing(
    tmp_path: Path,
    https_shop: WooCommerceSandbox,
    moneybird: MoneybirdSandbox,
    webhook: Webhook,
    tls: tuple[ssl.SSLContext, Path],
) -> None:
    moneybird.token = MB_TOKEN
    path = _config(tmp_path, https_shop.url, moneybird, webhook)
    env = {"WOOCOMMERCE_CONSUMER_KEY": KEY, "WOOCOMMERCE_CONSUMER_SECRET": SECRET,
           "MONEYBIRD_TOKEN": MB_TOKEN, "REQUESTS_CA_BUNDLE": str(tls[1])}  # fmt: skip
    pieces = _pieces([KEY, SECRET, MB_TOKEN], [(KEY, SECRET)])
    for status, as_json, lead in ECHOES:
        https_shop.echo_error_status, https_shop.echo_json, https_shop.echo_lead = (
            status,
            as_json,
            lead,
        )
        seen = _surfaces(path, env, webhook)
        assert "Bad gateway" in seen["sync"] or status >= 500, seen["sync"]  # it was echoed
        assert not _leaks(seen, pieces), (status, _leaks(seen, pieces))
    # Then Moneybird's gateway echoes every write, Bearer token and all; its excerpts are cut
    # at 200 (a page) and 300 (JSON without Moneybird's `error`).
    https_shop.echo_error_status = None
    for status, shape, lead in [(400, "text", "." * 150), (422, "error", ""),
                                (400, "message", "." * 250), (401, "text", ""),
                                (500, "text", "")]:  # fmt: skip
        moneybird.echo_error_status, moneybird.echo_as, moneybird.echo_lead = status, shape, lead
        seen = _surfaces(path, env, webhook)
        assert not _leaks(seen, pieces), (status, shape, _leaks(seen, pieces))
    assert "authorization: Bearer ***" in seen["state"] + json.dumps(webhook.received)
    assert webhook.received  # the alerts did go out


def test_woocommerce_oauth_over_http_echoed_in_every_error_leaks_nothing(
    tmp_path: Path, shop: WooCommerceSandbox, moneybird: MoneybirdSandbox, webhook: Webhook
) -> None:
    shop.consumer_key, shop.consumer_secret, moneybird.token = KEY, SECRET, MB_TOKEN
    path = _config(tmp_path, shop.url, moneybird, webhook)
    env = {"WOOCOMMERCE_CONSUMER_KEY": KEY, "WOOCOMMERCE_CONSUMER_SECRET": SECRET,
           "MONEYBIRD_TOKEN": MB_TOKEN}  # fmt: skip
    pieces = _pieces([KEY, SECRET, MB_TOKEN], [(KEY, SECRET)])
    signatures: list[str] = []
    for status, as_json, lead in ECHOES:
        shop.echo_error_status, shop.echo_json, shop.echo_lead = status, as_json, lead
        seen = _surfaces(path, env, webhook)
        assert not _leaks(seen, pieces), (status, _leaks(seen, pieces))
        signatures += [
            q["oauth_signature"] for _m, _p, q in shop.requests if "oauth_signature" in q
        ]
        assert not [s for s in signatures if quote(s, safe="") in "".join(seen.values())]
    assert "oauth_consumer_key=***" in seen["state"]


def test_a_shopify_client_credentials_token_echoed_by_graphql_leaks_nothing(
    tmp_path: Path, shopify: Any, moneybird: MoneybirdSandbox, webhook: Webhook
) -> None:
    shopify.client_id, shopify.client_secret, moneybird.token = CLIENT_ID, CLIENT_SECRET, MB_TOKEN
    path = _config(tmp_path, shopify.url, moneybird, webhook)
    text = path.read_text().replace('platform = "woocommerce"', 'platform = "shopify"')
    path.write_text(text.replace("timeout_seconds = 10\n", "", 1))
    env = {"SHOPIFY_CLIENT_ID": CLIENT_ID, "SHOPIFY_CLIENT_SECRET": CLIENT_SECRET,
           "MONEYBIRD_TOKEN": MB_TOKEN}  # fmt: skip
    shopify.echo_errors = True
    for lead in ("", "." * 90):
        shopify.echo_lead = lead
        seen = _surfaces(path, env, webhook)
        tokens = list(shopify.issued_tokens)
        assert tokens, seen["sync"]  # obtained at run time, then echoed
        pieces = _pieces(
            [CLIENT_ID, CLIENT_SECRET, MB_TOKEN, *tokens], [(CLIENT_ID, CLIENT_SECRET)]
        )
        assert "x-shopify-access-token" in seen["sync"], seen["sync"]
        assert not _leaks(seen, pieces), _leaks(seen, pieces)
