"""Is the connector healthy? For `connector health`, and `/healthz` while `connector run` runs."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connector.state import Store, from_text, utcnow

log = logging.getLogger(__name__)
AUTH_ERROR_KEY = "auth_error"
IMPORT_HEARTBEAT_KEY = "import_heartbeat"  # an import holds the pass lock; it beats while busy


def health(store: Store, interval_minutes: float, now: datetime | None = None) -> tuple[bool, str]:
    """Healthy when a pass finished within two intervals and authentication works."""
    now = now or utcnow()
    auth_error = store.get_meta(AUTH_ERROR_KEY)
    if auth_error:
        return False, f"authentication fails: {auth_error}"
    beat = from_text(store.get_meta(IMPORT_HEARTBEAT_KEY))
    if beat is not None and now - beat <= timedelta(minutes=2 * interval_minutes):
        return True, "a history import is running (scheduled passes wait for it)"
    runs = [r for r in store.runs(5) if r.finished_at]
    if not runs:
        return False, "no pass has finished yet"
    last = runs[0]
    finished = from_text(last.finished_at)
    assert finished is not None
    age = now - finished
    if age > timedelta(minutes=2 * interval_minutes):
        return False, f"last pass finished {int(age.total_seconds() // 60)} minutes ago"
    note = f" (it stopped early: {last.error})" if last.outcome != "ok" else ""
    return True, f"last pass finished {int(age.total_seconds())} seconds ago{note}"


class HealthServer:
    """GET /healthz: 200 when healthy, 503 when not; JSON either way."""

    def __init__(self, host: str, port: int, check: Callable[[], tuple[bool, str]]) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(check))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoint on port %d (/healthz)", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(check: Callable[[], tuple[bool, str]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/healthz":
                self.send_error(404)
                return
            try:
                ok, message = check()
            except Exception as exc:  # a broken check is itself unhealthy
                ok, message = False, f"health check failed: {type(exc).__name__}"
            body = json.dumps({"status": "ok" if ok else "unhealthy", "detail": message}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
