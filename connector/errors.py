"""Exceptions that cross module boundaries, each with a message fit for a shop owner, sorted
by what happens to the order (or refund) whose work raised them:

    ConnectorError
    ├── StopsPass        the pass stops at once; nothing more is written; the next pass resumes
    │   ├── AuthError       a service refused our credentials
    │   │   └── AdministrationError  the token cannot reach the configured administration
    │   │                            (also a ConfigError: the id is wrong, exit 2)
    │   ├── StateError      the state file cannot be used (full, read-only, damaged, ...)
    │   ├── ServiceDown     Moneybird or the shop failed several requests in a row
    │   └── Interrupted     SIGTERM / SIGINT: stopped at a safe point
    ├── ParksItem        the order or refund is parked with the message; a person decides
    │   ├── Parking         raised deep inside booking or a write (Moneybird refused, ...)
    │   └── OrderDataError  the shop's data for it cannot be read (also a ShopError)
    └── (the rest)       recorded as failed and retried next pass
        ├── Retry           an outcome to check next pass (the intent says what)
        ├── ShopError       the shop answered with something we cannot use
        ├── ConfigError     the configuration or a table is invalid
        └── MoneybirdError  and its kinds, in moneybird/client.py
    any other exception  a bug: retried, and parked once the same one has recurred for
                         INTERNAL_ERROR_PASSES passes (sync/writes.py)

`outcome` is the one place that maps an exception to its fate, for orders and refunds alike.
"""

from __future__ import annotations

import signal
from enum import Enum


class ConnectorError(Exception):
    """Base for errors the connector explains instead of crashing on."""


class StopsPass(ConnectorError):
    """Nothing more may be written this pass; the next pass carries on where this one ended."""


class ParksItem(ConnectorError):
    """The order (or refund) cannot be booked as it is: parked with this message."""


class ConfigError(ConnectorError):
    """The configuration or a mapping table is invalid; the message names the file and key."""


class AuthError(StopsPass):
    """A service rejected our credentials; nothing further can be done this pass."""


CONFIGURATION = "configuration error"  # how an AdministrationError's message starts, recorded


class AdministrationError(AuthError, ConfigError):
    """The token works but cannot reach moneybird.administration_id: a configuration error.
    An AuthError so that a pass handles it as one (it stops at the first request, is recorded
    for health and the alerts, and clears once a pass gets through); the command line exits
    2 for it, as for any configuration error."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"{CONFIGURATION}: {problem}. Fix: set moneybird.administration_id in config.toml "
            "to the administration meant (or use a token of a user who has access to it), "
            "then run `connector config check`"
        )


class StateError(StopsPass):
    """The state file cannot be opened or written."""


class ServiceDown(StopsPass):
    """A service is unavailable: the pass stops (nothing half-way) and the next one resumes.
    Its message says only what is wrong (the service, its address, the cause), fit for any
    command; a pass records it with what it means for the pass (`as_a_pass_records_it`)."""


# What a pass adds to a service's outage; preview, reconcile or an import are no pass.
PASS_CARRIES_ON = "the pass stopped, nothing is booked half-way, and the next pass carries on"


def as_a_pass_records_it(exc: BaseException) -> str:
    """What stopped a pass, as the pass records and says it."""
    if isinstance(exc, ServiceDown):
        return f"{exc}: {PASS_CARRIES_ON}"
    return str(exc)


class Interrupted(StopsPass):
    """A stop was asked for: the work ended at a safe point."""

    def __init__(self, signum: int) -> None:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"stopped by {name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class ShopError(ConnectorError):
    """The shop answered with something we cannot use."""


class OrderDataError(ParksItem, ShopError):
    """One order's data cannot be read; it will not get better by retrying."""


class Retry(ConnectorError):
    """Leave the order (or refund) for the next pass; its intent says what to check."""


class Parking(ParksItem):
    """Raised deep inside a write to park the order (or refund) with Moneybird's message."""


class Outcome(Enum):
    STOP = "stop"  # re-raised: the pass ends
    PARK = "park"
    RETRY = "retry"
    INTERNAL = "internal"  # a bug: retried, parked when it keeps recurring


def outcome(exc: BaseException) -> Outcome:
    if isinstance(exc, StopsPass):
        return Outcome.STOP
    if isinstance(exc, ParksItem):
        return Outcome.PARK
    if isinstance(exc, ConnectorError):
        return Outcome.RETRY
    return Outcome.INTERNAL


INTERNAL = "internal error"  # how an unexpected exception's message starts, wherever recorded


def internal(exc: BaseException) -> str:
    """How an unexpected exception is recorded on an order, a refund or a run."""
    return f"{INTERNAL}: {type(exc).__name__}: {exc}"
