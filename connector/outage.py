"""Telling an outage from one bad request: a service whose requests keep failing in a row.

Each client (Moneybird, the shop) keeps a streak of requests that failed for want of an
answer (unreachable, timed out, 5xx after its retries); any answer at all ends it. The sync
engine stops the pass once a streak is long enough, with one line naming the service, its
host and the cause, instead of spending minutes failing order after order.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from connector.errors import ServiceDown
from connector.redact import scrub

REQUESTS_IN_A_ROW = 3  # failed requests in a row that make an outage


class FailureStreak:
    def __init__(self, service: str, url: str) -> None:
        self.service = service
        self.host = urlsplit(url).netloc or url
        self.count = 0
        self.cause = ""

    def failed(self, cause: str) -> None:
        self.count += 1
        self.cause = scrub(cause)  # shown in the stop message, the state and the alerts

    def answered(self) -> None:
        self.count = 0
        self.cause = ""

    @property
    def down(self) -> bool:
        return self.count >= REQUESTS_IN_A_ROW

    def error(self) -> ServiceDown:
        failed = f"{self.count} request{'s' if self.count != 1 else ''} in a row failed"
        # Said as it is; a pass adds what that means for it (errors.as_a_pass_records_it).
        return ServiceDown(f"{self.service} at {self.host} is unavailable ({self.cause}; {failed})")


def cause_of(exc: BaseException) -> str:
    """A transport error's cause in a few words (the OS's reason when there is one), never
    the URL it was about: a shop's URL may carry its keys."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\"()\]]+)", text)
    if found:
        return f"{found.group(1).strip().lower()} ({type(exc).__name__})"
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return f"no answer in time ({type(exc).__name__})"
    return type(exc).__name__
