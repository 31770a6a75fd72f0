"""A stateful Shopify Admin GraphQL emulator that executes queries against the real schema.

Every query is validated and executed with graphql-core against Shopify's Admin schema
(2026-10 introspection, or the part of it the connector uses: shopify_schema.py), so a field
the connector asks for that Shopify does not have fails here too. Orders page by cursor and
filter on `updated_at:>'...'`; each answer carries cost extensions from a leaky bucket, and
an over-budget query gets THROTTLED like on Shopify.
Tokens: a static access token, or ones issued by the client-credentials endpoint.
"""

from __future__ import annotations

import base64
import json
import operator
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import formatdate
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableNode,
    Visitor,
    build_client_schema,
    execute_sync,
    get_named_type,
    parse,
    validate,
    visit,
)
from graphql.error import GraphQLError

from connector.money import cents
from connector.sandbox.http import LocalServer, Request, Response, Served, echo_page
from connector.sandbox.shopify_schema import SHIPPED, read_introspection

# The part of Shopify's Admin schema the connector uses, shipped with the package; the tests
# run the sandbox on the full schema from the shared contracts.
SCHEMA_PATH = SHIPPED
SINGLE_QUERY_LIMIT = 1000


def load_schema(path: Path = SCHEMA_PATH) -> GraphQLSchema:
    schema = build_client_schema(read_introspection(path)["data"])
    # graphql-core's own schema checks reject some deprecation details in Shopify's published
    # schema; the schema is Shopify's as it is, so mark it checked.
    schema._validation_errors = []
    return schema


