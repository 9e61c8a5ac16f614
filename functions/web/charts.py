"""Bar charts drawn on the server as SVG (no script, no library, no build step; the CSP allows them).

A chart is data plus geometry computed here; ``templates/charts.html`` draws it. Every bar carries
its series, category and value as ``data-`` attributes and the same numbers are in a table beside the
chart (read by screen readers, and by tests to check what is drawn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 260
LEFT = 48  # room for the value axis labels
BOTTOM = 56  # room for the category labels (two lines)
TOP = 12
RIGHT = 8
GAP = 0.2  # share of a category's width left empty between categories


@dataclass(frozen=True)
class Bar:
    series: str
    category: str
    value: int
    x: float
    y: float
    width: float
    height: float
    index: int  # the series' position: its colour


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class Label:
    text: str
    x: float


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    categories: list[str]
    series: list[tuple[str, list[int]]]
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]
    top: int  # the value at the top of the axis
    axis: str = ""  # what the categories are (the table's first column)
    width: int = WIDTH
    height: int = HEIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT

    @property
    def empty(self) -> bool:
        return not any(value for _, values in self.series for value in values)


def axis_top(largest: int) -> int:
    """A round top for the value axis, at or above the largest value (1, 2, 5 x 10^n)."""
    if largest <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(largest))
    for step in (1, 2, 5, 10):
        if step * magnitude >= largest:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop ends at 10 x magnitude >= largest


def bar_chart(
    chart_id: str, title: str, axis: str, categories: list[str], series: list[tuple[str, list[int]]]
) -> Chart:
    """Grouped bars: one group per category, one bar per series in each group."""
    for name, values in series:
        if len(values) != len(categories):
            raise ValueError(f"series {name} has {len(values)} values for {len(categories)} categories")
    top = axis_top(max((value for _, values in series for value in values), default=0))
    plot_height = HEIGHT - BOTTOM - TOP
    plot_width = WIDTH - LEFT - RIGHT
    group = plot_width / max(len(categories), 1)
    bar_width = group * (1 - GAP) / max(len(series), 1)
    bars = []
    for index, (name, values) in enumerate(series):
        for position, (category, value) in enumerate(zip(categories, values, strict=True)):
            height = plot_height * value / top
            x = LEFT + position * group + group * GAP / 2 + index * bar_width
            bars.append(
                Bar(
                    name,
                    category,
                    value,
                    round(x, 2),
                    round(TOP + plot_height - height, 2),
                    round(bar_width, 2),
                    round(height, 2),
                    index,
                )
            )
    # Whole-number ticks at their own height: top is 1, 2 or 5 x 10^n, so one of these divides it.
    divisions = next(count for count in (5, 4, 2, 1) if top % count == 0)
    ticks = [
        Tick(top * step // divisions, round(TOP + plot_height * (1 - step / divisions), 2))
        for step in range(divisions + 1)
    ]
    labels = [
        Label(category, round(LEFT + (position + 0.5) * group, 2))
        for position, category in enumerate(categories)
    ]
    return Chart(
        chart_id,
        title,
        list(categories),
        [(name, list(values)) for name, values in series],
        bars,
        ticks,
        labels,
        top,
        axis,
    )
