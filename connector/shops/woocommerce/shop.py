"""Reading orders from a WooCommerce shop (REST API v3) with the official `woocommerce` client.

Incremental by modification time, on the shop's own clock (its `Date` header), with an overlap
so nothing at a boundary is missed. Shops too old for `modified_after` are read in full and
filtered here: slower, never lossy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from woocommerce import API

from connector import shutdown
from connector.defaults import GIFT_CARD_FEE_NAMES, VAT_NUMBER_KEYS
from connector.errors import AuthError, OrderDataError, ShopError
from connector.money import parse
from connector.order import Order
from connector.outage import FailureStreak, cause_of
from connector.redact import excerpt, remember
from connector.shops import checks
from connector.shops import text as shop_text
from connector.shops.checks import check_order
from connector.shops.shop import OrderSummary, Poll
from connector.shops.woocommerce.parse import (
    gmt_stamp,
    order_from_woocommerce,
    parse_gmt,
    percentages_listed,
    rate_ids_used,
    refund_ids,
)

log = logging.getLogger(__name__)
PER_PAGE = 100  # the most WooCommerce gives in one page; `[shop] per_page` may ask for fewer
NOT_PAID = "not paid yet: the shop has no paid date for it"
ATTEMPTS = 3
MAX_RESTARTS = 3
FAR_AHEAD = "2999-01-01T00:00:00"  # no order is changed after it
REFUNDED = "refunded"  # a fully refunded order leaves the booked statuses for this one


class WooCommerceShop:
    name = "woocommerce"
    label = "WooCommerce"
    reference_template = "WC-{number}"

    @staticmethod
    def admin_order_url(base_url: str, order_id: str) -> str:
        """Where a person opens the order in the shop's admin."""
        return f"{base_url.rstrip('/')}/wp-admin/post.php?post={order_id}&action=edit"

    def __init__(
        self,
        url: str,
        consumer_key: str,
        consumer_secret: str,
        statuses: list[str],
        timeout: float = 30.0,
        query_string_auth: bool = False,
        sleep: Callable[[float], None] = shutdown.sleep,
        vat_number_keys: tuple[str, ...] = VAT_NUMBER_KEYS,
        invoice_request_keys: tuple[str, ...] = (),
        gift_card_fees: tuple[str, ...] = GIFT_CARD_FEE_NAMES,
        per_page: int = PER_PAGE,
    ) -> None:
        if not 2 <= per_page <= PER_PAGE:  # pages overlap by one order: two at the least
            raise ValueError(f"per_page must be 2..{PER_PAGE}, not {per_page}")
        # Known to redaction from now on, Basic pair included: an error page may echo them.
        remember([consumer_key, consumer_secret, f"{consumer_key}:{consumer_secret}"])
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
        self.invoice_request_keys = invoice_request_keys
        self.gift_card_fees = gift_card_fees
        self.per_page = per_page
        # Read refunded orders too: a booked order refunded in full moves to this status.
        self.read_statuses = list(dict.fromkeys([*statuses, REFUNDED]))
        self._sleep = sleep
        self._refunds: dict[str, list[dict[str, Any]]] = {}  # order id -> refunds read
        self._shop_wide_refunds: bool | None = None
        self._percentages: dict[str, Decimal | None] = {}
        self._modified_after: bool | None = None
        self.requests = 0
        self.last_date: datetime | None = None  # the shop's clock at its last answer
        self.streak = FailureStreak("the shop", url)

    # --- orders ----------------------------------------------------------------------------

    def changed_orders(self, since: datetime | None) -> Poll:
        """Every order in the read statuses modified after `since` (all when None), a page at
        a time, oldest change first."""
        poll = Poll(pages=iter(()))
        poll.pages = self._changed_pages(poll, since)
        return poll

    def _changed_pages(self, poll: Poll, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {
            "status": ",".join(self.read_statuses),  # one string: a list would repeat the key
            "dates_are_gmt": "true",
        }
        by_modified = self.supports_modified_after()
        filter_here = since is not None and not by_modified
        key = ("date_modified_gmt", "modified_after") if by_modified else None
        self._refunds.clear()
        seen: set[str] = set()
        start = None if filter_here else since
        for page in self._stable_pages(poll, "orders", params, key, start):
            fresh = []
            for order in page:
                order_id = _id_of(order)
                if order_id and order_id in seen:
                    continue  # read again after the list moved
                if not order_id:  # not an order we can name: the engine reports it
                    fresh.append(order)
                    continue
                seen.add(order_id)
                modified = gmt_stamp(order.get("date_modified_gmt"))
                # An order without a stamp that is a date is passed on, never dropped: the
                # engine parks it (or, recorded already, leaves it as it stands).
                if filter_here and since is not None and modified is not None and modified <= since:
                    continue
                fresh.append(order)
            yield fresh
        if since is not None:
            extra = self._orders_of_new_refunds(since, seen)
            if extra:
                yield extra

    def _stable_pages(
        self,
        poll: Poll,
        endpoint: str,
        params: dict[str, Any],
        key: tuple[str, str] | None,
        start: datetime | None,
    ) -> Iterator[list[dict[str, Any]]]:
        """A list read so that no order can slip through, whatever the count headers say (a
        proxy may strip them) and however the list moves while it is read.

        The list is sorted by `key` (a `_gmt` field and the filter that starts after it; None:
        by id) and read in pages that overlap by one order: each page must begin with the order
        the previous one ended with. Orders only ever join at the end (a change stamps them
        now), so if that order is not where it was, orders before it left or moved forward,
        and the orders behind it shifted onto pages already read. The read then carries on
        from that order's own stamp (one second back: the filter is strictly after, to the
        second), never from a page number. It ends at a short page. `poll.complete_until` is
        set to the shop's clock at the first answer when the whole list was read.

        It carries on as often as the list moves while each restart moves that point forward
        (a shop that ignores `offset` moves on every page, but forward). Only when MAX_RESTARTS
        restarts in a row get no further does it stop, never to spin: `poll.incomplete` then
        says why, and `poll.complete_until` is the point up to which it provably was read."""
        params = {**params, "per_page": self.per_page, "order": "asc"}
        params["orderby"] = (
            "modified" if key and key[0] == "date_modified_gmt" else ("date" if key else "id")
        )
        after, offset, last, stuck = start, 0, None, 0
        head: tuple[str, str] | None = None  # the first order of this restart's first page
        while True:
            query = {**params, "offset": offset}
            if key is not None and after is not None:
                query[key[1]] = after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            response = self._get(endpoint, query)
            if poll.shop_time is None:
                poll.shop_time = _shop_clock(response)
            batch = self._json(response, f"{endpoint} from {offset}")
            if not isinstance(batch, list):
                raise ShopError(f"{endpoint}: expected a list")
            if poll.total is None:
                poll.total = _header_int(response, "X-WP-Total")
            if last is not None:
                if not batch or _mark(batch[0], key) != last[0]:
                    resume = last[1] - timedelta(seconds=1) if last[1] is not None else after
                    forward = resume is not None and (after is None or resume > after)
                    stuck = 0 if forward else stuck + 1
                    # The same first page again, further on: the offset was not applied.
                    same = bool(batch) and _mark(batch[0], key) == head
                    if stuck > MAX_RESTARTS:
                        where = ""
                        if key is not None and after is not None:
                            what = "created" if key[0] == "date_created_gmt" else "changed"
                            at = after.astimezone(UTC)
                            where = f" than the orders {what} after {at:%Y-%m-%d %H:%M:%S} UTC"
                        poll.incomplete = (
                            f"the shop's order list kept moving while it was read: {stuck} "
                            f"times in a row it got no further{where}"
                        )
                        if same:
                            poll.incomplete += (
                                " (the shop answered the same page whatever the `offset`: a "
                                "plugin or cache in front of it may ignore that parameter)"
                            )
                        log.warning("%s; the read stops there", poll.incomplete)
                        poll.complete_until = after if key is not None else start
                        return
                    log.info(
                        "order list changed while paging%s; reading on from where it moved",
                        " (or the shop ignores `offset`)" if same else "",
                    )
                    after, offset, last = resume, 0, None
                    continue
                yield batch[1:]
            else:
                head = _mark(batch[0], key) if batch else None
                yield batch
            if len(batch) < self.per_page:
                poll.complete_until = poll.shop_time
                return
            stamp = gmt_stamp(batch[-1].get(key[0])) if key is not None else None
            last = (_mark(batch[-1], key), stamp)
            offset += self.per_page - 1

    def _orders_of_new_refunds(self, since: datetime, polled: set[str]) -> list[dict[str, Any]]:
        """WooCommerce 9+ lists refunds shop-wide: refunds made since the last poll, whether or
        not their order's modification date moved. Their orders are read when not polled."""
        params = {
            "after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "dates_are_gmt": "true",
            "per_page": self.per_page,
        }
        first = None
        if self._shop_wide_refunds is None:  # asked once: the list's first page is the probe
            first = self._get("refunds", {**params, "page": 1})
            self._shop_wide_refunds = first.status_code not in (400, 404)  # rest_no_route
            if not self._shop_wide_refunds:
                log.info("shop has no shop-wide refunds list (WooCommerce < 9); refunds per order")
        if not self._shop_wide_refunds:
            return []
        refunds = self._all_pages("refunds", params, first)
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
        """Orders created in [since, until), oldest first, a page at a time (with the total,
        when the shop gives one), so a long history streams instead of filling memory. A read
        that cannot reach the end of the range raises ShopError after its last page: there is
        no next pass to carry on, so it is never taken for the whole range."""
        params: dict[str, Any] = {
            "status": ",".join(self.read_statuses),
            "dates_are_gmt": "true",
        }
        if until is not None:
            params["before"] = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        # `after` is strictly after, to the second: one second back includes `since` itself.
        start = since - timedelta(seconds=1)
        poll = Poll(pages=iter(()))
        seen: set[str] = set()
        by_created = ("date_created_gmt", "after")
        for page in self._stable_pages(poll, "orders", params, by_created, start):
            fresh = [o for o in page if not _id_of(o) or _id_of(o) not in seen]
            seen.update(_id_of(o) for o in fresh)
            yield fresh, poll.total
        if poll.incomplete:
            raise ShopError(poll.incomplete)

    def count_before(self, moment: datetime) -> int | None:
        params = {
            "status": ",".join(self.statuses),
            "before": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "dates_are_gmt": "true",
            "per_page": 1,
        }
        response = self._get("orders", params)
        if response.status_code >= 400:
            return None
        if not self._json(response, "orders before the start"):
            return 0  # none at all, whatever the headers say
        return _header_int(response, "X-WP-Total")  # None: some, how many is not said

    def order(self, order_id: str) -> dict[str, Any] | None:
        response = self._get(f"orders/{order_id}", {})
        if response.status_code == 404:
            return None
        return self._json(response, f"order {order_id}")

    def summary(self, payload: dict[str, Any]) -> OrderSummary:
        """Strict: a date that is not one, or could not be this order's, parks the order."""
        named = self.identify(payload)
        if named is None:
            raise OrderDataError(f"the element has no order id ({checks.shown(payload.get('id'))})")
        parse_gmt(payload, "date_modified_gmt")
        return OrderSummary(
            order_id=named[0],
            number=named[1],
            # WooCommerce sets the paid date when the order is paid (also on completion).
            waiting=None if payload.get("date_paid_gmt") else NOT_PAID,
            modified=str(payload.get("date_modified_gmt") or ""),
            refunds=refund_ids(payload),
            paid_at=parse_gmt(payload, "date_paid_gmt"),
        )

    def identify(self, payload: Any) -> tuple[str, str] | None:
        order_id = _id_of(payload)
        # WooCommerce's ids are positive whole numbers: anything else names no order.
        if not isinstance(payload, dict) or isinstance(payload.get("id"), bool):
            return None
        if not order_id.isascii() or not order_id.isdigit() or int(order_id) == 0:
            return None
        return order_id, str(payload.get("number") or order_id)[:60]

    def unlisted(self, payload: dict[str, Any]) -> str | None:
        status = str(payload.get("status") or "")
        if status not in self.read_statuses:
            return (
                f"its status '{status}' is not booked (sync.statuses: "
                f"{', '.join(self.statuses)}); a pass does not read it"
            )
        return None

    def not_bookable(self, order: Order) -> str | None:
        if order.status not in self.statuses and not (order.status == REFUNDED and order.refunds):
            return f"order status is now '{order.status}'; not booked"
        return None

    def to_order(self, payload: dict[str, Any]) -> Order:
        """Parse, looking up tax percentages the order itself does not state; checked."""
        with checks.reading():
            listed = percentages_listed(payload)
            needed = rate_ids_used(payload) - set(listed)
        percentages: dict[str, Decimal] = {}
        for rate_id in needed:
            pct = self.tax_percentage(rate_id)
            if pct is not None:
                percentages[rate_id] = pct
        order = order_from_woocommerce(
            payload,
            percentages,
            self.refunds_of(payload),
            self.vat_number_keys,
            self.gift_card_fees,
            self.invoice_request_keys,
        )
        return check_order(order)

    def refunds_of(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """The order's refunds in full: one request, only for orders that have any."""
        ids = refund_ids(payload)
        if not ids:
            return []
        order_id = str(payload["id"])
        known = self._refunds.get(order_id, [])
        if {str(r["id"]) for r in known} >= set(ids):
            return known
        refunds = self._all_pages(f"orders/{order_id}/refunds", {"per_page": self.per_page})
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
        rates = self._all_pages("taxes", {"per_page": self.per_page})
        return rates

    def payment_gateways(self) -> list[dict[str, Any]]:
        response = self._get("payment_gateways", {})
        data = self._json(response, "payment gateways")
        return data if isinstance(data, list) else []

    def capabilities(self) -> dict[str, bool]:
        """What this shop was found to support, for the state to keep between runs."""
        found = {"modified_after": self._modified_after, "refunds": self._shop_wide_refunds}
        return {name: value for name, value in found.items() if value is not None}

    def know(self, capabilities: dict[str, bool]) -> None:
        """What an earlier run found: asked again only when it is not known."""
        if self._modified_after is None and "modified_after" in capabilities:
            self._modified_after = bool(capabilities["modified_after"])
        if self._shop_wide_refunds is None and "refunds" in capabilities:
            self._shop_wide_refunds = bool(capabilities["refunds"])

    def supports_modified_after(self) -> bool:
        """`modified_after` arrived around WooCommerce 5.8; older shops ignore it silently.
        Concluded from the shop's own description of its order list (OPTIONS) or, where
        OPTIONS is not served as WordPress serves it (refused by a firewall, answered by a CORS
        rule's empty 204 or a plugin's page), from the list itself: asked for the orders
        changed after a day far ahead, a shop that filters answers none. A probe that got no
        such answer (the shop unreachable, a 5xx, a timeout, a rate limit) concludes nothing:
        this read takes every order and filters here, and the next one asks again."""
        if self._modified_after is not None:
            return self._modified_after
        found: bool | None = None
        try:
            response = self._request("OPTIONS", "orders", {}, refusal_is_answer=True)
            endpoints = _described_endpoints(response)
            if endpoints is not None:
                found = any("modified_after" in (ep.get("args") or {}) for ep in endpoints)
                why = ""
            elif _passing_trouble(response):
                why = f"it answered OPTIONS with {response.status_code}"
            else:
                found, why = self._filters_by_modified(response.status_code)
        except ShopError as exc:
            why = str(exc)
        if found is None:
            log.warning(
                "could not ask the shop whether it filters orders by modification date (%s); "
                "this pass reads all orders, the next one asks again",
                why,
            )
            return False
        self._modified_after = found
        if not found:
            log.warning("shop does not support modified_after; reading all orders each pass")
        return found

    def _filters_by_modified(self, answered: int) -> tuple[bool | None, str]:
        """Whether the order list honours `modified_after`, asked of the list itself: the
        orders changed after a day far ahead are none where it does, and the newest orders
        where it is ignored. A shop without any order cannot tell (None). `answered`: the
        status OPTIONS got instead of a description."""
        what = f"OPTIONS answered {answered} without a description of the order list"
        probe = {"modified_after": FAR_AHEAD, "dates_are_gmt": "true", "per_page": 1}
        ahead = self._json(self._get("orders", probe), "orders changed after a day far ahead")
        if not isinstance(ahead, list):
            return None, "its order list is not a list"
        if ahead:
            log.info("%s; the order list itself ignores modified_after", what)
            return False, ""
        some = self._json(self._get("orders", {"per_page": 1}), "orders")
        if not isinstance(some, list) or not some:
            return None, f"{what}, and the shop has no order to tell by"
        log.info("%s; the order list itself filters by modified_after", what)
        return True, ""

    # --- paging and transport --------------------------------------------------------------

    def _all_pages(
        self, endpoint: str, params: dict[str, Any], first: requests.Response | None = None
    ) -> list[dict[str, Any]]:
        """A short list (taxes, an order's refunds, recent refunds), read again if it moved.
        `first`: its first page, when already read."""
        found: dict[str, dict[str, Any]] = {}
        for _restart in range(MAX_RESTARTS + 1):
            page, total, shifted = 1, None, False
            while True:
                if page == 1 and first is not None:
                    response, first = first, None
                else:
                    response = self._get(endpoint, {**params, "page": page})
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
                # Never the count headers alone: a proxy may strip them.
                if len(batch) < self.per_page:
                    break
                page += 1
            if not shifted:
                break
            log.info("%s changed while paging; reading it again", endpoint)
        return list(found.values())

    def _get(self, endpoint: str, params: dict[str, Any]) -> requests.Response:
        return self._request("GET", endpoint, params)

    def _request(
        self,
        method: str,
        endpoint: str,
        params: dict[str, Any],
        refusal_is_answer: bool = False,
    ) -> requests.Response:
        """`refusal_is_answer`: a 401 or 403 is returned, not raised: a firewall may refuse a
        method (OPTIONS) whatever the keys, so it says nothing about them."""
        for attempt in range(1, ATTEMPTS + 1):
            self.requests += 1
            try:
                if method == "OPTIONS":
                    response = self.api.options(endpoint, params=dict(params))
                else:
                    response = self.api.get(endpoint, params=dict(params))
            except requests.RequestException as exc:
                # The exception text holds the signed URL; report only its cause.
                if attempt < ATTEMPTS:
                    self._sleep(2.0**attempt)
                    continue
                self.streak.failed(cause_of(exc))
                raise ShopError(
                    f"shop at {self.streak.host} unreachable: {self.streak.cause}"
                ) from None
            if "Date" in response.headers:
                self.last_date = _shop_clock(response)
            if response.status_code >= 500 and attempt < ATTEMPTS:
                self._sleep(2.0**attempt)
                continue
            if response.status_code >= 500:
                self.streak.failed(f"it answered {response.status_code}")
                raise ShopError(f"shop answered {response.status_code} for {endpoint}")
            self.streak.answered()
            if response.status_code in (401, 403) and not refusal_is_answer:
                raise AuthError(
                    f"WooCommerce refused the API keys ({response.status_code}: "
                    f"{_message(response)}). Check WOOCOMMERCE_CONSUMER_KEY/SECRET and that the "
                    "key has read access; if a proxy strips the Authorization header, set "
                    "shop.query_string_auth = true"
                )
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        if response.status_code >= 400:
            raise ShopError(f"{what}: shop answered {response.status_code}: {_message(response)}")
        try:
            return shop_text.read(response.content)
        except ValueError:
            raise ShopError(f"{what}: shop's answer is not JSON (is shop.url right?)") from None


def _described_endpoints(response: requests.Response) -> list[dict[str, Any]] | None:
    """The endpoints a WordPress REST route describes in its OPTIONS answer, or None when the
    answer is no such description (an error, a proxy's page)."""
    if response.status_code != 200:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    if not isinstance(endpoints, list):
        return None
    return [ep for ep in endpoints if isinstance(ep, dict)]


def _passing_trouble(response: requests.Response) -> bool:
    """A server error, a timeout or a rate limit: it passes, and says nothing about the shop.
    Any other answer that is no description (a refusal, a CORS rule's empty 204, a plugin's
    page) means OPTIONS is not served to us here, for good."""
    return response.status_code >= 500 or response.status_code in (408, 429)


def _shop_clock(response: requests.Response) -> datetime:
    try:
        return parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        # No usable Date header: our own clock, an hour back to cover any skew.
        return datetime.now(UTC) - timedelta(hours=1)


def _mark(order: Any, key: tuple[str, str] | None) -> tuple[str, str]:
    """What identifies an order's place in a sorted list: its id and its sort stamp."""
    if not isinstance(order, dict):
        return repr(order)[:80], ""
    return str(order.get("id")), str(order.get(key[0]) if key else "")


def _id_of(order: Any) -> str:
    """An element's id, or "" for one that has none (it is reported, not guessed at)."""
    found = order.get("id") if isinstance(order, dict) else None
    return str(found) if found not in (None, "") else ""


def _header_int(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name) or ""
    return int(value) if value.isdigit() else None


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
        # Scrubbed whole, then cut: a secret cut in two would not be found in its parts.
        return excerpt(
            shop_text.clean_text(str(data.get("message") or data.get("code") or "")), 200
        )
    except (ValueError, AttributeError):
        return shop_text.clean_text(excerpt(response.text, 100).strip())
