"""Serving the dashboard with waitress, bounded: a few worker threads, a cap on connections,
idle connections closed, small request bodies only. In the foreground (`connector dashboard`)
or beside the scheduler (`connector run` with [dashboard] enabled)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress.server import BaseWSGIServer, create_server

from connector.config import read_secret
from connector.dashboard.app import Source, create_app
from connector.dashboard.live import Live
from connector.errors import ConfigError
from connector.moneybird.rate_limit import RateLimiter
from connector.runtime import Runtime

log = logging.getLogger(__name__)

LIMITS: dict[str, Any] = {
    "threads": 4,
    "connection_limit": 32,
    "channel_timeout": 30,  # seconds a connection may sit idle
    "max_request_body_size": 16 * 1024,
    "max_request_header_size": 64 * 1024,
    "ident": "moneybird-shop-connector",
}


class DashboardServer:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        server = create_server(app, host=host, port=port, **LIMITS)
        assert isinstance(server, BaseWSGIServer)  # one address, one listening socket
        self._server = server
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
    """DASHBOARD_TOKEN (or the file DASHBOARD_TOKEN_FILE names); None: read-only."""
    try:
        return read_secret("DASHBOARD_TOKEN", environ) or None
    except ConfigError as exc:
        if "is not set" in str(exc):
            return None
        raise  # a _FILE that cannot be read: said as clearly as any other secret


def beside_the_scheduler(
    current: Callable[[], Runtime], limiter: RateLimiter, token: str | None
) -> DashboardServer:
    """The dashboard `connector run` serves when [dashboard] enabled: the runtime in force,
    the process's request budget for the order page's reads."""
    config = current().config
    live = Live(lambda: current().config, limiter)
    source = Source(lambda: current().config, lambda: current().store, live, token)
    server = DashboardServer(create_app(source), config.dashboard_host, config.dashboard_port)
    server.on_stop(live.close)
    return server.start()
