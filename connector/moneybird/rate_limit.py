"""Client-side pacing for Moneybird's fixed budget (150 requests per 5 minutes).

Two sources of truth, the stricter wins: our own sliding window of the requests we sent, and
the server's `RateLimit-Remaining`/`RateLimit-Reset` headers (which also count requests made by
other programs with the same token).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from connector import shutdown

log = logging.getLogger(__name__)
ARRIVAL_MARGIN = 0.05  # seconds
WAIT_MARGIN = 5.0  # a server's wait is trusted up to one window and this much


class RateLimiter:
    def __init__(
        self,
        limit: int = 150,
        window_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = shutdown.sleep,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self.requests = 0
        self.waited_seconds = 0.0

    def acquire(self) -> None:
        """Wait until one more request fits in the budget, then count it."""
        with self._lock:
            while True:
                now = self._clock()
                # A request counts on the server until a window after it *arrived*: the same
                # margin as the wait below, or one slips through 50 ms early.
                while self._sent and self._sent[0] <= now - self.window - ARRIVAL_MARGIN:
                    self._sent.popleft()
                wait = max(0.0, self._blocked_until - now)
                if len(self._sent) >= self.limit:
                    # The server counts a request when it arrives, a moment after we sent it.
                    wait = max(wait, self._sent[0] + self.window + ARRIVAL_MARGIN - now)
                if wait <= 0:
                    self._sent.append(now)
                    self.requests += 1
                    return
                self.waited_seconds += wait
                self._sleep(wait)

    def observe(self, headers: dict[str, str] | object) -> None:
        """Adapt to the server's view: nothing left means wait until its reset."""
        get = getattr(headers, "get", None)
        if get is None:
            return
        remaining = _int(get("RateLimit-Remaining"))
        reset = _float(get("RateLimit-Reset"))
        if remaining is not None and remaining <= 0 and reset is not None:
            with self._lock:
                now = self._clock()
                ours = sum(1 for t in self._sent if t > now - self.window)
                if ours >= self.limit:
                    return  # our own window explains it, to the millisecond; Reset is whole seconds
                self._block(_absolute(reset, now), now, "RateLimit-Reset")

    def block_until(self, epoch: float) -> None:
        with self._lock:
            self._block(epoch, self._clock(), "Retry-After")

    def _block(self, epoch: float, now: float, source: str) -> None:
        """Hold requests until `epoch`, but never longer than a window and a margin: the budget
        refills within one window, so a wait beyond that is a garbled header."""
        latest = now + self.window + WAIT_MARGIN
        if epoch > latest:
            log.warning(
                "Moneybird's %s asks for a wait of %.0f s; waiting %.0f s (one window) instead",
                source, epoch - now, latest - now,
            )  # fmt: skip
            epoch = latest
        self._blocked_until = max(self._blocked_until, epoch)


def retry_after_epoch(value: str | None, now: float) -> float:
    """Moneybird sends Retry-After as an absolute epoch timestamp; tolerate the other forms
    (seconds, milliseconds, an HTTP date) and garbage (a second from now)."""
    if not value:
        return now + 1.0
    number = _float(value)
    if number is not None:
        return _absolute(number, now)
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError):
        return now + 1.0


def _absolute(value: float, now: float) -> float:
    """An epoch in seconds or milliseconds, or a number of seconds from now (a value that
    cannot be a timestamp: before 2001). Never before now."""
    if value > 1_000_000_000_000:
        value /= 1000.0  # milliseconds
    moment = value if value > 1_000_000_000 else now + value
    return max(moment, now)


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None else None
    except ValueError:
        return None


def _float(value: object) -> float | None:
    try:
        number = float(str(value)) if value is not None else None
    except ValueError:
        return None
    return number if number is None or math.isfinite(number) else None
