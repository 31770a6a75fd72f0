"""A stateful WooCommerce REST API v3 emulator for orders and tax rates.

OAuth 1.0a over plain HTTP (signature checked), Basic auth and query-string keys; `status` as
one comma-separated string; `modified_after` (strictly greater, 1-second resolution, read in
the shop's local time unless `dates_are_gmt=true`); paging with X-WP-Total, X-WP-TotalPages and
Link; the Date header; WooCommerce's error shape.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import math
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from woocommerce.oauth import OAuth

from connector.sandbox.http import LocalServer, Request, Response, Served, echo_page

PREFIX = "/wp-json/wc/v3/"
CENT = Decimal("0.01")
# The arguments WooCommerce 10's order route names in its description (OPTIONS).
LIST_ARGS = (
    "context", "page", "per_page", "search", "after", "before", "modified_after",
    "modified_before", "dates_are_gmt", "exclude", "include", "offset", "order", "orderby",
    "parent", "parent_exclude", "status", "customer", "product", "dp", "order_item_display_meta",
    "include_meta", "exclude_meta", "created_via",
)  # fmt: skip
CREATE_ARGS = (
    "parent_id", "created_via", "status", "currency", "customer_id", "customer_note", "billing",
    "shipping", "payment_method", "payment_method_title", "transaction_id", "meta_data",
    "line_items", "shipping_lines", "fee_lines", "coupon_lines", "set_paid", "manual_update",
)  # fmt: skip


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"code": code, "message": message, "data": {"status": status}})


@dataclass
class WooCommerceSandbox(Served):
    consumer_key: str = "ck_sandbox_key"
    consumer_secret: str = "cs_sandbox_secret"
    timezone: str = "Europe/Amsterdam"
    supports_modified_after: bool = True
    supports_shop_wide_refunds: bool = True  # GET /refunds, WooCommerce 9+
    port: int = 0  # 0: any free port
    host: str = "127.0.0.1"
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    tax_rates: dict[int, dict[str, Any]] = field(default_factory=dict)
    payment_gateways: list[dict[str, Any]] = field(default_factory=list)
    clock_offset: timedelta = timedelta(0)  # the shop's clock may differ from ours
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    refunds: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by order id
    # A proxy or cache in front of the shop that drops the count headers (X-WP-Total...).
    strip_paging_headers: bool = False
    # Test hook, called with the order list's query before each answer: the list may change
    # between two pages as it does in a busy shop.
    before_list: Callable[[dict[str, str]], None] | None = None
    # A shop (or a plugin, or a cache in front of it) that pages the order list by `page`
    # alone and ignores `offset`: every request without a page number gets the first page.
    ignores_offset: bool = False
    # A misconfigured proxy's error page for the order list that echoes the request, query
    # string (and so, with query-string auth, the keys), headers, body and all: as text, or
    # with `echo_json` as WooCommerce's error JSON whose message quotes it; `echo_lead` first.
    echo_error_status: int | None = None
    echo_json: bool = False
    echo_lead: str = ""
    tls: ssl.SSLContext | None = None  # tests: serve HTTPS (so the client sends Basic auth)
    # An outage: every request answered with this status (e.g. 503), or only the requests
    # `failing` names, as (method, route) -> status, e.g. {("OPTIONS", "orders"): 503}.
    down_status: int | None = None
    failing: dict[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._refund_ids = itertools.count(9001)
        self.server = LocalServer(self.handle, port=self.port, host=self.host, tls=self.tls)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    # --- shop-side changes (what the shop owner or a customer does) ---------------------------

    def put_order(self, order: dict[str, Any], modified: datetime | None = None) -> None:
        """Add or replace an order, stamping its modification time like WooCommerce does."""
        with self._lock:
            moment = (modified or self.now()).astimezone(UTC).replace(microsecond=0)
            local = moment.astimezone(ZoneInfo(self.timezone))
            order["date_modified_gmt"] = moment.strftime("%Y-%m-%dT%H:%M:%S")
            order["date_modified"] = local.strftime("%Y-%m-%dT%H:%M:%S")
            self.orders[int(order["id"])] = order

    def refund(
        self,
        order_id: int,
        amount: str | None = None,
        *,
        items: Sequence[tuple[int, int, str, str]] = (),
        shipping: Sequence[tuple[int, str, str]] = (),
        reason: str = "",
        when: datetime | None = None,
        touch_order: bool = True,
        refunded_payment: bool = False,
    ) -> dict[str, Any]:
        """Refund as the shop admin does: `items` are (line id, quantity, net, VAT) and
        `shipping` (line id, net, VAT), positive, as entered in the refund's fields (to six
        decimals, as the refund form fills them in). WooCommerce keeps them as entered and
        answers each to the cent: `total` half up, `total_tax` by the shop's tax rounding (half
        down when prices include VAT), `taxes[].total` half up. `amount` defaults to what the
        refund form computes: each field rounded to cents by its script, added. The order lists
        the refund, and moves to `refunded` once refunded in full. `refunded_payment`: the
        money went back through the payment gateway (not a manual refund)."""
        with self._lock:
            order = self.orders[order_id]
            moment = (when or self.now()).astimezone(UTC).replace(microsecond=0)
            local = moment.astimezone(ZoneInfo(self.timezone))
            tax_mode = ROUND_HALF_DOWN if order.get("prices_include_tax") else ROUND_HALF_UP
            lines = []
            for line_id, qty, net, tax in items:
                source = next(li for li in order["line_items"] if li["id"] == line_id)
                lines.append(_refunded_item(source, qty, net, tax, tax_mode))
            ship_lines = []
            for line_id, net, tax in shipping:
                source = next(sl for sl in order["shipping_lines"] if sl["id"] == line_id)
                ship_lines.append(_refunded_shipping(source, net, tax, tax_mode))
            fields = [f for _l, _q, n, t in items for f in (n, t)]
            fields += [f for _l, n, t in shipping for f in (n, t)]
            refund = {
                "id": next(self._refund_ids), "parent_id": order_id,
                "date_created": local.strftime("%Y-%m-%dT%H:%M:%S"),
                "date_created_gmt": moment.strftime("%Y-%m-%dT%H:%M:%S"),
                "amount": amount if amount is not None else form_amount(fields),
                "reason": reason, "refunded_by": 1, "refunded_payment": refunded_payment,
                "meta_data": [], "line_items": lines, "shipping_lines": ship_lines,
                "tax_lines": _refund_tax_lines(order, lines, ship_lines), "fee_lines": [],
            }  # fmt: skip
            self.refunds.setdefault(order_id, []).insert(0, refund)  # newest first, as WC does
            order["refunds"].insert(
                0, {"id": refund["id"], "reason": reason, "total": f"-{refund['amount']}"}
            )
            refunded = sum(Decimal(r["amount"]) for r in self.refunds[order_id])
            if refunded >= Decimal(order["total"]):
                order["status"] = "refunded"
            if touch_order:  # the order changes now, whatever date the refund carries
                self.put_order(order)
            return refund

    def refund_as_the_form_does(
        self, order_id: int, quantities: Sequence[tuple[int, int]], **kwargs: Any
    ) -> dict[str, Any]:
        """Refund (line id, quantity) of the order's product lines as the order page's refund
        form fills in its fields: per line, its net and its VAT divided by the line's quantity
        and times the quantity refunded, to six decimals (`refund_quantity_changed`); the
        amount as the form adds them. The form divides the figures the shop holds for the line;
        this shop holds them to the cent. `kwargs` as for `refund`."""
        with self._lock:
            order = self.orders[order_id]
            items = []
            for line_id, qty in quantities:
                line = next(li for li in order["line_items"] if li["id"] == line_id)
                count = int(line["quantity"])
                vat = line["taxes"][0]["total"] if line.get("taxes") else line["total_tax"]
                items.append(
                    (line_id, qty, form_field(line["total"], count, qty),
                     form_field(vat, count, qty))
                )  # fmt: skip
            return self.refund(order_id, items=items, **kwargs)

    # --- HTTP ------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        response = self._outage(req) or self._handle(req)
        response.headers["Date"] = formatdate(self.now().timestamp(), usegmt=True)
        return response

    def _outage(self, req: Request) -> Response | None:
        """The answer of a shop (or the proxy in front of it) that is down, if it is."""
        route = req.path.removeprefix(PREFIX).strip("/")
        down = self.failing.get((req.method, route), self.down_status)
        if down is None:
            return None
        with self._lock:
            self.requests.append((req.method, req.path, dict(req.query)))
        return Response(down, raw=b"<html>Service Unavailable</html>", content_type="text/html")

    def _handle(self, req: Request) -> Response:
        with self._lock:
            self.requests.append((req.method, req.path, dict(req.query)))
            if not req.path.startswith(PREFIX):
                return _error(404, "rest_no_route", "No route was found matching the URL.")
            if not self._authorised(req):
                return _error(
                    401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources."
                )
            route = req.path[len(PREFIX) :].strip("/")
            if route == "orders" and req.method == "OPTIONS":
                return Response(200, self._schema())
            if route == "orders" and req.method == "GET" and self.echo_error_status:
                return self._echo(req, self.echo_error_status)
            if route == "orders" and req.method == "GET":
                return self._list(req)
            if route.startswith("orders/") and route.endswith("/refunds") and req.method == "GET":
                order_id = _int(route.split("/")[1])
                if order_id not in self.orders:
                    return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
                # Only the shop-wide list names each refund's order (`parent_id`).
                return self._page(
                    req, [_without(r, "parent_id") for r in self.refunds.get(order_id, [])]
                )
            if route == "refunds" and req.method == "GET" and self.supports_shop_wide_refunds:
                return self._shop_wide_refunds(req)
            if route.startswith("orders/") and req.method == "GET":
                order = self.orders.get(_int(route.split("/", 1)[1]))
                if order is None:
                    return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
                return Response(200, order)
            if route.startswith("taxes/") and req.method == "GET":
                rate = self.tax_rates.get(_int(route.split("/", 1)[1]))
                if rate is None:
                    return _error(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
                return Response(200, rate)
            if route == "taxes" and req.method == "GET":
                rates = list(self.tax_rates.values())
                return Response(200, rates, {"X-WP-Total": str(len(rates)), "X-WP-TotalPages": "1"})
            if route == "payment_gateways" and req.method == "GET":
                return Response(200, self.payment_gateways)
            return _error(
                404, "rest_no_route", "No route was found matching the URL and request method."
            )

    def _echo(self, req: Request, status: int) -> Response:
        page = echo_page(req, f"{self.echo_lead}Bad gateway for ")
        if self.echo_json:
            return _error(status, "proxy_error", page)
        return Response(status, raw=page.encode(), content_type="text/html")

    def _authorised(self, req: Request) -> bool:
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return user == self.consumer_key and password == self.consumer_secret
        if "consumer_key" in req.query:
            return (
                req.query.get("consumer_key") == self.consumer_key
                and req.query.get("consumer_secret") == self.consumer_secret
            )
        if req.query.get("oauth_consumer_key") != self.consumer_key:
            return False
        # Recompute the OAuth 1.0a signature as the server does, from the parameters sent.
        params = {k: v for k, v in req.query.items() if k != "oauth_signature"}
        signer = OAuth(req.url, self.consumer_key, self.consumer_secret, method=req.method)
        expected = signer.generate_oauth_signature(dict(params), req.url)
        return hmac.compare_digest(expected, req.query.get("oauth_signature", ""))

    def _schema(self) -> dict[str, Any]:
        """The order route's description as WooCommerce 10 gives it (each argument's schema
        left out); a shop before 5.8 has no `modified_after`/`modified_before`."""
        listing = [
            name
            for name in LIST_ARGS
            if self.supports_modified_after or not name.startswith("modified_")
        ]
        return {"namespace": "wc/v3", "methods": ["GET", "POST"], "endpoints": [
            {"methods": ["GET"], "args": {name: {"required": False} for name in listing}},
            {"methods": ["POST"], "args": {name: {"required": False} for name in CREATE_ARGS}},
        ]}  # fmt: skip

    def _list(self, req: Request) -> Response:
        q = req.query
        if self.before_list is not None:
            self.before_list(dict(q))
        per_page, page = _int(q.get("per_page", "10")), _int(q.get("page", "1"))
        if not 1 <= per_page <= 100:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        if page < 1:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): page")
        statuses = [s for s in (q.get("status") or "any").split(",") if s]
        rows = [o for o in self.orders.values() if "any" in statuses or o["status"] in statuses]
        if self.supports_modified_after and q.get("modified_after"):
            gmt = q.get("dates_are_gmt") in ("true", "1")
            field_name = "date_modified_gmt" if gmt else "date_modified"
            # 1-second resolution; a trailing Z is ignored, as WordPress does.
            limit = q["modified_after"].replace("Z", "")[:19]
            rows = [o for o in rows if o[field_name] > limit]
        if q.get("after") or q.get("before"):
            gmt = q.get("dates_are_gmt") in ("true", "1")
            created = "date_created_gmt" if gmt else "date_created"
            if q.get("after"):
                rows = [o for o in rows if o[created] > q["after"].replace("Z", "")[:19]]
            if q.get("before"):
                rows = [o for o in rows if o[created] < q["before"].replace("Z", "")[:19]]
        key = {"id": "id", "modified": "date_modified_gmt"}.get(
            q.get("orderby", "date"), "date_created_gmt"
        )
        rows.sort(key=lambda o: (o[key], o["id"]), reverse=q.get("order", "desc") == "desc")
        total = len(rows)
        pages = -(-total // per_page)  # WordPress: 0 pages when there is nothing
        # As WP_Query: an offset, when given, wins over the page number.
        honoured = "offset" in q and not self.ignores_offset
        first = _int(q["offset"]) if honoured else (page - 1) * per_page
        if first < 0:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): offset")
        chunk = rows[first : first + per_page]
        links = []
        base = {k: v for k, v in q.items() if not k.startswith("oauth_")}
        if page < pages:
            links.append(f'<{req.url}?{urlencode({**base, "page": page + 1})}>; rel="next"')
        if page > 1:
            links.append(f'<{req.url}?{urlencode({**base, "page": page - 1})}>; rel="prev"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if links:
            headers["Link"] = ", ".join(links)
        if self.strip_paging_headers:
            headers = {}
        return Response(200, chunk, headers)

    def _shop_wide_refunds(self, req: Request) -> Response:
        q = req.query
        gmt = q.get("dates_are_gmt") in ("true", "1")
        created = "date_created_gmt" if gmt else "date_created"
        rows = [r for refunds in self.refunds.values() for r in refunds]
        if q.get("after"):
            rows = [r for r in rows if r[created] > q["after"].replace("Z", "")[:19]]
        if q.get("before"):
            rows = [r for r in rows if r[created] < q["before"].replace("Z", "")[:19]]
        rows.sort(key=lambda r: (r["date_created_gmt"], r["id"]), reverse=True)
        return self._page(req, rows)

    def _page(self, req: Request, rows: list[dict[str, Any]]) -> Response:
        per_page, page = _int(req.query.get("per_page", "10")), _int(req.query.get("page", "1"))
        if not 1 <= per_page <= 100 or page < 1:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page, page")
        pages = -(-len(rows) // per_page)
        headers = {"X-WP-Total": str(len(rows)), "X-WP-TotalPages": str(pages)}
        if self.strip_paging_headers:
            headers = {}
        return Response(200, rows[(page - 1) * per_page : page * per_page], headers)


def _refunded_meta(line_id: int) -> list[dict[str, Any]]:
    """The refund line's pointer to the order line it refunds, with its display form."""
    value = str(line_id)
    return [{"id": line_id + 600000, "key": "_refunded_item_id", "value": value,
             "display_key": "_refunded_item_id", "display_value": value}]  # fmt: skip


