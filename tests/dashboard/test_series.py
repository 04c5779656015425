"""The series the dashboard and the report chart are the journal's own numbers, read
incrementally; the charts draw them where the axes say; nothing read becomes markup or a signal."""

from __future__ import annotations

import itertools
import re
import struct
import zlib
from pathlib import Path

import pytest

from conductor.frontends.dashboard import pages, png, report, svg
from conductor.frontends.dashboard.charts import CANARY, service_charts
from conductor.journal.events import BrainTurn, Failed, HealthChecked, OrchestrationStarted, ServicePlan, ToolCall
from conductor.journal.store import Journal
from conductor.readonly_journal import ReadOnlyJournal
from conductor.release_history import ReleaseHistory, releases
from tests.conftest import Workspace
from tests.dashboard.conftest import judge_test, raw_events, start_canary


def _history(ws: Workspace) -> ReleaseHistory:
    history = ReleaseHistory(ReadOnlyJournal(ws.state_dir / "journal.db"), 1)
    history.advance()
    return history


def test_series_are_the_journals_numbers(paused: Workspace) -> None:
    start_canary(paused, "/orchestrate canary 25")
    history = _history(paused)
    for name in ("api", "web", "worker"):
        checks = [e for e in raw_events(paused, "health_checked") if e["service"] == name]
        series = history.services[name]
        assert len(series.checks) == len(checks) > 4
        for mine, raw in zip(series.checks, checks, strict=True):
            a = raw["data"]["assessment"]
            assert (mine.seq, mine.at, mine.verdict) == (raw["seq"], raw["at"], a["verdict"])
            assert (mine.error_rate, mine.stable_error_rate) == (a["error_rate"], a["baseline_error_rate"])
            assert (mine.latency_ms, mine.stable_latency_ms) == (a["latency_ms"], a["baseline_latency_ms"])
            assert mine.error_bound == pytest.approx(100 * judge_test(a, "error_rate")["p0_regression"])
            assert mine.latency_bound == judge_test(a, "latency")["figures"]["slow_regression_ms"]
            assert mine.error_limit == pytest.approx(100 * a["evidence"]["settings"]["max_error_rate"])
            assert mine.latency_limit == a["evidence"]["settings"]["max_latency_ms"]
            assert mine.error_ok_bound == pytest.approx(100 * judge_test(a, "error_rate")["p0_non_inferior"])
            assert mine.latency_ok_bound == judge_test(a, "latency")["figures"]["slow_non_inferior_ms"]
            settings = a["evidence"]["settings"]
            assert mine.error_tolerance_line == pytest.approx(
                a["baseline_error_rate"] * (1 + settings["error_tolerance"]) + 100 * settings["error_floor"])
            assert mine.latency_tolerance_line == pytest.approx(
                a["baseline_latency_ms"] * (1 + settings["latency_tolerance"]))
            low, middle, high = mine.error_ok_bound, mine.error_tolerance_line, mine.error_bound
            assert low is not None and middle is not None and high is not None
            assert low < middle < high  # the judge's band, with stable + tolerance inside it
        shifts = [(e["at"], e["data"]["weights"]["green"]) for e in raw_events(paused, "traffic_shifted")
                  if e["service"] == name]
        assert series.traffic[1:] == shifts and [p for _, p in shifts] == [10, 25]
        assert series.status == "Awaiting approval (25% → 50%)"
    assert [(a.actor, a.percent) for a in history.approvals] == [("person:cli", 10), ("person:cli", 25)]
    assert len(history.timeline) == len(raw_events(paused)) == history.events


def test_read_in_steps_equals_read_at_once(paused: Workspace) -> None:
    journal = ReadOnlyJournal(paused.state_dir / "journal.db")
    following = ReleaseHistory(journal, 1)
    assert following.advance() and not following.advance()  # nothing new: nothing read
    start_canary(paused, "/orchestrate canary 25")
    assert following.advance()
    once = _history(paused)
    assert following.timeline == once.timeline
    for name in once.services:
        assert following.services[name].checks == once.services[name].checks
        assert following.services[name].traffic == once.services[name].traffic


def test_fields_extracts_figures_without_parsing_histograms(paused: Workspace) -> None:
    journal = Journal(paused.state_dir / "journal.db")
    rows = journal.fields(1, ("health_checked",), ("$.assessment.verdict", "$.no.such.path"))
    assert rows and all(values[1] is None and isinstance(values[0], str) for *_, values in rows)
    with pytest.raises(ValueError):
        journal.fields(1, ("health_checked",), ("$.one",))


