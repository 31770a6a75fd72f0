"""Mollie's settlements over HTTP (API v2) as payouts: a small httpx client, no SDK.

Why not Mollie's Python clients: docs/payouts.md, "Mollie's client: the decision".

Settlements are read from `GET /v2/settlements` (newest first, 250 a page, by `_links.next`),
those paid out on or after `since` kept, and each one's payments, refunds, chargebacks and
captures read in full before `mollie.parse_settlement` checks it. Settlements need an
organization access token (`access_…`) with the permission to read settlements; a website
profile's API key cannot read them.

What happens when Mollie cannot be read: `payouts` raises, and the flow reads no more of
Mollie's payouts this pass. The problem is shown in `connector status` and on the dashboard
(Meta.PAYOUTS_PROBLEM), the orders are booked as ever, and the next pass reads again from the
same place, so a settlement is never refused for a read that failed once:
- the key is refused (401, 403): AuthError, naming MOLLIE_API_KEY;
- no answer in time, a 5xx, or 429 after a few tries: ServiceDown;
- an answer that is not Mollie's (not JSON, no list where one belongs, a next page elsewhere,
  too large), a list of settlements longer than any real account's: MollieError.
Only a settlement whose data cannot be booked as it is (PayoutDataError, also a list of its
payments longer than any settlement has) comes as a RefusedPayout with the reason, and the
others are read on.
The key is never in a message: it is remembered for redaction the moment it arrives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from connector import shutdown
from connector.errors import AuthError, ConnectorError
from connector.outage import REQUESTS_IN_A_ROW, FailureStreak, cause_of
from connector.payouts.mollie import PROVIDER, is_paid_out, parse_settlement
from connector.payouts.records import (
    Payout,
    PayoutDataError,
    RefusedPayout,
    check_id,
    parse_moment,
    shown,
)
from connector.redact import excerpt, remember, scrub

log = logging.getLogger(__name__)

API = "https://api.mollie.com"
PAGE = 250  # Mollie's largest page
# Bounds against an answer that never ends: 200 pages of 250 are 50,000 settlements, or as
# many payments in one settlement, far beyond any shop this connector serves.
MAX_PAGES = 200
MAX_BODY = 16 * 1024 * 1024  # bytes of one answer; a page of 250 payments is about 0.5 MB
TIMEOUT = 30.0  # seconds, for connecting and for each read
TRIES = REQUESTS_IN_A_ROW  # per request, for a 5xx, 429 or no answer; then ServiceDown
MAX_WAIT = 20.0  # seconds waited between tries at most (a 429's Retry-After included)
# Settlements are listed by creation, newest first. A settlement is paid out a few days after
# it opens, so reading goes this far past the first one created before `since`.
LOOKBACK = timedelta(days=14)
PARTS = ("payments", "refunds", "chargebacks", "captures")
KEY_HELP = (
    "settlements are read with an organization access token (access_…) that may read "
    "settlements, payments, refunds and chargebacks, made in Mollie's dashboard under "
    "Developers → Organization access tokens"
)


class MollieError(ConnectorError):
    """Mollie answered with something that is not what its API sends (or could not be read
    whole); the payouts are read again next pass, not refused."""


class _Failed(Exception):
    """One request got no usable answer (transport error, 5xx, 429): worth another try."""

    def __init__(self, cause: str, wait: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.wait = wait  # what the answer asked for (Retry-After), if anything


class MollieProvider:
    """The PayoutProvider for Mollie: settlements paid out, oldest first, each checked."""

    name = PROVIDER

    def __init__(
        self,
        api_key: str,
        base_url: str = API,
        timeout: float = TIMEOUT,
        now: datetime | None = None,
        *,
        sleep: Callable[[float], None] = shutdown.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        remember([api_key])  # an error page may echo it
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._origin = _origin(self._base)
        self._now = now
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/hal+json",
                "User-Agent": "moneybird-shop-connector",
            },
            follow_redirects=False,  # a redirect would carry the key elsewhere
            transport=transport,
        )
        self.streak = FailureStreak("Mollie", self._base)
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    # --- PayoutProvider --------------------------------------------------------------------

    def payouts(
        self, since: datetime, known: Collection[str] = frozenset()
    ) -> Iterator[Payout | RefusedPayout]:
        """Every settlement paid out at or after `since`, oldest first: a Payout, or a
        RefusedPayout saying why it cannot be booked. The list of settlements is read whole
        first (it is short); each settlement's parts are read as it comes, but for those in
        `known` (booked already: an idle pass reads no parts)."""
        for settlement in self.settlements_paid_out(since):
            if _settlement_id(settlement) in known:
                continue
            yield self._payout(settlement)

    def settlements_paid_out(self, since: datetime) -> list[dict[str, Any]]:
        """The settlements paid out at or after `since`, oldest first, as Mollie sends them."""
        since = since.astimezone(UTC)
        found: list[tuple[datetime, str, dict[str, Any]]] = []
        reach = since - LOOKBACK
        for page in self._pages("/v2/settlements", "settlements", "settlements"):
            oldest: datetime | None = None
            for item in page:
                if not isinstance(item, dict):
                    raise MollieError(f"Mollie's list of settlements holds {shown(item)}")
                settlement_id = _settlement_id(item)
                created = self._moment(item.get("createdAt"))
                if created is not None:
                    oldest = created if oldest is None else min(oldest, created)
                if not is_paid_out(item):
                    continue  # open and pending settlements still grow
                # A settlement whose date is unreadable is kept, so that it is listed as
                # refused rather than missed.
                moment = self._moment(item.get("settledAt")) or created or since
                if moment >= since:
                    found.append((moment, settlement_id, item))
            if oldest is not None and oldest < reach:
                break  # everything further was created earlier still
        found.sort(key=lambda entry: (entry[0], entry[1]))
        return [item for _moment_, _id, item in found]

    def check(self) -> None:
        """Whether Mollie answers with this key: one read of the settlements (one item).
        Returns when it does; AuthError when the key is refused (as a pass says it),
        ServiceDown when Mollie cannot be reached, MollieError for an answer not Mollie's.
        One try, not a pass's few: a check says at once what it found."""
        url = f"{self._base}/v2/settlements?limit=1"
        try:
            body = self._request(url)
        except _Failed as failed:
            self.streak.failed(failed.cause)
            raise self.streak.error() from None
        self.streak.answered()
        _page_of(body, "settlements", "settlements")

    # --- one settlement ---------------------------------------------------------------------

    def _payout(self, settlement: dict[str, Any]) -> Payout | RefusedPayout:
        """The settlement read whole and checked; a RefusedPayout when its data cannot be
        booked. A read that fails (MollieError, ServiceDown, AuthError) is raised: it passes,
        and the settlement is read again next pass."""
        settlement_id = _settlement_id(settlement)
        lists: dict[str, list[Any]] = {}
        try:
            for part in PARTS:
                path = f"/v2/settlements/{quote(settlement_id, safe='')}/{part}"
                what = f"settlement {settlement_id}'s {part}"
                lists[part] = [
                    item for page in self._pages(path, part, what, PayoutDataError) for item in page
                ]
            return parse_settlement(
                settlement,
                lists["payments"],
                lists["refunds"],
                lists["chargebacks"],
                lists["captures"],
                now=self._now,
            )
        except PayoutDataError as exc:
            reason = scrub(str(exc))
            log.warning("Mollie settlement %s is not booked: %s", settlement_id, reason)
            return RefusedPayout(
                provider=PROVIDER,
                payout_id=settlement_id,
                reason=reason,
                paid_out=self._moment(settlement.get("settledAt")),
            )

    def _moment(self, value: object) -> datetime | None:
        """A date Mollie wrote, in UTC, when it is one a payout can have; else None."""
        try:
            return parse_moment(value, "date", self._now)
        except PayoutDataError:
            return None

    # --- paging -----------------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        embedded: str,
        what: str,
        endless: type[ConnectorError] = MollieError,
    ) -> Iterator[list[Any]]:
        """The `_embedded[embedded]` items of a list, a page at a time, following
        `_links.next` only to Mollie's own address, at most MAX_PAGES pages (past them,
        `endless` is raised)."""
        url = f"{self._base}{path}?limit={PAGE}"
        for _page in range(MAX_PAGES):
            body = self._get(url)
            items, url_next = _page_of(body, embedded, what)
            yield items
            if url_next is None:
                return
            if _origin(url_next) != self._origin or not urlsplit(url_next).path.startswith("/v2/"):
                # The key goes with every request: never to an address the answer names.
                raise MollieError(
                    f"Mollie's {what} point to the next page at {shown(url_next)}, "
                    f"which is not {self._origin}; not followed"
                )
            url = url_next
        raise endless(
            f"Mollie's {what} go on past {MAX_PAGES} pages of {PAGE}; reading stopped there"
        )

    # --- transport --------------------------------------------------------------------------

    def _get(self, url: str) -> Any:
        for attempt in range(1, TRIES + 1):
            try:
                body = self._request(url)
            except _Failed as failed:
                self.streak.failed(failed.cause)
                if attempt == TRIES:
                    break
                wait = min(MAX_WAIT, failed.wait if failed.wait is not None else 2.0**attempt)
                log.info("Mollie: %s; trying again in %.0f s", failed.cause, wait)
                self._sleep(wait)
                continue
            self.streak.answered()
            return body
        # Enough tries for now (as many as make an outage): the pass stops, and the next one
        # reads again.
        raise self.streak.error()

    def _request(self, url: str) -> Any:
        self.requests += 1
        try:
            with self._http.stream("GET", url) as response:
                status = response.status_code
                raw = _read_bounded(response)
                headers = response.headers
        except httpx.HTTPError as exc:
            raise _Failed(cause_of(exc)) from None
        if status == 429:
            raise _Failed("HTTP 429, too many requests", _retry_after(headers.get("Retry-After")))
        if status >= 500:
            raise _Failed(f"HTTP {status}")
        if raw is None:
            raise MollieError(f"Mollie's answer to {_path(url)} is larger than {MAX_BODY} bytes")
        if status in (401, 403):
            detail = self._detail(raw)
            if status == 401:
                raise AuthError(
                    f"MOLLIE_API_KEY is wrong or revoked: Mollie answered 401 ({detail}); "
                    f"{KEY_HELP}"
                )
            raise AuthError(
                f"MOLLIE_API_KEY may not read settlements: Mollie answered 403 ({detail}); "
                f"{KEY_HELP}"
            )
        if status != 200:
            raise MollieError(f"Mollie answered {status} to {_path(url)} ({self._detail(raw)})")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested past Python's stack
            raise MollieError(f"Mollie's answer to {_path(url)} is not JSON") from None

    def _detail(self, raw: bytes) -> str:
        """Mollie's own words for an error (its `detail`, else `title`), short and scrubbed."""
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        text = ""
        if isinstance(body, dict):
            for key in ("detail", "title"):
                if isinstance(body.get(key), str) and body[key].strip():
                    text = body[key]
                    break
        text = text or raw.decode("utf-8", "replace")
        return scrub(excerpt(" ".join(text.split()), 200, [self._key])) or "no reason given"


