"""The dashboard guarded (issue 28, items 2 and 4): who may read it, by which name, how sign-in
and its session hold up, idle connections, and that reading it never holds up booking.

Every server here listens on 127.0.0.1; "bound beyond loopback" is told to the app as
DashboardServer would tell it (`serving`), and /healthz's stranger is a socket pair with a
foreign address.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.config import load_config
from connector.dashboard.app import Source, create_app
from connector.dashboard.live import Live
from connector.dashboard.server import DashboardServer, dashboard_token
from connector.errors import ConfigError
from connector.ops.health import HealthServer
from connector.runtime import build
from connector.sandbox.moneybird import MoneybirdSandbox
from connector.sandbox.seed import demo_orders, seed_shop
from connector.sandbox.woocommerce import WooCommerceSandbox
from connector.state import OrderState, Store
from tests.conftest import secrets_env, write_config
from tests.e2e.test_dashboard import TOKEN, october, october_books, serve

__all__ = ["october", "october_books"]  # the fixtures, used by name

CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@contextlib.contextmanager
def served(path: Path, token: str | None) -> Iterator[tuple[DashboardServer, Store]]:
    server, store = serve(path, token)
    try:
        yield server, store
    finally:
        server.stop()
        store.close()


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page
    return found.group(1)


def sign_in(client: httpx.Client, base: str, token: str = TOKEN) -> httpx.Response:
    form = csrf_of(client.get(base + "attention").text)
    return client.post(base + "sign-in", data={"csrf": form, "token": token})


# --- /healthz -----------------------------------------------------------------------------------


def healthz_from(address: str) -> tuple[int, dict[str, Any]]:
    """One GET /healthz through the server's handler, as if from `address`."""
    health = HealthServer("127.0.0.1", 0, lambda: (False, "the last pass failed: upstream said X"))
    ours, theirs = socket.socketpair()
    try:
        ours.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        handler = health._server.RequestHandlerClass
        handler(theirs, (address, 40000), health._server)
        theirs.close()
        raw = b""
        while chunk := ours.recv(65536):
            raw += chunk
    finally:
        ours.close()
        health._server.server_close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_healthz_tells_strangers_only_up_or_down() -> None:
    assert healthz_from("203.0.113.9") == (503, {"status": "unhealthy"})
    assert healthz_from("::ffff:198.51.100.7") == (503, {"status": "unhealthy"})
    status, answer = healthz_from("127.0.0.1")  # the container's own HEALTHCHECK, a person here
    assert status == 503 and answer["detail"] == "the last pass failed: upstream said X"


# --- who may read -------------------------------------------------------------------------------


def test_bound_beyond_loopback_every_page_needs_sign_in(october_books: Path) -> None:
    from connector.dashboard.app import serving  # (new with this guard)

    config = load_config(october_books)
    store = Store(config.state_path)
    try:
        pages = ["/", "/attention", "/orders/woocommerce:1006", "/months", "/months/2026-10",
                 "/months/2026-10/reconciliation.csv", "/config"]  # fmt: skip
        # On loopback, reading stays open.
        app = create_app(Source(lambda: config, lambda: store, None, TOKEN))
        serving(app, "127.0.0.1", 8081)
        client = app.test_client()
        for page in pages:
            assert client.get(page, headers={"Host": "127.0.0.1:8081"}).status_code == 200, page

        for bound in ("0.0.0.0", "192.0.2.10"):
            app = create_app(Source(lambda: config, lambda: store, None, TOKEN))
            serving(app, bound, 8081)
            config.file.dashboard.hosts = ["books.example.nl"]
            client = app.test_client()
            host = {"Host": "books.example.nl:8081"}
            for page in pages:
                answer = client.get(page, headers=host)
                text = answer.get_data(as_text=True)
                assert answer.status_code == 401, (bound, page)
                assert "MwSt" not in text and "66.84" not in text and 'name="token"' in text
            form = csrf_of(client.get("/", headers=host).get_data(as_text=True))
            signed = client.post("/sign-in", headers=host,
                                 data={"csrf": form, "token": TOKEN, "next": "/attention"})  # fmt: skip
            assert signed.status_code == 302 and signed.headers["Location"].endswith("/attention")
            for page in pages:
                assert client.get(page, headers=host).status_code == 200, (bound, page)
        # Without a token nobody could sign in: it says what to do, and shows nothing.
        app = create_app(Source(lambda: config, lambda: store, None, None))
        serving(app, "0.0.0.0", 8081)
        answer = app.test_client().get("/", headers={"Host": "books.example.nl:8081"})
        assert answer.status_code == 403 and "set DASHBOARD_TOKEN" in answer.get_data(as_text=True)
    finally:
        store.close()


