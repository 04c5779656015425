"""The rollout report of one release, as a file people share: a CI artifact, a pull request, a
post-mortem. ``conductor report [release] --html FILE`` / ``--md FILE`` / ``--charts DIR``.

At the top the spec's Output Format (the same report ``conductor orchestrate`` prints, built by
:func:`conductor.report.build_report` from the journal), then the charts, the verdicts with their
evidence, the approvals, the signals and the timeline.

The HTML file is self-contained: the stylesheet inlined, the charts inline SVG, no script and no
link to anything outside it, so it opens the same from a CI artifact store as from a laptop. The
markdown file carries the same tables; its charts are the SVG (and PNG) files ``--charts`` writes,
linked by relative path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from conductor.command import parse_command
from conductor.errors import UsageError
from conductor.frontends.dashboard import pages, png, svg
from conductor.frontends.dashboard.charts import Chart, service_charts
from conductor.journal.state import fold
from conductor.output import safe_report, safe_text
from conductor.release_history import ReleaseHistory, releases
from conductor.report import build_report

if TYPE_CHECKING:
    from conductor.session import Conductor

_STATUS_CODES = {"complete": 0, "rolled_back": 3, "failed": 1, "awaiting_approval": 5, "running": 6}
MD_TIMELINE_ROWS = 500


@dataclass(frozen=True)
class ReleaseReport:
    history: ReleaseHistory
    output_format: str  # the spec's report, markdown, made safe

    def charts(self) -> list[Chart]:
        return [c for s in self.history.services.values() for c in service_charts(self.history, s)]


def load(conductor: Conductor, release: int | None) -> ReleaseReport:
    """The report of ``release`` (default: the latest); UsageError if the journal has none."""
    if not conductor.has_journal:
        raise UsageError(f"no journal in {conductor.state_dir}: nothing has been released yet")
    journal = conductor.journal
    known = [r.id for r in releases(journal)]
    if not known:
        raise UsageError("the journal has no release yet")
    chosen = known[0] if release is None else release
    if chosen not in known:
        raise UsageError(f"the journal has no release #{release}; it has #{', #'.join(map(str, sorted(known)))}")
    history = ReleaseHistory(journal, chosen)
    history.advance()
    state = fold(journal.events(chosen))
    assert state is not None
    # the release's own strategy: a status command would title a finished release "Strategy: Status"
    try:
        command = parse_command(f"/orchestrate {state.strategy}", conductor.config.orchestration.services)
    except UsageError:
        command = parse_command("/orchestrate", conductor.config.orchestration.services)
    code = _STATUS_CODES.get(state.status, 1)
    text, _ = build_report(conductor, command, state, [], code, [], None)
    return ReleaseReport(history, safe_report(_status_footer(text, state.status, code)))


def _status_footer(text: str, status: str, code: int) -> str:
    """The footer's ``exit N`` is a command's exit code; this file was made by no such run (the
    release's own commands may have exited otherwise: 0 at a pause, 7 when the brain stopped
    early), so it says the release's state and the code ``conductor status`` gives it."""
    words = status.replace("_", " ").replace("running", "in flight")
    return re.sub(r" · exit \d+_\s*$", f" · {words} (`conductor status` exits {code})_\n", text)


def html(report: ReleaseReport) -> str:
    """One self-contained HTML file."""
    return pages.release_page(report.history, pages.plain_link, mode=f"report of release #{report.history.id}",
                              stream=None, inline_assets=True, output_format=report.output_format)


def markdown(report: ReleaseReport, chart_links: dict[str, str] | None = None) -> str:
    h = report.history
    undo = f" · undo of release #{h.undo_of}" if h.undo_of else ""
    out = [report.output_format.rstrip(), "", f"## Release #{h.id} in detail", "",
           f"`{_md(h.command)}` ({_md(h.strategy)}){undo} · started {_md(h.started_wall[:19].replace('T', ' '))} UTC · "
           f"{h.events} journal events · platform time {svg.duration(h.last_at - h.started_at)} · "
           f"outcome: {_md((h.outcome or 'in flight').replace('_', ' '))}", ""]
    if chart_links:
        out += ["### Charts", ""] + [f"![{_md(slug)}]({link})" for slug, link in chart_links.items()] + [""]
    out += ["### Verdicts and their evidence", "",
            "| Service | At | Verdict | Canary err | Stable err | Bound | Limit | Canary lat | Stable lat | Bound | "
            "Limit | Requests | Reason |", "|" + "---|" * 13]
    for name, series in h.services.items():
        for c in pages.verdict_changes(series.checks):
            out.append(f"| {_md(name)} | {svg.duration(c.at - h.started_at)} | {_md(c.verdict.replace('_', '-'))} | "
                       f"{pages.pct(c.error_rate)} | {pages.pct(c.stable_error_rate)} | {pages.pct(c.error_bound)} | "
                       f"{pages.pct(c.error_limit)} | {pages.ms(c.latency_ms)} | {pages.ms(c.stable_latency_ms)} | "
                       f"{pages.ms(c.latency_bound)} | {pages.ms(c.latency_limit)} | {c.requests:,} | "
                       f"{_md(c.reason)} |")
    out += ["", "### Approvals", ""]
    out += [f"- **{_md(a.actor)}** approved up to {a.percent}%{f' of {_md(a.service)}' if a.service else ''} via "
            f"`{_md(a.via)}` at {_md(a.wall[:19].replace('T', ' '))} UTC" for a in h.approvals] or ["- none"]
    out += ["", "### Signals", ""]
    out += [f"- `{_md(s)}`" for s in pages.signal_texts(h)] or ["- none"]
    entries = h.timeline[-MD_TIMELINE_ROWS:]
    out += ["", "### Timeline", ""]
    if len(entries) < len(h.timeline):
        out += [f"The latest {len(entries)} of {len(h.timeline)} events (`conductor dashboard` shows them all).", ""]
    out += [f"- {svg.duration(e.at - h.started_at)} `{_md(e.kind)}`{f' **{_md(e.service)}**' if e.service else ''} "
            f"{_md(e.actor)}: {_md(e.text)}" for e in entries]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """Text from the journal in a markdown table or list: safe, one line, no cell break, no link
    (a model's words, ``[approve here](http://…)``, stay words in a shared file)."""
    return (safe_text(text).replace("\n", " ").replace("|", "\\|").replace("`", "'")
            .replace("[", "\\[").replace("]", "\\]"))


def write_charts(report: ReleaseReport, directory: Path, with_png: bool = True) -> dict[str, Path]:
    """Every chart as ``<release>-<slug>.svg`` (and ``.png``) in ``directory``; the SVG paths by slug."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for chart in report.charts():
        name = f"release-{report.history.id}-{_file_safe(chart.slug)}"
        path = directory / f"{name}.svg"
        path.write_text(svg.render(chart), encoding="utf-8")
        written[chart.slug] = path
        if with_png:
            (directory / f"{name}.png").write_bytes(png.render(chart))
    return written


def relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _file_safe(slug: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in slug)
