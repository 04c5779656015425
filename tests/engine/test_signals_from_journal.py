"""Signals are facts of the journal, handed on by every process that reports them.

A rollback typed in a second terminal is printed by the process driving the orchestration too;
a service whose new version never took traffic is rolled back without a ROLLBACK signal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conductor.journal.store import Journal
from conductor.signals import parse_signals
from conductor.tools.runtime import Runtime
from tests.conftest import Workspace, release_config
from tests.engine.review_helpers import started


def _bake_config(time_scale: float) -> dict[str, Any]:
    config = release_config(bakeTime=300)
    config["platform"] = {"kind": "sim", "timeScale": time_scale}
    return config


def _wait_for(journal_path: Path, kind: str, service: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal_path.exists():
            journal = Journal(journal_path)
            try:
                if any(e.service == service for e in journal.events(kinds=(kind,))):
                    return
            finally:
                journal.close()
        time.sleep(0.05)
    raise AssertionError(f"no {kind} for {service} within {timeout}s")


def test_a_rollback_from_a_second_terminal_is_printed_by_the_first_process(workspace: Workspace) -> None:
    """The first process used to exit 3 printing no ROLLBACK line; and the second printed
    ROLLBACK for web and worker, which had never taken traffic during api's bake."""
    config = _bake_config(time_scale=0.02)  # the 300 s bake takes ~6 s
    # One service per dependency level, so web and worker wait for api (independent services would
    # bake beside it, taking traffic too).
    config["services"] = {"web": {"dependsOn": ["api"]}, "worker": {"dependsOn": ["web"]}}
    workspace.write_config(config)
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CONDUCTOR_MODEL")}
    first = subprocess.Popen([sys.executable, "-m", "conductor", "orchestrate", "blue-green"], cwd=workspace.root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(workspace.state_dir / "journal.db", "traffic_shifted", "api")  # the flip: the bake begins
        second = workspace.subprocess("orchestrate", "rollback")
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 3, err
    assert [s.format() for s in parse_signals(out)] == ["<conductor>ROLLBACK:api:manual</conductor>"]
    assert second.code == 3, second.err
    assert [s.format() for s in parse_signals(second.out)] == ["<conductor>ROLLBACK:api:manual</conductor>"]
    rolled = {e.service for e in workspace.journal_events("rolled_back")}
    assert rolled == {"api", "web", "worker"}  # all of the release is rolled back, only api was signalled
    signals = [e.data["text"] for e in workspace.journal_events("signal")]
    assert signals == ["<conductor>ROLLBACK:api:manual</conductor>"]


def test_a_runtime_hands_on_signals_another_process_journaled(workspace: Workspace) -> None:
    from conductor.dispatch import execute
    from conductor.session import Conductor

    workspace.write_config(_bake_config(time_scale=0))
    heard: list[str] = []
    conductor = Conductor.from_config(workspace.config_path)
    other = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        rt.on_signal = lambda s: heard.append(s.format())
        execute(rt, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x")
        execute(rt, "shift_traffic", {"service": "api", "percent": 100}, "brain:x")
        second: Runtime = other.runtime(rt.orchestration_id)
        execute(second, "rollback", {"service": "api", "reason": "manual"}, "person:cli")
        assert heard == []  # nothing is read until the first process looks at the journal again
        rt.state()
        rt.state()
        assert heard == ["<conductor>ROLLBACK:api:manual</conductor>"]  # once, however often it looks
    finally:
        conductor.close()
        other.close()


def test_signals_written_before_a_runtime_existed_are_not_replayed(workspace: Workspace) -> None:
    """A new process reports what happens from now on (a resume hands on only what it finishes)."""
    from conductor.session import Conductor

    workspace.write_config(_bake_config(time_scale=0))
    first = workspace.subprocess("orchestrate", "canary", "10")
    assert first.code == 0, first.err
    assert workspace.subprocess("orchestrate", "rollback", "api").code == 3
    conductor = Conductor.from_config(workspace.config_path)
    heard: list[str] = []
    try:
        (state,) = conductor.in_flight()
        rt = conductor.runtime(state.id, on_signal=lambda s: heard.append(s.format()))
        rt.state()
    finally:
        conductor.close()
    assert heard == []
    assert json.loads(json.dumps(state.signals)) == ["<conductor>ROLLBACK:api:manual</conductor>"]


def test_nothing_moves_a_service_forward_once_its_rollback_has_started(workspace: Workspace) -> None:
    """Another process journaled the rollback's intent and has not finished it yet."""
    from conductor.dispatch import execute
    from conductor.journal.events import RollbackStarted
    from conductor.session import Conductor

    workspace.write_config(_bake_config(time_scale=0))
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        execute(rt, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x")
        rt.record(RollbackStarted(reason="error rate 9% > 5%"), "api", "watchdog")
        refused = execute(rt, "shift_traffic", {"service": "api", "percent": 100}, "brain:x")
        assert refused.status == "refused"
        assert "being rolled back (error rate 9% > 5%)" in refused.message
        done = execute(rt, "rollback", {"service": "api", "reason": "manual"}, "person:cli")
        assert done.status == "ok"
        assert rt.state().service("api").rollback_reason == "error rate 9% > 5%"  # the first reason is kept
    finally:
        conductor.close()


class _Webhooks:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, event: str, text: str, rt: Runtime) -> None:
        self.sent.append(text)


def test_webhooks_hear_a_signal_from_the_process_that_wrote_it_not_from_every_watcher(
    workspace: Workspace,
) -> None:
    from conductor.dispatch import execute
    from conductor.session import Conductor

    workspace.write_config(_bake_config(time_scale=0))
    conductor, other = Conductor.from_config(workspace.config_path), Conductor.from_config(workspace.config_path)
    try:
        watcher = started(conductor, "/orchestrate blue-green")
        execute(watcher, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x")
        execute(watcher, "shift_traffic", {"service": "api", "percent": 100}, "brain:x")
        watcher.notifier = watcher_hooks = _Webhooks()
        writer = other.runtime(watcher.orchestration_id)
        writer.notifier = writer_hooks = _Webhooks()
        heard: list[str] = []
        watcher.on_signal = lambda s: heard.append(s.format())
        execute(writer, "rollback", {"service": "api", "reason": "manual"}, "person:cli")
        watcher.state()
        assert heard == ["<conductor>ROLLBACK:api:manual</conductor>"]  # printed by the watcher too
        signals = [text for text in writer_hooks.sent + watcher_hooks.sent if text.startswith("<conductor>")]
        assert signals == ["<conductor>ROLLBACK:api:manual</conductor>"]  # but sent to the webhooks once
        assert [t for t in watcher_hooks.sent if t.startswith("<conductor>")] == []
    finally:
        conductor.close()
        other.close()


def test_the_watchdog_rolls_back_however_long_its_reason(workspace: Workspace) -> None:
    """A blind-limit reason quoting a long metrics error (a Prometheus query) was 220 characters:
    the rollback tool refused it as invalid arguments, every round, and nothing was rolled back."""
    from conductor.dispatch import execute
    from conductor.session import Conductor
    from conductor.watchdog import Watchdog

    workspace.write_config(_bake_config(time_scale=0))
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        execute(rt, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x")
        execute(rt, "shift_traffic", {"service": "api", "percent": 100}, "brain:x")
        long_error = "metrics unavailable: query " + "q" * 300
        dog = Watchdog(rt)  # whatever the judge says, the reason it gives may be this long:
        dog.breach_reason = lambda svc: f"no usable metrics for 3 consecutive checks ({long_error})"  # type: ignore[method-assign]
        assert dog.tick() == ["api"]
        api = rt.state().service("api")
        assert api.phase.value == "Rolled back" and api.rollback_reason is not None
        assert len(api.rollback_reason) <= 200 and api.rollback_reason.endswith("…")
    finally:
        conductor.close()
