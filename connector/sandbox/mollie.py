"""A Mollie API v2 emulator for settlements and what they settle, on 127.0.0.1.

Bearer auth (401 in Mollie's error shape); `GET /v2/settlements` newest first and
`/v2/settlements/{id}` with its `payments`, `refunds`, `chargebacks` and `captures`, paged by
`from` (the first item's id) and `limit` (at most 250) with `_links.next`; HAL answers shaped as
the official client's fixtures (tests/fixtures/mollie/): `count`, `_embedded`, `_links`,
amounts as {"currency", "value"} strings, a settlement's `periods` per year and month with its
`revenue` and `costs` (to four decimals, costs with 21% VAT). `settle` computes a settlement's
amount and periods from its parts the way they add up in Mollie's answers.

Fees here are examples: iDEAL at 0.29 excl. VAT a payment (the figure Mollie's help centre uses
in its application-fee example), a refund at 0.25 (as in the fixtures), a card payment at 0.25 +
1.8%. Mollie adds 21% Dutch VAT to its fees for a Dutch organization.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from connector.sandbox.http import LocalServer, Request, Response, Served

HAL = "application/hal+json"
DOCS = "https://docs.mollie.com/reference/v2"
CENT = Decimal("0.01")
PRECISE = Decimal("0.0001")
VAT = Decimal("0.21")
MOLLIE_TIME = ZoneInfo("Europe/Amsterdam")  # the month a period belongs to
DEFAULT_LIMIT = 50
MAX_LIMIT = 250
METHOD_NAMES = {
    "ideal": "iDEAL", "creditcard": "Credit card", "bancontact": "Bancontact",
    "paypal": "PayPal", "banktransfer": "Bank transfer", "applepay": "Apple Pay",
}  # fmt: skip
# method -> (fixed, percentage or None), excl. VAT; "refund" and "chargeback" per item.
COSTS: dict[str, tuple[str, str | None]] = {
    "ideal": ("0.29", None),
    "creditcard": ("0.25", "1.80"),
    "refund": ("0.25", None),
}
PARTS = ("payments", "refunds", "chargebacks", "captures")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _amount(value: Decimal, places: Decimal = CENT) -> dict[str, str]:
    return {"currency": "EUR", "value": str(value.quantize(places, ROUND_HALF_UP))}


def _link(href: str, kind: str = HAL) -> dict[str, str]:
    return {"href": href, "type": kind}


def _error(status: int, title: str, detail: str, field_name: str | None = None) -> Response:
    body: dict[str, Any] = {"status": status, "title": title, "detail": detail}
    if field_name:
        body["field"] = field_name
    body["_links"] = {
        "documentation": _link("https://docs.mollie.com/overview/handling-errors", "text/html")
    }
    return Response(status, body, content_type=HAL)


@dataclass
class MollieSandbox(Served):
    # An organization access token: settlements cannot be read with a profile's API key.
    api_key: str = "access_sandboxMollieToken2026"
    port: int = 0
    host: str = "127.0.0.1"
    profile_id: str = "pfl_QkEhN94Ba"
    balance_id: str = "bal_gVMhHKqSSRYJyPsuoPNFH"
    shop_url: str = "https://koffie.example"
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    chargebacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    settlements: dict[str, dict[str, Any]] = field(default_factory=dict)
    # settlement id -> part ("payments", ...) -> ids, as settled
    settled: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    # Faults: every request answered with this status, or those whose path starts with a
    # key of `failing`; `delay` seconds before each answer (a slow Mollie).
    down_status: int | None = None
    failing: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0
    # Test hook: an answer of its own for a request (a hostile or broken Mollie), or None.
    override: Callable[[Request], Response | None] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.server = LocalServer(self.handle, port=self.port, host=self.host)

    # --- state --------------------------------------------------------------------------------

    def add_payment(
        self,
        payment_id: str,
        amount: Decimal | str,
        order_id: int | str,
        paid_at: datetime,
        *,
        method: str = "ideal",
        order_number: str | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """A paid payment as the Mollie WooCommerce plugin makes it: `metadata.order_id` the
        order's id, described "Order <number>"."""
        value = Decimal(amount)
        created = created_at or paid_at - timedelta(minutes=2)
        payment = {
            "resource": "payment", "id": payment_id, "mode": "live",
            "createdAt": _stamp(created), "amount": _amount(value),
            "description": f"Order {order_number or order_id}", "method": method,
            "metadata": {"order_id": order_id}, "status": "paid", "isCancelable": False,
            "paidAt": _stamp(paid_at),
            "amountRefunded": _amount(Decimal(0)), "amountRemaining": _amount(value),
            "locale": "nl_NL", "countryCode": "NL", "profileId": self.profile_id,
            "sequenceType": "oneoff",
            "redirectUrl": f"{self.shop_url}/checkout/order-received/{order_id}/",
            "cancelUrl": f"{self.shop_url}/cart/",
            "webhookUrl": f"{self.shop_url}/wp-json/mollie/v1/webhook",
            "settlementAmount": _amount(value),
            "_links": {
                "self": _link(f"https://api.mollie.com/v2/payments/{payment_id}"),
                "documentation": _link(f"{DOCS}/payments-api/get-payment", "text/html"),
            },
        }  # fmt: skip
        with self._lock:
            self.payments[payment_id] = payment
        return payment

    def add_refund(
        self,
        refund_id: str,
        payment_id: str,
        amount: Decimal | str,
        created_at: datetime,
        description: str = "",
    ) -> dict[str, Any]:
        value = Decimal(amount)
        with self._lock:
            payment = self.payments[payment_id]
            refunded = Decimal(payment["amountRefunded"]["value"]) + value
            payment["amountRefunded"] = _amount(refunded)
            payment["amountRemaining"] = _amount(Decimal(payment["amount"]["value"]) - refunded)
            refund = {
                "resource": "refund", "id": refund_id, "amount": _amount(value),
                "status": "refunded", "createdAt": _stamp(created_at),
                "description": description, "paymentId": payment_id,
                "_links": {
                    "self": _link(
                        f"https://api.mollie.com/v2/payments/{payment_id}/refunds/{refund_id}"
                    ),
                    "payment": _link(f"https://api.mollie.com/v2/payments/{payment_id}"),
                    "documentation": _link(f"{DOCS}/refunds-api/get-refund", "text/html"),
                },
            }  # fmt: skip
            self.refunds[refund_id] = refund
        return refund

    def add_chargeback(
        self, chargeback_id: str, payment_id: str, amount: Decimal | str, created_at: datetime
    ) -> dict[str, Any]:
        value = Decimal(amount)
        with self._lock:
            if payment_id not in self.payments:
                raise KeyError(payment_id)
            chargeback = {
                "resource": "chargeback", "id": chargeback_id, "amount": _amount(value),
                "settlementAmount": _amount(-value), "createdAt": _stamp(created_at),
                "reversedAt": None, "paymentId": payment_id,
                "_links": {
                    "self": _link(f"https://api.mollie.com/v2/payments/{payment_id}"
                                  f"/chargebacks/{chargeback_id}"),
                    "payment": _link(f"https://api.mollie.com/v2/payments/{payment_id}"),
                    "documentation": _link(
                        f"{DOCS}/chargebacks-api/get-payment-chargeback", "text/html"),
                },
            }  # fmt: skip
            self.chargebacks[chargeback_id] = chargeback
        return chargeback

    def settle(
        self,
        settlement_id: str,
        reference: str,
        payment_ids: Sequence[str] = (),
        refund_ids: Sequence[str] = (),
        chargeback_ids: Sequence[str] = (),
        *,
        settled_at: datetime | None,
        costs: Mapping[str, tuple[str, str | None]] = COSTS,
        status: str = "paidout",
        created_at: datetime | None = None,
        invoice_id: str | None = None,
    ) -> dict[str, Any]:
        """A settlement of these parts: per month (Amsterdam time of each part) its revenue
        per method and its costs (`costs`: method -> fixed and percentage, excl. VAT, with 21%
        VAT, to four decimals); its amount the revenue less each month's costs rounded to
        cents, as Mollie deducts them. `status` "open" (settled_at None) is a settlement still
        growing. Mollie's monthly invoice of the costs is `invoice_id`, or one made up per month."""
        with self._lock:
            payments = [self.payments[i] for i in payment_ids]
            refunds = [self.refunds[i] for i in refund_ids]
            chargebacks = [self.chargebacks[i] for i in chargeback_ids]
            months: dict[tuple[int, int], _Month] = {}

            def month_of(item: Mapping[str, Any], key: str) -> _Month:
                moment = datetime.fromisoformat(item[key]).astimezone(MOLLIE_TIME)
                return months.setdefault((moment.year, moment.month), _Month())

            for payment in payments:
                month_of(payment, "paidAt").add(payment["method"], payment)
            for refund in refunds:
                method = self.payments[refund["paymentId"]]["method"]
                month_of(refund, "createdAt").add("refund", refund, method)
            for chargeback in chargebacks:
                method = self.payments[chargeback["paymentId"]]["method"]
                month_of(chargeback, "createdAt").add("chargeback", chargeback, method)
            periods: dict[str, dict[str, Any]] = {}
            total = Decimal(0)
            for (year, month), found in sorted(months.items()):
                period, net = found.period(costs)
                if status == "paidout":
                    made_up = f"inv_{self.profile_id[4:9]}{year}{month:02d}"
                    period["invoiceId"] = invoice_id or made_up
                periods.setdefault(str(year), {})[str(month)] = period
                total += net
            dates = [datetime.fromisoformat(p["paidAt"]) for p in payments] + [
                datetime.fromisoformat(i["createdAt"]) for i in (*refunds, *chargebacks)
            ]
            created = created_at or (min(dates) if dates else settled_at) or datetime.now(UTC)
            base = f"https://api.mollie.com/v2/settlements/{settlement_id}"
            settlement: dict[str, Any] = {
                "resource": "settlement", "id": settlement_id, "reference": reference,
                "createdAt": _stamp(created),
                "settledAt": _stamp(settled_at) if settled_at is not None else None,
                "amount": _amount(total), "status": status, "balanceId": self.balance_id,
                "periods": periods,
                "_links": {
                    "self": _link(base),
                    **{part: _link(f"{base}/{part}") for part in PARTS},
                    "documentation": _link(
                        f"{DOCS}/settlements-api/get-settlement", "text/html"),
                },
            }  # fmt: skip
            invoices = {
                p["invoiceId"] for m in periods.values() for p in m.values() if "invoiceId" in p
            }
            if len(invoices) == 1:
                (invoice,) = invoices
                settlement["invoiceId"] = invoice
                settlement["_links"]["invoice"] = _link(
                    f"https://api.mollie.com/v2/invoices/{invoice}"
                )
            self.settlements[settlement_id] = settlement
            self.settled[settlement_id] = {
                "payments": list(payment_ids),
                "refunds": list(refund_ids),
                "chargebacks": list(chargeback_ids),
                "captures": [],
            }
            for item in (*payments, *refunds, *chargebacks):
                item["settlementId"] = settlement_id
                item["_links"]["settlement"] = _link(base)
            return settlement

    # --- HTTP ---------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        with self._lock:
            self.requests.append((req.method, req.path, dict(req.query)))
        if self.delay:
            time.sleep(self.delay)
        if self.override is not None:
            answer = self.override(req)
            if answer is not None:
                return answer
        down = next(
            (status for prefix, status in self.failing.items() if req.path.startswith(prefix)),
            self.down_status,
        )
        if down is not None:
            return Response(down, raw=b"<html>Service Unavailable</html>", content_type="text/html")
        if req.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(
                401, "Unauthorized Request", "Missing authentication, or failed to authenticate"
            )
        if req.method != "GET":
            return _error(405, "Method Not Allowed", f"The method {req.method} is not allowed")
        parts = [unquote(p) for p in req.path.strip("/").split("/")]
        with self._lock:
            if parts == ["v2", "settlements"]:
                ordered = sorted(
                    self.settlements.values(),
                    key=lambda s: (s["createdAt"], list(self.settlements).index(s["id"])),
                    reverse=True,
                )
                return self._page(req, "settlements", ordered)
            if len(parts) >= 3 and parts[:2] == ["v2", "settlements"]:
                settlement = self.settlements.get(parts[2])
                if settlement is None:
                    return _error(404, "Not Found", f"No settlement exists with token {parts[2]}.")
                if len(parts) == 3:
                    return Response(200, settlement, content_type=HAL)
                if len(parts) == 4 and parts[3] in PARTS:
                    store = getattr(self, parts[3])
                    items = [store[i] for i in self.settled[parts[2]][parts[3]]]
                    items.sort(key=lambda item: item["createdAt"], reverse=True)
                    return self._page(req, parts[3], items)
        return _error(404, "Not Found", "The resource does not exist")

    def _page(self, req: Request, name: str, items: list[dict[str, Any]]) -> Response:
        """One page of a list, newest first: from the item `from` names, `limit` of them."""
        try:
            limit = int(req.query.get("limit", DEFAULT_LIMIT))
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            return _error(
                400, "Bad Request", f"The limit must be between 1 and {MAX_LIMIT}", "limit"
            )
        start = 0
        if "from" in req.query:
            ids = [item["id"] for item in items]
            if req.query["from"] not in ids:
                return _error(400, "Bad Request", "The 'from' id is not in this list", "from")
            start = ids.index(req.query["from"])
        page = items[start : start + limit]
        split = urlsplit(req.url)
        here = f"{split.scheme}://{split.netloc}{req.path}"

        def at(index: int) -> dict[str, str]:
            return _link(f"{here}?{urlencode({'from': items[index]['id'], 'limit': limit})}")

        query = urlencode(req.query_pairs)
        links = {
            "self": _link(f"{here}?{query}" if query else here),
            "previous": at(max(0, start - limit)) if start > 0 else None,
            "next": at(start + limit) if start + limit < len(items) else None,
            "documentation": _link(f"{DOCS}/settlements-api/list-settlement-{name}", "text/html"),
        }
        body = {"count": len(page), "_embedded": {name: page}, "_links": links}
        return Response(200, body, content_type=HAL)


