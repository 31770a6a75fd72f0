"""Is the connector healthy? For `connector health`, and `/healthz` while `connector run` runs."""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connector.errors import CONFIGURATION
from connector.state import Meta, Store, from_text, utcnow

log = logging.getLogger(__name__)


def health(store: Store, interval_minutes: float, now: datetime | None = None) -> tuple[bool, str]:
    """Healthy when the last pass *succeeded* within two intervals and authentication works
    (and reaches the configured administration).
    A pass that failed, a pass stuck for longer than two intervals, or a scheduler that has
    not run one for that long is unhealthy, with the reason."""
    now = now or utcnow()
    limit = timedelta(minutes=2 * interval_minutes)
    auth_error = store.get_meta(Meta.AUTH_ERROR)
    if auth_error:  # a wrong administration is recorded here too, and says so itself
        if auth_error.startswith(CONFIGURATION):
            return False, auth_error
        return False, f"authentication fails: {auth_error}"
    beat = from_text(store.get_meta(Meta.IMPORT_HEARTBEAT))
    if beat is not None and now - beat <= limit:
        return True, "a history import is running (scheduled passes wait for it)"
    runs = store.runs(5)
    running = next((r for r in runs if r.outcome == "running"), None)
    started = from_text(running.started_at) if running else None
    if started is not None and now - started > limit:
        minutes = int((now - started).total_seconds() // 60)
        return False, f"a pass has been running for {minutes} minutes"
    # An interrupted run (stopped by a signal, or its process died) says nothing either way.
    finished = [r for r in runs if r.finished_at and r.outcome not in ("running", "interrupted")]
    if not finished:
        return False, "no pass has finished yet"
    last = finished[0]
    if last.outcome not in ("ok", "import"):
        return False, f"the last pass failed: {last.error or last.outcome}"
    at = from_text(last.finished_at)
    assert at is not None
    age = now - at
    if age > limit:
        return False, f"last pass finished {int(age.total_seconds() // 60)} minutes ago"
    return True, f"last pass succeeded {int(age.total_seconds())} seconds ago"


MAX_CONNECTIONS = 16  # at once; more are closed at once rather than given a thread each
CONNECTION_TIMEOUT = 10.0  # seconds a connection may sit idle before it is closed


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, but a bounded number of them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # busy: the client may try again
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def is_loopback(host: str) -> bool:
    """An address (or "localhost", or "[::1]") of this computer alone; an IPv4 address mapped
    into IPv6 counts as itself."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class HealthServer:
    """GET /healthz: 200 when healthy, 503 when not; JSON either way. The reason (which can
    carry a service's own words) only to this computer; anyone else learns up or down."""

    def __init__(self, host: str, port: int, check: Callable[[], tuple[bool, str]]) -> None:
        self._server = _BoundedServer((host, port), _handler(check))
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
        timeout = CONNECTION_TIMEOUT  # an idle or slow client does not hold its thread forever

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
            answer = {"status": "ok" if ok else "unhealthy"}
            if is_loopback(str(self.client_address[0])):
                answer["detail"] = message
            body = json.dumps(answer).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
