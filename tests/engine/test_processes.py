"""Across real processes: approval in a second process, a lock between two live ones, and a
SIGKILL in the middle of a canary followed by a resume or a rollback."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Workspace, release_config


def _slow_sim(workspace: Workspace, time_scale: float = 0.01) -> None:
    config = release_config()
    config["platform"] = {"kind": "sim", "timeScale": time_scale}
    workspace.write_config(config)


def _count_events(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _start(workspace: Workspace, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    return subprocess.Popen([sys.executable, "-m", "conductor", *args], cwd=workspace.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_after(proc: subprocess.Popen[str], db: Path, events: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _count_events(db) < events:
        assert proc.poll() is None, f"finished before the kill point: {proc.communicate()}"
        assert time.monotonic() < deadline, "never reached the kill point"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def test_approval_flow_across_two_processes(workspace: Workspace) -> None:
    first = workspace.subprocess("orchestrate", "canary", "10")
    assert first.code == 0, first.err
    assert "Awaiting approval (10% → 25%)" in first.out
    second = workspace.subprocess("orchestrate", "canary", "25")
    assert second.code == 0, second.err
    assert "Awaiting approval (25% → 50%)" in second.out
    approvals = workspace.journal_events("approval_granted")
    assert [(e.data["percent"], e.actor) for e in approvals] == [(10, "person:cli"), (25, "person:cli")]
    final = workspace.subprocess("orchestrate", "canary", "100")
    assert "<conductor>DEPLOYED:api,web,worker</conductor>" in final.out


def test_a_second_live_process_cannot_take_the_same_services(workspace: Workspace) -> None:
    _slow_sim(workspace, time_scale=0.02)
    db = workspace.state_dir / "journal.db"
    proc = _start(workspace, "orchestrate", "canary", "--auto")
    try:
        while _count_events(db) < 3:
            time.sleep(0.01)
        other = workspace.subprocess("orchestrate", "canary", "--auto")
        assert other.code == 2
        assert "is being orchestrated by another process" in other.err
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("kill_at", [4, 13, 27, 45])
def test_sigkill_mid_canary_then_resume_completes_consistently(workspace: Workspace, kill_at: int) -> None:
    _slow_sim(workspace)
    db = workspace.state_dir / "journal.db"
    _kill_after(_start(workspace, "orchestrate", "canary", "--auto"), db, kill_at)
    status = workspace.subprocess("orchestrate", "--json")
    assert status.code == 0, status.err
    resumed = workspace.subprocess("orchestrate", "canary", "--auto")
    assert resumed.code == 0, resumed.err + resumed.out
    assert "<conductor>DEPLOYED:api,web,worker</conductor>" in resumed.out
    for service in ("api", "web", "worker"):
        deploys = [e for e in workspace.journal_events("deployed") if e.service == service]
        assert len(deploys) == 1  # converged, never duplicated
    final = workspace.subprocess("orchestrate", "--json").json()
    assert all(row["status"] == "Complete" and row["current"] == "v1.1.0" for row in final["services"])


@pytest.mark.parametrize("kill_at", [9, 30])
def test_sigkill_mid_canary_then_rollback_restores_stable(workspace: Workspace, kill_at: int) -> None:
    _slow_sim(workspace)
    db = workspace.state_dir / "journal.db"
    _kill_after(_start(workspace, "orchestrate", "canary", "--auto"), db, kill_at)
    result = workspace.subprocess("orchestrate", "rollback")
    assert result.code in (0, 3), result.err
    import json

    sim = json.loads((workspace.state_dir / "sim" / "state.json").read_text())
    for service in ("api", "web", "worker"):
        assert sim["services"][service]["weights"] == {"blue": 100, "green": 0}
        assert sim["services"][service]["slots"]["green"]["instances"] == []
    assert workspace.subprocess("orchestrate", "--json").json()["status"] in ("rolled_back", "idle")


def test_rollback_from_another_terminal_is_not_blocked_by_a_running_orchestration(workspace: Workspace) -> None:
    _slow_sim(workspace, time_scale=0.02)
    db = workspace.state_dir / "journal.db"
    proc = _start(workspace, "orchestrate", "canary", "--auto")
    try:
        deadline = time.monotonic() + 30
        while not any(e.kind == "traffic_shifted" for e in (workspace.journal_events() if db.exists() else [])):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        started = time.monotonic()
        result = workspace.subprocess("orchestrate", "rollback")
        took = time.monotonic() - started
        assert result.code == 3, result.err
        assert took < 15  # it waited for one action at most, not for the whole orchestration
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    final = workspace.subprocess("orchestrate", "--json").json()
    assert final["status"] == "rolled_back"
    import json

    sim = json.loads((workspace.state_dir / "sim" / "state.json").read_text())
    for service in ("api", "web", "worker"):
        assert sim["services"][service]["weights"] == {"blue": 100, "green": 0}
    shifted_after = False
    rolled = False
    for event in workspace.journal_events():
        rolled = rolled or (event.kind == "rolled_back" and event.service == "api")
        if rolled and event.kind == "traffic_shifted" and event.service == "api":
            shifted_after = shifted_after or event.data["weights"]["green"] > 0
    assert not shifted_after
