"""Shopify's bulk operation, for reading order history: Shopify runs one query in the
background and leaves its answer as a JSONL file, read here as a stream.

A year of orders then costs a handful of API calls instead of thousands of throttled pages.
Whatever keeps a bulk operation from answering (another one running, a timeout on Shopify's
side, a wait longer than `wait_limit`) is said in the log, and the caller reads by paging
instead: slower, never less complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from connector.errors import ShopError
from connector.shops.shopify.queries import BULK_CANCEL, BULK_RUN, BULK_STATUS

log = logging.getLogger(__name__)

Query = Callable[[str, dict[str, Any]], dict[str, Any]]
FIRST_WAIT = 1.0
LONGEST_WAIT = 10.0
RUNNING = {"CREATED", "RUNNING"}


@dataclass(frozen=True)
class BulkResult:
    url: str | None  # None: the operation found no orders
    orders: int


def run(
    query: Query, sleep: Callable[[float], None], document: str, wait_limit: float
) -> BulkResult | None:
    """Start the bulk query and wait for it; None when it cannot answer (said in the log)."""
    try:
        started = field_of(query(BULK_RUN, {"query": document}), "bulkOperationRunQuery")
    except ShopError as exc:
        log.warning("Shopify refused a bulk operation (%s); reading by pages instead", exc)
        return None
    errors = started.get("userErrors") or []
    operation = started.get("bulkOperation")
    if errors or not operation:
        said = "; ".join(f"{e.get('code') or ''} {e.get('message', '')}".strip() for e in errors)
        log.warning("Shopify could not start a bulk operation (%s); reading by pages instead",
                    said or "no operation returned")  # fmt: skip
        return None
    waited, wait = 0.0, FIRST_WAIT
    while True:
        status = field_of(query(BULK_STATUS, {"id": operation["id"]}), "bulkOperation") or {}
        state = status.get("status")
        if state == "COMPLETED":
            return BulkResult(status.get("url"), int(status.get("rootObjectCount") or 0))
        if state not in RUNNING:
            log.warning("Shopify's bulk operation ended %s (%s); reading by pages instead",
                        state, status.get("errorCode") or "no error code")  # fmt: skip
            return None
        if waited >= wait_limit:
            log.warning("Shopify's bulk operation took over %.0f s; cancelled, reading by pages "
                        "instead", wait_limit)  # fmt: skip
            query(BULK_CANCEL, {"id": operation["id"]})
            return None
        log.info("Shopify is gathering the orders asked for (%s objects so far)",
                 status.get("objectCount") or 0)  # fmt: skip
        sleep(wait)
        waited += wait
        wait = min(LONGEST_WAIT, wait * 2)


def rows(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each line of a bulk operation's JSONL as its object; a line that is not one (a file
    cut short in the download) is a ShopError, said as such."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except ValueError:
            raise ShopError(
                f"Shopify's bulk result has a line that is not JSON (line {number}): the file "
                "was cut short; try again"
            ) from None
        if not isinstance(row, dict):
            raise ShopError(
                f"Shopify's bulk result has a line that is not an object (line {number})"
            )
        yield row


def orders_from_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Orders as a paged query returns them, from the JSONL of a grouped bulk operation: each
    order's line then, below it, its line items and shipping lines (`__parentId` its id).
    One order is held at a time, so memory stays flat however long the history."""
    order: dict[str, Any] | None = None
    for row in rows(lines):
        parent = row.pop("__parentId", None)
        if parent is None:
            if order is not None:
                yield order
            row["lineItems"] = {"pageInfo": {"hasNextPage": False, "endCursor": None},
                                "nodes": []}  # fmt: skip
            row["shippingLines"] = {"nodes": []}
            order = row
        elif order is None or parent != order["id"]:
            raise ShopError(
                f"Shopify's bulk result lists a line of {parent} away from its order; the "
                "history cannot be read from it"
            )
        elif "quantity" in row:
            order["lineItems"]["nodes"].append(row)
        elif "discountedPriceSet" in row:
            order["shippingLines"]["nodes"].append(row)
        else:
            raise ShopError(f"Shopify's bulk result has a line of {parent} of an unknown kind")
    if order is not None:
        yield order


def field_of(answer: Any, name: str) -> Any:
    """A field of Shopify's answer; an answer without it is a ShopError."""
    if not isinstance(answer, dict) or name not in answer:
        raise ShopError(f"Shopify's answer lacks '{name}'")
    return answer[name]
