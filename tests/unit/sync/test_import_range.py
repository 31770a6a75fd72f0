"""`import --since/--until` name the shop's days: a date is midnight in `sync.timezone`, so an
order paid at 00:30 in Amsterdam on the day named is imported (advice names that day)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from connector.sync.history_import import import_range

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_a_date_is_midnight_in_the_shops_timezone() -> None:
    start, end = import_range("2025-12-29", "2026-01-01", AMSTERDAM)
    assert start == datetime(2025, 12, 28, 23, 0, tzinfo=UTC)
    assert end == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)


def test_summer_time_is_two_hours() -> None:
    start, _ = import_range("2026-07-01", None, AMSTERDAM)
    assert start == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)


def test_without_a_timezone_a_date_is_utc() -> None:
    start, _ = import_range("2026-07-01")
    assert start == datetime(2026, 7, 1, tzinfo=UTC)


def test_refusals_name_the_dates_as_typed() -> None:
    with pytest.raises(ValueError, match="--until 2025-12-29 is not after --since 2025-12-29"):
        import_range("2025-12-29", "2025-12-29", AMSTERDAM)
