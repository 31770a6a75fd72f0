"""The dashboard's routes. Only the configured host names are answered (DNS rebinding). On
loopback, reading needs no secret; bound to any other address, every page needs sign-in. The
one action, Retry, needs the token from DASHBOARD_TOKEN (or _FILE): given once on the page
(a few attempts a minute per address), the session it opens is kept on the server (Sign out
ends it) and named in a signed, HttpOnly, SameSite=Strict cookie; every form carries a CSRF
token tied to that session, and a form without the right one changes nothing; only POST
changes anything, and each action is logged."""

from __future__ import annotations

import csv
import hmac
import io
import ipaddress
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from connector.config import Config
from connector.dashboard import payouts as payout_views
from connector.dashboard import views
from connector.dashboard.live import Live
from connector.ops.health import is_loopback
from connector.private_files import as_text
from connector.state import Store

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024  # a form with a token and an order number needs far less
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SIGN_IN_ATTEMPTS = 10  # per address and SIGN_IN_WINDOW: guessing a 16+ character token is hopeless
SIGN_IN_WINDOW = 60.0  # seconds
SESSION_SECONDS = 12 * 3600.0  # a signed-in session ends by itself after a working day
MAX_SESSIONS = 1000  # the oldest go first: a flood of sign-ins cannot grow memory


@dataclass
class Source:
    """Where the pages read from: the configuration and state in force (they change when
    `connector run` reloads an edit), and the live services when the secrets are at hand."""

    config: Callable[[], Config]
    store: Callable[[], Store]
    live: Live | None  # None: no secrets here, so the order page shows the state alone
    token: str | None  # DASHBOARD_TOKEN; None: read-only


class Sessions:
    """Signed-in sessions, on the server: the cookie only names one, so Sign out (or its
    expiry) ends it even for a copy of the cookie."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def open(self) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            self._until = {k: t for k, t in self._until.items() if t > now}
            while len(self._until) >= MAX_SESSIONS:
                del self._until[min(self._until, key=self._until.__getitem__)]
            self._until[sid] = now + SESSION_SECONDS
        return sid

    def valid(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            return self._until.get(sid, 0.0) > self._clock()

    def close(self, sid: object) -> None:
        with self._lock:
            self._until.pop(str(sid), None)


class Attempts:
    """Sign-in attempts per address in a sliding window: past the limit, the seconds to wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def wait(self, address: str) -> float:
        """0 and counted when another attempt is allowed now; else how long until one is."""
        with self._lock:
            now = self._clock()
            if len(self._seen) > 10_000:  # many addresses: forget those with nothing recent
                self._seen = {a: q for a, q in self._seen.items() if q[-1] > now - SIGN_IN_WINDOW}
            seen = self._seen.setdefault(address, deque())
            while seen and seen[0] <= now - SIGN_IN_WINDOW:
                seen.popleft()
            if len(seen) >= SIGN_IN_ATTEMPTS:
                return seen[0] + SIGN_IN_WINDOW - now
            seen.append(now)
            return 0.0


def create_app(source: Source) -> Flask:
    """Served by DashboardServer, which tells it the address it listens on (`serving`);
    until then (a test client) it takes itself for loopback on an unknown port."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # sessions last as long as this process
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=MAX_BODY,
        DASHBOARD_ADDRESS=("127.0.0.1", None),
    )
    app.extensions["connector"] = source
    app.extensions["dashboard_sessions"] = Sessions()
    app.extensions["dashboard_attempts"] = Attempts()
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["when"] = _when
    app.jinja_env.globals["since"] = _when
    app.before_request(_known_host)
    app.before_request(_sign_in_limit)
    app.before_request(_csrf)
    app.before_request(_reading_allowed)
    app.after_request(_headers)
    app.context_processor(_everywhere)
    pages: list[tuple[str, Callable[..., Any]]] = [
        ("/", overview),
        ("/attention", attention),
        ("/orders/<path:key>", order),
        ("/months", months),
        ("/months/<month>", month),
        ("/months/<month>/reconciliation.csv", month_csv),
        ("/payouts", payouts),
        ("/config", configuration),
    ]
    for rule, view in pages:
        app.add_url_rule(rule, view_func=view, methods=["GET"])
    for rule, view in (("/sign-in", sign_in), ("/sign-out", sign_out), ("/retry", retry)):
        app.add_url_rule(rule, view_func=view, methods=["POST"])
    for code in (400, 401, 403, 404, 413):
        app.register_error_handler(code, _error)
    return app


def serving(app: Flask, host: str, port: int) -> None:
    """The address the app is served on: loopback keeps reading open; its port is the one
    the Host header must name."""
    app.config["DASHBOARD_ADDRESS"] = (host, port)


def _source() -> Source:
    source: Source = current_app.extensions["connector"]
    return source


def _sessions() -> Sessions:
    sessions: Sessions = current_app.extensions["dashboard_sessions"]
    return sessions


def _signed_in() -> bool:
    return _source().token is not None and _sessions().valid(session.get("sid"))


def _open_reading() -> bool:
    """Loopback: reading needs no secret. Anywhere else, customers' data needs sign-in."""
    return is_loopback(current_app.config["DASHBOARD_ADDRESS"][0])


