"""The dashboard's routes. Reading needs no secret. The one action, Retry, needs the token from
DASHBOARD_TOKEN (or _FILE): given once on the page, kept in a signed, HttpOnly, SameSite=Strict
session cookie; every form carries a CSRF token tied to that session; only POST changes
anything, and each action is logged."""

from __future__ import annotations

import csv
import hmac
import io
import logging
import secrets
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
from connector.dashboard import views
from connector.dashboard.live import Live
from connector.state import Store

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024  # a form with a token and an order number needs far less


@dataclass
class Source:
    """Where the pages read from: the configuration and state in force (they change when
    `connector run` reloads an edit), and the live services when the secrets are at hand."""

    config: Callable[[], Config]
    store: Callable[[], Store]
    live: Live | None  # None: no secrets here, so the order page shows the state alone
    token: str | None  # DASHBOARD_TOKEN; None: read-only


def create_app(source: Source) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # sessions last as long as this process
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=MAX_BODY,
    )
    app.extensions["connector"] = source
    app.jinja_env.filters["money"] = _money
    app.jinja_env.globals["since"] = views.since
    app.before_request(_csrf)
    app.after_request(_headers)
    app.context_processor(_everywhere)
    pages: list[tuple[str, Callable[..., Any]]] = [
        ("/", overview),
        ("/attention", attention),
        ("/orders/<path:key>", order),
        ("/months", months),
        ("/months/<month>", month),
        ("/months/<month>/reconciliation.csv", month_csv),
        ("/config", configuration),
    ]
    for rule, view in pages:
        app.add_url_rule(rule, view_func=view, methods=["GET"])
    for rule, view in (("/sign-in", sign_in), ("/sign-out", sign_out), ("/retry", retry)):
        app.add_url_rule(rule, view_func=view, methods=["POST"])
    for code in (400, 403, 404, 413):
        app.register_error_handler(code, _error)
    return app


def _source() -> Source:
    source: Source = current_app.extensions["connector"]
    return source


def _csrf() -> None:
    session.setdefault("csrf", secrets.token_urlsafe(24))
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not hmac.compare_digest(sent, session["csrf"]):
            abort(403, "the form is stale or not from this dashboard; reload the page")


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
        "csrf": session.get("csrf", ""),
        "actions": source.token is not None,
        "signed_in": bool(session.get("signed_in")) and source.token is not None,
    }


# --- pages ----------------------------------------------------------------------------------


def overview() -> str:
    source = _source()
    data = views.overview(source.store(), source.config().sync.interval_minutes)
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
    return render_template("months.html", page="months", months=views.months(_source().store()))


def month(month: str) -> str:
    data = views.month_page(_source().store(), month)
    if data is None:
        abort(404, f"{month} is not reconciled yet: `connector reconcile --month {month}`")
    return render_template("month.html", page="months", **data)


def month_csv(month: str) -> Response:
    rows = views.month_csv(_source().store(), month)
    if rows is None:
        abort(404, f"no reconciliation of {month} to download")
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="reconciliation-{month}.csv"'},
    )


def configuration() -> str:
    source = _source()
    data = views.configuration(source.store(), source.config())
    return render_template("config.html", page="config", **data)


# --- actions --------------------------------------------------------------------------------


def sign_in() -> BaseResponse:
    token = _source().token
    given = request.form.get("token", "")
    if token is not None and hmac.compare_digest(given.encode(), token.encode()):
        session["signed_in"] = True
        session["csrf"] = secrets.token_urlsafe(24)  # a new session, a new form token
        log.info("dashboard: signed in from %s", request.remote_addr)
        flash("Signed in: Retry is enabled.")
    else:
        log.warning("dashboard: a wrong token was given from %s", request.remote_addr)
        flash("That is not the dashboard's token (DASHBOARD_TOKEN).")
    return redirect(url_for("attention"))


def sign_out() -> BaseResponse:
    session.clear()
    return redirect(url_for("overview"))


def retry() -> BaseResponse:
    source = _source()
    if source.token is None:
        abort(403, "read-only: set DASHBOARD_TOKEN (or DASHBOARD_TOKEN_FILE) to enable Retry")
    if not session.get("signed_in"):
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
    return render_template("error.html", page="", error=exc), exc.code


def _money(value: object) -> str:
    if value is None or value == "":
        return ""
    try:
        return f"{Decimal(str(value)):.2f}"
    except ArithmeticError:
        return str(value)