def test_only_the_configured_names_are_answered(october_books: Path) -> None:
    with october_books.open("a") as file:
        file.write('\n[dashboard]\nhosts = ["books.example.nl", "other.example.nl:9999"]\n')
    with served(october_books, TOKEN) as (server, _store):
        port = server.url.rstrip("/").rsplit(":", 1)[1]
        good = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "localhost",
                f"books.example.nl:{port}", "books.example.nl", "other.example.nl:9999"]  # fmt: skip
        bad = ["attacker.example", f"attacker.example:{port}", "127.0.0.1:1", f"[::2]:{port}",
               "other.example.nl", "books.example.nl:1", f"localhost.attacker.example:{port}"]  # fmt: skip
        for host in good:
            assert httpx.get(server.url, headers={"Host": host}).status_code == 200, host
        for host in bad:
            answer = httpx.get(server.url + "orders/woocommerce:1001", headers={"Host": host})
            assert answer.status_code == 400, host
            assert "1001" not in answer.text and "[dashboard] hosts" in answer.text


# --- sign-in, its session and its forms ---------------------------------------------------------


def test_a_token_shorter_than_16_characters_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        dashboard_token({"DASHBOARD_TOKEN": "tooshort"})
    assert dashboard_token({"DASHBOARD_TOKEN": "x" * 16}) == "x" * 16
    assert dashboard_token({}) is None


def test_sign_in_attempts_are_limited_per_address(october_books: Path) -> None:
    with served(october_books, TOKEN) as (server, _store), httpx.Client() as client:
        answers = [sign_in(client, server.url, "wrong-token-wrong-token") for _ in range(10)]
        assert all(a.status_code == 302 for a in answers)
        limited = sign_in(client, server.url)  # the right one, but too many tries
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "Retry" not in client.get(server.url + "attention").text.replace("Retry-", "")


def test_sign_out_ends_the_session_on_the_server(october_books: Path) -> None:
    with served(october_books, TOKEN) as (server, store), httpx.Client() as client:
        assert sign_in(client, server.url).status_code == 302
        copied = dict(client.cookies)
        page = client.get(server.url + "attention").text
        assert "Sign out" in page
        client.post(server.url + "sign-out", data={"csrf": csrf_of(page)})
        # The copy of the cookie (csrf and all) no longer signs anyone in.
        with httpx.Client(cookies=copied) as thief:
            answer = thief.post(server.url + "retry", data={"csrf": csrf_of(page), "order": "1006"})
            assert answer.status_code == 403 and "sign in" in answer.text
        assert store.order("woocommerce:1006").state == OrderState.PARKED  # type: ignore[union-attr]


def test_a_failed_csrf_check_changes_nothing(october_books: Path) -> None:
    with served(october_books, TOKEN) as (server, store), httpx.Client() as client:
        assert sign_in(client, server.url).status_code == 302
        # From another site: no cookie comes with it (SameSite), and none may come back.
        forged = httpx.post(server.url + "sign-out", data={"csrf": "x"})
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
        for sent in ("not-the-form-token", "é-ünïcode-ß", ""):
            answer = client.post(server.url + "sign-out", data={"csrf": sent})
            assert answer.status_code == 403, sent
            assert "stale or not from this dashboard" in answer.text
        page = client.get(server.url + "attention").text
        assert "Sign out" in page  # still signed in
        retried = client.post(server.url + "retry", data={"csrf": csrf_of(page), "order": "1006"})
        assert retried.status_code == 302
        assert store.order("woocommerce:1006").state == OrderState.PENDING  # type: ignore[union-attr]


def test_read_only_shows_no_button_that_leads_to_403(october_books: Path) -> None:
    with served(october_books, None) as (server, _store):
        page = httpx.get(server.url + "attention").text
        assert "1006" in page and "<button>Retry</button>" not in page
    with served(october_books, TOKEN) as (server, _store), httpx.Client() as client:
        assert "<button>Retry</button>" not in client.get(server.url + "attention").text
        sign_in(client, server.url)
        assert "<button>Retry</button>" in client.get(server.url + "attention").text


# --- idle connections ---------------------------------------------------------------------------


def test_idle_connections_cannot_lock_it_out(october_books: Path) -> None:
    with served(october_books, None) as (server, _store):
        host, port = server.url[len("http://") :].rstrip("/").split(":")
        idle: list[socket.socket] = []
        try:
            for _ in range(250):  # beyond its connection limit: the longest idle make room
                idle.append(socket.create_connection((host, int(port)), timeout=5))
            answer = httpx.get(server.url, timeout=5)  # bounded: a lock-out times out here
            assert answer.status_code == 200
        finally:
            for s in idle:
                s.close()


# --- reading never holds up booking -------------------------------------------------------------


