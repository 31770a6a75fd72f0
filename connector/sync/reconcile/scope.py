"""What every part of one month's reconciliation reads through: the engine (the shop, the state
and Moneybird), the month and its bounds, and what is read from Moneybird once, first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from connector.booking.book import BookingSettings
from connector.booking.tax_rates import MoneybirdTaxRate
from connector.moneybird.client import MoneybirdClient
from connector.shops.shop import Shop
from connector.state import Store
from connector.sync.engine import SyncEngine
from connector.sync.reconcile.month import Month


@dataclass
class Scope:
    engine: SyncEngine
    month: Month
    lookback: timedelta  # how long before the month an order paid in it may have been made
    rates: dict[str, MoneybirdTaxRate] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)  # financial account id -> its name
    tz: ZoneInfo = field(init=False)
    start: datetime = field(init=False)  # the month's first moment, UTC
    end: datetime = field(init=False)  # the next month's first moment, UTC
    known_start: datetime | None = field(init=False)  # the start point, if one is known

    def __post_init__(self) -> None:
        self.tz = self.engine.settings.timezone
        self.start, self.end = self.month.bounds(self.tz)
        self.known_start = self.engine.known_start()

    @property
    def shop(self) -> Shop:
        return self.engine.shop

    @property
    def store(self) -> Store:
        return self.engine.store

    @property
    def client(self) -> MoneybirdClient:
        return self.engine.client

    @property
    def settings(self) -> BookingSettings:
        return self.engine.settings

    def in_month(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end