@dataclass
class ShopifySandbox(Served):
    access_token: str = "shpat_sandbox_token"
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    scopes: tuple[str, ...] = ("read_orders", "read_all_orders")
    bucket_size: float = 1000.0
    restore_rate: float = 100.0  # points per second
    port: int = 0
    host: str = "127.0.0.1"
    schema_path: Path = SCHEMA_PATH
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # gid -> order
    clock_offset: timedelta = timedelta(0)
    throttle_next: int = 0  # answer THROTTLED to this many queries (an empty bucket)
    throttle_deficit_seconds: float = 2.0  # how long a forced THROTTLED has to wait
    queries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    issued_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry epoch
    token_lifetime: int = 86399
    # Test hook: every GraphQL query answered with an error quoting the request, token and all.
    echo_errors: bool = False
    echo_lead: str = ""
    # Test hook, called before each page of orders is answered: the list may change between
    # two pages as it does in a busy shop.
    before_orders: Callable[[], None] | None = None
    # Bulk operations: how many status reads say RUNNING before COMPLETED; a user error code
    # to refuse the next ones with (e.g. OPERATION_IN_PROGRESS); an errorCode to fail them
    # with (e.g. TIMEOUT). Their results are served at /bulk/<n>.jsonl.
    bulk_polls: int = 1
    bulk_refuse: str = ""
    bulk_fail: str = ""
    bulk_operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_downloads: int = 0
    # Shopify Payments: the account exists once `shopify_payments` is set. An order's payment
    # through it (payments_charge), a refund (payments_refund) or an adjustment waits on the
    # balance until `pay_out` pays out what is there; the fee on a payment is rate x amount +
    # fixed, and tax on that fee at payments_fee_tax_rate, taken together.
    shopify_payments: bool = False
    payments_fee_rate: Decimal = Decimal("0.019")
    payments_fee_fixed: Decimal = Decimal("0.25")
    payments_fee_tax_rate: Decimal = Decimal("0")
    payouts: list[dict[str, Any]] = field(default_factory=list)
    balance_transactions: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.schema = load_schema(self.schema_path)
        self._lock = threading.RLock()
        self._in_bulk = False  # a bulk query reads every connection whole
        self._available = self.bucket_size
        self._refilled = time.monotonic()
        self.server = LocalServer(self.handle, port=self.port, host=self.host)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def put_order(self, order: dict[str, Any], updated: datetime | None = None) -> None:
        with self._lock:
            moment = (updated or self.now()).astimezone(UTC).replace(microsecond=0)
            order["updatedAt"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            # The customer paid in the shop's currency unless the order says otherwise.
            order.setdefault("presentmentCurrencyCode", order["currencyCode"])
            _add_presentment(order)
            self.orders[order["id"]] = order

    def refund(
        self,
        gid: str,
        *,
        items: Sequence[tuple[str, int, str, str]] = (),
        shipping: Sequence[tuple[int, str, str]] = (),
        amount: str | None = None,
        note: str = "",
        payouts: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Refund as the admin does: `items` are (line item gid, quantity, subtotal, tax) and
        `shipping` (index of the shipping line, subtotal, tax), amounts as the order's prices
        are (incl. VAT when taxes are included); `amount` defaults to what they add up to.
        Amounts are in the customer's currency; shop money follows at the order's own ratio.
        `payouts` (gateway, amount): how the money went back; by default all of it through the
        order's last payment gateway that is not a gift card."""
        with self._lock:
            order = self.orders[gid]
            incl = bool(order["taxesIncluded"])
            refunds = order.setdefault("refunds", [])
            number = len(refunds) + 1
            gross = Decimal(0)
            line_nodes = []
            for line_gid, qty, subtotal, tax in items:
                title = next(li["title"] for li in order["lineItems"] if li["id"] == line_gid)
                gross += Decimal(subtotal) + (Decimal(0) if incl else Decimal(tax))
                line_nodes.append({
                    "quantity": qty, "lineItem": {"id": line_gid, "title": title},
                    "subtotalSet": _converted(subtotal, order),
                    "totalTaxSet": _converted(tax, order),
                })  # fmt: skip
            ship_nodes = []
            for index, subtotal, tax in shipping:
                ship_gid = order["shippingLines"][index].setdefault(
                    "id", f"gid://shopify/ShippingLine/{gid.rsplit('/', 1)[1]}{index}"
                )
                gross += Decimal(subtotal) + (Decimal(0) if incl else Decimal(tax))
                ship_nodes.append({
                    "shippingLine": {"id": ship_gid},
                    "subtotalAmountSet": _converted(subtotal, order),
                    "taxAmountSet": _converted(tax, order),
                })  # fmt: skip
            refund_number = f"{gid.rsplit('/', 1)[1]}{number:02d}"
            total = amount or f"{gross:.2f}"
            if payouts is None:
                gateways = [t["gateway"] for t in order.get("transactions") or []
                            if t["gateway"] != "gift_card"] or ["manual"]  # fmt: skip
                payouts = [(gateways[-1], total)]
            transactions = [
                {"id": f"gid://shopify/OrderTransaction/{refund_number}{n}", "kind": "REFUND",
                 "status": "SUCCESS", "gateway": gateway, "amountSet": _converted(paid, order)}
                for n, (gateway, paid) in enumerate(payouts, start=1)
            ]  # fmt: skip
            refund = {
                "id": f"gid://shopify/Refund/{refund_number}",
                "transactions": {"nodes": transactions},
                "createdAt": self.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "note": note,
                "totalRefundedSet": _converted(total, order),
                "refundLineItems": {"nodes": line_nodes, "pageInfo": {"hasNextPage": False}},
                "refundShippingLines": {"nodes": ship_nodes, "pageInfo": {"hasNextPage": False}},
            }  # fmt: skip
            refunds.append(refund)
            paid = Decimal(order["totalPriceSet"]["shopMoney"]["amount"])
            refunded = sum(
                (Decimal(r["totalRefundedSet"]["shopMoney"]["amount"]) for r in refunds),
                Decimal(0),
            )
            order["displayFinancialStatus"] = (
                "REFUNDED" if refunded >= paid else "PARTIALLY_REFUNDED"
            )
            self.put_order(order)
            return refund

    # --- HTTP ------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        with self._lock:
            response = self._handle(req)
        response.headers["Date"] = formatdate(self.now().timestamp(), usegmt=True)
        return response

    def _handle(self, req: Request) -> Response:
        if req.path == "/admin/oauth/access_token" and req.method == "POST":
            return self._token(req.json() or {})
        result = re.fullmatch(r"/bulk/([0-9]+)\.jsonl", req.path)
        if result and req.method == "GET":  # a signed storage URL: no token asked
            operation = self.bulk_operations.get(f"gid://shopify/BulkOperation/{result[1]}")
            if operation is None or operation["status"] != "COMPLETED":
                return Response(404, {"errors": "Not Found"})
            self.bulk_downloads += 1
            return Response(200, raw=operation["jsonl"].encode(), content_type="application/jsonl")
        found = re.fullmatch(r"/admin/api/([0-9]{4}-[0-9]{2}|unstable)/graphql\.json", req.path)
        if not found or req.method != "POST":
            return Response(404, {"errors": "Not Found"})
        token = req.headers.get("x-shopify-access-token", "")
        if self.echo_errors:
            # A GraphQL error whose message quotes the request, token header and all.
            return Response(200, {"errors": [{"message": echo_page(req, self.echo_lead)}]})
        valid = token == self.access_token or self.issued_tokens.get(token, 0) > time.time()
        if not valid:
            message = "[API] Invalid API key or access token (unrecognized login or wrong password)"
            return Response(401, {"errors": message})
        body = req.json() or {}
        return Response(200, self._graphql(str(body.get("query", "")), body.get("variables") or {}))

    def _token(self, body: dict[str, Any]) -> Response:
        if body.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type"})
        if (
            body.get("client_id") != self.client_id
            or body.get("client_secret") != self.client_secret
        ):
            return Response(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        token = "shpat_issued_" + uuid.uuid4().hex[:16]
        self.issued_tokens[token] = time.time() + self.token_lifetime
        return Response(
            200,
            {
                "access_token": token,
                "scope": ",".join(self.scopes),
                "expires_in": self.token_lifetime,
            },
        )

    # --- GraphQL ---------------------------------------------------------------------------

    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.queries.append((query, variables))
        try:
            document = parse(query)
        except GraphQLError as exc:
            return {"errors": [{"message": exc.message}]}
        errors = validate(self.schema, document)
        if errors:
            return {"errors": [{"message": e.message} for e in errors]}
        cost = requested_cost(self.schema, document, variables)
        self._refill()
        if cost > SINGLE_QUERY_LIMIT:
            return {
                "errors": [
                    {
                        "message": f"Query cost is {cost}, which exceeds the single "
                        f"query max cost limit ({SINGLE_QUERY_LIMIT}).",
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": cost,
                            "maxCost": SINGLE_QUERY_LIMIT,
                        },
                    }
                ]
            }
        if self.throttle_next > 0 or cost > self._available:
            if self.throttle_next > 0:
                self.throttle_next -= 1
                deficit = self.throttle_deficit_seconds * self.restore_rate
                self._available = min(self._available, max(0.0, cost - deficit))
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/limits",
                        },
                    }
                ],
                "extensions": {"cost": self._cost(cost, None)},
            }
        self._available -= cost
        result = execute_sync(
            self.schema, document, root_value=self._root(), variable_values=variables
        )
        # As Shopify: the requested cost is taken up front, what the answer did not use is
        # given back (a page of 4 orders with 2 lines each costs far less than 4 x 30 lines).
        actual = requested_cost(self.schema, document, variables, result.data or {})
        actual = min(actual, cost)
        self._available = min(self.bucket_size, self._available + cost - actual)
        answer: dict[str, Any] = {
            "data": result.data,
            "extensions": {"cost": self._cost(cost, actual)},
        }
        if result.errors:
            answer["errors"] = [{"message": e.message} for e in result.errors]
        return answer

    def _refill(self) -> None:
        now = time.monotonic()
        elapsed, self._refilled = now - self._refilled, now
        self._available = min(self.bucket_size, self._available + elapsed * self.restore_rate)

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.bucket_size,
                "currentlyAvailable": int(self._available),
                "restoreRate": self.restore_rate,
            },
        }

    def _root(self) -> dict[str, Any]:
        return {
            "orders": self._orders,
            "ordersCount": self._orders_count,
            "order": lambda _info, id: self._wrap(self.orders.get(id)),
            "currentAppInstallation": {"accessScopes": [{"handle": s} for s in self.scopes]},
            "bulkOperationRunQuery": self._bulk_run,
            "bulkOperation": lambda _info, id: self._bulk_status(id),
            "bulkOperationCancel": self._bulk_cancel,
            "shopifyPaymentsAccount": lambda _info: self._payments_account(),
        }

    # --- Shopify Payments ------------------------------------------------------------------

    def payments_charge(self, gid: str) -> list[dict[str, Any]]:
        """The order's successful Shopify Payments payments onto the balance, each less its
        fee; the fee also stated on the order's transaction (`fees`), as Shopify does."""
        with self._lock:
            order = self.orders[gid]
            made = []
            for transaction in order.get("transactions") or []:
                transaction.setdefault("fees", [])  # Shopify states none for other gateways
                if (
                    transaction.get("gateway") != PAYMENTS_GATEWAY
                    or transaction.get("kind") not in ("SALE", "CAPTURE")
                    or transaction.get("status") != "SUCCESS"
                ):
                    continue
                amount = Decimal(transaction["amountSet"]["shopMoney"]["amount"])
                fee = cents(amount * self.payments_fee_rate + self.payments_fee_fixed)
                tax = cents(fee * self.payments_fee_tax_rate)
                number = transaction["id"].rsplit("/", 1)[1]
                transaction["fees"] = [{
                    "id": f"gid://shopify/TransactionFee/{number}", "type": "payment_processing",
                    "amount": _payments_money(fee), "taxAmount": _payments_money(tax),
                    "flatFee": _payments_money(self.payments_fee_fixed), "flatFeeName": None,
                    "rate": str(self.payments_fee_rate), "rateName": None,
                }]  # fmt: skip
                when = transaction.get("processedAt") or order["processedAt"]
                made.append(
                    self._balance_transaction(
                        "CHARGE", amount, fee + tax, when, source=("CHARGE", number),
                        order=order, order_transaction=number,
                    )
                )  # fmt: skip
            return made

    def payments_refund(self, gid: str, refund: dict[str, Any]) -> list[dict[str, Any]]:
        """A refund's money given back through Shopify Payments, off the balance (no fee)."""
        with self._lock:
            order = self.orders[gid]
            refund_number = refund["id"].rsplit("/", 1)[1]
            made = []
            for transaction in refund["transactions"]["nodes"]:
                if transaction.get("gateway") != PAYMENTS_GATEWAY:
                    continue
                amount = Decimal(transaction["amountSet"]["shopMoney"]["amount"])
                made.append(
                    self._balance_transaction(
                        "REFUND", -amount, Decimal(0), refund["createdAt"],
                        source=("REFUND", refund_number), order=order,
                        order_transaction=transaction["id"].rsplit("/", 1)[1],
                    )
                )  # fmt: skip
            return made

    def payments_adjustment(
        self,
        amount: str,
        reason: str,
        *,
        kind: str = "ADJUSTMENT",
        source_type: str = "ADJUSTMENT",
        fee: str = "0",
        order_gid: str | None = None,
        when: datetime | None = None,
        test: bool = False,
    ) -> dict[str, Any]:
        """Any other movement on the balance: an adjustment, a dispute (source_type DISPUTE),
        a reserve; `amount` signed as it moves the balance."""
        with self._lock:
            moment = (when or self.now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            order = self.orders[order_gid] if order_gid else None
            return self._balance_transaction(
                kind, Decimal(amount), Decimal(fee), moment, source=(source_type, None),
                order=order, reason=reason, test=test,
            )  # fmt: skip

    def pay_out(
        self, issued: datetime | None = None, status: str = "PAID", trace_id: str | None = None
    ) -> dict[str, Any]:
        """Pay out what is on the balance at `issued` (now): a payout of its net, and the
        transfer that takes it off the balance."""
        with self._lock:
            moment = (issued or self.now()).astimezone(UTC).replace(microsecond=0)
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            pending = [
                row
                for row in self.balance_transactions
                if row["associatedPayout"]["id"] is None
                and _moment(row["transactionDate"]) <= moment
            ]
            if not pending:
                raise ValueError("nothing on the Shopify Payments balance to pay out")
            number = 80_000_001 + len(self.payouts)
            gid = f"gid://shopify/ShopifyPaymentsPayout/{number}"
            net = sum((Decimal(row["net"]["amount"]) for row in pending), Decimal(0))
            transfer = self._balance_transaction(
                "TRANSFER", -net, Decimal(0), stamp, source=("TRANSFER", str(number))
            )
            for row in [*pending, transfer]:
                row["associatedPayout"] = {"id": gid, "status": status}
            payout = {
                "id": gid, "legacyResourceId": str(number), "issuedAt": stamp, "status": status,
                "transactionType": "DEPOSIT", "externalTraceId": trace_id,
                "net": _payments_money(net), "summary": _payout_summary(pending),
            }  # fmt: skip
            self.payouts.append(payout)
            return payout

    def _balance_transaction(
        self,
        kind: str,
        amount: Decimal,
        fee: Decimal,
        when: str,
        *,
        source: tuple[str, str | None],
        order: dict[str, Any] | None = None,
        order_transaction: str | None = None,
        reason: str | None = None,
        test: bool | None = None,
    ) -> dict[str, Any]:
        number = 70_000_001 + len(self.balance_transactions)
        row = {
            "id": f"gid://shopify/ShopifyPaymentsBalanceTransaction/{number}", "type": kind,
            "test": bool(order.get("test")) if test is None and order else bool(test),
            "transactionDate": when, "amount": _payments_money(amount),
            "fee": _payments_money(fee), "net": _payments_money(amount - fee),
            "sourceType": source[0], "sourceId": source[1],
            "sourceOrderTransactionId": order_transaction, "adjustmentReason": reason,
            "adjustmentsOrders": [],
            "associatedOrder": {"id": order["id"], "name": order["name"]} if order else None,
            "associatedPayout": {"id": None, "status": "PENDING"},
        }  # fmt: skip
        self.balance_transactions.append(row)
        return row

    def _payments_account(self) -> dict[str, Any] | None:
        if not self.shopify_payments:
            return None  # as for a shop without Shopify Payments
        return {
            "id": "gid://shopify/ShopifyPaymentsAccount/1", "activated": True,
            "country": "NL", "defaultCurrency": "EUR",
            "payouts": self._payouts_page, "balanceTransactions": self._balance_page,
        }  # fmt: skip

    def _require_payouts_scope(self, name: str) -> None:
        if PAYOUTS_SCOPE not in self.scopes:
            raise GraphQLError(
                f"Access denied for {name} field. Required access: `{PAYOUTS_SCOPE}` access scope."
            )

    def _payouts_page(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        query: str | None = None,
        sortKey: str | None = None,
        reverse: bool = False,
        **_rest: Any,
    ) -> dict[str, Any]:
        """`issued_at:` (>, >=, <, <=) and `status:` terms; sorted by issue time, or by id."""
        self._require_payouts_scope("payouts")
        rows = list(self.payouts)
        compare = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
        for op, stamp in re.findall(r"issued_at:([<>]=?)'?([0-9T:\-Z+.]+)'?", query or ""):
            limit = _moment(stamp)
            rows = [p for p in rows if compare[op](_moment(p["issuedAt"]), limit)]
        statuses = {s.upper() for s in re.findall(r"status:(\w+)", query or "")}
        if statuses:
            rows = [p for p in rows if p["status"] in statuses]
        if sortKey in (None, "ISSUED_AT"):
            return _keyed_page(rows, lambda p: [p["issuedAt"], p["id"]], first, after, reverse)
        return _keyed_page(rows, lambda p: [p["id"]], first, after, reverse)

    def _balance_page(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        query: str | None = None,
        sortKey: str | None = None,
        reverse: bool = False,
        hideTransfers: bool = False,
        **_rest: Any,
    ) -> dict[str, Any]:
        """`payments_transfer_id:<payout>` terms; sorted by the time they were processed."""
        self._require_payouts_scope("balanceTransactions")
        rows = list(self.balance_transactions)
        for number in re.findall(r"payments_transfer_id:'?([0-9]+)'?", query or ""):
            gid = f"gid://shopify/ShopifyPaymentsPayout/{number}"
            rows = [row for row in rows if row["associatedPayout"]["id"] == gid]
        if hideTransfers:
            rows = [row for row in rows if row["type"] != "TRANSFER"]
        return _keyed_page(rows, lambda r: [r["transactionDate"], r["id"]], first, after, reverse)

    # --- bulk operations -------------------------------------------------------------------

    def _bulk_run(self, _info: Any, query: str, groupObjects: bool = False) -> dict[str, Any]:
        """Validate the query as Shopify does, run it whole, and keep its JSONL."""
        if self.bulk_refuse:
            return {"bulkOperation": None, "userErrors": [
                {"field": ["query"], "message": "A bulk query operation for this app and shop "
                 "is already in progress.", "code": self.bulk_refuse}]}  # fmt: skip
        try:
            document = parse(query)
        except GraphQLError as exc:
            return _bulk_error(f"Invalid bulk query: {exc.message}")
        problems = [e.message for e in validate(self.schema, document)]
        problems += bulk_query_problems(self.schema, document)
        if problems:
            return _bulk_error("Invalid bulk query: " + "; ".join(problems))
        self._in_bulk = True
        try:
            result = execute_sync(self.schema, document, root_value=self._root())
        finally:
            self._in_bulk = False
        roots, rows = _bulk_rows(result.data or {}, groupObjects)
        number = str(len(self.bulk_operations) + 1)
        gid = f"gid://shopify/BulkOperation/{number}"
        self.bulk_operations[gid] = {
            "id": gid, "query": query, "status": "CREATED", "polls": self.bulk_polls,
            "jsonl": "".join(json.dumps(row) + "\n" for row in rows),
            "objectCount": str(len(rows)), "rootObjectCount": str(roots),
            "url": f"{self.url}/bulk/{number}.jsonl" if rows else None,
        }  # fmt: skip
        return {"bulkOperation": self._bulk_status(gid, read=False), "userErrors": []}

    def _bulk_status(self, gid: str, read: bool = True) -> dict[str, Any] | None:
        operation = self.bulk_operations.get(gid)
        if operation is None:
            return None
        if read and operation["status"] in ("CREATED", "RUNNING"):
            if operation["polls"] > 0:
                operation["polls"] -= 1
                operation["status"] = "RUNNING"
            else:
                operation["status"] = "FAILED" if self.bulk_fail else "COMPLETED"
        done = operation["status"] == "COMPLETED"
        return {
            "id": gid, "status": operation["status"], "query": operation["query"],
            "errorCode": self.bulk_fail if operation["status"] == "FAILED" else None,
            "objectCount": operation["objectCount"] if done else "0",
            "rootObjectCount": operation["rootObjectCount"] if done else "0",
            "url": operation["url"] if done else None, "partialDataUrl": None,
        }  # fmt: skip

    def _bulk_cancel(self, _info: Any, id: str) -> dict[str, Any]:
        operation = self.bulk_operations.get(id)
        if operation is not None and operation["status"] in ("CREATED", "RUNNING"):
            operation["status"] = "CANCELED"
        return {"bulkOperation": self._bulk_status(id, read=False), "userErrors": []}

    def _orders(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        query: str | None = None,
        sortKey: str | None = None,
        reverse: bool = False,
        **_rest: Any,
    ) -> dict[str, Any]:
        if self.before_orders is not None:
            self.before_orders()
        rows = list(self.orders.values())
        if query:
            found = re.search(r"updated_at:(>=?)'?([0-9T:\-Z+.]+)'?", query)
            if found:
                limit = datetime.fromisoformat(found.group(2).replace("Z", "+00:00"))
                strict = found.group(1) == ">"
                rows = [
                    o
                    for o in rows
                    if (moment := datetime.fromisoformat(o["updatedAt"].replace("Z", "+00:00")))
                    > limit
                    or (not strict and moment == limit)
                ]
        rows = _created_in(rows, query)
        if "test:false" in (query or ""):
            rows = [o for o in rows if not o.get("test")]
        key = {"UPDATED_AT": "updatedAt", "CREATED_AT": "createdAt"}.get(sortKey or "", "id")
        rows.sort(key=lambda o: (o[key], o["id"]), reverse=reverse)
        # Shopify's cursor is a key (the last order's sort value and id), not a position: the
        # next page starts after that key, wherever the list has moved meanwhile.
        if after:
            last = tuple(json.loads(base64.b64decode(after)))
            placed = [((o[key], o["id"]), o) for o in rows]
            rows = [o for k, o in placed if (k < last if reverse else k > last)]
        page = rows if self._in_bulk else rows[: first or 50]
        cursor = (
            base64.b64encode(json.dumps([page[-1][key], page[-1]["id"]]).encode()).decode()
            if page
            else None
        )
        return {
            "nodes": [self._wrap(r) for r in page],
            "edges": [{"node": self._wrap(r)} for r in page],
            "pageInfo": {
                "hasNextPage": len(rows) > len(page),
                "endCursor": cursor,
                "hasPreviousPage": bool(after),
                "startCursor": None,
            },
        }

    def _orders_count(
        self, _info: Any, query: str | None = None, limit: int | None = None, **_rest: Any
    ) -> dict[str, Any]:
        """`created_at:<'…'`, `financial_status:X` terms (any of those named) and `test:false`."""
        rows = _created_in(list(self.orders.values()), query)
        statuses = {s.upper() for s in re.findall(r"financial_status:(\w+)", query or "")}
        if statuses:
            rows = [o for o in rows if o.get("displayFinancialStatus") in statuses]
        if "test:false" in (query or ""):
            rows = [o for o in rows if not o.get("test")]
        return {"count": len(rows), "precision": "EXACT"}

    def _wrap(self, order: dict[str, Any] | None) -> dict[str, Any] | None:
        """An order as the executor sees it: its line items page like a connection."""
        if order is None:
            return None
        lines = order["lineItems"]

        def line_items(
            _info: Any, first: int | None = None, after: str | None = None, **_rest: Any
        ) -> dict[str, Any]:
            return _connection(lines, len(lines) if self._in_bulk else first, after)

        shipping = order["shippingLines"]
        customer = order.get("customer")
        return {
            **order,
            # Metafields as {"namespace.key": value}, read by `metafield(namespace, key)`.
            "metafield": _metafield(order.get("metafields") or {}),
            "customer": {**customer, "metafield": _metafield(customer.get("metafields") or {})}
            if customer
            else None,
            # B2B orders: {"__typename": "PurchasingCompany", "location": {...}}.
            "purchasingEntity": order.get("purchasingEntity"),
            "refunds": order.get("refunds") or [],
            "lineItems": line_items,
            "shippingLines": lambda _i, first=None, after=None, **_r: _connection(
                shipping, len(shipping) if self._in_bulk else first, after
            ),
        }


PAYMENTS_GATEWAY = "shopify_payments"  # an order transaction's gateway through Shopify Payments
PAYOUTS_SCOPE = "read_shopify_payments_payouts"


def _payments_money(amount: Decimal) -> dict[str, str]:
    return {"amount": f"{cents(amount):.2f}", "currencyCode": "EUR"}


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _payout_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A payout's gross and fees per kind of transaction (adjustments include disputes)."""
    names = {"CHARGE": ("chargesGross", "chargesFee"), "REFUND": ("refundsFeeGross", "refundsFee")}
    keys = ("adjustmentsFee", "adjustmentsGross", "advanceFees", "advanceGross", "chargesFee",
            "chargesGross", "refundsFee", "refundsFeeGross", "reservedFundsFee",
            "reservedFundsGross", "retriedPayoutsFee", "retriedPayoutsGross",
            "usdcRebateCreditAmount")  # fmt: skip
    totals = dict.fromkeys(keys, Decimal(0))
    for row in rows:
        gross, fee = names.get(row["type"], ("adjustmentsGross", "adjustmentsFee"))
        totals[gross] += Decimal(row["amount"]["amount"])
        totals[fee] += Decimal(row["fee"]["amount"])
    return {key: _payments_money(value) for key, value in totals.items()}


def _keyed_page(
    rows: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], list[str]],
    first: int | None,
    after: str | None,
    reverse: bool,
) -> dict[str, Any]:
    """A page after a cursor that is a key (the last row's sort values), as Shopify's are."""
    rows = sorted(rows, key=key, reverse=reverse)
    if after:
        last = json.loads(base64.b64decode(after))
        rows = [r for r in rows if (key(r) < last if reverse else key(r) > last)]
    page = rows[: first or 50]

    def cursor(row: dict[str, Any]) -> str:
        return base64.b64encode(json.dumps(key(row)).encode()).decode()

    return {
        "nodes": page,
        "edges": [{"node": row, "cursor": cursor(row)} for row in page],
        "pageInfo": {
            "hasNextPage": len(rows) > len(page),
            "endCursor": cursor(page[-1]) if page else None,
            "hasPreviousPage": bool(after),
            "startCursor": cursor(page[0]) if page else None,
        },
    }


