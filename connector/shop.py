"""What the sync engine needs from a shop, whichever platform it is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connector.order import Order


@dataclass(frozen=True)
class Poll:
    orders: list[dict[str, Any]]
    shop_time: datetime  # the shop's clock when the poll started: the next watermark


@dataclass(frozen=True)
class OrderSummary:
    """Enough of a raw order to record it before it is parsed in full."""

    order_id: str
    number: str
    waiting: str | None  # why it cannot be booked yet (not paid...), or None when it can
    modified: str  # the shop's modification stamp, compared as text
    refunds: tuple[str, ...] = ()  # ids of the refunds the shop lists on the order


class Shop(Protocol):
    name: str

    def changed_orders(self, since: datetime | None) -> Poll: ...

    def orders_between(
        self, since: datetime, until: datetime | None
    ) -> Iterator[tuple[list[dict[str, Any]], int | None]]: ...

    def order(self, order_id: str) -> dict[str, Any] | None: ...

    def summary(self, payload: dict[str, Any]) -> OrderSummary: ...

    def to_order(self, payload: dict[str, Any]) -> Order: ...

    def not_bookable(self, order: Order) -> str | None:
        """Why this (paid or not) order must not be booked as it stands, or None."""
        ...

    def tax_rates(self) -> list[dict[str, Any]]: ...

    def payment_gateways(self) -> list[dict[str, Any]]: ...
