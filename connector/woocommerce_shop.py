"""Reading orders from a WooCommerce shop (REST API v3) with the official `woocommerce` client.

Incremental by modification time, on the shop's own clock (its `Date` header), with an overlap
so nothing at a boundary is missed. Shops too old for `modified_after` are read in full and
filtered here: slower, never lossy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from woocommerce import API

from connector.errors import AuthError, ShopError
from connector.money import parse
from connector.order import Order
from connector.shop import OrderSummary, Poll
from connector.woocommerce_order import (
    GIFT_CARD_FEE_NAMES,
    VAT_NUMBER_KEYS,
    order_from_woocommerce,
    parse_gmt,
    percentages_listed,
    rate_ids_used,
    refund_ids,
)

log = logging.getLogger(__name__)
PER_PAGE = 100
NOT_PAID = "not paid yet: the shop has no paid date for it"
ATTEMPTS = 3
MAX_RESTARTS = 3
REFUNDED = "refunded"  # a fully refunded order leaves the booked statuses for this one


class WooCommerceShop:
    name = "woocommerce"

    def __init__(
        self,
        url: str,
        consumer_key: str,
        consumer_secret: str,
        statuses: list[str],
        timeout: float = 30.0,
        query_string_auth: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        vat_number_keys: tuple[str, ...] = VAT_NUMBER_KEYS,
        gift_card_fees: tuple[str, ...] = GIFT_CARD_FEE_NAMES,
    ) -> None:
        self.api = API(
            url=url,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            version="wc/v3",
            timeout=timeout,
            query_string_auth=query_string_auth,
            user_agent="moneybird-shop-connector",
        )
        self.statuses = statuses
        self.vat_number_keys = vat_number_keys
        self.gift_card_fees = gift_card_fees
        # Read refunded orders too: a booked order refunded in full moves to this status.
        self.read_statuses = list(dict.fromkeys([*statuses, REFUNDED]))
        self._sleep = sleep
        self._refunds: dict[str, list[dict[str, Any]]] = {}  # order id -> refunds read
        self._shop_wide_refunds: bool | None = None
        self._percentages: dict[str, Decimal | None] = {}
        self._modified_after: bool | None = None
        self.requests = 0

    # --- orders ----------------------------------------------------------------------------

    def changed_orders(self, since: datetime | None) -> Poll:
        """Every order in the configured statuses modified after `since` (all when None)."""
        params: dict[str, Any] = {
            "status": ",".join(self.read_statuses),  # one string: a list would repeat the key
            "per_page": PER_PAGE,
            "orderby": "date",
            "order": "asc",
            "dates_are_gmt": "true",
        }
        filter_here = False
        if since is not None:
            if self.supports_modified_after():
                params["modified_after"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            else:
                filter_here = True
        orders, shop_time = self._all_pages("orders", params)
        if filter_here and since is not None:
            orders = [o for o in orders if (parse_gmt(o.get("date_modified_gmt")) or since) > since]
        self._refunds.clear()
        if since is not None:
            orders.extend(self._orders_of_new_refunds(since, {str(o["id"]) for o in orders}))
        return Poll(orders=orders, shop_time=shop_time)

    def _orders_of_new_refunds(self, since: datetime, polled: set[str]) -> list[dict[str, Any]]:
        """WooCommerce 9+ lists refunds shop-wide: refunds made since the last poll, whether or
        not their order's modification date moved. Their orders are read when not polled."""
        params = {
            "after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "dates_are_gmt": "true",
            "per_page": PER_PAGE,
        }
        if self._shop_wide_refunds is None:  # asked once, as for modified_after
            probe = self._get("refunds", {**params, "per_page": 1, "page": 1})
            self._shop_wide_refunds = probe.status_code not in (400, 404)  # rest_no_route
            if not self._shop_wide_refunds:
                log.info("shop has no shop-wide refunds list (WooCommerce < 9); refunds per order")
        if not self._shop_wide_refunds:
            return []
        refunds, _ = self._all_pages("refunds", params)
        for refund in refunds:
            parent = str(refund.get("parent_id") or "")
            if parent:
                self._refunds.setdefault(parent, []).append(refund)
        extra = []
        for parent in sorted(set(self._refunds) - polled):
            payload = self.order(parent)
            if payload is not None:
                extra.append(payload)
        return extra

    def orders_between(
        self, since: datetime, until: datetime | None
    ) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        """Orders created in [since, until), oldest first, a page at a time (with the total),
        so a long history streams instead of filling memory."""
        params: dict[str, Any] = {
            "status": ",".join(self.read_statuses),
            "per_page": PER_PAGE,
            "orderby": "date",
            "order": "asc",
            "dates_are_gmt": "true",
            "after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        }
        if until is not None:
            params["before"] = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        page = 1
        while True:
            response = self._get("orders", {**params, "page": page})
            batch = self._json(response, f"orders page {page}")
            total = response.headers.get("X-WP-Total")
            yield batch, int(total) if total and total.isdigit() else None
            if page >= int(response.headers.get("X-WP-TotalPages") or 1) or len(batch) < PER_PAGE:
                return
            page += 1

    def order(self, order_id: str) -> dict[str, Any] | None:
        response = self._get(f"orders/{order_id}", {})
        if response.status_code == 404:
            return None
        return self._json(response, f"order {order_id}")

    def summary(self, payload: dict[str, Any]) -> OrderSummary:
        return OrderSummary(
            order_id=str(payload["id"]),
            number=str(payload.get("number") or payload["id"]),
            # WooCommerce sets the paid date when the order is paid (also on completion).
            waiting=None if payload.get("date_paid_gmt") else NOT_PAID,
            modified=str(payload.get("date_modified_gmt") or ""),
            refunds=refund_ids(payload),
        )

    def not_bookable(self, order: Order) -> str | None:
        if order.status not in self.statuses and not (order.status == REFUNDED and order.refunds):
            return f"order status is now '{order.status}'; not booked"
        return None

    def to_order(self, payload: dict[str, Any]) -> Order:
        """Parse, looking up tax percentages the order itself does not state."""
        listed = percentages_listed(payload)
        needed = rate_ids_used(payload) - set(listed)
        percentages: dict[str, Decimal] = {}
        for rate_id in needed:
            pct = self.tax_percentage(rate_id)
            if pct is not None:
                percentages[rate_id] = pct
        return order_from_woocommerce(
            payload,
            percentages,
            self.refunds_of(payload),
            self.vat_number_keys,
            self.gift_card_fees,
        )

    def refunds_of(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """The order's refunds in full: one request, only for orders that have any."""
        ids = refund_ids(payload)
        if not ids:
            return []
        order_id = str(payload["id"])
        known = self._refunds.get(order_id, [])
        if {str(r["id"]) for r in known} >= set(ids):
            return known
        refunds, _ = self._all_pages(f"orders/{order_id}/refunds", {"per_page": PER_PAGE})
        self._refunds[order_id] = refunds
        return refunds

    def tax_percentage(self, rate_id: str) -> Decimal | None:
        if rate_id not in self._percentages:
            response = self._get(f"taxes/{rate_id}", {})
            if response.status_code == 404:
                self._percentages[rate_id] = None
            else:
                data = self._json(response, f"tax rate {rate_id}")
                self._percentages[rate_id] = parse(data.get("rate"), "rate")
        return self._percentages[rate_id]

    def tax_rates(self) -> list[dict[str, Any]]:
        """All tax rates configured in the shop (WooCommerce > Settings > Tax)."""
        rates, _ = self._all_pages("taxes", {"per_page": PER_PAGE})
        return rates

    def payment_gateways(self) -> list[dict[str, Any]]:
        response = self._get("payment_gateways", {})
        data = self._json(response, "payment gateways")
        return data if isinstance(data, list) else []

    def supports_modified_after(self) -> bool:
        """`modified_after` arrived around WooCommerce 5.8; older shops ignore it silently."""
        if self._modified_after is None:
            try:
                response = self._request("OPTIONS", "orders", {})
                data = response.json() if response.status_code == 200 else {}
            except (ShopError, ValueError):
                data = {}
            endpoints = data.get("endpoints") or [] if isinstance(data, dict) else []
            self._modified_after = any(
                "modified_after" in (ep.get("args") or {}) for ep in endpoints
            )
            if not self._modified_after:
                log.warning("shop does not support modified_after; reading all orders each pass")
        return self._modified_after

    # --- paging and transport --------------------------------------------------------------

    def _all_pages(self, endpoint: str, params: dict[str, Any]) -> tuple[list[dict], datetime]:
        shop_time: datetime | None = None
        found: dict[str, dict[str, Any]] = {}
        for _restart in range(MAX_RESTARTS + 1):
            page, total, shifted = 1, None, False
            while True:
                response = self._get(endpoint, {**params, "page": page})
                if shop_time is None:
                    shop_time = _shop_clock(response)
                batch = self._json(response, f"{endpoint} page {page}")
                if not isinstance(batch, list):
                    raise ShopError(f"{endpoint}: expected a list")
                for item in batch:
                    found[str(item["id"])] = item
                page_total = response.headers.get("X-WP-Total")
                if total is None:
                    total = page_total
                elif page_total != total:
                    shifted = True  # orders moved between pages while reading: read again
                    break
                pages = int(response.headers.get("X-WP-TotalPages") or 1)
                if page >= pages or len(batch) < PER_PAGE:
                    break
                page += 1
            if not shifted:
                break
            log.info("order list changed while paging; reading it again")
        assert shop_time is not None
        return list(found.values()), shop_time

    def _get(self, endpoint: str, params: dict[str, Any]) -> requests.Response:
        return self._request("GET", endpoint, params)

    def _request(self, method: str, endpoint: str, params: dict[str, Any]) -> requests.Response:
        for attempt in range(1, ATTEMPTS + 1):
            self.requests += 1
            try:
                if method == "OPTIONS":
                    response = self.api.options(endpoint, params=dict(params))
                else:
                    response = self.api.get(endpoint, params=dict(params))
            except requests.RequestException as exc:
                # The exception text holds the signed URL; report only its kind.
                if attempt < ATTEMPTS:
                    self._sleep(2.0**attempt)
                    continue
                raise ShopError(f"shop unreachable ({type(exc).__name__})") from None
            if response.status_code in (401, 403):
                raise AuthError(
                    f"WooCommerce refused the API keys ({response.status_code}: "
                    f"{_message(response)}). Check WOOCOMMERCE_CONSUMER_KEY/SECRET and that the "
                    "key has read access; if a proxy strips the Authorization header, set "
                    "shop.query_string_auth = true"
                )
            if response.status_code >= 500 and attempt < ATTEMPTS:
                self._sleep(2.0**attempt)
                continue
            if response.status_code >= 500:
                raise ShopError(f"shop answered {response.status_code} for {endpoint}")
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        if response.status_code >= 400:
            raise ShopError(f"{what}: shop answered {response.status_code}: {_message(response)}")
        try:
            return response.json()
        except ValueError:
            raise ShopError(f"{what}: shop's answer is not JSON (is shop.url right?)") from None


def _shop_clock(response: requests.Response) -> datetime:
    try:
        return parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        # No usable Date header: our own clock, an hour back to cover any skew.
        return datetime.now(UTC) - timedelta(hours=1)


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
        return str(data.get("message") or data.get("code") or "")[:200]
    except (ValueError, AttributeError):
        return response.text[:100].strip()