def _metafield(values: dict[str, str]) -> Any:
    def resolve(_info: Any, key: str, namespace: str | None = None) -> dict[str, Any] | None:
        value = values.get(f"{namespace}.{key}")
        return {"value": value} if value is not None else None

    return resolve


def _converted(amount: str, order: dict[str, Any]) -> dict[str, Any]:
    """An amount in the customer's money, with its shop money at the order's own ratio."""
    total = order["totalPriceSet"]
    ratio = Decimal(total["shopMoney"]["amount"]) / Decimal(total["presentmentMoney"]["amount"])
    return {
        "shopMoney": {
            "amount": f"{cents(Decimal(amount) * ratio)}",
            "currencyCode": order["currencyCode"],
        },
        "presentmentMoney": {"amount": amount, "currencyCode": order["presentmentCurrencyCode"]},
    }


def _add_presentment(value: Any) -> None:
    """Money given in shop money only is the customer's money too (one currency)."""
    if isinstance(value, dict):
        if "shopMoney" in value:
            value.setdefault("presentmentMoney", dict(value["shopMoney"]))
        for item in value.values():
            _add_presentment(item)
    elif isinstance(value, list):
        for item in value:
            _add_presentment(item)


def _created_in(rows: list[dict[str, Any]], query: str | None) -> list[dict[str, Any]]:
    """The orders a search's `created_at:<'…'` (or >, >=, <=) terms let through."""
    compare = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
    for op, stamp in re.findall(r"created_at:([<>]=?)'?([0-9T:\-Z+.]+)'?", query or ""):
        limit = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        rows = [o for o in rows if compare[op](_created(o), limit)]
    return rows


