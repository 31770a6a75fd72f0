"""A small threaded HTTP server on 127.0.0.1 that the emulators plug their routing into.

`connector sandbox --host` may name another local address (Docker's bridge, say) so that a
container reaches it; tests always use 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    query_pairs: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    url: str  # scheme://host:port/path as the client addressed it, without the query

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as-is instead of JSON
    content_type: str = "application/json; charset=utf-8"
    drop: bool = False  # close the connection without answering


class DropConnection(Exception):
    pass


# Headers that carry credentials: an echo page quotes them first, as a debugging proxy might.
CREDENTIAL_HEADERS = ("authorization", "x-shopify-access-token")


def echo_page(req: Request, lead: str = "") -> str:
    """The whole request as an error page quotes it (test hook): credential headers first,
    then the request line with its query, every other header, and the body. `lead` shifts
    it, so that a test can make an excerpt's cut fall inside a secret."""
    first = [f"{k}: {v}" for k, v in req.headers.items() if k in CREDENTIAL_HEADERS]
    query = urlencode(sorted(req.query_pairs, key=lambda kv: "consumer" not in kv[0]))
    line = f"{req.method} {req.url}{'?' + query if query else ''}"
    rest = [f"{k}: {v}" for k, v in req.headers.items() if k not in CREDENTIAL_HEADERS]
    return "\n".join([lead + " ".join(first), line, *rest, "", req.body.decode("utf-8", "replace")])


Handler = Callable[[Request], Response]


class LocalServer:
    """Serves `handler` on 127.0.0.1 on a free port; start() and stop() are explicit."""

    def __init__(
        self,
        handler: Handler,
        port: int = 0,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,  # tests: HTTPS with a throwaway certificate
    ) -> None:
        self.handler = handler
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self.scheme = "https" if tls else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def start(self) -> LocalServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one write, no Nagle: otherwise every answer waits ~40 ms
            # for a delayed ACK on loopback.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests and the demo print their own summaries

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                pairs = parse_qsl(parts.query, keep_blank_values=True)
                host = self.headers.get("Host") or "127.0.0.1"
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=dict(pairs),
                    query_pairs=pairs,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    url=f"{outer.scheme}://{host}{parts.path}",
                )
                try:
                    response = outer.handler(request)
                except DropConnection:
                    response = Response(drop=True)
                except Exception as exc:  # an emulator bug shows as a 500, like a real server
                    response = Response(500, {"error": f"sandbox error: {exc!r}"})
                if response.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if response.raw is not None:
                    payload = response.raw
                elif response.body is None and response.status == 204:
                    payload = b""
                else:
                    payload = json.dumps(response.body).encode("utf-8")
                self.send_response_only(response.status)  # Date comes below, once
                if "Date" not in response.headers:
                    self.send_header("Date", formatdate(usegmt=True))
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_OPTIONS = _serve

        return _Handler


class Served:
    """Start, stop and address of a sandbox that keeps its LocalServer in `self.server`."""

    server: LocalServer

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
