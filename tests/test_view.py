"""`conductor view`: a read-only live view of a release another real process drives.

The driver is `conductor orchestrate canary 10 --auto` in a subprocess on the simulator, slowed
to real seconds (``timeScale``); the view is a second subprocess streaming ``--json`` documents
(or lines, when piped). The view must follow the release to its end, show the judge's verdict
with its evidence and what the release waits for, and change nothing: the journal and the state
directory are the same with or without it, and it works where nothing may be written.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

import conductor as conductor_package
from conductor.frontends.live_view import LAST_EVENTS, ReleaseWatcher, describe, sparkline
from conductor.journal.store import Journal
from conductor.readonly_journal import ReadOnlyJournal
from conductor.session import Conductor
from tests.conftest import Workspace

CANARY: dict[str, Any] = {
    "orchestration": {"strategy": "canary", "services": ["api", "web"], "healthCheckInterval": 10,
                      "bakeTime": 60, "canarySteps": [10, 50, 100]},
    "release": {"api": "v1.1.0", "web": "v1.1.0"},
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CONDUCTOR_"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return env


def _start(ws: Workspace, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "conductor", *args], cwd=ws.root, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _documents(view: subprocess.Popen[str], until: Any, timeout: float = 40.0) -> list[dict[str, Any]]:
    """Read the view's JSON lines until ``until(doc)`` holds (or fail after ``timeout``)."""
    assert view.stdout is not None
    docs: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = view.stdout.readline()
        if not line:
            break
        docs.append(json.loads(line))
        if until(docs[-1]):
            return docs
    raise AssertionError(f"the view never showed the end; last document: {docs[-1:] or 'none'}")


