"""Grouped bar charts as SVG geometry, worked out on the server: the template draws the
rectangles, so a page needs no script and no chart library."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT = 640, 220
LEFT, BOTTOM, TOP = 44, 36, 12  # room for the scale, the labels and the tallest bar's value
COLOURS = ("#2b6cb0", "#dd8b2c", "#718096", "#2e7d5b")  # one per series, in order
MAX_BAR = 28.0  # a few groups still look like bars, not blocks
MAX_LINES = 5  # scale lines above zero, at most
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Bar:
    series: str
    label: str
    value: str
    x: float
    y: float
    width: float
    height: float
    colour: str


@dataclass(frozen=True)
class Bars:
    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]  # x of each group's label, and the label
    ticks: list[tuple[float, str]]  # y of each scale line, and its value
    legend: list[tuple[str, str]]  # series and colour
    baseline: float


def bars(
    labels: list[str],
    series: Mapping[str, Sequence[int | Decimal]],
    colours: Sequence[str] = COLOURS,
) -> Bars:
    """Groups of bars, one group per label and one bar per series, scaled to the largest
    value (negative values are drawn as zero: the table beside the chart has them). Counts
    (ints) are scaled in whole numbers: there is no half an order."""
    peak = max((max(values, default=0) for values in series.values()), default=0)
    whole = all(isinstance(v, int) for values in series.values() for v in values)
    step, lines = _scale(Decimal(peak), Decimal(1) if whole else CENT)
    top = step * lines
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    group = plot_w / max(len(labels), 1)
    bar_w = min(group * 0.8 / max(len(series), 1), MAX_BAR)
    pad = (group - bar_w * len(series)) / 2  # the group's bars centred over its label
    drawn = []
    for n, (name, values) in enumerate(series.items()):
        colour = colours[n % len(colours)]
        for g, value in enumerate(values):
            amount = max(Decimal(value), Decimal(0))
            height = float(amount / top) * plot_h
            drawn.append(
                Bar(
                    series=name,
                    label=labels[g],
                    value=str(value),
                    x=round(LEFT + g * group + pad + n * bar_w, 1),
                    y=round(TOP + plot_h - height, 1),
                    width=round(max(bar_w - 1, 1), 1),
                    height=round(height, 1),
                    colour=colour,
                )
            )
    every = max(1, len(labels) // 10)  # at most about ten labels under the axis
    shown = [
        (round(LEFT + g * group + group / 2, 1), label)
        for g, label in enumerate(labels)
        if g % every == 0
    ]
    ticks = [
        (round(TOP + plot_h - plot_h * k / lines, 1), _plain(step * k)) for k in range(lines + 1)
    ]
    legend = [(name, colours[n % len(colours)]) for n, name in enumerate(series)]
    return Bars(WIDTH, HEIGHT, drawn, shown, ticks, legend, float(TOP + plot_h))


def _scale(peak: Decimal, least: Decimal) -> tuple[Decimal, int]:
    """The scale's step (1, 2 or 5 times a power of ten, never below `least`) and how many
    steps reach the peak: at most MAX_LINES, as few as the peak needs."""
    step = least if peak else Decimal(1)
    while step * MAX_LINES < peak:
        step = _next_step(step)
    return step, max(1, math.ceil(peak / step))


def _next_step(step: Decimal) -> Decimal:
    digits = step.normalize().as_tuple()
    first = digits.digits[0]
    return step * (Decimal("2.5") if first == 2 else 2)  # 1 -> 2 -> 5 -> 10


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}"
