"""Serving the dashboard with waitress, bounded: a few worker threads, a cap on connections
where the longest idle one makes room for a new one (idle or slow clients cannot lock it out),
idle connections closed, small request bodies only. In the foreground (`connector dashboard`)
or beside the scheduler (`connector run` with [dashboard] enabled)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from flask import Flask
from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from connector.config import read_secret
from connector.dashboard.app import Source, create_app, serving
from connector.dashboard.live import Live
from connector.errors import ConfigError
from connector.moneybird.rate_limit import RateLimiter
from connector.redact import remember
from connector.runtime import Runtime

log = logging.getLogger(__name__)

LIMITS: dict[str, Any] = {
    "threads": 8,  # pages come from the state: quick, but a few readers at once
    "connection_limit": 200,  # at the cap, the longest idle connection is closed (below)
    "channel_timeout": 10,  # seconds a connection may sit idle (or trickle a request)
    "cleanup_interval": 1,  # how often idle connections are looked for (waitress: 30 s)
    "asyncore_use_poll": True,  # select() fails beyond 1,024 descriptors
    "max_request_body_size": 16 * 1024,
    "max_request_header_size": 64 * 1024,
    "ident": "moneybird-shop-connector",
}
MIN_TOKEN = 16  # characters: a shorter DASHBOARD_TOKEN could be guessed


class _Server(TcpWSGIServer):
    """Waitress stops accepting at its connection limit until a connection closes, so a few
    hundred idle sockets would lock everyone out; here the longest idle ones make room."""

    def readable(self) -> bool:
        channels: dict[int, Any] = getattr(self, "active_channels", {})  # stubs say otherwise
        if self.accepting and len(getattr(self, "_map", ())) >= self.adj.connection_limit:
            idle = sorted(
                (c for c in list(channels.values()) if not c.requests),
                key=lambda c: c.last_activity,
            )
            for channel in idle[: max(1, len(idle) // 10)]:
                channel.handle_close()
        return bool(super().readable())


class DashboardServer:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        adj = Adjustments(host=host, port=port, **LIMITS)
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adj.threads)
        # One address, one listening socket (the first "localhost" resolves to).
        self._server = _Server(app, {}, True, None, dispatcher=dispatcher, adj=adj,
                               sockinfo=cast(Any, adj.listen)[0])  # fmt: skip
        bound, actual = cast(tuple[str, int], self._server.getsockname()[:2])
        serving(app, bound, actual)
        self._thread: threading.Thread | None = None
        self._cleanups: list[Callable[[], None]] = []

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    @property
    def url(self) -> str:
        host, port = self._server.getsockname()[:2]
        return f"http://{host}:{port}/"

    def serve(self) -> None:
        """In the foreground, until the process is stopped."""
        log.info("dashboard on %s", self.url)
        self._server.run()

    def start(self) -> DashboardServer:
        """Beside the scheduler, in a thread of its own."""
        self._thread = threading.Thread(target=self._server.run, name="dashboard", daemon=True)
        self._thread.start()
        log.info("dashboard on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for cleanup in self._cleanups:
            cleanup()


def dashboard_token(environ: dict[str, str] | None = None) -> str | None:
    """DASHBOARD_TOKEN (or the file DASHBOARD_TOKEN_FILE names); None: read-only. One too
    short to resist guessing is refused at start."""
    try:
        token = read_secret("DASHBOARD_TOKEN", environ) or None
    except ConfigError as exc:
        if "is not set" in str(exc):
            return None
        raise  # a _FILE that cannot be read: said as clearly as any other secret
    if token is not None:
        remember([token])  # never in a log or page, in any form
    if token is not None and len(token) < MIN_TOKEN:
        raise ConfigError(
            f"DASHBOARD_TOKEN is {len(token)} characters; it needs at least {MIN_TOKEN} "
            "(for one: python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
    return token


def beside_the_scheduler(
    current: Callable[[], Runtime], limiter: RateLimiter, token: str | None
) -> DashboardServer:
    """The dashboard `connector run` serves when [dashboard] enabled: the runtime in force;
    the order page's live reads take a small share of Moneybird's budget of their own, and
    none while a pass runs (the process's limiter, `limiter`, is the passes' alone)."""
    config = current().config
    live = Live(lambda: current().config)
    source = Source(lambda: current().config, lambda: current().store, live, token)
    server = DashboardServer(create_app(source), config.dashboard_host, config.dashboard_port)
    server.on_stop(live.close)
    return server.start()
