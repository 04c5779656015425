"""`conductor view`: watch a release without acting on it (``kubectl argo rollouts get rollout --watch``).

Per service: the phase, the traffic split, the new version's error rate and latency against
stable's with the judge's verdict and the evidence behind it, a sparkline of the last minutes'
checks, what it waits for (a person's approval, more evidence, bake time left) and the latest
events. On a terminal it redraws in place; piped, it prints one line per change; with --json,
one conductor.view/v1 document per line per change.

It only reads the journal (opened read-only): no lock, no platform call, nothing written, so it
can run beside whatever drives the release — `conductor orchestrate`, `up`, `watch`, the chat
REPL or an MCP client — on every platform, and never slows it down.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.live import Live
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from conductor.config import find_config
from conductor.config_file import load_config
from conductor.errors import JournalError
from conductor.frontends import terminal
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option
from conductor.frontends.live_view import ReleaseView, ReleaseWatcher, ServiceView, Snapshot, sparkline
from conductor.frontends.phrasing import for_cli
from conductor.output import safe_data, safe_text, verbatim
from conductor.paths import check_owner, state_dir_for
from conductor.readonly_journal import ReadOnlyJournal


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "view", help="watch a release live without acting on it (read-only; like `argo rollouts get --watch`)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "stopped (Ctrl-C), or --once printed its snapshot",
                                  1: "the journal could not be read (a bug)", 2: None}),
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true",
                        help="one conductor.view/v1 JSON document per line, each time something changes")
    parser.add_argument("--once", action="store_true", help="print the current state once and exit")
    parser.add_argument("--interval", type=_seconds, default=1.0, metavar="SECONDS",
                        help="seconds between two reads of the journal (default 1)")
    parser.set_defaults(handler=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    config_path = Path(args.config) if args.config is not None else find_config(Path.cwd())
    config = load_config(config_path)
    state_dir = state_dir_for(config_path, config)
    check_owner(state_dir, config_path)
    source = _Source(state_dir / "journal.db", config)
    if args.json:
        show: _Display = _JsonLines()
    elif sys.stdout.isatty():
        show = _Screen() if args.once else _LiveScreen()
    else:
        show = _ChangeLines()
    try:
        while True:
            show.update(source.snapshot())
            if args.once:
                break
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass  # nothing to undo: the view only reads
    finally:
        show.close()
        source.close()
    return 0


class _Source:
    """The journal, once it exists (a view may be started before the first release)."""

    def __init__(self, path: Path, config: Any) -> None:
        self.path, self.config = path, config
        self.journal: ReadOnlyJournal | None = None
        self.watcher: ReleaseWatcher | None = None

    def snapshot(self) -> Snapshot:
        if self.watcher is None:
            if not self.path.exists():
                return Snapshot((), 0, journal_exists=False)
            try:
                # A journal the first driver is creating at this very moment may have no tables
                # yet: wait for it like for a missing one (an error after a good read is real).
                journal = ReadOnlyJournal(self.path)
                watcher = ReleaseWatcher(journal, self.config.orchestration)
                first = watcher.refresh()
            except JournalError:
                return Snapshot((), 0, journal_exists=False)
            self.journal, self.watcher = journal, watcher
            return first
        return self.watcher.refresh()

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


class _Display:
    def update(self, snapshot: Snapshot) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


class _JsonLines(_Display):
    """One document per change (by the journal's cursor or what is shown), one per line."""

    def __init__(self) -> None:
        self._last: tuple[Any, ...] | None = None

    def update(self, snapshot: Snapshot) -> None:
        key = (snapshot.seq, snapshot.key())
        if key == self._last:
            return
        self._last = key
        _write(json.dumps(safe_data(snapshot.to_dict()), separators=(",", ":")) + "\n")


class _ChangeLines(_Display):
    """Piped: a line for each service whose phase, split, verdict or wait changed, and each new event."""

    def __init__(self) -> None:
        self._shown: dict[tuple[int, str], tuple[Any, ...]] = {}
        self._said_empty = False

    def update(self, snapshot: Snapshot) -> None:
        if not snapshot.releases:
            if not self._said_empty:
                self._said_empty = True
                _write("no release in the journal yet; waiting for one\n" if snapshot.journal_exists
                       else "no journal yet (no release has started here); waiting for one\n")
            return
        lines = [f"#{oid} {_clock(event.wall)} {event.service or '-'}: {event.text}"
                 for oid, event in snapshot.new_events]
        for release in snapshot.releases:
            for service in release.services:
                key = service.key()
                if self._shown.get((release.id, service.name)) != key:
                    self._shown[(release.id, service.name)] = key
                    lines.append(f"#{release.id} {release.status} {service_line(service)}")
        if lines:
            _write("".join(safe_text(line) + "\n" for line in lines))


class _Screen(_Display):
    """A terminal, once: the picture printed, no redraw."""

    def update(self, snapshot: Snapshot) -> None:
        terminal.console().print(render(snapshot))


class _LiveScreen(_Display):
    """A terminal: the whole picture, redrawn in place (rich Live), a few times a second at most."""

    def __init__(self) -> None:
        self.console = terminal.console()
        self._live: Live | None = None
        self._drawn: tuple[Any, ...] | None = None
        self._drawn_at = 0.0

    def update(self, snapshot: Snapshot) -> None:
        key = (snapshot.seq, snapshot.key())
        if key == self._drawn and time.monotonic() - self._drawn_at < 1.0:
            return  # nothing new: redraw once a second only, for the countdowns
        self._drawn, self._drawn_at = key, time.monotonic()
        screen = render(snapshot)
        if self._live is None:
            self._live = Live(screen, console=self.console, auto_refresh=False, transient=False,
                              vertical_overflow="visible")
            self._live.start()
        self._live.update(screen, refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()


def service_line(s: ServiceView) -> str:
    """``api Canary 10% · traffic 90/10 · inconclusive · err 0.52% (stable 0.50%) · p95 91ms (90ms) · waits …``"""
    parts = [f"{s.name} {s.phase}", f"traffic {s.stable_percent}/{s.new_percent}"]
    h = s.health
    if h is not None:
        parts.append(h.verdict.value.replace("_", "-") + ("" if s.fresh else " (the step before)"))
        parts.append(f"err {_num(h.error_rate, '.2f')}% (stable {_num(h.baseline_error_rate, '.2f')}%)")
        parts.append(f"{h.percentile} {_num(h.latency_ms, '.0f')}ms ({_num(h.baseline_latency_ms, '.0f')}ms)")
    if s.waiting_for:
        parts.append(f"waits for {for_cli(s.waiting_for)}")
    return " · ".join(parts)


_VERDICT_STYLE = {"non_inferior": "green", "regression": "bold red", "inconclusive": "yellow",
                  "unavailable": "magenta"}


def render(snapshot: Snapshot) -> RenderableType:
    if not snapshot.releases:
        why = "no release in the journal yet" if snapshot.journal_exists else "no journal yet"
        return Text(f"{why}; waiting for one (Ctrl-C to leave)", style="dim")
    return Group(*(part for release in snapshot.releases for part in _release(release)),
                 Text("read-only view of the journal · Ctrl-C to leave", style="dim"))


def _release(release: ReleaseView) -> list[RenderableType]:
    """A title, one table row per service, then per service what it waits for and why the judge
    says what it says (each on its own lines, so the table fits an 80-column terminal)."""
    title = Text.assemble((f"#{release.id} {release.strategy}", "bold"), f"  {release.status.replace('_', ' ')}",
                          ("  --auto" if release.auto else ""), (f"  {release.command}", "dim"))
    table = Table(box=None, padding=(0, 1), collapse_padding=True, show_edge=False, header_style="bold",
                  caption="split: stable/new; errors, latency: new/stable; trend: the errors of each check",
                  caption_justify="left", caption_style="dim")
    percentile = next((s.health.percentile for s in release.services if s.health is not None), "p95")
    for column in ("Service", "Phase", "Split", "Errors", percentile, "Verdict", "Trend"):
        table.add_column(column, no_wrap=True)
    notes: list[RenderableType] = []
    for s in release.services:
        h = s.health
        traffic = f"{s.stable_percent}/{s.new_percent}"
        phase = s.phase.split(" (")[0]  # "Awaiting approval": the percentages are in the line below
        versions = f"{s.stable_version or '—'} → {s.target_version or '—'}"
        waits = f" waits for {for_cli(s.waiting_for)}" if s.waiting_for else ""  # `conductor orchestrate …`
        idle = " done" if s.terminal else " nothing (it moves on by itself)"
        notes.append(Text.assemble(f"  {s.name} {versions}:", (waits or idle, "bold" if waits else "")))
        if h is None:
            table.add_row(s.name, phase, traffic, "—", "—", Text("—" if s.terminal else "not observed", "dim"), "")
            continue
        errors = f"{_num(h.error_rate, '.2f')}%/{_num(h.baseline_error_rate, '.2f')}%"
        latency = f"{_num(h.latency_ms, '.0f')}/{_num(h.baseline_latency_ms, '.0f')}ms"
        verdict = Text(h.verdict.value.replace("_", "-"), style=_VERDICT_STYLE.get(h.verdict.value, ""))
        if not s.fresh:  # judged at the step before this split: the next check judges this one
            verdict = Text(f"({h.verdict.value.replace('_', '-')})", style="dim")
        rates = [p.error_rate for p in s.trend]
        ceiling = max([*(r for r in rates if r is not None), 2 * (h.baseline_error_rate or 0.0), 0.01])  # stable: ▄
        table.add_row(s.name, phase, traffic, errors, latency, verdict, sparkline(rates[-8:], ceiling))
        notes.append(Padding(Text(f"{safe_text(h.reason)}{_evidence(s)}", style="dim"), (0, 0, 0, 4)))
    events = [Text(f"  {_clock(e.wall)}  {e.service or '-':<8} {safe_text(e.text)}", style="dim")
              for e in release.events]
    return [title, table, *notes, Text("  last events:", style="dim"), *events, Text("")]


def _evidence(s: ServiceView) -> str:
    judgement = s.health.judgement if s.health is not None else None
    if judgement is None:
        return ""
    c, st = judgement.candidate, judgement.stable
    text = f" — evidence: {c.requests:,} requests, {c.errors:,} errors over {c.seconds:.0f}s"
    if st is not None:
        text += f" vs stable {st.requests:,} / {st.errors:,}"
    return text


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _clock(wall: str) -> str:
    """``06:12:03`` from the event's UTC wall time (the date is rarely news while watching)."""
    return wall[11:19] if len(wall) >= 19 else wall


def _write(text: str) -> None:
    with verbatim():  # already made safe: event texts went through safe_text, JSON through safe_data
        sys.stdout.write(text)
        sys.stdout.flush()
