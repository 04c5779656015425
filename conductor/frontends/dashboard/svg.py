"""Charts drawn as SVG on the server: no script, no CDN, nothing fetched at run time.

Every text in a chart (a title, a version, a label) is made safe first (``conductor.output``:
scrubbed of secrets, unable to carry a signal) and then XML-escaped, so nothing read from the
journal or the config can become markup.

The SVG carries what it drew: ``data-x0``/``data-x1``/``data-y0``/``data-y1`` give the axes'
domains and ``data-left``/``data-top``/``data-width``/``data-height`` the plot box, and every
polyline names its series (``data-series="canary"``), so a test (or a person with the inspector)
can turn the pixels back into the journal's numbers.

A series longer than twice the plot's width is thinned to the lowest and highest point of each
pixel column: what a person can see is kept (spikes included), the rest could not be drawn.
"""

from __future__ import annotations

import math
from html import escape
from typing import Protocol

from conductor.frontends.dashboard.charts import VERDICT_COLORS, Chart, Line
from conductor.output import safe_text

WIDTH, HEIGHT = 720, 230
LEFT, RIGHT, TOP, BOTTOM = 58, 16, 40, 46
OFF_SCALE = 4.0  # a limit more than this many times the data's top is drawn at the top edge


def esc(text: object) -> str:
    return escape(safe_text(str(text)), quote=True)


class Canvas(Protocol):
    """What a chart is drawn on: the SVG writer below, or the PNG rasterizer (:mod:`.png`).
    Coordinates are the chart's (``WIDTH`` x ``HEIGHT``); ``meta`` is SVG-only (data attributes)."""

    def rect(self, x: float, y: float, w: float, h: float, fill: str, stroke: str = "", *,
             meta: dict[str, str] | None = None, tooltip: str = "") -> None: ...

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1.0, dash: str = "",
             *, meta: dict[str, str] | None = None) -> None: ...

    def polyline(self, points: list[tuple[float, float]], color: str, width: float, dash: str = "", *,
                 meta: dict[str, str] | None = None) -> None: ...

    def text(self, x: float, y: float, text: str, size: float = 10, color: str = "#222", anchor: str = "start",
             bold: bool = False) -> None: ...


def render(chart: Chart) -> str:
    """One chart as a standalone ``<svg>`` element."""
    canvas = SvgCanvas()
    root = draw(chart, canvas)
    attributes = " ".join(f'{k}="{esc(v)}"' for k, v in root.items())
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
            f'height="{HEIGHT}" role="img" aria-label="{esc(chart.title)}" {attributes}>{"".join(canvas.parts)}</svg>')