@dataclass
class _Month:
    """What one settlement holds of one month, per line of its period."""

    lines: dict[tuple[str, str], list[Decimal]] = field(default_factory=dict)

    def add(self, kind: str, item: Mapping[str, Any], of_method: str = "") -> None:
        """`kind`: a payment method, or "refund"/"chargeback" of a payment by `of_method`."""
        self.lines.setdefault((kind, of_method), []).append(Decimal(item["amount"]["value"]))

    def period(self, costs: Mapping[str, tuple[str, str | None]]) -> tuple[dict[str, Any], Decimal]:
        revenue: list[dict[str, Any]] = []
        charged: list[dict[str, Any]] = []
        net_total = Decimal(0)
        costs_gross = Decimal(0)
        for (kind, of_method), amounts in self.lines.items():
            name = METHOD_NAMES.get(of_method or kind, of_method or kind)
            label = f"{kind.capitalize()}s {name}" if of_method else name
            gross = sum(amounts, Decimal(0))
            signed = gross if not of_method else -gross
            net_total += signed
            revenue.append({
                "description": label, "method": kind, "count": len(amounts),
                "amountNet": _amount(signed, PRECISE), "amountVat": None,
                "amountGross": _amount(gross, PRECISE),
            })  # fmt: skip
            if kind not in costs:
                continue
            fixed, percentage = costs[kind]
            cost_net = Decimal(fixed) * len(amounts)
            if percentage is not None:
                cost_net += gross * Decimal(percentage) / 100
            cost_net = cost_net.quantize(PRECISE, ROUND_HALF_UP)
            vat = (cost_net * VAT).quantize(PRECISE, ROUND_HALF_UP)
            costs_gross += cost_net + vat
            charged.append({
                "description": label, "method": kind, "count": len(amounts),
                "rate": {"fixed": _amount(Decimal(fixed), PRECISE), "percentage": percentage},
                "amountNet": _amount(cost_net, PRECISE), "amountVat": _amount(vat, PRECISE),
                "amountGross": _amount(cost_net + vat, PRECISE),
            })  # fmt: skip
        deducted = costs_gross.quantize(CENT, ROUND_HALF_UP)  # each month's costs, rounded once
        return {"revenue": revenue, "costs": charged}, net_total - deducted