def _known_host() -> None:
    """Only the names this dashboard is reached by: another name is a DNS-rebinding page
    reading it through the visitor's browser."""
    bound, port = current_app.config["DASHBOARD_ADDRESS"]
    given = request.environ.get("HTTP_HOST", "").strip().lower()
    if given.startswith("["):  # an IPv6 address: its colons are not the port's
        name, _, rest = given.partition("]")
        name, given_port = name + "]", rest.removeprefix(":")
    else:
        name, _, given_port = given.partition(":")
    configured = [h.strip().lower() for h in _source().config().file.dashboard.hosts]
    if given in configured:  # a name with its port, exactly as configured
        return
    names = {*LOOPBACK_NAMES, *configured}
    if not _unspecified(bound):
        names.add(f"[{bound}]" if ":" in bound else bound)  # the one address it listens on
    if name in names and (not given_port or port is None or given_port == str(port)):
        return
    abort(400, "this dashboard does not answer to that name: add it to [dashboard] hosts")


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _sign_in_limit() -> BaseResponse | None:
    if request.method != "POST" or request.endpoint != "sign_in":
        return None
    attempts: Attempts = current_app.extensions["dashboard_attempts"]
    wait = attempts.wait(request.remote_addr or "")
    if wait <= 0:
        return None
    log.warning("dashboard: too many sign-in attempts from %s", request.remote_addr)
    response = Response(
        "Too many sign-in attempts from this address; wait a minute.\n", 429, mimetype="text/plain"
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _csrf() -> None:
    if request.method != "POST":
        session.setdefault("csrf", secrets.token_urlsafe(24))  # for the page's forms
        return
    # Compared as bytes (any text a form can send), and the session left as it came: a form
    # from elsewhere neither errs nor signs anyone out.
    expected = session.get("csrf")
    sent = request.form.get("csrf", "")
    if not isinstance(expected, str) or not hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode()
    ):
        abort(403, "the form is stale or not from this dashboard; reload the page")


def _reading_allowed() -> None:
    if request.method == "POST" or request.endpoint in ("static", None):
        return  # the actions check for themselves; a stylesheet is no one's data
    if _open_reading() or _signed_in():
        return
    if _source().token is None:
        abort(
            403,
            "this dashboard listens beyond this computer, so every page needs sign-in: set "
            "DASHBOARD_TOKEN (or DASHBOARD_TOKEN_FILE), or listen on 127.0.0.1",
        )
    abort(401, "sign in with the dashboard's token to read it")


def _headers(response: BaseResponse) -> BaseResponse:
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _everywhere() -> dict[str, Any]:
    source = _source()
    return {
        "zone": source.config().sync.timezone,
        "csrf": session.get("csrf", ""),
        "actions": source.token is not None,
        "signed_in": _signed_in(),
        "open_reading": _open_reading(),
        "payouts_enabled": source.config().file.payouts.enabled,
    }


# --- pages ----------------------------------------------------------------------------------


def overview() -> str:
    source = _source()
    config = source.config()
    data = views.overview(source.store(), config.sync.interval_minutes, views.zone(config))
    return render_template("overview.html", page="overview", **data)


