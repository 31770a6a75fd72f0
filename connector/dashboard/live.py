"""The shop and Moneybird as the order page reads them: one runtime of the dashboard's own,
built when first needed, with Moneybird's tax rates and accounts kept a few minutes so that
browsing costs about one request a page.

Reading never holds up booking: these reads have a small share of Moneybird's budget of their
own (`Share`: at most SHARE requests in any rate window), which refuses rather than waits when
it is used up, and while a pass runs (the state says so) it refuses outright: passes come first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from connector.booking.tax_rates import MoneybirdTaxRate
from connector.config import Config
from connector.errors import ConnectorError
from connector.moneybird.rate_limit import ARRIVAL_MARGIN, RateLimiter
from connector.runtime import Runtime, build
from connector.state import Meta, Store, from_text, utcnow
from connector.sync.engine import SyncEngine

KEEP_SECONDS = 600.0
SHARE = 15  # Moneybird requests in any rate window, at most (of its 150 per 5 minutes)
PAUSED = "live comparison paused: the books' request budget is kept for booking"


class Paused(ConnectorError):
    """The dashboard's share is used up, or a pass is running: the page shows the state."""

    def __init__(self) -> None:
        super().__init__(PAUSED)


def _refuse(_seconds: float) -> None:
    raise Paused


IMPORT_BEAT = timedelta(minutes=2)  # an import beats every 10 orders while it books


class Share(RateLimiter):
    """The dashboard's part of Moneybird's budget: the same sliding window and the same
    respect for Moneybird's headers as the passes' pacing, but where that would wait, this
    refuses (a reader is shown the state instead of holding a thread and the budget)."""

    def __init__(
        self,
        busy: Callable[[], bool] = lambda: False,
        limit: int = SHARE,
        window_seconds: float = 300.0,
    ) -> None:
        super().__init__(limit, window_seconds, sleep=_refuse)
        self._busy = busy

    def acquire(self) -> None:
        if self._busy():
            raise Paused
        super().acquire()

    def paused(self) -> bool:
        """Would a request now be refused? (A page asks once, before reading anything; another
        reader may take the last request meanwhile: `acquire` is what holds the line.)"""
        if self._busy():
            return True
        with self._lock:
            now = self._clock()
            sent = sum(1 for t in self._sent if t > now - self.window - ARRIVAL_MARGIN)
            return sent >= self.limit or self._blocked_until > now


def pass_running(store: Store, interval_minutes: float) -> bool:
    """A pass or an import (of this process or another) is running, however long it takes: a
    run marked running, or an import's heartbeat of the last two minutes. A run left marked
    running by a process that died is settled by the next pass (and by `status`), which
    then frees the live comparison. `interval_minutes` is kept for callers; the age of a run
    says nothing (a backlog or a history import runs long, and needs the budget most)."""
    beat = from_text(store.get_meta(Meta.IMPORT_HEARTBEAT))
    if beat is not None and utcnow() - beat < IMPORT_BEAT:
        return True
    return any(run.outcome == "running" for run in store.runs(3))


class Live:
    """Only made when the configuration comes with its secrets."""

    def __init__(self, config: Callable[[], Config], share: Share | None = None) -> None:
        self._config = config
        self.share = share or Share(self._busy)
        self._limiter = self.share
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

    def _busy(self) -> bool:
        """A pass is running, as the state of the dashboard's own runtime says (none built
        yet: nothing read yet either)."""
        built = self._built
        if built is None:
            return False
        return pass_running(built[2].store, built[0].sync.interval_minutes)

    def paused(self) -> bool:
        return self.share.paused()

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
