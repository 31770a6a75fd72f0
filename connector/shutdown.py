"""Stopping on SIGTERM/SIGINT without leaving anything half-known.

The signal only raises a flag. The work stops at the next safe point: before an order or a
page, or in a wait (the rate limiter's, a back-off), never in the middle of a request, so a
write in flight is finished or left behind as its recorded intent, which the next pass reads
back from Moneybird. The run is recorded as interrupted and the command exits with 128 + the
signal's number (143 for SIGTERM, 130 for Ctrl-C).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from connector.errors import Interrupted

_STOP = threading.Event()
_received: dict[str, int] = {}


def install(then: Callable[[int], None] | None = None) -> None:
    """Catch SIGTERM and SIGINT (from the main thread); `then(signum)` runs after the flag
    is raised, e.g. to stop a scheduler."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        _received.setdefault("signum", signum)
        _STOP.set()
        if then is not None:
            then(signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def requested() -> int | None:
    """The signal that asked to stop, if one did."""
    return _received.get("signum") if _STOP.is_set() else None


def check() -> None:
    """At a safe point: stop here if asked to."""
    signum = requested()
    if signum is not None:
        raise Interrupted(signum)


def sleep(seconds: float) -> None:
    """A wait that a stop ends at once."""
    if _STOP.wait(max(0.0, seconds)):
        check()


def reset() -> None:
    """For a process that carries on after handling a stop (tests)."""
    _STOP.clear()
    _received.clear()
