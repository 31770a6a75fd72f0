"""What the sync engine needs from a shop, whichever platform it is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from connector.order import Order
from connector.outage import FailureStreak


@dataclass
class Poll:
    """One read of the orders changed since a moment, streamed a page at a time. While the
    pages are read the shop fills in its clock and, once the last page is read, how far the
    read is complete: the next poll may start there and lose nothing."""

    pages: Iterator[list[dict[str, Any]]]
    shop_time: datetime | None = None  # the shop's clock at the first answer
    complete_until: datetime | None = None  # every order modified up to here was read
    total: int | None = None  # how many the shop said it lists, when it says
    # Why the read stopped short of the list's end (it kept moving without progress), or None:
    # `complete_until` is then only the point up to which it provably was read.
    incomplete: str | None = None

    @property
    def orders(self) -> list[dict[str, Any]]:
        """All pages at once (tests, small reads)."""
        return [order for page in self.pages for order in page]


@dataclass(frozen=True)
class OrderSummary:
    """Enough of a raw order to record it before it is parsed in full."""

    order_id: str
    number: str
    waiting: str | None  # why it cannot be booked yet (not paid...), or None when it can
    modified: str  # the shop's modification stamp, compared as text
    refunds: tuple[str, ...] = ()  # ids of the refunds the shop lists on the order
    paid_at: datetime | None = None  # when the customer paid, if the shop says


class Shop(Protocol):
    name: str  # the platform, as the configuration names it
    label: str  # the platform, as people write it
    reference_template: str  # the invoice reference when the configuration sets none
    last_date: datetime | None  # the shop's clock at its last answer
    streak: FailureStreak  # requests that failed in a row: an outage when long enough

    def capabilities(self) -> dict[str, bool]:
        """What the shop was found to support (kept in the state, so a run need not ask)."""
        ...

    def know(self, capabilities: dict[str, bool]) -> None:
        """What an earlier run found."""
        ...

    def changed_orders(self, since: datetime | None) -> Poll: ...

    def count_before(self, moment: datetime) -> int | None:
        """How many orders in the booked statuses the shop had before `moment`, if it can say
        in one request (shown by `status` after a first start: the scheduler never books them)."""
        ...

    def orders_between(
        self, since: datetime, until: datetime | None
    ) -> Iterator[tuple[list[dict[str, Any]], int | None]]: ...

    def order(self, order_id: str) -> dict[str, Any] | None: ...

    def summary(self, payload: dict[str, Any]) -> OrderSummary: ...

    def identify(self, payload: Any) -> tuple[str, str] | None:
        """The id and number of a listed element however broken the rest of it is, or None
        when it names no order (then it is reported, not guessed at)."""
        ...

    def unlisted(self, payload: dict[str, Any]) -> str | None:
        """Why the shop's order list a pass reads would not list this order, or None."""
        ...

    def to_order(self, payload: dict[str, Any]) -> Order: ...

    def not_bookable(self, order: Order) -> str | None:
        """Why this (paid or not) order must not be booked as it stands, or None."""
        ...

    def tax_rates(self) -> list[dict[str, Any]]: ...

    def payment_gateways(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class RateInUse:
    """A tax rate as orders applied it, with where the goods went and to whom: what a tax rule
    must match for those orders to book."""

    rate_id: str | None  # as the order's lines carry it (None: a line without VAT)
    percentage: Decimal
    country: str  # the destination: shipping address, else billing ("" when neither says)
    business: bool  # the order carried a VAT number
    label: str = ""  # the shop's name for it
    orders: int = 0  # how many of the orders read used it
    example: str = ""  # the number of one of them
    # Charged this many times together (Shopify's SGST 6% and CGST 6% on a line are "6" twice):
    # booked at one Moneybird rate of their sum.
    together: int = 1


@dataclass(frozen=True)
class RatesInUse:
    """The tax rates a shop's recent orders used."""

    rates: tuple[RateInUse, ...]
    orders: int  # how many orders were read
    since: datetime  # created from this moment on...
    complete: bool = True  # ...all of them, or only the newest `orders` (a read by pages)


@runtime_checkable
class RatesFromOrders(Protocol):
    """A shop that has no list of its tax rates to read (Shopify knows a rate by its
    percentage only): the rates it uses are read from its recent orders instead."""

    def rates_in_use(self, since: datetime) -> RatesInUse:
        """The rates on the orders created since `since`, test orders left out."""
        ...
