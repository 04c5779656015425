"""`conductor watch` paces itself and ends as documented, shows a heartbeat on a terminal, and
rejects a duration that is not a positive number of seconds."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import Workspace, release_config


def _paused_canary(workspace: Workspace) -> None:
    config = release_config()
    config["release"] = {"api": "v1.1.0"}
    config["platform"] = {"kind": "sim", "timeScale": 0}
    workspace.write_config(config)
    started = workspace.subprocess("orchestrate", "canary", "10")
    assert started.code == 0, started.err


@pytest.mark.parametrize("duration", ["-5", "0", "nan", "soon"])
def test_a_duration_that_is_not_a_positive_number_is_a_usage_error(workspace: Workspace, duration: str) -> None:
    _paused_canary(workspace)
    before = len(workspace.journal_events())
    result = workspace.subprocess("watch", "--duration", duration)
    assert result.code == 2, result.err
    assert "positive number of seconds" in result.err
    assert len(workspace.journal_events()) == before  # nothing watched, nothing written


def test_watch_on_the_simulator_ends_after_an_hour_of_simulated_time(workspace: Workspace) -> None:
    """It used to run forever at ~67% CPU while a healthy canary was paused."""
    _paused_canary(workspace)
    before = len(workspace.journal_events("health_checked"))
    started = time.monotonic()
    result = workspace.subprocess("watch", "--json", timeout=60)
    assert result.code == 0, result.err
    assert result.json()["watched_seconds"] == pytest.approx(3600)
    checks = len(workspace.journal_events("health_checked")) - before
    assert checks == 360  # one round per 10 s interval
    assert time.monotonic() - started < 60


def test_watch_shows_a_heartbeat_on_a_terminal_and_none_in_a_pipe(workspace: Workspace) -> None:
    _paused_canary(workspace)
    piped = workspace.subprocess("watch", "--duration", "30")
    assert "watched:" not in piped.err  # no heartbeat in pipes or logs
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CONDUCTOR_MODEL")}
    proc = subprocess.Popen([sys.executable, "-m", "conductor", "watch", "--duration", "30"], cwd=workspace.root,
                            stdout=subprocess.PIPE, stderr=follower, text=True, env=env)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out, _ = proc.communicate(timeout=30)
    os.close(leader)
    assert proc.returncode == 0
    assert b"watch: 10s watched: api Awaiting approval" in seen, seen
    assert "nothing rolled back" in out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_watch_exits_130_and_says_what_is_left_unwatched(workspace: Workspace, signum: int) -> None:
    """It used to exit 0, as if it had watched to the end, against its own --help."""
    _paused_canary(workspace)
    before = len(workspace.journal_events("health_checked"))
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CONDUCTOR_MODEL")}
    proc = subprocess.Popen([sys.executable, "-m", "conductor", "watch", "--duration", "1e9"], cwd=workspace.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while len(workspace.journal_events("health_checked")) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # until it is watching: rounds of its own journaled
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "nothing rolled back" in out
    assert "Nothing watches this release now" in err and "api: v1.1.0 takes 10% of traffic" in err