def attention() -> str:
    return render_template("attention.html", page="attention", **views.attention(_source().store()))


def order(key: str) -> str:
    source = _source()
    data = views.order_page(source.store(), source.config(), key, source.live)
    if data is None:
        abort(404, f"no order {key} in the state")
    return render_template("order.html", page="order", **data)


def months() -> str:
    source = _source()
    found = views.months(source.store(), views.zone(source.config()))
    return render_template("months.html", page="months", months=found)


def month(month: str) -> str:
    source = _source()
    data = views.month_page(source.store(), month, views.zone(source.config()))
    if data is None:
        abort(404, f"{month} is not reconciled yet: `connector reconcile --month {month}`")
    return render_template("month.html", page="months", **data)


def month_csv(month: str) -> Response:
    rows = views.month_csv(_source().store(), month)
    if rows is None:
        abort(404, f"no reconciliation of {month} to download")
    out = io.StringIO()
    csv.writer(out).writerows([as_text(cell) for cell in row] for row in rows)  # no formulas
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="reconciliation-{month}.csv"'},
    )


def payouts() -> str:
    source = _source()
    config = source.config()
    if not config.file.payouts.enabled:
        abort(404, "payouts are not booked here: [payouts] enabled = true in config.toml")
    data = payout_views.payouts_page(
        source.store(), views.zone(config), config.file.payouts.bank_line_days
    )
    return render_template("payouts.html", page="payouts", **data)


def configuration() -> str:
    source = _source()
    data = views.configuration(source.store(), source.config())
    return render_template("config.html", page="config", **data)


# --- actions --------------------------------------------------------------------------------


def sign_in() -> BaseResponse:
    token = _source().token
    given = request.form.get("token", "")
    target = request.form.get("next", "")
    # Only a page of this dashboard: never "//elsewhere", a full address, or one that a browser
    # reads as such once it drops tabs and line breaks ("/\t/elsewhere").
    if (
        not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target)
    ):
        target = url_for("attention")
    if token is not None and hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), token.encode()
    ):
        _sessions().close(session.get("sid"))
        session.clear()
        session["sid"] = _sessions().open()
        session["csrf"] = secrets.token_urlsafe(24)  # a new session, a new form token
        log.info("dashboard: signed in from %s", request.remote_addr)
        flash("Signed in: Retry is enabled.")
        return redirect(target)
    log.warning("dashboard: a wrong token was given from %s", request.remote_addr)
    flash("That is not the dashboard's token (DASHBOARD_TOKEN).")
    return redirect(target)


def sign_out() -> BaseResponse:
    _sessions().close(session.get("sid"))  # a copy of the cookie ends with it
    session.clear()
    return redirect(url_for("overview"))


def retry() -> BaseResponse:
    source = _source()
    if source.token is None:
        abort(403, "read-only: set DASHBOARD_TOKEN (or DASHBOARD_TOKEN_FILE) to enable Retry")
    if not _signed_in():
        abort(403, "sign in with the dashboard's token first")
    number = request.form.get("order", "").strip()
    if not number:
        abort(400, "which order?")
    store = source.store()
    orders = store.requeue(number)
    refunds = store.requeue_refunds(number)
    log.info(
        "dashboard: retry of order %s from %s: %d order(s), %d refund(s) queued",
        number, request.remote_addr, len(orders), len(refunds),
    )  # fmt: skip
    if orders or refunds:
        flash(f"Order {number}: queued for the next pass (as `connector retry {number}`).")
    else:
        flash(f"Order {number} is not parked or failed, nor any of its refunds.")
    return redirect(url_for("attention"))


def _error(exc: Any) -> tuple[str, int]:
    if exc.code == 401:  # the sign-in form, on whichever page was asked for
        return render_template("sign_in.html", page="", error=exc, next=request.path), 401
    return render_template("error.html", page="", error=exc), exc.code


def _when(text: str | None, seconds: bool = False) -> str:
    """A moment kept in UTC, in the books' zone (sync.timezone), which the header names."""
    return views.local(text, views.zone(_source().config()), seconds)


def _money(value: object) -> str:
    if value is None or value == "":
        return ""
    try:
        return f"{Decimal(str(value)):.2f}"
    except ArithmeticError:
        return str(value)