def test_the_view_follows_a_release_another_process_drives(workspace: Workspace) -> None:
    config = json.loads(json.dumps(CANARY))
    config["platform"] = {"kind": "sim", "timeScale": 0.03}  # a 10 s check takes 0.3 s of real time
    workspace.write_config(config)
    view = _start(workspace, "view", "--json", "--interval", "0.1")  # before the journal exists
    try:
        docs = _documents(view, lambda d: True)  # the view is up (and found nothing) before the driver starts
        driver = _start(workspace, "orchestrate", "canary", "10", "--auto")
        docs += _documents(view, lambda d: bool(d["releases"]) and d["releases"][0]["status"] == "complete")
        _, err = driver.communicate(timeout=60)
        assert driver.returncode == 0, err
    finally:
        view.terminate()
        view.wait(timeout=10)
    assert view.returncode == 0  # SIGTERM ends a view quietly: it had nothing to undo
    schema = json.loads((Path(conductor_package.__file__).parent / "schemas" / "view.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for doc in docs:  # every document as published
        jsonschema.validate(doc, schema)
    assert docs[0]["releases"] == []  # started before anything existed, and waited for it
    seen = [s["traffic"]["new"] for d in docs for r in d["releases"] if r["status"] == "running"
            for s in r["services"] if s["service"] == "api" and s["phase"] != "Complete"]
    assert {10, 100} <= set(seen) <= {0, 10, 50, 100}  # the ramp as it happened (a short 50% step may
    assert seen == sorted(seen)  # fall between two reads under load), never backwards
    judged = [s for d in docs for r in d["releases"] for s in r["services"] if s["verdict"] == "non_inferior"]
    assert judged and judged[0]["evidence"]["candidate"]["requests"] > 0
    assert judged[0]["stable_error_rate"] is not None and judged[0]["trend"]
    waits = {s["waiting_for"] for d in docs for r in d["releases"] for s in r["services"] if s["waiting_for"]}
    assert any(w.startswith("bake: ") for w in waits), waits
    assert any(w.startswith("evidence: ") for w in waits), waits
    last = docs[-1]["releases"][0]
    assert [s["phase"] for s in last["services"]] == ["Complete", "Complete"]
    assert any("complete on v1.1.0" in e["text"] for e in last["events"])
    assert "<conductor>" not in json.dumps(docs)  # a view never re-emits a signal a harness would count


def _fingerprint(state_dir: Path) -> dict[str, str]:
    """Every file's content, but SQLite's own WAL index and an empty WAL, which any reader of a WAL
    database may create (a driver's next write would): no data of the journal is in them."""
    return {str(p.relative_to(state_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(state_dir.rglob("*")) if p.is_file()
            and not p.name.endswith("-shm") and not (p.name.endswith("-wal") and p.stat().st_size == 0)}


def test_the_view_writes_nothing_and_works_where_nothing_may_be_written(workspace: Workspace) -> None:
    workspace.write_config(CANARY)
    conductor = Conductor.from_config(workspace.config_path)
    conductor.run("/orchestrate canary 10")
    conductor.close()
    before = _fingerprint(workspace.state_dir)
    piped = workspace.subprocess("view", "--once")
    assert piped.code == 0, piped.err
    assert "#1 awaiting_approval api Awaiting approval (10% → 50%) · traffic 90/10 · non-inferior" in piped.out
    assert "waits for approval: a person's `conductor orchestrate canary 50` (or rollback)" in piped.out  # CLI words
    assert _fingerprint(workspace.state_dir) == before
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere: a read-only directory cannot be tested")
    modes = {p: p.stat().st_mode for p in [workspace.state_dir, *workspace.state_dir.rglob("*")]}
    try:
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        locked = workspace.subprocess("view", "--once", "--json")
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert locked.code == 0, locked.err
    assert json.loads(locked.out)["releases"][0]["status"] == "awaiting_approval"


def test_an_unknown_journal_is_waited_for_and_bad_input_exits_2(workspace: Workspace) -> None:
    workspace.write_config(CANARY)
    empty = workspace.subprocess("view", "--once")
    assert empty.code == 0 and "no journal yet" in empty.out
    assert not (workspace.state_dir / "journal.db").exists()  # looking created nothing
    bad = workspace.subprocess("view", "--interval", "0")
    assert bad.code == 2 and "positive number of seconds" in bad.err


def test_the_watcher_reads_only_what_is_new_and_keeps_a_trend(workspace: Workspace) -> None:
    workspace.write_config(CANARY)
    conductor = Conductor.from_config(workspace.config_path)
    conductor.run("/orchestrate canary 10")
    watcher = ReleaseWatcher(ReadOnlyJournal(workspace.state_dir / "journal.db"), conductor.config.orchestration)
    first = watcher.refresh()
    again = watcher.refresh()
    assert again.releases == first.releases and again.new_events == ()  # nothing new: the same picture
    conductor.run("/orchestrate canary 50")
    second = watcher.refresh()
    shown = [line.seq for _, line in second.new_events]
    expected = [e.seq for e in workspace.journal_events() if e.seq > first.seq
                and e.kind not in ("tool_call", "brain_turn", "notify_failed", "baseline_sampled")]
    assert shown == expected and len(shown) > LAST_EVENTS  # every one, not the last few on screen
    api = second.releases[0].services[0]
    assert api.new_percent == 50 and len(api.trend) > len(first.releases[0].services[0].trend)
    assert all(p.error_rate is not None and 0 <= p.error_rate < 5 for p in api.trend)
    conductor.close()
    assert isinstance(watcher.journal, Journal)


def test_sparkline_scales_and_shows_gaps() -> None:
    assert sparkline([0.0, 1.0, None, 2.0], ceiling=2.0) == "▁▄ █"
    assert sparkline([]) == ""
    assert sparkline([0.0, 0.0]) == "▁▁"


def test_a_paused_release_says_who_paused_it_and_what_carries_it_on(workspace: Workspace) -> None:
    from conductor.frontends.repl_input import toolbar_text

    workspace.write_config(CANARY)
    conductor = Conductor.from_config(workspace.config_path)
    conductor.run("/orchestrate canary 10")
    conductor.pause(reason="dashboards look odd")
    watcher = ReleaseWatcher(ReadOnlyJournal(workspace.state_dir / "journal.db"), conductor.config.orchestration)
    release = watcher.refresh().releases[0]
    assert release.status == "paused"
    assert release.services[0].waiting_for == ("resume: paused by person:cli: dashboards look odd "
                                               "(`conductor resume` or `conductor promote` carries it on)")
    assert release.events[-1].text == "paused by person:cli: dashboards look odd"
    assert toolbar_text(conductor.in_flight()).endswith(" │ #1 paused by person:cli (/resume)")
    conductor.resume()
    assert watcher.refresh().releases[0].status != "paused"
    conductor.close()


def test_an_abort_names_who_once_and_a_warm_color_says_what_it_is_for(workspace: Workspace) -> None:
    config = json.loads(json.dumps(CANARY))
    config["orchestration"]["scaleDownDelay"] = 600
    workspace.write_config(config)
    conductor = Conductor.from_config(workspace.config_path)
    conductor.run("/orchestrate canary 10")
    conductor.abort(reason="wrong build")
    conductor.run("/orchestrate canary 10", retry=True, auto=True)
    texts = [describe(e) for e in conductor.journal.events(kinds=("rollback_started", "kept_warm"))]
    conductor.close()
    assert "rolling back: aborted by person:cli: wrong build" in texts, texts
    assert any(t.startswith("kept v1.0.0 warm in ") and t.endswith("(for a quick undo)") for t in texts), texts
