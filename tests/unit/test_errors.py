"""Every exception has one fate for the order or refund whose work raised it (errors.outcome)."""

from __future__ import annotations

import pytest

from connector.errors import (
    AdministrationError,
    AuthError,
    ConfigError,
    ConnectorError,
    Interrupted,
    OrderDataError,
    Outcome,
    Parking,
    Retry,
    ServiceDown,
    ShopError,
    StateError,
    outcome,
)
from connector.moneybird.client import Ambiguous, NotFound, Rejected, Unavailable


@pytest.mark.parametrize(("exc", "fate"), [
    (AuthError("401"), Outcome.STOP),
    (AdministrationError("no access to administration 9"), Outcome.STOP),  # a ConfigError too
    (StateError("disk full"), Outcome.STOP),
    (ServiceDown("Moneybird down"), Outcome.STOP),
    (Interrupted(15), Outcome.STOP),
    (Parking("refused"), Outcome.PARK),
    (OrderDataError("unreadable"), Outcome.PARK),  # a ShopError too, but retrying won't help
    (Retry("check next pass"), Outcome.RETRY),
    (ShopError("502"), Outcome.RETRY),
    (ConfigError("bad table"), Outcome.RETRY),
    (Ambiguous("lost answer"), Outcome.RETRY),
    (Unavailable("503"), Outcome.RETRY),
    (NotFound("gone"), Outcome.RETRY),
    (Rejected("422"), Outcome.RETRY),
    (ConnectorError("other"), Outcome.RETRY),
    (KeyError("total"), Outcome.INTERNAL),
    (ZeroDivisionError(), Outcome.INTERNAL),
])  # fmt: skip
def test_each_exception_has_one_outcome(exc: Exception, fate: Outcome) -> None:
    assert outcome(exc) is fate


def test_interrupted_says_which_signal_and_its_exit_code() -> None:
    stop = Interrupted(15)
    assert str(stop) == "stopped by SIGTERM" and stop.exit_code == 143
