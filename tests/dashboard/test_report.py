"""`conductor report`: one release as a self-contained HTML file, a markdown file, and its charts
on their own, from the journal alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.dashboard.conftest import start_canary


def test_the_html_report_is_self_contained(paused: Workspace, capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    start_canary(paused, "/orchestrate rollback", expect=3)
    target = tmp_path / "release.html"
    result = paused.cli(capsys, "report", "1", "--html", str(target))
    assert result.code == 0, result.err
    page = target.read_text()
    assert page.index("## Deployment Orchestration") < page.index("<svg")  # the Output Format comes first
    assert "### Strategy: Canary" in page  # the release's, though it has ended (not "Status")
    assert "· rolled back (`conductor status` exits 3)_" in page  # no exit code of a run that never was
    assert page.count("<svg") == 9  # traffic, errors, latency for api, web, worker
    assert "<script" not in page and "src=" not in page and "href=" not in page  # nothing outside the file
    assert set(re.findall(r"https?://[^\"' )]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "&lt;conductor&gt;ROLLBACK:api:manual&lt;/conductor&gt;" in page  # the signal, shown as text
    assert "person:cli</b> approved up to 10%" in page and "rolled back" in page


def test_the_markdown_report_links_its_charts_written_on_their_own(paused: Workspace,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   tmp_path: Path) -> None:
    target, charts = tmp_path / "out" / "release.md", tmp_path / "out" / "charts"
    result = paused.cli(capsys, "report", "--md", str(target), "--charts", str(charts))
    assert result.code == 0, result.err
    text = target.read_text()
    assert text.startswith("## Deployment Orchestration")
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert len(links) == 9 and all((target.parent / link).is_file() for link in links)
    assert sorted(p.suffix for p in charts.iterdir()) == [".png"] * 9 + [".svg"] * 9
    assert "| api | " in text and "non-inferior" in text and "**person:cli** approved up to 10%" in text
    assert "<conductor>" not in text
    assert "· awaiting approval (`conductor status` exits 5)_" in text
    assert "1. Approve the ramp-up to 25%: `conductor orchestrate canary 25`" in text  # the CLI's words
    assert f"wrote {charts / 'release-1-api-errors.svg'} and release-1-api-errors.png" in result.err


def test_stdout_by_default_and_a_missing_release_is_a_usage_error(paused: Workspace,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    shown = paused.cli(capsys, "report")
    assert shown.code == 0 and "### Verdicts and their evidence" in shown.out
    missing = paused.cli(capsys, "report", "7")
    assert missing.code == 2 and "no release #7; it has #1" in missing.err
    with pytest.raises(SystemExit) as bad:  # argparse's own exit, as for every subcommand
        paused.cli(capsys, "report", "zero")
    assert bad.value.code == 2


def test_a_dash_writes_to_stdout(paused: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    start_canary(paused, "/orchestrate rollback", expect=3)  # a signal to show
    html = paused.cli(capsys, "report", "--html", "-")
    assert html.code == 0 and html.out.startswith("<!doctype html>") and html.out.count("<svg") == 9
    assert not (paused.root / "-").exists()
    assert "<conductor>" not in html.out  # a signal in the page is text, even on stdout
    assert "&lt;conductor&gt;ROLLBACK:api:manual&lt;/conductor&gt;" in html.out
    md = paused.cli(capsys, "report", "--md", "-")
    assert md.code == 0 and md.out.startswith("## Deployment Orchestration") and "wrote" not in md.err
    both = paused.cli(capsys, "report", "--md", "-", "--html", "-")
    assert both.code == 2 and "both write to stdout" in both.err


def test_no_journal_yet_is_a_usage_error(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    result = workspace.cli(capsys, "report", "--html", "x.html")
    assert result.code == 2 and "nothing has been released yet" in result.err
    assert not (workspace.root / "x.html").exists() and not (workspace.state_dir / "journal.db").exists()