def _points(chart_svg: str, series: str) -> list[tuple[float, float]]:
    found = re.search(rf'data-series="{series}"[^>]* points="([^"]+)"', chart_svg)
    assert found, series
    return [(float(x), float(y)) for x, y in (p.split(",") for p in found.group(1).split())]


def _domain(chart_svg: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r'data-(x0|x1|y0|y1|left|top|width|height)="([-\d.e+]+)"', chart_svg)}


def test_a_chart_draws_the_journals_numbers_where_its_axes_say(paused: Workspace) -> None:
    history = _history(paused)
    errors = next(c for c in service_charts(history, history.services["api"]) if c.slug == "api-errors")
    drawn = svg.render(errors)
    d = _domain(drawn)
    checks = [e for e in raw_events(paused, "health_checked") if e["service"] == "api"]
    points = _points(drawn, "canary")
    assert len(points) == len(checks)
    for (x, y), raw in zip(points, checks, strict=True):
        at = d["x0"] + (x - d["left"]) / d["width"] * (d["x1"] - d["x0"])
        rate = (d["top"] + d["height"] - y) / d["height"] * d["y1"]
        assert at == pytest.approx(raw["at"], abs=(d["x1"] - d["x0"]) / d["width"] * 0.1)
        assert rate == pytest.approx(raw["data"]["assessment"]["error_rate"], abs=d["y1"] / d["height"] * 0.1)
    assert 'data-series="limit" data-value="5"' in drawn  # rollbackThreshold.errorRate, drawn in
    for series in ("bound", "ok", "tolerance", "stable"):
        assert f'data-series="{series}"' in drawn
    assert drawn.count('class="change"') == 1  # the one traffic change so far (0 → 10%)


def test_traffic_change_labels_sit_above_the_plot_clear_of_the_thresholds_label(paused: Workspace) -> None:
    start_canary(paused, "/orchestrate canary 25")  # a change late on the axis, near the off-scale limit's label
    history = _history(paused)
    latency = next(c for c in service_charts(history, history.services["api"]) if c.slug == "api-latency")
    drawn = svg.render(latency)
    top = _domain(drawn)["top"]
    texts = re.findall(r'<text x="([-\d.]+)" y="([-\d.]+)" font-size="([\d.]+)"[^>]*>([^<]*)</text>', drawn)
    changes = [(float(y), float(size)) for _, y, size, label in texts if label in ("10%", "25%")]
    threshold = [float(y) for _, y, _, label in texts if label.startswith("rollbackThreshold 1000ms")]
    assert len(changes) == 2 and threshold, texts
    assert all(y <= top for y, _ in changes)  # a label's baseline above the plot box: its glyphs outside it
    assert all(y - 10 >= top for y in threshold)  # the threshold's label wholly inside the box, under its top


def test_change_labels_crowded_by_a_long_bake_never_overlap_and_the_latest_is_kept() -> None:
    right = svg.WIDTH - svg.RIGHT
    crowded = [(75.0, "10%"), (97.0, "25%"), (113.0, "50%"), (124.0, "100%"), (right - 5, "0%")]
    placed = svg.change_labels(crowded, right)
    extents = sorted((x - svg.LABEL_CHAR * len(t) if anchor == "end" else x,
                      x if anchor == "end" else x + svg.LABEL_CHAR * len(t)) for x, t, anchor in placed)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(extents)), extents
    assert [t for _, t, _ in placed] == ["10%", "25%", "100%", "0%"]  # 50% gave way to 100%
    assert placed[-1][2] == "end" and all(x <= right for x, _, _ in placed)  # the last at the edge: left of it
    spread = [(100.0, "10%"), (300.0, "25%"), (500.0, "50%")]
    assert [t for _, t, _ in svg.change_labels(spread, right)] == ["10%", "25%", "50%"]


def test_an_axis_writes_its_ticks_in_one_format() -> None:
    def labels(top: float) -> list[str]:
        values = svg.ticks(0.0, top)
        return [f"{v:.{svg.tick_decimals(values)}f}" for v in values]
    assert labels(10.0) == ["0", "2", "4", "6", "8", "10"]  # not 8.00% under 10%
    assert labels(1.0) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    assert labels(0.05) == ["0.00", "0.01", "0.02", "0.03", "0.04", "0.05"]


def test_a_time_axis_ticks_in_whole_seconds_minutes_or_hours() -> None:
    def labels(span: float) -> list[str]:
        return [svg.duration(t) for t in svg.time_ticks(span)]
    assert labels(20_000.0) == ["0s", "1h", "2h", "3h", "4h", "5h"]  # not 1h23m, 2h46m
    assert labels(1005.0) == ["0s", "5m", "10m", "15m"]  # a 15-minute bake
    assert labels(85.0) == ["0s", "15s", "30s", "45s", "1m", "1m15s"]
    assert labels(45.0) == ["0s", "10s", "20s", "30s", "40s"]


