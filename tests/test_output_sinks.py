"""A rollback is never interrupted by its output: a closed pipe, a dead terminal, a failing webhook,
REPL or MCP notification, or a progress bar that raises.

The README's misbehaving version (``api@v1.1.0`` failing at 12% from t=60s) makes the watchdog roll
back api and then, as a unit, web and worker. Every sink is made to fail during that rollback; every
service must still end with all traffic on the stable version, and the report must say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from conductor.session import Conductor
from conductor.signals import Signal
from tests.conftest import Workspace, release_config

SERVICES = ("api", "web", "worker")


def bad_release_config(at: float = 60, **extra: Any) -> dict[str, Any]:
    config = release_config()
    config["platform"] = {"kind": "sim", "timeline": [{"at": at, "target": "api@v1.1.0", "set": {"errorRate": 12}}]}
    config.update(extra)
    return config


def sim_weights(ws: Workspace) -> dict[str, dict[str, int]]:
    """What the simulated platform serves, read from a fresh process's view of it."""
    conductor = Conductor.from_config(ws.config_path)
    try:
        return {name: {str(slot): weight for slot, weight in conductor.bundle.platform.snapshot(name).weights.items()}
                for name in SERVICES}
    finally:
        conductor.close()


def assert_all_on_stable(ws: Workspace) -> None:
    weights = sim_weights(ws)
    for name, split in weights.items():
        assert max(split.values()) == 100 and sorted(split.values()) == [0, 100], (name, weights)
    conductor = Conductor.from_config(ws.config_path)
    try:
        assert conductor.in_flight() == [], "the rollback was left half done"
        result = conductor.run("/orchestrate")
    finally:
        conductor.close()
    assert "canary 100" not in result.report and "Continue" not in result.report, result.report
    assert [row["status"] for row in result.services] == ["Rolled back"] * 3, result.services


# -- real pipes: `conductor orchestrate canary --auto | grep -m1 ROLLBACK`, `| head -1`, `| true` --------