def draw(chart: Chart, canvas: Canvas) -> dict[str, str]:
    """Draw ``chart``; return what it drew as data attributes (domains and plot box)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x0, x1 = chart.x0, max(chart.x1, chart.x0 + 1e-9)
    values = [v for line in chart.lines for _, v in line.points if v is not None]
    data_top = max(values, default=0.0)
    limit = chart.limit.points[0][1] if chart.limit is not None and chart.limit.points else None
    off_scale = limit is not None and data_top > 0 and limit > OFF_SCALE * data_top
    if chart.y_max is not None:
        y1 = chart.y_max
    else:
        top = max(data_top, limit if limit is not None and not off_scale else 0.0)
        y1 = nice_top(top * 1.1 if top > 0 else 1.0)

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - min(max(y, 0.0), y1) / y1 * plot_h

    canvas.rect(0, 0, WIDTH, HEIGHT, "#ffffff")
    canvas.text(LEFT, 16, chart.title, size=13, bold=True)
    y_ticks = ticks(0.0, y1)
    decimals = tick_decimals(y_ticks)
    for tick in y_ticks:
        y = sy(tick)
        canvas.line(LEFT, y, LEFT + plot_w, y, "#eeeeee")
        canvas.text(LEFT - 6, y + 4, f"{tick:.{decimals}f}{chart.unit}", anchor="end")
    for tick in time_ticks(x1 - x0):
        canvas.text(sx(x0 + tick), TOP + plot_h + 14, duration(tick), anchor="middle")
    ribbon_y = TOP + plot_h + 20
    for start, end, verdict in chart.verdicts:
        left, right = sx(max(start, x0)), sx(min(end, x1))
        canvas.rect(left, ribbon_y, max(right - left, 1.5), 7, VERDICT_COLORS.get(verdict, "#000000"),
                    meta={"class": "verdict", "data-verdict": verdict}, tooltip=verdict.replace("_", "-"))
    for at, _ in chart.changes:
        x = sx(at)
        canvas.line(x, TOP, x, TOP + plot_h, "#90a4ae", dash="3,3", meta={"class": "change"})
    for x, label, anchor in change_labels([(sx(at), label) for at, label in chart.changes], LEFT + plot_w):
        # above the plot box, so it never sits on the threshold's label or the data
        canvas.text(x, TOP - 3, label, size=9, color="#607d8b", anchor=anchor)
    canvas.rect(LEFT, TOP, plot_w, plot_h, "", stroke="#999999")
    if chart.limit is not None and limit is not None:
        y = TOP + 1 if off_scale else sy(limit)
        label = f"{chart.limit.label} {_number(limit, chart.unit)}" + (" ↑ off scale" if off_scale else "")
        canvas.line(LEFT, y, LEFT + plot_w, y, chart.limit.color, 1.5, "6,4",
                    meta={"data-series": "limit", "data-value": f"{limit:g}"})
        canvas.text(LEFT + plot_w - 4, y + 11, label, color=chart.limit.color, anchor="end")
    for line in chart.lines:
        for run in _runs(line, plot_w, x0, x1):
            canvas.polyline([(sx(x), sy(y)) for x, y in run], line.color, 1.5 if line.dash else 2,
                            "5,3" if line.dash else "", meta={"data-series": line.name})
    legend_x = LEFT + 8.0
    for line in [*chart.lines, *([chart.limit] if chart.limit is not None else [])]:
        canvas.rect(legend_x, 22, 12, 3, line.color)
        canvas.text(legend_x + 16, 27, line.label)
        legend_x += 24 + 6 * len(line.label)
    return {"data-chart": chart.slug, "data-x0": f"{x0:g}", "data-x1": f"{x1:g}", "data-y0": "0",
            "data-y1": f"{y1:g}", "data-left": str(LEFT), "data-top": str(TOP), "data-width": str(plot_w),
            "data-height": str(plot_h)}


LABEL_CHAR = 5.6  # the width of a character of a 9-unit label, generously


def change_labels(changes: list[tuple[float, str]], right: float) -> list[tuple[float, str, str]]:
    """Where each traffic change's label goes (x, text, anchor), right of its line, or left of it
    at the axis' end. Changes close together (a ramp, then a long bake) would print their labels
    on top of each other: the later one wins, the earlier is left out (its line still shows)."""
    placed: list[tuple[float, str, str]] = []
    boundary = float("inf")  # the left edge of the label placed last (right of this one)
    for x, label in reversed(changes):
        width = LABEL_CHAR * len(label)
        at_edge = x > right - 30
        left, spot, anchor = (x - 2 - width, x - 2, "end") if at_edge else (x + 2, x + 2, "start")
        if left + width + 3 > boundary:
            continue
        placed.append((spot, label, anchor))
        boundary = left
    return placed[::-1]


class SvgCanvas:
    def __init__(self) -> None:
        self.parts: list[str] = []

    @staticmethod
    def _meta(meta: dict[str, str] | None) -> str:
        return "".join(f' {k}="{esc(v)}"' for k, v in (meta or {}).items())

    def rect(self, x: float, y: float, w: float, h: float, fill: str, stroke: str = "", *,
             meta: dict[str, str] | None = None, tooltip: str = "") -> None:
        paint = f' fill="{fill or "none"}"' + (f' stroke="{stroke}"' if stroke else "")
        inner = f"<title>{esc(tooltip)}</title></rect>" if tooltip else "/>"
        self.parts.append(f'<rect{self._meta(meta)} x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"'
                          f'{paint}{">" + inner if tooltip else inner}')

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str, width: float = 1.0, dash: str = "",
             *, meta: dict[str, str] | None = None) -> None:
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line{self._meta(meta)} x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                          f'stroke="{color}" stroke-width="{width:g}"{dashes}/>')

    def polyline(self, points: list[tuple[float, float]], color: str, width: float, dash: str = "", *,
                 meta: dict[str, str] | None = None) -> None:
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.parts.append(f'<polyline{self._meta(meta)} fill="none" stroke="{color}" stroke-width="{width:g}"'
                          f'{dashes} points="{coords}"/>')

    def text(self, x: float, y: float, text: str, size: float = 10, color: str = "#222", anchor: str = "start",
             bold: bool = False) -> None:
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" fill="{color}" '
                          f'text-anchor="{anchor}" font-family="sans-serif"{weight}>{esc(text)}</text>')


def _runs(line: Line, columns: int, x0: float, x1: float) -> list[list[tuple[float, float]]]:
    """The line's unbroken stretches (a None breaks it), stepped if asked, thinned to the plot."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in line.points:
        if y is None:
            if runs[-1]:
                runs.append([])
            continue
        if line.step and runs[-1]:
            runs[-1].append((x, runs[-1][-1][1]))
        runs[-1].append((x, y))
    return [thin(run, columns, x0, x1) for run in runs if run]