MERCHANT = "1234567"  # the demo organization's number at Mollie, in its settlement references


def seed_mollie(
    sandbox: MollieSandbox, woo_orders: Iterable[Mapping[str, Any]], start: datetime
) -> list[str]:
    """Mollie's side of the WooCommerce demo orders (`seed.demo_orders(start)`): a payment
    for each order paid through a Mollie gateway (its `transaction_id`, `metadata.order_id`
    the order's id), then two settlements paid out over the completed orders' payments, the
    earlier half and the rest, each two hours after its last payment, with iDEAL costs; a
    payment of an order not completed yet stays in the open settlement. Returns the ids of
    the settlements paid out, oldest first."""
    paid: list[tuple[datetime, str, str]] = []
    for order in woo_orders:
        method = str(order.get("payment_method") or "")
        transaction = str(order.get("transaction_id") or "")
        if not method.startswith("mollie_wc_gateway_") or not transaction:
            continue
        if not order.get("date_paid_gmt"):
            continue
        paid_at = datetime.fromisoformat(order["date_paid_gmt"]).replace(tzinfo=UTC)
        sandbox.add_payment(
            transaction, order["total"], int(order["id"]), paid_at,
            method=method.removeprefix("mollie_wc_gateway_"), order_number=str(order["number"]),
        )  # fmt: skip
        paid.append((paid_at, transaction, str(order.get("status"))))
    paid.sort()
    done = [(at, payment) for at, payment, status in paid if status in ("completed", "refunded")]
    waiting = [payment for _at, payment, status in paid if status not in ("completed", "refunded")]
    half = (len(done) + 1) // 2
    batches = [batch for batch in (done[:half], done[half:]) if batch]
    ids: list[str] = []
    for number, batch in enumerate(batches, start=1):
        settled_at = batch[-1][0] + timedelta(hours=2)
        settlement_id = f"stl_demo{start:%y%m%d}{number:02d}"
        reference = f"{MERCHANT}.{settled_at:%y%m}.{number:02d}"
        sandbox.settle(
            settlement_id, reference, [payment for _at, payment in batch], settled_at=settled_at
        )
        ids.append(settlement_id)
    if waiting:
        sandbox.settle(f"stl_demo{start:%y%m%d}op", f"{MERCHANT}.{start:%y%m}.99", waiting,
                       settled_at=None, status="open")  # fmt: skip
    return ids
