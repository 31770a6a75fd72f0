"""The month a reconciliation covers, in the shop's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from connector.sync.reconcile import Month

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_a_month_is_its_local_days_in_utc() -> None:
    october = Month.parse("2026-10")
    start, end = october.bounds(AMSTERDAM)
    # 1 October 00:00 in summer time is 30 September 22:00 UTC; 1 November 00:00, after the
    # clocks went back on 25 October, is 31 October 23:00 UTC.
    assert start == datetime(2026, 9, 30, 22, tzinfo=UTC)
    assert end == datetime(2026, 10, 31, 23, tzinfo=UTC)
    assert (october.first, october.last) == (date(2026, 10, 1), date(2026, 10, 31))
    assert str(october) == "2026-10"


def test_neighbouring_months_across_the_year() -> None:
    assert Month.parse("2026-01").previous() == Month(2025, 12)
    assert Month.parse("2026-12").next() == Month(2027, 1)
    assert Month.parse("2028-02").last == date(2028, 2, 29)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "10-2026", "2026/10", "oktober"])
def test_a_month_that_is_not_one_says_how_to_write_it(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse(text)
