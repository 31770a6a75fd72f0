"""Reading orders from Shopify through the GraphQL Admin API, with Shopify's `shopifyapp`.

Incremental by `updated_at` on Shopify's own clock (the `Date` header), with the same overlap
as WooCommerce. Throttling is cost-based: a THROTTLED answer says how many points the bucket
lacks and how fast it refills, and the connector waits exactly that long.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from shopify_app import admin_graphql_request, exchange_using_client_credentials

from connector import shutdown
from connector.errors import AuthError, OrderDataError, ShopError
from connector.money import MoneyError
from connector.order import Order
from connector.outage import FailureStreak
from connector.redact import excerpt, remember, scrub
from connector.shops import text as shop_text
from connector.shops.checks import check_order, shown
from connector.shops.shop import OrderSummary, Poll, RateInUse, RatesInUse
from connector.shops.shopify import bulk
from connector.shops.shopify.parse import (
    PAID_STATUSES,
    buyer,
    gid_number,
    order_from_shopify,
    paid_time,
    parse_time,
    rate_key,
)
from connector.shops.shopify.queries import (
    ACCESS_SCOPES,
    CHANGED_ORDERS,
    MORE_LINE_ITEMS,
    ONE_ORDER,
    ORDER_REFUNDS,
    ORDERS_COUNT,
    RECENT_RATES,
    bulk_orders,
    bulk_rates,
)

log = logging.getLogger(__name__)
MAX_THROTTLE_WAITS = 20
BULK_PAGE = 50  # orders handed on at a time from a bulk operation's file
RATE_PAGES = 10  # when the rates cannot be read in bulk: the newest orders, this many pages
RATES_BULK_WAIT = 300.0  # seconds a command waits for the rates' bulk operation
PAYOUTS_SCOPE = "read_shopify_payments_payouts"  # [payouts.shopify_payments] needs it


class ShopifyShop:
    name = "shopify"
    label = "Shopify"
    reference_template = "SH-{number}"

    @staticmethod
    def admin_order_url(base_url: str, order_id: str) -> str:
        """Where a person opens the order in the shop's admin."""
        host = urlsplit(base_url).hostname or ""
        return f"https://{host}/admin/orders/{order_id}"

    def __init__(
        self,
        url: str,
        api_version: str,
        access_token: str = "",
        client_id: str = "",
        client_secret: str = "",
        fulfillment: str = "any",
        include_test_orders: bool = False,
        vat_number_attribute: str = "vat_number",
        invoice_request_keys: tuple[str, ...] = (),
        vat_number_metafield: str = "",
        invoice_currencies: tuple[str, ...] = ("EUR",),
        timeout: float = 30.0,
        sleep: Callable[[float], None] = shutdown.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        host = urlsplit(url).hostname or ""
        on_shopify = host.endswith(".myshopify.com")
        self.shop = host.removesuffix(".myshopify.com") if on_shopify else "shop"
        self.api_version = api_version
        self.fulfillment = fulfillment
        self.include_test_orders = include_test_orders
        self.vat_number_attribute = vat_number_attribute
        self.invoice_request_keys = invoice_request_keys
        self.invoice_currencies = invoice_currencies
        namespace, _, key = vat_number_metafield.partition(".")
        self._vat_metafield = (namespace, key) if key else None
        self._vat_field: dict[str, Any] = (
            {"vatField": True, "vatNamespace": namespace, "vatKey": key} if key else {}
        )
        pair = f"{client_id}:{client_secret}" if client_id and client_secret else ""
        remember([access_token, client_id, client_secret, pair])  # an error page may echo them
        self._token = access_token
        self._token_expires: datetime | None = None
        self._client_id, self._client_secret = client_id, client_secret
        self._sleep = sleep
        # shopifyapp addresses https://<shop>.myshopify.com; any other base URL (a local
        # sandbox) is reached by re-pointing those requests.
        inner = transport or httpx.HTTPTransport()
        self._http = httpx.Client(
            timeout=timeout,
            transport=inner if on_shopify else _Rebase(url, self.shop, inner),
        )
        self.requests = 0
        self.streak = FailureStreak(self.label, url)
        self.scopes_checked = False
        self.pace = True  # wait for the bucket before a query it would not hold
        self._ready_at = 0.0
        self.points = 0.0  # the query cost Shopify reported, summed (for the figures)
        self.throttled = 0  # answers that came back THROTTLED
        self.last_date: datetime | None = None
        self.bulk = True  # history by one bulk operation, paging when Shopify cannot run it
        self.bulk_wait_limit = 3600.0  # seconds waited for it before reading by pages

    def close(self) -> None:
        self._http.close()

    # --- orders ----------------------------------------------------------------------------

    def changed_orders(self, since: datetime | None) -> Poll:
        """Orders updated after `since` (all when None), a page at a time, oldest change first.

        Shopify's cursor is a key, not a position: it names the last order read (its
        `updated_at` and id), and the next page starts after that key in the same sort. An
        order that leaves the list while it is read therefore shifts nothing, and one that
        changes moves behind the cursor with its new `updated_at`, where this read or the
        next one finds it: no order can slip between pages, whatever happens to the list."""
        query = None
        if since is not None:
            query = f"updated_at:>'{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        poll = Poll(pages=iter(()))

        def pages() -> Iterator[list[dict[str, Any]]]:
            for page in self._pages(query):
                if poll.shop_time is None:  # Shopify's clock at the first answer
                    poll.shop_time = self.last_date or datetime.now(UTC) - timedelta(hours=1)
                yield [self._complete(node) for node in page]
            poll.complete_until = poll.shop_time

        poll.pages = pages()
        return poll

    def count_before(self, moment: datetime) -> int | None:
        stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        paid = " OR ".join(f"financial_status:{s.lower()}" for s in sorted(PAID_STATUSES))
        query = f"created_at:<'{stamp}' ({paid})"
        if not self.include_test_orders:
            query += " test:false"
        found = self._query(ORDERS_COUNT, {"query": query}).get("ordersCount") or {}
        count = found.get("count")
        return int(count) if isinstance(count, int) and found.get("precision") == "EXACT" else None

    def orders_between(
        self, since: datetime, until: datetime | None
    ) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        """Orders created in [since, until), oldest first, a page at a time: read with one
        bulk operation when Shopify runs it (the total then known), else by pages."""
        query = f"created_at:>='{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        if until is not None:
            query += f" created_at:<'{until.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        if self.bulk:
            if not self.scopes_checked:
                self._check_scopes()
            # Test orders left out by Shopify, so the operation's count is the orders handed on.
            search = query if self.include_test_orders else f"{query} test:false"
            document = bulk_orders(search, self._vat_metafield)
            result = bulk.run(self._query, self._sleep, document, self.bulk_wait_limit)
            if result is not None:
                yield from self._bulk_pages(result)
                return
        for page in self._pages(query, {"sortKey": "CREATED_AT"}):
            yield [self._complete(node) for node in page], None

    def _bulk_pages(
        self, result: bulk.BulkResult
    ) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        """The bulk operation's orders, streamed from its file, BULK_PAGE at a time."""
        page: list[dict[str, Any]] = []
        for node in bulk.orders_from_lines(self._bulk_lines(result)):
            if self.include_test_orders or not node.get("test"):
                page.append(self._complete(node))
            if len(page) == BULK_PAGE:
                yield page, result.orders
                page = []
        if page:
            yield page, result.orders

    def _bulk_lines(self, result: bulk.BulkResult) -> Iterator[str]:
        """The lines of a bulk operation's file, streamed (none when it found no orders)."""
        if result.url is None:
            return
        self.requests += 1
        try:
            with self._http.stream("GET", result.url) as response:
                if response.status_code != 200:
                    raise ShopError(
                        f"Shopify's bulk result could not be read (HTTP {response.status_code})"
                    )
                yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise ShopError(f"Shopify's bulk result could not be read: {scrub(str(exc))}") from exc

    def _pages(
        self, query: str | None, sort: dict[str, str] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The orders a search finds, a page at a time, not yet completed; test orders never
        reach the books unless asked for."""
        if not self.scopes_checked:
            self._check_scopes()
        after = None
        while True:
            variables = {"after": after, "query": query, **(sort or {}), **self._vat_field}
            connection = self._query(CHANGED_ORDERS, variables)["orders"]
            yield [n for n in connection["nodes"] if self.include_test_orders or not n.get("test")]
            if not connection["pageInfo"]["hasNextPage"]:
                return
            after = connection["pageInfo"]["endCursor"]

    def order(self, order_id: str) -> dict[str, Any] | None:
        data = self._query(ONE_ORDER, {"id": f"gid://shopify/Order/{order_id}", **self._vat_field})
        node = data.get("order")
        return self._complete(node) if node else None

    def summary(self, payload: dict[str, Any]) -> OrderSummary:
        """Strict: a date that is not one, or could not be this order's, parks the order."""
        named = self.identify(payload)
        if named is None:
            raise OrderDataError(f"the element has no order id ({shown(payload.get('id'))})")
        parse_time(payload.get("updatedAt"), "updatedAt")
        return OrderSummary(
            order_id=named[0],
            number=named[1],
            waiting=self._waiting(payload),
            modified=str(payload.get("updatedAt") or ""),
            refunds=tuple(gid_number(r["id"]) for r in payload.get("refunds") or []),
            paid_at=paid_time(payload),
        )

    def identify(self, payload: Any) -> tuple[str, str] | None:
        gid = payload.get("id") if isinstance(payload, dict) else None
        if not isinstance(gid, str) or not gid.startswith("gid://shopify/Order/"):
            return None
        if not gid_number(gid).isdigit():
            return None
        order_id = gid_number(gid)
        return order_id, str(payload.get("name") or order_id).lstrip("#")[:60]

    def _waiting(self, payload: dict[str, Any]) -> str | None:
        status = payload.get("displayFinancialStatus")
        if status not in PAID_STATUSES:
            return f"not paid yet (Shopify says {status or 'no financial status'})"
        if self.fulfillment == "fulfilled" and payload.get("displayFulfillmentStatus") != (
            "FULFILLED"
        ):
            return 'waiting for fulfilment (shop.fulfillment = "fulfilled")'
        return None

    def capabilities(self) -> dict[str, bool]:
        """What this shop was found to allow, for the state to keep between runs."""
        return {"scopes": True} if self.scopes_checked else {}

    def know(self, capabilities: dict[str, bool]) -> None:
        if capabilities.get("scopes"):
            self.scopes_checked = True

    def unlisted(self, payload: dict[str, Any]) -> str | None:
        if payload.get("test") and not self.include_test_orders:
            return "a test order: never booked unless shop.include_test_orders = true"
        return None

    def to_order(self, payload: dict[str, Any]) -> Order:
        order = order_from_shopify(
            payload,
            self.vat_number_attribute,
            self.invoice_currencies,
            self.invoice_request_keys,
        )
        return check_order(order)

    def not_bookable(self, order: Order) -> str | None:
        if order.status == "VOIDED" or order.status == "EXPIRED":
            return f"the order's payment is {order.status.lower()} in Shopify; not booked"
        return None

    def tax_rates(self) -> list[dict[str, Any]]:
        """Shopify has no list of tax rates to read (rates are known by percentage); this
        checks the credentials and scopes and returns none."""
        self._check_scopes()
        return []

    def payment_gateways(self) -> list[dict[str, Any]]:
        return []

    def rates_in_use(self, since: datetime) -> RatesInUse:
        """The tax rates of the orders created since `since` (Shopify has no list of them),
        read with one bulk operation; when Shopify cannot run it, the newest orders by pages.
        An order without tax lines counts as one without VAT."""
        search = f"created_at:>='{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        if not self.include_test_orders:
            search += " test:false"
        if not self.scopes_checked:
            self._check_scopes()
        result = None
        if self.bulk:
            document = bulk_rates(search, self._vat_metafield)
            wait = min(self.bulk_wait_limit, RATES_BULK_WAIT)
            result = bulk.run(self._query, self._sleep, document, wait)
        if result is not None:
            return _rates_of(self._bulk_rows(result), since, True, self.vat_number_attribute)
        nodes: list[dict[str, Any]] = []
        after, complete = None, False
        for _page in range(RATE_PAGES):
            variables = {"after": after, "query": search, **self._vat_field}
            connection = bulk.field_of(self._query(RECENT_RATES, variables), "orders")
            nodes += bulk.field_of(connection, "nodes")
            page_info = bulk.field_of(connection, "pageInfo")
            if not bulk.field_of(page_info, "hasNextPage"):
                complete = True
                break
            after = bulk.field_of(page_info, "endCursor")
        return _rates_of(iter(nodes), since, complete, self.vat_number_attribute)

    def _bulk_rows(self, result: bulk.BulkResult) -> Iterator[dict[str, Any]]:
        """The orders of a bulk operation without connections: one JSONL line each."""
        yield from bulk.rows(self._bulk_lines(result))

    # --- transport -------------------------------------------------------------------------

    def _complete(self, node: dict[str, Any]) -> dict[str, Any]:
        """Fetch the rest of an order's lines when it has more than one page of them, and its
        refunds when it has any; its text cleaned."""
        lines = node["lineItems"]
        while lines["pageInfo"]["hasNextPage"]:
            more = self._query(
                MORE_LINE_ITEMS, {"id": node["id"], "after": lines["pageInfo"]["endCursor"]}
            )["order"]["lineItems"]
            lines = {"pageInfo": more["pageInfo"], "nodes": lines["nodes"] + more["nodes"]}
        node["lineItems"] = lines
        if node.get("refunds"):  # in full, one more query, only for orders with refunds
            node["refunds"] = self._query(ORDER_REFUNDS, {"id": node["id"]})["order"]["refunds"]
        return shop_text.clean(node)

    # --- for the payout providers ----------------------------------------------------------

    def graphql(self, document: str, variables: Mapping[str, object]) -> dict[str, Any]:
        """One GraphQL query and its answer's `data`, paced, throttled and refused as every
        query of the shop is: the transport the Shopify Payments payout provider reads by."""
        return self._query(document, dict(variables))

    def payouts_scope_granted(self) -> bool:
        """Whether the app may read Shopify Payments' payouts (PAYOUTS_SCOPE)."""
        data = self._query(ACCESS_SCOPES, {})
        scopes = {s["handle"] for s in data["currentAppInstallation"]["accessScopes"]}
        return PAYOUTS_SCOPE in scopes

    def _check_scopes(self) -> None:
        self.scopes_checked = True
        data = self._query(ACCESS_SCOPES, {})
        scopes = {s["handle"] for s in data["currentAppInstallation"]["accessScopes"]}
        if "read_orders" not in scopes:
            raise AuthError("the Shopify app lacks the read_orders scope; add it and reinstall")
        if "read_all_orders" not in scopes:
            log.warning(
                "the Shopify app lacks read_all_orders: only the last 60 days of orders are "
                "visible, so older history cannot be imported"
            )

    def _query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        renewed = False
        for _attempt in range(MAX_THROTTLE_WAITS):
            wait = self._ready_at - time.monotonic()
            if wait > 0:  # the bucket would not hold the next query yet: let it fill first
                self._sleep(max(0.1, math.ceil(wait * 10) / 10))
            self.requests += 1
            result = admin_graphql_request(
                document,
                shop=self.shop,
                access_token=self._access_token(),
                api_version=self.api_version,
                variables=variables,
                http_client=self._http,
                max_retries=2,
            )
            self._remember_date(result.response.headers)
            code = result.log.code
            if result.ok or code in ("graphql_errors", "unauthorized", "http_error_403"):
                self.streak.answered()
            if result.ok:
                self._pace(_json(result.response.body))
                return result.data or {}
            if code == "unauthorized" and self._client_id and not renewed:
                self._token, renewed = "", True  # short-lived token expired: exchange again
                continue
            if code in ("unauthorized", "http_error_403"):
                raise AuthError(
                    f"Shopify refused the access token ({result.log.detail}): check "
                    "SHOPIFY_ACCESS_TOKEN or SHOPIFY_CLIENT_ID/SECRET and the app's scopes "
                    "(read_orders, read_all_orders)"
                )
            if code == "graphql_errors":
                body = _json(result.response.body)
                throttled = _throttle_wait(body)
                if throttled is not None:
                    self.throttled += 1
                    log.info("Shopify throttled the query; waiting %.1f s", throttled)
                    self._sleep(throttled)
                    continue
                messages = "; ".join(e.get("message", "") for e in body.get("errors", []))
                # Shopify's messages may quote the request, token and all.
                raise ShopError(f"Shopify refused the query: {scrub(messages) or 'unknown error'}")
            self.streak.failed(excerpt(str(result.log.detail or code), 120))
            raise ShopError(f"Shopify request failed: {scrub(str(result.log.detail))}")
        raise ShopError("Shopify kept throttling; giving up for this pass")

    def _pace(self, body: dict[str, Any]) -> None:
        """From a successful answer's cost: what the query really cost (logged, summed), and
        when the bucket will hold another like it, so the next one is not THROTTLED."""
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        try:
            requested = float(cost.get("requestedQueryCost") or 0)
            actual = float(cost.get("actualQueryCost") or 0)
            available = float(status.get("currentlyAvailable") or 0)
            restore = float(status.get("restoreRate") or 0)
        except (TypeError, ValueError):
            return
        self.points += actual
        log.debug(
            "Shopify query cost %g (requested %g); %g points left", actual, requested, available
        )
        if self.pace and restore > 0 and available < requested:
            # In tenths of a second, as a THROTTLED answer's wait: no busy little sleeps.
            wait = max(0.1, math.ceil((requested - available) / restore * 10) / 10)
            self._ready_at = time.monotonic() + wait

    def _access_token(self) -> str:
        expiring = self._token_expires and self._token_expires - timedelta(
            minutes=1
        ) < datetime.now(UTC)
        if self._token and not expiring:
            return self._token
        if not self._client_id:
            return self._token
        result = exchange_using_client_credentials(
            self.shop,
            {
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "old_client_secret": None,
            },
            http_client=self._http,
        )
        self.requests += 1
        if not result.ok or result.access_token is None:
            raise AuthError(
                f"Shopify refused the client credentials ({result.log.detail}): check "
                "SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET"
            )
        self._token = result.access_token.token
        # A credential of its own from this moment (valid for a day): redacted like the rest.
        remember([self._token])
        expires = result.access_token.expires
        self._token_expires = (
            datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None
        )
        return self._token

    def _remember_date(self, headers: dict[str, Any]) -> None:
        value = {k.lower(): v for k, v in (headers or {}).items()}.get("date")
        try:
            self.last_date = parsedate_to_datetime(value).astimezone(UTC) if value else None
        except (TypeError, ValueError):
            self.last_date = None


def _rates_of(
    nodes: Iterator[dict[str, Any]], since: datetime, complete: bool, vat_attribute: str
) -> RatesInUse:
    """Each (rate, destination, business or not) the orders used, counted, in first-seen order."""
    seen: dict[tuple[str | None, int, str, bool], RateInUse] = {}
    orders = 0
    for node in nodes:
        orders += 1
        customer = buyer(node, vat_attribute)
        shipping = customer.shipping
        country = shipping.country if shipping and shipping.country else customer.billing.country
        business = customer.is_business
        number = str(node.get("name") or gid_number(str(node.get("id")))).lstrip("#")
        # Each rate once per order, under all its titles (SGST 6% and CGST 6% are one "6").
        taxes: dict[str | None, list[str]] = {}
        for line in node.get("taxLines") or []:
            if line.get("ratePercentage") is None:
                continue  # booking leaves such a tax line out too
            try:
                key = rate_key(line.get("ratePercentage"))
            except MoneyError:
                continue  # not a rate: the order parks for it when it is read to be booked
            titles = taxes.setdefault(key, [])
            if line.get("title") and str(line["title"]) not in titles:
                titles.append(str(line["title"]))
        for rate_id, titles in (taxes or {None: []}).items():
            together = max(1, len(titles))  # under titles of their own: charged together
            found = seen.get((rate_id, together, country, business))
            seen[(rate_id, together, country, business)] = RateInUse(
                rate_id,
                Decimal(rate_id or 0),
                country,
                business,
                found.label if found else " / ".join(titles),
                (found.orders if found else 0) + 1,
                found.example if found else number,
                together,
            )
    return RatesInUse(tuple(seen.values()), orders, since, complete)


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _throttle_wait(body: dict[str, Any]) -> float | None:
    """Seconds until the cost bucket holds the query, when Shopify said THROTTLED."""
    codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors", [])}
    if "THROTTLED" not in codes:
        return None
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    requested = float(cost.get("requestedQueryCost") or 0)
    available = float(status.get("currentlyAvailable") or 0)
    restore = float(status.get("restoreRate") or 50) or 50.0
    return max(0.1, math.ceil((requested - available) / restore * 10) / 10)


class _Rebase(httpx.BaseTransport):
    """Send https://<shop>.myshopify.com requests to the configured base URL instead."""

    def __init__(self, base_url: str, shop: str, inner: httpx.BaseTransport) -> None:
        self._base = httpx.URL(base_url)
        self._host = f"{shop}.myshopify.com"
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == self._host:
            request.url = request.url.copy_with(
                scheme=self._base.scheme, host=self._base.host, port=self._base.port
            )
            request.headers["Host"] = request.url.netloc.decode()
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