@pytest.fixture
def booked_shop(
    tmp_path: Path, moneybird: MoneybirdSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, WooCommerceSandbox]]:
    """The demo orders booked, the shop still at hand (to give the next pass work)."""
    woo = WooCommerceSandbox()
    seed_shop(woo, demo_orders(datetime(2026, 10, 5, 9, tzinfo=UTC)))
    woo.start()
    try:
        for name, value in secrets_env(woo, moneybird).items():
            monkeypatch.setenv(name, value)
        path = write_config(tmp_path, woo.url, moneybird.api_url, moneybird.administration_id)
        assert CliRunner().invoke(app, ["sync", "--config", str(path)]).exit_code == 0
        yield path, woo
    finally:
        woo.stop()


def test_many_readers_take_a_small_share_and_never_hold_up_a_pass(
    booked_shop: tuple[Path, WooCommerceSandbox], moneybird: MoneybirdSandbox
) -> None:
    path, woo = booked_shop
    config = load_config(path)
    store = Store(config.state_path)
    keys = [r.key for r in store.orders({OrderState.PAID})]
    live = Live(lambda: config)
    server = DashboardServer(
        create_app(Source(lambda: config, lambda: store, live, None)), "127.0.0.1", 0
    ).start()
    # A tight budget at Moneybird: what the readers took beyond their share, the pass would wait
    # for (429s, or RateLimit-Remaining 0).
    moneybird._window.clear()
    moneybird.rate_limit = 40
    woo.refund(1001, items=[(10012, 1, "28.88", "6.07")],
               when=datetime(2026, 10, 20, 12, tzinfo=UTC))  # fmt: skip
    before = len(moneybird.requests)
    runtime = build(config)  # the next pass books the refund's credit invoice
    start = threading.Barrier(51)
    pages: list[str] = []

    def read(n: int) -> None:
        start.wait()
        answer = httpx.get(f"{server.url}orders/{keys[n % len(keys)]}", timeout=60)
        assert answer.status_code == 200
        pages.append(answer.text)

    def booking() -> None:
        start.wait()
        runtime.engine().run_pass()

    try:
        threads = [threading.Thread(target=read, args=(n,)) for n in range(50)]
        threads.append(threading.Thread(target=booking))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        pass_requests = runtime.client.limiter.requests
        waited = runtime.client.limiter.waited_seconds
    finally:
        server.stop()
        live.close()
        runtime.close()
        store.close()
    assert len(pages) == 50
    seen = moneybird.requests[before:]
    dashboard = len(seen) - pass_requests
    assert dashboard <= 15, dashboard
    assert any("live comparison paused" in p for p in pages)
    assert not [r for r in seen if r[3] == 429]  # nobody was turned away by Moneybird
    assert waited == 0.0  # and the pass never waited for budget
    assert pass_requests > 0 and any(r[2].endswith("/duplicate_creditinvoice.json") for r in seen)


def test_the_downloaded_reconciliation_shows_a_formula_as_text(
    october_books: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer named like a formula stays text in the month's CSV a bookkeeper opens."""
    from connector.dashboard import views

    formula = '=HYPERLINK("http://x.example","x")'
    monkeypatch.setattr(views, "month_csv", lambda _store, _month: [["order", "customer", "total"],
                                                                      ["1001", formula, "-5.00"]])  # fmt: skip
    config = load_config(october_books)
    store = Store(config.state_path)
    try:
        app_ = create_app(Source(lambda: config, lambda: store, None, TOKEN))
        answer = app_.test_client().get("/months/2026-10/reconciliation.csv")
        assert answer.status_code == 200
        text = answer.get_data(as_text=True)
        assert "'=HYPERLINK" in text and ",-5.00" in text
    finally:
        store.close()


@pytest.mark.parametrize("target", ["/\t/evil.example/", "/\n/evil.example", "//evil.example"])
def test_sign_in_sends_back_only_to_a_page_of_the_dashboard(
    october_books: Path, target: str
) -> None:
    """A browser drops tabs and line breaks from an address: "/\\t/evil" would be "//evil"."""
    with served(october_books, TOKEN) as (server, _store), httpx.Client() as client:
        form = csrf_of(client.get(server.url + "attention").text)
        answer = client.post(server.url + "sign-in",
                             data={"csrf": form, "token": TOKEN, "next": target})  # fmt: skip
        assert answer.status_code == 302 and answer.headers["location"].endswith("/attention")


def test_the_live_comparison_waits_for_a_pass_or_an_import_however_long_it_takes(
    tmp_path: Path,
) -> None:
    from datetime import timedelta

    from connector.dashboard.live import pass_running
    from connector.state import Meta, utcnow

    store = Store(tmp_path / "state.db")
    try:
        assert not pass_running(store, 5)
        run = store.start_run()
        run.started_at = (utcnow() - timedelta(minutes=40)).isoformat()  # a backlog, 8 intervals
        store.save(run)
        assert pass_running(store, 5)
        run.outcome = "ok"
        store.save(run)
        assert not pass_running(store, 5)
        store.set_meta(Meta.IMPORT_HEARTBEAT, utcnow().isoformat())  # an import books
        assert pass_running(store, 5)
    finally:
        store.close()