def _cents(value: str, mode: str = ROUND_HALF_UP) -> Decimal:
    """A field as WooCommerce answers it to the cent (PHP rounds the decimal it was given)."""
    return Decimal(value).quantize(CENT, mode)


def _refunded_item(
    source: dict[str, Any], qty: int, net: str, tax: str, tax_mode: str
) -> dict[str, Any]:
    """A refund's product line as WooCommerce writes it: negative, pointing at the line."""
    rate_ids = [t["id"] for t in source.get("taxes") or []]
    total, total_tax, taxes = _cents(net), _cents(tax, tax_mode), _cents(tax)
    return {
        "id": source["id"] + 500000, "name": source.get("name"),
        "product_id": source.get("product_id", 0), "variation_id": source.get("variation_id", 0),
        "quantity": -qty, "tax_class": source.get("tax_class", ""), "subtotal": f"-{total}",
        "subtotal_tax": f"-{total_tax}", "total": f"-{total}", "total_tax": f"-{total_tax}",
        "taxes": [{"id": rid, "total": f"-{taxes}", "subtotal": f"-{taxes}"}
                  for rid in rate_ids[:1]],
        "meta_data": _refunded_meta(source["id"]), "sku": source.get("sku", ""),
        "price": float(Decimal(net) / qty) if qty else 0.0, "image": {"id": "", "src": ""},
        "parent_name": None,
    }  # fmt: skip


