"""Which lines go into which chart: a release's series (:mod:`conductor.release_history`) as chart
specifications that :mod:`.svg` (and :mod:`.png`) draw, so the page, the report and a chat
notification show the same picture.

Three charts per service, on one time axis (seconds since the release started, platform time):

- **traffic**: the new version's share after each change, as steps;
- **error rate** and **latency**: the canary and stable over the evidence the judge weighed (since
  the last traffic change); stable plus the tolerance (the line the judge tests against); the
  judge's two bounds around it, stable's confidence limits plus the tolerance (confidently above
  the regression bound the canary is a regression; confidently below the non-inferiority bound it
  is fine); and the absolute ``rollbackThreshold``.

Every chart marks each traffic change (a vertical line) and carries the verdicts as a ribbon
under the time axis, one colour per verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from conductor.release_history import Check, ReleaseHistory, ServiceSeries

VERDICT_COLORS = {"non_inferior": "#2e7d32", "inconclusive": "#9e9e9e", "regression": "#c62828",
                  "unavailable": "#ef6c00"}
CANARY, STABLE, BOUND, LIMIT, OK, TOLERANCE = "#1565c0", "#6d4c41", "#7b1fa2", "#c62828", "#2e7d32", "#a1887f"
# canary, stable, regression bound, limit, non-inferiority bound, stable + tolerance
Figures = tuple[float | None, float | None, float | None, float | None, float | None, float | None]


@dataclass(frozen=True)
class Line:
    """One series: ``name`` keys it (``data-series`` in the SVG), ``label`` names it in the legend.
    A None value breaks the line (the judge had no such figure for that check)."""

    name: str
    label: str
    color: str
    points: list[tuple[float, float | None]]
    dash: bool = False
    step: bool = False


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str  # "%" or "ms"
    x0: float  # the release's start (platform time): the axis reads seconds since then
    x1: float
    lines: list[Line]
    limit: Line | None = None  # the absolute threshold: drawn at the top edge when far above the data
    changes: list[tuple[float, str]] = field(default_factory=list)  # traffic changes (at, label)
    verdicts: list[tuple[float, float, str]] = field(default_factory=list)  # runs (from, to, verdict)
    y_max: float | None = None  # a fixed top (traffic: 100)
    slug: str = ""  # file-name-safe id: "api-errors"


def service_charts(history: ReleaseHistory, svc: ServiceSeries) -> list[Chart]:
    """The traffic, error-rate and latency charts of one service."""
    x0, x1 = history.started_at, max(history.last_at, history.started_at + 1.0)
    changes = [(at, f"{p}%") for at, p in svc.traffic[1:]]
    runs = verdict_runs(svc.checks)
    traffic = Chart(f"{svc.name}: traffic on {svc.target_version}", "%", x0, x1,
                    [Line("traffic", f"{svc.target_version} share", CANARY, _steps(svc, x1), step=True)],
                    changes=changes, verdicts=runs, y_max=100.0, slug=f"{svc.name}-traffic")
    percentile = svc.checks[-1].percentile if svc.checks else "p95"
    errors = _judged(f"{svc.name}: error rate", "%", x0, x1, svc.checks, changes, runs, f"{svc.name}-errors",
                     lambda c: (c.error_rate, c.stable_error_rate, c.error_bound, c.error_limit, c.error_ok_bound,
                                c.error_tolerance_line))
    latency = _judged(f"{svc.name}: {percentile} latency", "ms", x0, x1, svc.checks, changes, runs,
                      f"{svc.name}-latency",
                      lambda c: (c.latency_ms, c.stable_latency_ms, c.latency_bound, c.latency_limit,
                                 c.latency_ok_bound, c.latency_tolerance_line))
    return [traffic, errors, latency]


def _steps(svc: ServiceSeries, until: float) -> list[tuple[float, float | None]]:
    points: list[tuple[float, float | None]] = [(at, float(p)) for at, p in svc.traffic]
    return [*points, (until, float(svc.percent))]


def _judged(title: str, unit: str, x0: float, x1: float, checks: list[Check], changes: list[tuple[float, str]],
            runs: list[tuple[float, float, str]], slug: str,
            pick: Callable[[Check], Figures]) -> Chart:
    rows = [(c.at, pick(c)) for c in checks]

    def line(name: str, label: str, color: str, index: int, dash: bool = False) -> Line:
        return Line(name, label, color, [(at, v[index]) for at, v in rows], dash=dash)

    limits = [v[3] for _, v in rows if v[3] is not None]
    limit = Line("limit", "rollbackThreshold", LIMIT, [(x0, limits[-1]), (x1, limits[-1])], dash=True) \
        if limits else None
    lines = [line("stable", "stable", STABLE, 1), line("tolerance", "stable+tolerance", TOLERANCE, 5, dash=True),
             line("bound", "regression bound", BOUND, 2, dash=True), line("ok", "non-inferior bound", OK, 4, dash=True),
             line("canary", "canary", CANARY, 0)]
    return Chart(title, unit, x0, x1, lines, limit, changes, runs, slug=slug)


def verdict_runs(checks: list[Check]) -> list[tuple[float, float, str]]:
    """Consecutive checks with one verdict as one run (from its first window's start to its last
    check): a ribbon of a few rectangles, whatever the number of checks."""
    runs: list[tuple[float, float, str]] = []
    for check in checks:
        start = check.window_start if check.window_start is not None else check.at
        if runs and runs[-1][2] == check.verdict:
            runs[-1] = (runs[-1][0], check.at, check.verdict)
        else:
            begin = runs[-1][1] if runs else start
            runs.append((min(begin, check.at), check.at, check.verdict))
    return runs