def _page_of(body: Any, embedded: str, what: str) -> tuple[list[Any], str | None]:
    """A list answer's items and its next page's address, or MollieError saying what is
    missing."""
    if not isinstance(body, dict):
        raise MollieError(f"Mollie's {what} answer is {shown(body)}, not a list")
    holder = body.get("_embedded")
    items = holder.get(embedded) if isinstance(holder, dict) else None
    if items is None and body.get("count") == 0:
        items = []  # an empty list may come without `_embedded`
    if not isinstance(items, list):
        raise MollieError(f"Mollie's {what} answer has no _embedded.{embedded} list")
    links = body.get("_links")
    following = links.get("next") if isinstance(links, dict) else None
    if following is None:
        return items, None
    href = following.get("href") if isinstance(following, dict) else None
    if not isinstance(href, str) or not href:
        raise MollieError(f"Mollie's {what} answer has a next page without an address")
    return items, href


def _read_bounded(response: httpx.Response) -> bytes | None:
    """The body, or None once it grows past MAX_BODY (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return max(0.0, seconds) if seconds is not None and seconds == seconds else None


def _settlement_id(item: Mapping[str, Any]) -> str:
    try:
        return check_id(item.get("id"), "Mollie settlement id")
    except PayoutDataError as exc:
        raise MollieError(f"Mollie's list of settlements holds one without an id: {exc}") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _path(url: str) -> str:
    return urlsplit(url).path
