"""Server-rendered SVG charts: geometry computed here, drawn by templates/partials/charts.html.

No chart library and no script: a chart is a few <rect> and <text> elements with classes
the stylesheet colours, so it holds under the CSP and reads without JavaScript.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LABEL_WIDTH = 190  # room for the row labels on the left
VALUE_WIDTH = 90  # room for the figure after the longest bar
ROW_HEIGHT = 22
BAR_GAP = 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # 0, 1, ...: the stylesheet's colour of that series
    text: str  # the figure written after the bar


@dataclass(frozen=True)
class Row:
    label: str
    y: float  # the baseline of the label
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    rows: tuple[Row, ...]
    series: tuple[str, ...]  # names of the series (a legend when more than one)

    @property
    def label_width(self) -> int:
        return LABEL_WIDTH


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{shown}{unit}"


def bar_chart(title: str, rows: Sequence[tuple[str, Sequence[float | None]]], *,
              series: Sequence[str] = ("",), unit: str = "", width: int = 640) -> BarChart:
    """Horizontal bars, one row per label, one bar per series in each row, all on one
    scale (the largest value fills the plot)."""
    values = [v for _, vs in rows for v in vs if v is not None]
    top = max(values, default=0.0) or 1.0
    plot = width - LABEL_WIDTH - VALUE_WIDTH
    per_row = max(1, len(series))
    bar_height = (ROW_HEIGHT - BAR_GAP * (per_row - 1)) / per_row
    out: list[Row] = []
    for n, (label, vs) in enumerate(rows):
        top_y = n * (ROW_HEIGHT + 8) + 4
        bars = tuple(
            Bar(x=LABEL_WIDTH, y=top_y + k * (bar_height + BAR_GAP),
                width=round(plot * (v or 0) / top, 1) if v else 0, height=round(bar_height, 1),
                series=k, text=_figure(v, unit))
            for k, v in enumerate(vs)
        )
        out.append(Row(label=label, y=top_y + ROW_HEIGHT / 2 + 4, bars=bars))
    height = max(1, len(rows)) * (ROW_HEIGHT + 8) + 8
    return BarChart(title=title, width=width, height=height, rows=tuple(out),
                    series=tuple(series) if len(series) > 1 else ())
