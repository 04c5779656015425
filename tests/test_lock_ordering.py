"""Nothing with side effects runs before the locks are held, and a rollback that cannot complete is
a failure the exit code and the report state.

- Two orchestrations started together: the one refused never ran its ``preDeploy`` build.
- ``orchestrate`` refused with exit 2 because another holder (``conductor up``'s watchdog) has the
  services journaled nothing: exit 2 means nothing changed.
- A platform that refuses every rollback: not exit 0; the report says the rollback is unfinished.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conductor.errors import PlatformError
from conductor.locks import ServiceLocks
from conductor.session import Conductor
from tests.conftest import Workspace, release_config

SERVICES = ["api", "web", "worker"]


def _marker_config(marker: Path, seconds: float = 0.0) -> dict[str, Any]:
    config = release_config()
    script = f"import time; time.sleep({seconds}); open({str(marker)!r}, 'a').write('built\\n')"
    config["preDeploy"] = {"build": [[sys.executable, "-c", script]]}
    return config


def test_a_refused_orchestration_never_ran_its_pre_deploy_build(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    marker = tmp_path / "built"
    workspace.write_config(_marker_config(marker))
    with ServiceLocks(workspace.state_dir, SERVICES):  # another orchestrator drives these services
        result = workspace.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 2, (result.out, result.err)
    assert not marker.exists(), "preDeploy ran although the orchestration was refused"
    assert workspace.journal_events("orchestration_started") == []


def test_two_orchestrations_started_together_build_once(workspace: Workspace, tmp_path: Path) -> None:
    marker = tmp_path / "built"
    workspace.write_config(_marker_config(marker, seconds=1.0))
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    procs = [subprocess.Popen([sys.executable, "-m", "conductor", "orchestrate", "canary", "10"], cwd=workspace.root,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    for p in procs:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        p.stderr.close()
    assert codes == [0, 2], codes
    assert marker.read_text().count("built") == 1  # only the orchestration that acts built
    assert len(workspace.journal_events("orchestration_started")) == 1


def test_no_watchdog_can_take_the_services_between_the_start_and_the_first_action(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``conductor up``'s watchdog takes the locks of every orchestration in flight; a new one is in
    flight from its start event on. The locks must already be held then, so the watchdog is the one
    refused, never the orchestration after it journaled itself (exit 2 with something changed)."""
    from conductor.errors import LockHeldError

    watchdog_got_the_locks: list[bool] = []
    real_drive = Conductor._drive

    def race_then_drive(self: Conductor, *args: Any, **kwargs: Any) -> Any:
        try:  # the watchdog's round, exactly after the start event was journaled
            with ServiceLocks(workspace.state_dir, SERVICES):
                watchdog_got_the_locks.append(True)
        except LockHeldError:
            watchdog_got_the_locks.append(False)
        return real_drive(self, *args, **kwargs)

    monkeypatch.setattr(Conductor, "_drive", race_then_drive)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        result = conductor.run("/orchestrate canary 10")
    finally:
        conductor.close()
    assert watchdog_got_the_locks == [False]
    assert result.exit_code == 0, result.report


class _RefusesRollbacks:
    """The local platform with its control process killed, for traffic restores only."""

    def __init__(self, inner: Any, services: tuple[str, ...] = ("api", "web", "worker")) -> None:
        self._inner = inner
        self._services = services

    def set_weights(self, service: str, weights: Any) -> Any:
        if max(weights.values()) == 100 and service in self._services:
            raise PlatformError("cannot reach the control process at 127.0.0.1:1 (connection refused)")
        return self._inner.set_weights(service, weights)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_rollback_that_cannot_complete_is_a_failure(workspace: Workspace) -> None:
    config = release_config()
    config["platform"] = {"kind": "sim", "timeline": [{"at": 60, "target": "api@v1.1.0", "set": {"errorRate": 12}}]}
    workspace.write_config(config)
    sim = Conductor.from_config(workspace.config_path).bundle
    conductor = Conductor.from_config(workspace.config_path, platform=_RefusesRollbacks(sim.platform),
                                      metrics=sim.metrics, clock=sim.clock)
    try:
        result = conductor.run("/orchestrate canary", auto=True)
    finally:
        conductor.close()
    assert result.exit_code == 1, result.report
    assert "could not complete" in result.report, result.report
    assert "Finish the rollback" in result.report and "canary 100" not in result.report, result.report


def test_a_service_the_platform_refuses_does_not_leave_the_next_one_on_the_bad_release(workspace: Workspace) -> None:
    config = release_config()
    config["platform"] = {"kind": "sim", "timeline": [{"at": 60, "target": "api@v1.1.0", "set": {"errorRate": 12}}]}
    workspace.write_config(config)
    sim = Conductor.from_config(workspace.config_path).bundle
    conductor = Conductor.from_config(workspace.config_path, platform=_RefusesRollbacks(sim.platform, ("web",)),
                                      metrics=sim.metrics, clock=sim.clock)
    try:
        result = conductor.run("/orchestrate canary", auto=True)
        worker = dict(sim.platform.snapshot("worker").weights)
        api = dict(sim.platform.snapshot("api").weights)
    finally:
        conductor.close()
    assert worker.get("blue") == 100 and api.get("blue") == 100, (api, worker)  # blue: stable v1.0.0
    assert [s.services[0] for s in result.signals if s.kind == "ROLLBACK"] == ["api", "worker"], result.signals
    assert result.exit_code == 1 and "web" in result.report and "could not complete" in result.report