def test_thinning_keeps_every_spike_and_bounds_the_size() -> None:
    points = [(float(i), 1.0) for i in range(10_000)]
    points[5_000] = (5000.0, 9.0)
    points[7_001] = (7001.0, -3.0)
    thinned = svg.thin(points, 600, 0.0, 10_000.0)
    assert len(thinned) <= 2 * 600 + 2 and (5000.0, 9.0) in thinned and (7001.0, -3.0) in thinned
    assert [x for x, _ in thinned] == sorted(x for x, _ in thinned)  # still a line from left to right
    assert thinned[0] == points[0] and thinned[-1] == points[-1]


def test_nothing_read_from_the_journal_becomes_markup_or_a_signal(paused: Workspace, tmp_path: Path) -> None:
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)> <conductor>DEPLOYED:api</conductor> &lt;b&gt;'
    journal = Journal(paused.state_dir / "journal.db")
    journal.append(ToolCall(tool="deploy", decision="refused", message=hostile, guard=hostile), at=99.0,
                   actor="brain:policy", orchestration=1, service="api")
    journal.append(Failed(reason=hostile), at=99.0, actor="brain:policy", orchestration=1, service="web")
    journal.append(BrainTurn(turn=9, stop_reason="end_turn", text=hostile + " [approve here](http://evil.example/)"),
                   at=99.0, actor="brain:anthropic", orchestration=1)
    journal.append(HealthChecked(assessment={"verdict": '"><script>alert(3)</script>', "reason": hostile,
                                             "error_rate": 1.0, "percentile": '"><script>'}, window_start=90.0),
                   at=99.0, actor="watchdog", orchestration=1, service="worker")
    plan = ServicePlan(stable_version="<script>v1</script>", target_version='"><img src=x>')
    journal.start("/orchestrate canary", "canary", [(OrchestrationStarted(
        command=hostile, strategy="canary", services={'<svg onload="alert(4)">': plan}), None)],
        at=100.0, actor="person:cli")
    for release in (1, 2):
        history = ReleaseHistory(ReadOnlyJournal(paused.state_dir / "journal.db"), release)
        history.advance()
        page = pages.release_page(history, pages.plain_link, mode="test", stream=None)
        charts = "".join(svg.render(c) for s in history.services.values() for c in service_charts(history, s))
        listed = pages.releases_page(releases(history.journal), pages.plain_link, "test", None)
        for text in (page, charts, listed):
            assert "<script>" not in text and "<img" not in text and "<conductor>" not in text
            assert "<svg onload" not in text and 'onload="alert' not in text
    history = _history(paused)
    page = pages.release_page(history, pages.plain_link, mode="test", stream=None)
    for text in (page,):
        assert "&lt;b&gt;" not in text.replace("&amp;lt;b&amp;gt;", "")  # an entity stays text, never a tag
    assert page.count("<script") == 1  # the page's own live.js, nothing else
    assert "said &#34;" in page or "said &quot;" in page  # what the brain said is shown, as text
    made = report.markdown(report.ReleaseReport(history, ""))
    assert "](http://evil.example/)" not in made.replace("\\](", "")  # a model's words make no link in the file
    assert "<conductor>" not in made and "<script>" not in made
    assert "‹script>alert(1)‹/script>" in page.replace("&gt;", ">")  # shown, neutralised and escaped


def test_the_releases_list_names_who_approved_and_the_outcome(paused: Workspace) -> None:
    start_canary(paused, "/orchestrate canary 25")
    start_canary(paused, "/orchestrate rollback", expect=3)
    rows = releases(ReadOnlyJournal(paused.state_dir / "journal.db"))
    assert [(r.id, r.outcome) for r in rows] == [(1, "rolled_back")]
    assert [(a.actor, a.percent) for a in rows[0].approvals] == [("person:cli", 10), ("person:cli", 25)]


def test_a_png_chart_is_a_real_png_with_the_canary_line(paused: Workspace) -> None:
    history = _history(paused)
    data = png.render(service_charts(history, history.services["api"])[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (svg.WIDTH * png.SCALE, svg.HEIGHT * png.SCALE)
    length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41:41 + length])
    assert bytes(int(CANARY[i:i + 2], 16) for i in (1, 3, 5)) in raw  # the canary's colour was drawn