def _created(order: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(order["createdAt"].replace("Z", "+00:00"))


def _connection(
    rows: list[Any], first: int | None, after: str | None, wrap: Any = None
) -> dict[str, Any]:
    start = int(base64.b64decode(after).decode()) + 1 if after else 0
    end = start + (first or 50)
    page = rows[start:end]
    cursor = base64.b64encode(str(start + len(page) - 1).encode()).decode() if page else None
    return {
        "nodes": [wrap(r) for r in page] if wrap else page,
        "edges": [{"node": wrap(r) if wrap else r} for r in page],
        "pageInfo": {
            "hasNextPage": end < len(rows),
            "endCursor": cursor,
            "hasPreviousPage": start > 0,
            "startCursor": None,
        },
    }


def bulk_query_problems(schema: GraphQLSchema, document: Any) -> list[str]:
    """Shopify's documented limits on a bulk query: at least one connection, at most five,
    nested at most two deep, no top-level `node` or `nodes`."""
    problems: list[str] = []
    info = TypeInfo(schema)
    depth = {"now": 0, "most": 0, "count": 0}

    class Connections(Visitor):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            field = info.get_field_def()
            if info.get_parent_type() is schema.query_type and node.name.value in ("node", "nodes"):
                problems.append(f"the top-level {node.name.value} field can't be used")
            if field is not None and get_named_type(field.type).name.endswith("Connection"):
                depth["count"] += 1
                depth["now"] += 1
                depth["most"] = max(depth["most"], depth["now"])

        def leave_field(self, node: FieldNode, *_args: Any) -> None:
            field = info.get_field_def()
            if field is not None and get_named_type(field.type).name.endswith("Connection"):
                depth["now"] -= 1

    visit(document, TypeInfoVisitor(info, Connections()))
    if depth["count"] == 0:
        problems.append("Bulk queries must contain at least 1 connection.")
    if depth["count"] > 5:
        problems.append("Bulk queries cannot contain more than 5 connections.")
    if depth["most"] > 2:
        problems.append("Bulk queries cannot contain connections with a nesting depth over 2.")
    return problems


def _bulk_error(message: str) -> dict[str, Any]:
    error = {"field": ["query"], "message": message, "code": "INVALID"}
    return {"bulkOperation": None, "userErrors": [error]}


def _bulk_rows(data: dict[str, Any], grouped: bool) -> tuple[int, list[dict[str, Any]]]:
    """The JSONL lines of a bulk answer: each node of a connection its own line without its
    nested connections, whose nodes follow with `__parentId`; grouped, each below its parent,
    otherwise after all the parents (Shopify promises no order then)."""

    def split(node: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        row: dict[str, Any] = {}
        below: list[dict[str, Any]] = []
        for key, value in node.items():
            if isinstance(value, dict) and ("edges" in value or "nodes" in value):
                children = [e["node"] for e in value.get("edges") or []]
                for child in children + list(value.get("nodes") or []):
                    child_row, deeper = split(child)
                    below += [{**child_row, "__parentId": node["id"]}, *deeper]
            else:
                row[key] = value
        return row, below

    top = next(iter(data.values()), None) or {}
    nodes = [e["node"] for e in top.get("edges") or []] + list(top.get("nodes") or [])
    parents: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    grouped_rows: list[dict[str, Any]] = []
    for node in nodes:
        row, below = split(node)
        parents.append(row)
        children += below
        grouped_rows += [row, *below]
    return len(nodes), grouped_rows if grouped else parents + children


_REQUESTED = object()  # price by what the query asks for, not by what it returned


def requested_cost(
    schema: GraphQLSchema, document: Any, variables: dict[str, Any], data: Any = _REQUESTED
) -> int:
    """Shopify's way of pricing a query, closely enough: objects 1, scalars 0, a connection
    2 plus `first` times the cost of one node. With `data` (the answer), the actual cost: a
    connection costs its nodes as returned, and Shopify refunds the difference."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = (
                schema.query_type if definition.operation.value == "query" else schema.mutation_type
            )
            total += _selection_cost(
                definition.selection_set, root, fragments, variables, schema, data
            )
    return total


def _selection_cost(
    selection_set: SelectionSetNode | None,
    parent: Any,
    fragments: dict[str, Any],
    variables: dict[str, Any],
    schema: GraphQLSchema,
    data: Any = _REQUESTED,
) -> int:
    if selection_set is None:
        return 0
    cost = 0
    for selection in selection_set.selections:
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            cost += _selection_cost(
                fragment.selection_set,
                schema.get_type(fragment.type_condition.name.value),
                fragments,
                variables,
                schema,
                data,
            )
        elif isinstance(selection, InlineFragmentNode):
            target = (
                schema.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            cost += _selection_cost(
                selection.selection_set, target, fragments, variables, schema, data
            )
        elif isinstance(selection, FieldNode):
            if not isinstance(parent, GraphQLObjectType) and not hasattr(parent, "fields"):
                continue
            definition = parent.fields.get(selection.name.value)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            if not hasattr(named, "fields"):
                continue  # scalars and enums are free
            key = (selection.alias or selection.name).value
            value = _REQUESTED if data is _REQUESTED else (data or {}).get(key)
            if isinstance(value, list):  # a plain list is priced as one of its elements
                value = value[0] if value else None
            if named.name.endswith("Connection"):
                node_type = named.fields["nodes"].type if "nodes" in named.fields else None
                subs = selection.selection_set.selections if selection.selection_set else []
                nodes_field = next(
                    (x for x in subs if isinstance(x, FieldNode) and x.name.value == "nodes"), None
                )

                one = (nodes_field, node_type, fragments, variables, schema)
                if value is _REQUESTED:
                    first = _argument(selection, "first", variables) or 1
                    cost += 2 + int(first) * _node_cost(*one, _REQUESTED)
                else:
                    nodes = (value or {}).get("nodes") or []
                    cost += 2 + sum(_node_cost(*one, node) for node in nodes)
            elif value is None:
                cost += 1  # asked for, not there: nothing below it is charged
            else:
                cost += 1 + _selection_cost(
                    selection.selection_set, named, fragments, variables, schema, value
                )
    return cost


def _node_cost(
    nodes_field: FieldNode | None,
    node_type: Any,
    fragments: dict[str, Any],
    variables: dict[str, Any],
    schema: GraphQLSchema,
    node: Any,
) -> int:
    """What one node of a connection costs (at least 1): as asked, or as returned."""
    if nodes_field is None or node_type is None:
        return 1
    selected = nodes_field.selection_set
    return max(1, _selection_cost(selected, get_named_type(node_type), fragments, variables,
                                  schema, node))  # fmt: skip


def _argument(node: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for argument in node.arguments or []:
        if argument.name.value == name:
            value = argument.value
            if isinstance(value, VariableNode):
                return variables.get(value.name.value)
            return int(value.value) if isinstance(value, IntValueNode) else None
    return None
