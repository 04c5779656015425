"""The dashboard in a real headless browser: Debian's chromium, driven by playwright through its
``executable_path`` (playwright's own browser download cannot run here). One browser for the
module; each test opens a page of its own. Screenshots go to tests/dashboard/screenshots/ (not
committed); with CONDUCTOR_DOCS_SCREENSHOT=1 the live page's also replaces docs/dashboard.png.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conductor.frontends.dashboard.server import Dashboard
from tests.conftest import Workspace
from tests.dashboard.conftest import raw_events, wait_idle

CHROMIUM = os.environ.get("CONDUCTOR_CHROMIUM", "/usr/bin/chromium")
if not shutil.which(CHROMIUM):
    pytest.skip(f"no chromium at {CHROMIUM}: install Debian's `chromium` package (.ci/run does) to run the "
                "browser tests", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]'")

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).parent / "screenshots"
DOCS = Path(__file__).parents[2] / "docs" / "dashboard.png"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    SHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        profile = tmp_path_factory.mktemp("chromium-profile")
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1500, "height": 1000})
        yield context
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    browser.clear_cookies()
    opened = browser.new_page()
    yield opened
    opened.close()


def test_the_page_is_refused_without_the_token_and_loads_with_it(read_only: Dashboard, page: Any) -> None:
    bare = f"http://127.0.0.1:{read_only.port}/"
    refused = page.goto(bare)
    assert refused is not None and refused.status == 401
    assert "needs the token" in page.content()
    loaded = page.goto(read_only.url("/"))
    assert loaded is not None and loaded.status == 200
    row = page.locator("tr[data-release='1']")
    assert "10% by person:cli" in row.inner_text() and "in flight" in row.inner_text()
    page.screenshot(path=str(SHOTS / "releases.png"), full_page=True)
    page.goto(bare + "release/1")  # the cookie the first page set now stands for the token
    assert page.locator("h1").inner_text().startswith("Release #1")


def test_the_live_page_follows_a_release_another_process_drives(read_only: Dashboard, paused: Workspace,
                                                                 page: Any) -> None:
    page.goto(read_only.url("/release/1"))
    assert page.locator("tr[data-service='api'] .percent").get_attribute("data-percent") == "10"
    page.evaluate("window.notReloaded = true")
    seq = int(page.locator("[data-live='release']").get_attribute("data-seq"))
    result = paused.subprocess("orchestrate", "canary", "25")
    assert result.code == 0, result.err
    page.wait_for_function("document.querySelector(\"tr[data-service='api'] .percent\").dataset.percent === '25'",
                           timeout=15_000)
    assert page.evaluate("window.notReloaded") is True  # updated in place, by the stream
    assert int(page.locator("[data-live='release']").get_attribute("data-seq")) > seq
    assert "Awaiting approval (25% → 50%)" in page.locator("tr[data-service='web']").inner_text()
    page.screenshot(path=str(SHOTS / "release-live.png"), full_page=True)


def test_an_approval_from_the_page_moves_traffic_one_step_as_the_persons(acting: Dashboard, paused: Workspace,
                                                                         page: Any) -> None:
    page.goto(acting.url("/release/1"))
    last = raw_events(paused)[-1]["seq"]
    page.click("a.button.approve")
    assert page.locator("[data-confirm]").inner_text() == "ramp api, web, worker 10% → 25%"
    page.screenshot(path=str(SHOTS / "confirm.png"))
    page.click("form.confirm button[type=submit]")
    page.wait_for_load_state()
    assert page.url.split("?")[0].endswith("/release/1"), (page.url, page.locator("main").inner_text())
    wait_idle(acting)
    page.wait_for_function("document.querySelector(\"tr[data-service='worker'] .percent\").dataset.percent === '25'",
                           timeout=15_000)
    after = [e for e in raw_events(paused) if e["seq"] > last]
    assert [(e["actor"], e["data"]["percent"]) for e in after if e["kind"] == "approval_granted"] == [
        ("person:dashboard", 25)]
    assert sorted((e["service"], e["data"]["weights"]["green"]) for e in after if e["kind"] == "traffic_shifted") == [
        ("api", 25), ("web", 25), ("worker", 25)]
    assert "person:dashboard approved up to 25%" in page.locator("section.approvals").inner_text()
    page.screenshot(path=str(SHOTS / "release-approved.png"), full_page=True)
    if os.environ.get("CONDUCTOR_DOCS_SCREENSHOT") == "1":
        page.set_viewport_size({"width": 1500, "height": 1100})
        page.screenshot(path=str(DOCS))


_READ_CHART = """(slug) => {
  const svg = document.querySelector(`svg[data-chart='${slug}']`);
  const d = Object.fromEntries(['x0','x1','y1','left','top','width','height'].map(k => [k, +svg.dataset[k]]));
  const line = svg.querySelector("polyline[data-series='canary']");
  const points = line.getAttribute('points').trim().split(' ').map(p => p.split(',').map(Number));
  return points.map(([x, y]) => [d.x0 + (x - d.left) / d.width * (d.x1 - d.x0),
                                 (d.top + d.height - y) / d.height * d.y1,
                                 (d.x1 - d.x0) / d.width, d.y1 / d.height]);
}"""


def test_a_charts_series_in_the_browser_match_the_journals_numbers(read_only: Dashboard, paused: Workspace,
                                                                   page: Any) -> None:
    page.goto(read_only.url("/release/1"))
    for slug, figure in (("web-errors", "error_rate"), ("web-latency", "latency_ms")):
        drawn = page.evaluate(_READ_CHART, slug)
        checks = [e for e in raw_events(paused, "health_checked") if e["service"] == "web"]
        assert len(drawn) == len(checks) > 2
        for (at, value, x_pixel, y_pixel), raw in zip(drawn, checks, strict=True):
            assert at == pytest.approx(raw["at"], abs=x_pixel * 0.1)
            assert value == pytest.approx(raw["data"]["assessment"][figure], abs=y_pixel * 0.1)


_LAYOUT = """() => ({overflow: document.documentElement.scrollWidth - window.innerWidth,
  charts: [...document.querySelectorAll('svg.chart')].map(svg => svg.getBoundingClientRect().width)})"""


def test_on_a_laptop_screen_charts_are_legible_and_nothing_scrolls_sideways(
        read_only: Dashboard, paused: Workspace, page: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "release.html"
    assert paused.cli(capsys, "report", "--html", str(report)).code == 0
    page.set_viewport_size({"width": 1280, "height": 800})
    for url in (read_only.url("/release/1"), report.as_uri()):
        page.goto(url)
        layout = page.evaluate(_LAYOUT)
        assert layout["overflow"] <= 0, url  # the report's long lines wrap
        # the charts' 10-unit text drawn at 8.5 px or more (they are 720 units wide)
        assert len(layout["charts"]) == 9 and min(layout["charts"]) >= 612, (url, layout["charts"])
    page.screenshot(path=str(SHOTS / "report-laptop.png"), full_page=True)


def test_a_page_whose_dashboard_stopped_says_it_no_longer_updates(paused: Workspace, page: Any) -> None:
    from tests.dashboard.conftest import serve

    dashboard, served = serve(paused)
    try:
        page.goto(dashboard.url("/release/1"))
        page.wait_for_function("!document.body.classList.contains('offline')")
    finally:
        served.stop()
    page.wait_for_function("document.body.classList.contains('offline')", timeout=15_000)
    said = page.evaluate("getComputedStyle(document.querySelector('header'), '::after').content")
    assert "not live" in said and "no longer updates" in said
    page.screenshot(path=str(SHOTS / "release-offline.png"))
