"""The shop and Moneybird as the order page reads them: one runtime of the dashboard's own
(beside `connector run`, sharing its request budget), built when first needed, with Moneybird's
tax rates and accounts kept a few minutes so that browsing costs about one request a page."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from connector.booking.tax_rates import MoneybirdTaxRate
from connector.config import Config
from connector.moneybird.rate_limit import RateLimiter
from connector.runtime import Runtime, build
from connector.sync.engine import SyncEngine

KEEP_SECONDS = 600.0


class Live:
    """Only made when the configuration comes with its secrets."""

    def __init__(self, config: Callable[[], Config], limiter: RateLimiter | None = None) -> None:
        self._config = config
        self._limiter = limiter
        self._lock = threading.Lock()
        self._built: tuple[Config, float, Runtime, SyncEngine] | None = None
        self._accounts: dict[str, str] | None = None

    def _current(self) -> tuple[Runtime, SyncEngine]:
        config = self._config()
        with self._lock:
            built = self._built
            stale = built is None or built[0] is not config
            if built is not None and (stale or time.monotonic() - built[1] > KEEP_SECONDS):
                built[2].close()
                built = None
            if built is None:
                runtime = build(config, self._limiter)
                built = (config, time.monotonic(), runtime, runtime.engine())
                self._built, self._accounts = built, None
            return built[2], built[3]

    @property
    def engine(self) -> SyncEngine:
        return self._current()[1]

    @property
    def client(self) -> Any:
        return self._current()[0].client

    def rates(self) -> dict[str, MoneybirdTaxRate]:
        return self.engine.writer.rates_for_reading()

    def accounts(self) -> dict[str, str]:
        """Moneybird's financial accounts' names, by id."""
        self._current()
        if self._accounts is None:
            self._accounts = {
                str(a.get("id")): str(a.get("name") or a.get("id"))
                for a in self.client.financial_accounts()
            }
        return self._accounts

    def close(self) -> None:
        with self._lock:
            if self._built is not None:
                self._built[2].close()
                self._built = None
