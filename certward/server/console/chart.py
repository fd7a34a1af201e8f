"""The expiry timeline as inline SVG geometry (no chart library, no script).

:func:`expiry_chart` turns per-day counts into bars, axis ticks and labels in
SVG user units; the template draws them and adds a table with the same figures
for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from certward.ca.inventory_stats import ExpiryDay

__all__ = ["Bar", "ChartView", "Tick", "expiry_chart"]

WIDTH = 720
HEIGHT = 200
_LEFT = 40  # room for the count axis labels
_BOTTOM = 24  # room for the date labels
_TOP = 8
SOON_DAYS = 14  # bars of the next two weeks are drawn in the warning colour


@dataclass(frozen=True)
class Bar:
    """One day's bar; ``title`` is its tooltip."""

    x: float
    y: float
    width: float
    height: float
    soon: bool
    title: str


@dataclass(frozen=True)
class Tick:
    """An axis label at a position."""

    position: float
    label: str


@dataclass(frozen=True)
class ChartView:
    """Everything the SVG template draws."""

    width: int
    height: int
    left: int
    top: int
    bottom: float
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    total: int
    peak: int


def _scale_top(peak: int) -> int:
    # A round axis maximum: 1, 2, 5 times a power of ten, at least the peak.
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= peak:
                return step * factor
        step *= 10


def expiry_chart(days: Sequence[ExpiryDay]) -> ChartView:
    """The bars and ticks of a per-day expiry timeline."""
    peak = max((day.count for day in days), default=0)
    top_value = _scale_top(max(peak, 1))
    plot_width = WIDTH - _LEFT - 4
    plot_height = HEIGHT - _TOP - _BOTTOM
    slot = plot_width / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        height = plot_height * day.count / top_value
        bars.append(
            Bar(
                x=round(_LEFT + index * slot + slot * 0.1, 2),
                y=round(_TOP + plot_height - height, 2),
                width=round(slot * 0.8, 2),
                height=round(height, 2),
                soon=index < SOON_DAYS,
                title=f"{day.day.isoformat()}: {day.count} expiring",
            )
        )
    y_ticks = tuple(
        Tick(
            position=round(_TOP + plot_height * (1 - fraction), 2),
            label=str(int(top_value * fraction)),
        )
        for fraction in (0.0, 0.5, 1.0)
        if fraction == 0.0 or top_value * fraction == int(top_value * fraction)
    )
    x_ticks = tuple(
        Tick(position=round(_LEFT + index * slot, 2), label=day.day.strftime("%b %d"))
        for index, day in enumerate(days)
        if index % 15 == 0
    )
    return ChartView(
        width=WIDTH,
        height=HEIGHT,
        left=_LEFT,
        top=_TOP,
        bottom=_TOP + plot_height,
        bars=tuple(bars),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        total=sum(day.count for day in days),
        peak=peak,
    )