def _run_into_closed_pipe(ws: Workspace, lines_read: int) -> subprocess.CompletedProcess[bytes]:
    """Start the CLI with stdout on a pipe, read ``lines_read`` lines, close our end (as ``head``
    does), and wait for the process to finish with nobody reading."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "conductor", "orchestrate", "canary", "--auto"],
        cwd=ws.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    for _ in range(lines_read):
        proc.stdout.readline()
    proc.stdout.close()  # the reader is gone: every later write gets EPIPE
    err = proc.stderr.read()
    code = proc.wait(timeout=120)
    return subprocess.CompletedProcess(proc.args, code, b"", err)


@pytest.mark.parametrize("lines_read", [0, 1], ids=["true", "head-1"])
def test_a_closed_stdout_never_stops_the_watchdog_rollback(workspace: Workspace, lines_read: int) -> None:
    workspace.write_config(bad_release_config())
    done = _run_into_closed_pipe(workspace, lines_read)
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr, done.stderr.decode()
    assert b"unexpected error" not in done.stderr, done.stderr.decode()
    assert done.returncode == 3, done.stderr.decode()  # the work finished: rolled back
    assert_all_on_stable(workspace)


def test_grep_m1_rollback_in_a_shell_pipeline(workspace: Workspace) -> None:
    """The issue's exact command line, through a real shell pipeline."""
    workspace.write_config(bad_release_config())
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    command = (f"{sys.executable} -m conductor orchestrate canary --auto | grep -m1 ROLLBACK; "
               "echo \"exit=${PIPESTATUS[0]}\"")
    done = subprocess.run(["bash", "-c", command], cwd=workspace.root, capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.stdout.startswith("<conductor>ROLLBACK:api:"), done.stdout
    assert "exit=3" in done.stdout, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Broken" not in done.stderr, done.stderr
    assert_all_on_stable(workspace)


def test_status_into_head_prints_no_traceback(workspace: Workspace) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m conductor orchestrate | head -1"],
                          cwd=workspace.root, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.stdout == "## Deployment Orchestration\n"
    assert done.stderr == "", done.stderr


# -- the class: every sink failing, in every way ------------------------------------------------------


FAILURES: dict[str, Callable[[], BaseException]] = {
    "broken-pipe": lambda: BrokenPipeError(32, "Broken pipe"),
    "oserror": lambda: OSError(5, "Input/output error"),
    "value-error": lambda: ValueError("I/O operation on closed file"),
    "bug": lambda: RuntimeError("a sink with a bug"),
}


def _failing(kind: str) -> Callable[..., None]:
    def sink(*args: Any) -> None:
        raise FAILURES[kind]()

    return sink


class _ExplodingTransport(httpx2.BaseTransport):
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        raise self.error


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("sink", ["signal", "progress", "webhook", "all"])
def test_every_sink_failing_during_a_rollback_still_restores_every_service(
    workspace: Workspace, sink: str, failure: str
) -> None:
    workspace.write_config(bad_release_config(notify={"webhooks": ["https://hooks.example.com/services/T0/B0/SECRETSECRET"]}))
    conductor = Conductor.from_config(workspace.config_path)
    from conductor.notify import Notifier

    conductor.__dict__["notifier"] = Notifier(
        conductor.config.notify,
        transport=_ExplodingTransport(FAILURES[failure]()) if sink in ("webhook", "all") else
        httpx2.MockTransport(lambda request: httpx2.Response(204)),
    )
    seen: list[Signal] = []
    on_signal = _failing(failure) if sink in ("signal", "all") else seen.append
    on_progress = _failing(failure) if sink in ("progress", "all") else None
    try:
        result = conductor.run("/orchestrate canary", auto=True, on_signal=on_signal, on_progress=on_progress)
    finally:
        conductor.close()
    assert result.exit_code == 3, result.report
    assert [s.services[0] for s in result.signals if s.kind == "ROLLBACK"] == list(SERVICES)
    assert_all_on_stable(workspace)


def test_a_failing_sink_in_the_long_running_watchdog_does_not_skip_a_service(workspace: Workspace) -> None:
    """``watch_round`` (``conductor watch``, ``up``, a pod): a sink that raises on the first signal."""
    from conductor.watchdog import watch_round

    workspace.write_config(bad_release_config(at=1000))  # turns bad while the canary waits for approval
    conductor = Conductor.from_config(workspace.config_path)
    try:
        paused = conductor.run("/orchestrate canary 10")
        assert paused.exit_code == 0, paused.report
        rolled: list[str] = []
        for _ in range(200):
            rolled += watch_round(conductor, _failing("broken-pipe"))
            if not conductor.in_flight():
                break
            conductor.bundle.clock.sleep(10)
    finally:
        conductor.close()
    assert rolled and rolled[0] == "api", rolled
    assert_all_on_stable(workspace)


def test_status_never_recommends_promoting_a_half_rolled_back_release(workspace: Workspace) -> None:
    """A process stopped between api's rollback and web's (the old failure mode): the report must
    say to finish the rollback, never `canary 100`."""
    from conductor.journal.state import Phase

    workspace.write_config(release_config())
    conductor = Conductor.from_config(workspace.config_path)
    try:
        conductor.run("/orchestrate canary 10")
        state = conductor.in_flight()[0]
        from conductor.report import _next_steps

        api = state.services["api"]
        api.phase, api.rollback_reason = Phase.ROLLED_BACK, "error rate 12.4% > 5%"
        steps = _next_steps(conductor, state)
    finally:
        conductor.close()
    assert len(steps) == 1 and "/orchestrate rollback" in steps[0] and "canary" not in steps[0], steps


def test_json_output_into_a_closed_pipe_is_quiet_too(workspace: Workspace) -> None:
    workspace.write_config(bad_release_config())
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m conductor orchestrate canary --auto --json | head -c 10; "
                       "code=${PIPESTATUS[0]}; echo; echo \"exit=$code\""],
        cwd=workspace.root, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert "exit=3" in done.stdout and done.stderr == "", (done.stdout, done.stderr)
    assert_all_on_stable(workspace)
