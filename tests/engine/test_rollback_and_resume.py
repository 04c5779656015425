"""Rollback and resume after a crash, a cut-short rollback or a failing platform, and the watchdog
on an idle service: regression tests found in review. Each failed before its fix (see the comment
of each group for what used to happen)."""

from __future__ import annotations

from typing import Any

import pytest

import conductor.tools.lifecycle as lifecycle
import conductor.tools.recovery as recovery
from conductor.dispatch import execute
from conductor.errors import PlatformError
from conductor.journal import events as ev
from conductor.session import Conductor
from conductor.tools.runtime import Runtime
from conductor.watchdog import watch_round
from tests.conftest import Workspace, release_config
from tests.engine.review_helpers import Killed, in_flight, instance_versions, run, started
from tests.platforms.failing import conductor_where


def _kill_before_the_end(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    """Kill the process once every service is finished, before ``orchestration_ended`` is written."""
    def killed(rt: Runtime, actor: str) -> None:
        if all(s.terminal for s in rt.state().services.values()):
            raise Killed()

    monkeypatch.setattr(module, "finish_if_done", killed)


def _api_only(workspace: Workspace, **orchestration: Any) -> dict[str, Any]:
    config = release_config(**orchestration)
    config["release"] = {"api": "v1.1.0"}
    workspace.write_config(config)
    return config


# -- a crash between the last service's record and orchestration_ended -------------------------------
# It used to leave an orchestration nothing could close: `rollback` said "already rolled back",
# a resume said "Done", `watch` looped forever, and every new release was refused as "in flight".


def _rolled_back_but_never_ended(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(workspace, "/orchestrate canary 10").exit_code == 0
    with monkeypatch.context() as patch:
        _kill_before_the_end(patch, recovery)
        with pytest.raises(Killed):
            run(workspace, "/orchestrate rollback")
    assert in_flight(workspace) == [1]


def test_rollback_closes_an_orchestration_a_crash_left_open(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rolled_back_but_never_ended(workspace, monkeypatch)
    run(workspace, "/orchestrate rollback")
    assert in_flight(workspace) == []
    assert [e.data["outcome"] for e in workspace.journal_events("orchestration_ended")] == ["rolled_back"]
    assert run(workspace, "/orchestrate blue-green", retry=True).exit_code == 0


def test_watch_closes_an_orchestration_a_crash_left_open(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rolled_back_but_never_ended(workspace, monkeypatch)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        watch_round(conductor)
        assert conductor.in_flight() == []
    finally:
        conductor.close()


def test_resume_finishes_a_release_whose_end_a_crash_lost(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        _kill_before_the_end(patch, lifecycle)
        with pytest.raises(Killed):
            run(workspace, "/orchestrate blue-green")
    resumed = run(workspace, "/orchestrate blue-green")
    assert resumed.exit_code == 0
    assert [s.format() for s in resumed.signals] == ["<conductor>DEPLOYED:api,web,worker</conductor>"]
    assert resumed.data["status"] == "complete"
    assert in_flight(workspace) == []


def test_blue_green_resumes_after_a_crash_between_start_and_approval(workspace: Workspace) -> None:
    """Used to stop at "needs a person's approval" on every rerun of `blue-green`."""
    conductor = Conductor.from_config(workspace.config_path)
    try:
        from conductor.command import parse_command
        from conductor.starting import plan_release

        command = parse_command("/orchestrate blue-green")
        plan = plan_release(conductor.config, conductor.bundle, command, {})
        oid = conductor.journal.new_orchestration(command.text, plan.strategy)
        conductor.journal.append(  # what older versions wrote first (no longer separable); then SIGKILL
            ev.OrchestrationStarted(command=command.text, strategy=plan.strategy, auto=False, brain="policy",
                                    first_percent=plan.first_percent,
                                    services={n: ev.ServicePlan.model_validate(i) for n, i in plan.services.items()}),
            at=0.0, actor="person:cli", orchestration=oid)
    finally:
        conductor.close()
    resumed = run(workspace, "/orchestrate blue-green")
    assert resumed.exit_code == 0, resumed.data["notes"]
    assert [s.format() for s in resumed.signals] == ["<conductor>DEPLOYED:api,web,worker</conductor>"]


# -- a rollback killed between its first platform change and its journal record ----------------------
# A resume used to send traffic straight back to the version being rolled back.


def test_resume_after_a_rollback_cut_short_does_not_send_traffic_back(workspace: Workspace) -> None:
    _api_only(workspace)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        execute(rt, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x")
        execute(rt, "shift_traffic", {"service": "api", "percent": 100}, "brain:x")
        rt.platform.set_weights("api", {"blue": 100, "green": 0})  # the rollback's first act; then SIGKILL
    finally:
        conductor.close()
    flips_before = len(workspace.journal_events("traffic_shifted"))
    resumed = run(workspace, "/orchestrate blue-green")
    later = workspace.journal_events("traffic_shifted")[flips_before:]
    assert all(e.data["weights"]["green"] == 0 for e in later), [e.data for e in later]
    assert resumed.exit_code == 3
    assert resumed.data["status"] == "rolled_back"


def test_a_cut_short_rollback_that_fails_again_stops_and_is_found_again(workspace: Workspace) -> None:
    _api_only(workspace)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        execute(rt, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x")
        execute(rt, "shift_traffic", {"service": "api", "percent": 100}, "brain:x")
        rt.platform.set_weights("api", {"blue": 100, "green": 0})
    finally:
        conductor.close()
    with conductor_where(workspace.config_path, retire=PlatformError("cannot delete the deployment")) as broken, \
            pytest.raises(PlatformError, match="cut short"):
        broken.run("/orchestrate blue-green")
    resumed = run(workspace, "/orchestrate blue-green")
    assert resumed.data["status"] == "rolled_back"
    assert all(e.data["weights"]["green"] == 0 for e in workspace.journal_events("traffic_shifted")[1:])


def test_resume_after_a_rolling_rollback_cut_short_finishes_the_rollback(workspace: Workspace) -> None:
    config = _api_only(workspace, rollingBatchSize=2)
    config["services"] = {"api": {"replicas": 4}}
    workspace.write_config(config)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate rolling")
        execute(rt, "update_instances", {"service": "api", "count": 2}, "brain:x")
        rt.platform.replace_instance("api", "blue", 0, "v1.0.0")  # the rollback's first revert; then SIGKILL
        rt.record(ev.InstanceReplaced(index=0, version="v1.0.0"), "api", "watchdog")
    finally:
        conductor.close()
    resumed = run(workspace, "/orchestrate rolling")
    assert resumed.exit_code == 3
    assert resumed.data["status"] == "rolled_back"
    assert instance_versions(workspace, "api") == {"v1.0.0"}


def test_rollback_after_a_crash_inside_promote_brings_the_stable_version_back(workspace: Workspace) -> None:
    """Used to fail with "slot blue has no instances": the old color was already retired."""
    _api_only(workspace)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        execute(rt, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x")
        execute(rt, "shift_traffic", {"service": "api", "percent": 100}, "brain:x")
        rt.platform.retire("api", "blue")  # promote retired the old color, then the process died
        rt.record(ev.Retired(slot="blue", version="v1.0.0"), "api", "brain:x")
        result = execute(rt, "rollback", {"service": "api", "reason": "p95 regression"}, "watchdog")
        assert result.status == "ok", result.message
        snapshot = rt.platform.snapshot("api")
        assert snapshot.weights == {"blue": 100, "green": 0}
        assert {i.version for i in snapshot.slots["blue"].instances} == {"v1.0.0"}
        assert not snapshot.slots["green"].instances
        assert rt.state().service("api").phase.value == "Rolled back"
    finally:
        conductor.close()


def test_a_rollback_the_platform_failed_exits_1(workspace: Workspace) -> None:
    """Used to exit 0, as if nothing had been wrong."""
    assert run(workspace, "/orchestrate canary 10").exit_code == 0

    with conductor_where(workspace.config_path, set_weights=PlatformError("router unreachable")) as conductor:
        result = conductor.run("/orchestrate rollback")
    assert result.exit_code == 1
    assert "platform error: router unreachable" in result.data["notes"]


# -- the watchdog -----------------------------------------------------------------------------------


def test_check_health_of_an_idle_service_still_runs_the_watchdog(workspace: Workspace) -> None:
    """check_health of a service taking no traffic used to sleep an interval with no watchdog tick:
    a brain stalling on it left a bad version at 100% unwatched."""
    config = release_config(bakeTime=900)
    config["platform"] = {"kind": "sim", "timeline": [{"at": 20, "target": "api@v1.1.0", "set": {"errorRate": 30}}]}
    workspace.write_config(config)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        assert execute(rt, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x").status == "ok"
        assert execute(rt, "shift_traffic", {"service": "api", "percent": 100}, "brain:x").status == "ok"
        for _ in range(6):
            execute(rt, "check_health", {"service": "web"}, "brain:x")
        assert rt.state().service("api").phase.value == "Rolled back"
        assert rt.platform.snapshot("api").weights == {"blue": 100, "green": 0}
    finally:
        conductor.close()


def _drop_worker(workspace: Workspace, timeline: list[dict[str, Any]] | None = None) -> None:
    config = release_config()
    config["orchestration"]["services"] = ["api", "web"]
    del config["release"]["worker"]
    if timeline is not None:
        config["platform"] = {"kind": "sim", "timeline": timeline}
    workspace.write_config(config)


def test_a_service_dropped_from_the_config_mid_canary_can_still_be_rolled_back(workspace: Workspace) -> None:
    """The watchdog's rollback used to be refused ("unknown service") every round, and reported as done."""
    assert run(workspace, "/orchestrate canary 10").exit_code == 0
    _drop_worker(workspace, [{"at": 0, "target": "worker@v1.1.0", "set": {"errorRate": 50}}])
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rolled_back: list[str] = []
        for _ in range(3):
            conductor.bundle.clock.sleep(10)
            rolled_back += watch_round(conductor)
        assert conductor.bundle.platform.snapshot("worker").weights == {"blue": 100, "green": 0}
        assert rolled_back == ["worker"]
        assert [e for e in workspace.journal_events("tool_call") if e.data["decision"] == "refused"] == []
    finally:
        conductor.close()


def test_rollback_of_everything_includes_a_service_dropped_from_the_config(workspace: Workspace) -> None:
    assert run(workspace, "/orchestrate canary 10").exit_code == 0
    _drop_worker(workspace)
    result = run(workspace, "/orchestrate rollback")
    assert result.exit_code == 3
    assert "<conductor>ROLLBACK:worker:manual</conductor>" in [s.format() for s in result.signals]
    assert in_flight(workspace) == []


# -- a rolling batch whose instance never becomes ready ----------------------------------------------


def test_rolling_instance_never_ready_reverts_the_updated_ones_and_fails(workspace: Workspace) -> None:
    """Used to stop with exit 0, half the instances on the new version, the orchestration still running."""
    config = release_config(rollingBatchSize=2)
    config["services"] = {"api": {"replicas": 4}}
    config["platform"] = {"kind": "sim", "timeline": [{"at": 12, "target": "api@v1.1.0",
                                                       "set": {"neverReady": True}}]}
    workspace.write_config(config)
    result = run(workspace, "/orchestrate rolling")
    assert result.exit_code == 1
    assert result.data["status"] == "failed"
    assert instance_versions(workspace, "api") == {"v1.0.0"}
    row = next(r for r in result.services if r["service"] == "api")
    assert row["status"] == "Failed" and "never became ready" in (row["failure"] or "")