def _refunded_shipping(source: dict[str, Any], net: str, tax: str, tax_mode: str) -> dict[str, Any]:
    """A refund's shipping line: no quantity, sku or subtotals, as on the order."""
    rate_ids = [t["id"] for t in source.get("taxes") or []]
    return {
        "id": source["id"] + 500000, "method_title": source.get("method_title"),
        "method_id": source.get("method_id", ""), "instance_id": source.get("instance_id", ""),
        "total": f"-{_cents(net)}", "total_tax": f"-{_cents(tax, tax_mode)}",
        "taxes": [{"id": rid, "total": f"-{_cents(tax)}", "subtotal": ""}
                  for rid in rate_ids[:1]],
        "tax_status": source.get("tax_status", "taxable"),
        "meta_data": _refunded_meta(source["id"]),
    }  # fmt: skip


def _refund_tax_lines(
    order: dict[str, Any], items: list[dict[str, Any]], shipping: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A refund's VAT per rate, like the order's tax lines (none for an amount only): each
    line's VAT rounded by the shop's tax rounding (its `total_tax`), added per rate."""
    found: dict[Any, list[Decimal]] = {}
    for lines, at in ((items, 0), (shipping, 1)):
        for line in lines:
            for tax in line["taxes"][:1]:
                found.setdefault(tax["id"], [Decimal(0), Decimal(0)])[at] += Decimal(
                    line["total_tax"]
                )
    result = []
    for n, (rid, (item_tax, ship_tax)) in enumerate(found.items()):
        listed: dict[str, Any] = next(
            (t for t in order.get("tax_lines", []) if t["rate_id"] == rid), {}
        )
        result.append({
            "id": 700000 + int(order["id"]) * 10 + n, "rate_code": listed.get("rate_code", ""),
            "rate_id": rid, "label": listed.get("label", ""), "compound": False,
            "tax_total": f"{item_tax:.2f}", "shipping_tax_total": f"{ship_tax:.2f}",
            **({"rate_percent": listed["rate_percent"]} if "rate_percent" in listed else {}),
            "meta_data": [],
        })  # fmt: skip
    return result


# The refund form's arithmetic (WooCommerce's meta-boxes-order.js with accounting.js): IEEE
# doubles, each rounding `Math.round(x * 10^places) / 10^places`.


def _script_round(value: float, places: int) -> float:
    """accounting.formatNumber(value, places) read back with parseFloat."""
    power = 10**places
    rounded = math.floor(abs(value) * power + 0.5) / power
    return math.copysign(float(f"{rounded:.{places}f}"), value)


def form_field(total: str, count: int, refunded: int) -> str:
    """The field the refund form fills in for `refunded` of a line's `count` units whose
    figure (net, or one tax) is `total`: per unit, times the units, to six decimals."""
    return repr(_script_round(float(total) / count * refunded, 6))


def form_amount(fields: Sequence[str]) -> str:
    """The amount the refund form computes from its fields: each rounded to cents, added."""
    added = 0.0
    for value in fields:
        added += _script_round(float(value), 2)
    return f"{_script_round(added, 2):.2f}"


def _without(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return -1
