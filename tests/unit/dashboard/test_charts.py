"""The charts' scale: whole numbers for things that come whole, and always room for the
tallest bar."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.dashboard.charts import bars

counts = st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=31)
amounts = st.lists(
    st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False), min_size=1, max_size=8
)


def scale(chart_ticks: list[tuple[float, str]]) -> list[Decimal]:
    return [Decimal(value) for _, value in chart_ticks]


@given(counts, counts)
def test_counts_are_scaled_in_whole_numbers(booked: list[int], parked: list[int]) -> None:
    days = max(len(booked), len(parked))
    booked, parked = booked + [0] * (days - len(booked)), parked + [0] * (days - len(parked))
    chart = bars([str(n) for n in range(days)], {"booked": booked, "parked": parked})
    values = scale(chart.ticks)
    assert all(v == v.to_integral() for v in values), values
    steps = {b - a for a, b in itertools.pairwise(values)}
    assert len(steps) == 1 and values[0] == 0  # evenly from zero
    assert values[-1] >= max(booked + parked)  # the tallest bar fits
    assert 2 <= len(values) <= 6


def test_eight_orders_are_scaled_in_twos() -> None:
    chart = bars(["today"], {"booked": [8], "parked": [1]})
    assert [value for _, value in chart.ticks] == ["0", "2", "4", "6", "8"]
    tallest = max(chart.bars, key=lambda bar: bar.height)
    assert tallest.y == chart.ticks[-1][0]  # 8 orders reach the top line


@given(amounts)
def test_amounts_get_round_steps(vat: list[Decimal]) -> None:
    chart = bars([str(n) for n in range(len(vat))], {"shop": vat})
    values = scale(chart.ticks)
    step = values[1] - values[0]
    assert values[0] == 0 and values[-1] >= max(vat)
    assert all(b - a == step for a, b in itertools.pairwise(values))
    digits = step.normalize().as_tuple().digits
    assert digits[0] in (1, 2, 5) and all(d == 0 for d in digits[1:]), step  # 1, 2 or 5 x 10^n