def thin(points: list[tuple[float, float]], columns: int, x0: float, x1: float) -> list[tuple[float, float]]:
    """At most two points per pixel column, its lowest and its highest in the order they came:
    every spike stays visible; the first and last points are kept."""
    if len(points) <= 2 * columns:
        return points
    scale = columns / (x1 - x0)
    kept: list[tuple[float, float]] = [points[0]]
    column, low, high = -1, points[0], points[0]
    for point in points[1:-1]:
        c = int((point[0] - x0) * scale)
        if c != column:
            if column >= 0:
                kept += (low, high) if low[0] <= high[0] else (high, low)
            column, low, high = c, point, point
        elif point[1] < low[1]:
            low = point
        elif point[1] > high[1]:
            high = point
    kept += (low, high) if low[0] <= high[0] else (high, low)
    kept.append(points[-1])
    return [p for i, p in enumerate(kept) if i == 0 or p != kept[i - 1]]


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above ``value``."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        top: float = step * 10.0 ** exponent
        if top >= value - 1e-12:
            return top
    return 10.0 ** (exponent + 1)


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    if span <= 0:
        return [low]
    step = nice_top(span / count)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


# Steps a clock reads well: seconds, minutes, hours (never 1h23m20s).
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(span: float, count: int = 6) -> list[float]:
    """Ticks of a time axis ``span`` seconds long: at most ``count`` + 1, a whole number of
    seconds, minutes or hours apart (0s, 2h, 4h, not 0s, 1h23m, 2h46m)."""
    if span <= 0:
        return [0.0]
    step = next((float(s) for s in TIME_STEPS if s >= span / count), None)
    if step is None:  # longer than days: whole days
        step = 86400.0 * math.ceil(span / count / 86400.0)
    return [i * step for i in range(int(span / step + 1e-9) + 1)]


def tick_decimals(values: list[float]) -> int:
    """The fewest decimals that write every tick exactly: 0%, 2%, … 10%; 0.25%, 0.50%; 0.2%, 0.4%
    (one axis, one format)."""
    for decimals in range(4):
        if all(abs(round(v, decimals) - v) < 1e-9 for v in values):
            return decimals
    return 4


def duration(seconds: float) -> str:
    """Seconds since the start as a person reads them: 45s, 2m30s, 1h05m."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m" if s % 3600 >= 60 else f"{s // 3600}h"


def _number(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%" if value == 0 or value >= 10 else f"{value:.2f}%"
    return f"{value:.0f}{unit}"
