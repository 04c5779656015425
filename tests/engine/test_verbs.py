"""The day-to-day verbs through the Python API (``Conductor.promote`` …), on the simulator:
each goes through the guarded tools and leaves its facts in the journal."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from conductor import Conductor, Signal, init_config
from conductor.config_file import load_config
from conductor.dispatch import execute
from conductor.errors import EXIT_ROLLED_BACK, UsageError
from conductor.journal.events import ReleasePaused
from conductor.journal.store import Journal
from conductor.metrics.analysis import HealthVerdict
from conductor.paths import state_dir_for
from conductor.platforms.base import Platform, ServiceSnapshot, Slot, SlotState
from conductor.platforms.registry import build_platform
from conductor.verbs import NOTHING_IN_FLIGHT
from conductor.watchdog import Patrol
from tests.conftest import Workspace, release_config

ACTOR = "person:test"


@pytest.fixture
def conductor(workspace: Workspace) -> Iterator[Conductor]:
    instance = Conductor.from_config(workspace.config_path)
    yield instance
    instance.close()


def percents(result: Any) -> dict[str, int]:
    return {row["service"]: row["new_version_percent"] for row in result.services}


def serving(conductor: Conductor, service: str) -> str | None:
    """The version of the slot taking all of ``service``'s traffic."""
    snapshot = conductor.bundle.platform.snapshot(service)
    [slot] = [s for s, weight in snapshot.weights.items() if weight == 100]
    return snapshot.slots[slot].version


def statuses(result: Any) -> dict[str, str]:
    return {row["service"]: row["status"] for row in result.services}


def test_promote_is_the_next_step_and_full_goes_to_100(conductor: Conductor, workspace: Workspace) -> None:
    first = conductor.run("canary 5", actor=ACTOR)
    assert first.exit_code == 0 and set(percents(first).values()) == {5}
    step = conductor.promote(actor=ACTOR)
    assert step.exit_code == 0 and set(percents(step).values()) == {25}
    assert step.data["status"] == "awaiting_approval"
    done = conductor.promote(full=True, actor=ACTOR)
    assert done.exit_code == 0
    assert done.signals == [Signal("DEPLOYED", ("api", "web", "worker"))]
    approvals = [(e.actor, e.data["percent"], e.data["exact"], e.data["via"])
                 for e in workspace.journal_events("approval_granted")]
    assert approvals == [(ACTOR, 5, True, "/orchestrate canary 5"), (ACTOR, 25, False, "/orchestrate canary"),
                         (ACTOR, 100, True, "/orchestrate canary 100")]
    # Every step went through the guarded tools: the judge cleared each ramp-up before it happened.
    shifts = [e for e in workspace.journal_events("tool_call") if e.data["tool"] == "shift_traffic"]
    assert shifts and all(e.data["decision"] == "allowed" for e in shifts)
    assert [e.data["arguments"]["percent"] for e in shifts if e.service == "api"] == [5, 25, 100]  # straight to 100
    # ... but only once the judge cleared 25%: the health check that allowed the jump came before it.
    api = [e for e in workspace.journal_events() if e.service == "api"
           and e.kind in ("health_checked", "traffic_shifted")]
    last_shift = max(i for i, e in enumerate(api) if e.kind == "traffic_shifted")
    assert api[last_shift - 1].kind == "health_checked"
    assert api[last_shift - 1].data["assessment"]["verdict"] == HealthVerdict.NON_INFERIOR.value


def test_promote_with_nothing_in_flight_changes_nothing(conductor: Conductor, workspace: Workspace) -> None:
    before = workspace.state_files()
    with pytest.raises(UsageError, match="nothing in flight to promote"):
        conductor.promote(actor=ACTOR)
    assert workspace.state_files() == before


def test_per_service_approval_moves_that_service_only(conductor: Conductor, workspace: Workspace) -> None:
    conductor.run("canary 5", actor=ACTOR)
    api = conductor.promote("api", actor=ACTOR)
    assert percents(api) == {"api": 25, "web": 5, "worker": 5}
    web = conductor.run("canary 50 web", actor=ACTOR)  # the seed grammar's form, an exact percentage
    assert percents(web) == {"api": 25, "web": 50, "worker": 5}
    granted = [(e.service, e.data["percent"]) for e in workspace.journal_events("approval_granted")]
    assert granted == [(None, 5), ("api", 25), ("web", 50)]
    with pytest.raises(UsageError, match="unknown service 'nope'"):
        conductor.run("canary 50 nope", actor=ACTOR)
    with pytest.raises(UsageError, match="a canary only ramps up"):
        conductor.run("canary 25 web", actor=ACTOR)


def test_per_service_approval_needs_a_canary_in_flight(conductor: Conductor, workspace: Workspace) -> None:
    with pytest.raises(UsageError, match="approves a step for api of a canary in flight"):
        conductor.run("canary 10 api", actor=ACTOR)
    assert workspace.state_files() == {}


def test_abort_rolls_back_and_keeps_the_release_marked_aborted(conductor: Conductor, workspace: Workspace) -> None:
    conductor.run("canary 5", actor=ACTOR)
    result = conductor.abort(reason="dashboards look wrong", actor=ACTOR)
    assert result.exit_code == EXIT_ROLLED_BACK
    assert set(statuses(result).values()) == {"Rolled back"}
    assert {s.kind for s in result.signals} == {"ROLLBACK"}
    assert all("aborted by person:test: dashboards look wrong" in s.reason for s in result.signals)
    [record] = conductor.history()
    assert record.outcome == "rolled_back"
    assert record.aborted == {"actor": ACTOR, "reason": "dashboards look wrong"}
    for name in ("api", "web", "worker"):  # all traffic back on stable, the canary retired
        assert serving(conductor, name) == "v1.0.0"
        assert not conductor.bundle.platform.snapshot(name).slots["green"].instances
    with pytest.raises(UsageError, match="--retry"):  # like Argo: aborted stays aborted until a retry
        conductor.run("canary 5", actor=ACTOR)
    assert conductor.run("canary 5", actor=ACTOR, retry=True).exit_code == 0


def test_abort_with_nothing_in_flight_says_so(conductor: Conductor, workspace: Workspace) -> None:
    result = conductor.abort(actor=ACTOR)
    assert result.exit_code == 0
    assert NOTHING_IN_FLIGHT.format(verb="abort") in result.report
    with pytest.raises(UsageError, match="unknown service 'nope'"):
        conductor.abort("nope", actor=ACTOR)
    conductor.run("canary 5", actor=ACTOR)
    before = workspace.state_files()
    preview = conductor.abort("api", dry_run=True, actor=ACTOR)
    assert "would roll back api" in preview.report and workspace.state_files() == before


def test_init_config_from_python(tmp_path: Path) -> None:
    path = init_config(tmp_path, platform="local", services=["api"])
    assert load_config(path).platform.kind == "local"
    with pytest.raises(UsageError, match="already exists"):
        init_config(tmp_path)
    with pytest.raises(UsageError, match="unknown platform 'ecs'"):
        init_config(tmp_path / "other", platform="ecs")
    assert not (tmp_path / "other").exists()


class PauseAtFirstTraffic:
    """The simulator, plus a person in another terminal who pauses the release as soon as the
    canary takes its first traffic (journaled through a journal connection of its own)."""

    def __init__(self, inner: Platform, journal_path: Path) -> None:
        self.inner = inner
        self.journal_path = journal_path
        self.paused = False

    def set_weights(self, service: str, weights: Mapping[Slot, int]) -> dict[Slot, int]:
        applied = self.inner.set_weights(service, weights)
        if not self.paused and 0 < min(weights.values()) < 100:
            journal = Journal(self.journal_path)
            [oid] = journal.unended()
            journal.append(ReleasePaused(reason="checking a graph"), at=0.0, actor="person:other", orchestration=oid)
            journal.close()
            self.paused = True
        return applied

    def snapshot(self, service: str) -> ServiceSnapshot:
        return self.inner.snapshot(service)

    def deploy(self, service: str, slot: Slot, version: str, replicas: int) -> SlotState:
        return self.inner.deploy(service, slot, version, replicas)

    def replace_instance(self, service: str, slot: Slot, index: int, version: str) -> Any:
        return self.inner.replace_instance(service, slot, index, version)

    def retire(self, service: str, slot: Slot) -> None:
        self.inner.retire(service, slot)

    def probe(self, service: str, slot: Slot, path: str) -> int:
        return self.inner.probe(service, slot, path)

    def close(self) -> None:
        self.inner.close()


def test_pause_holds_an_auto_ramp_and_resume_carries_it_on(workspace: Workspace) -> None:
    config = load_config(workspace.config_path)
    bundle = build_platform(config, state_dir_for(workspace.config_path, config))
    platform = PauseAtFirstTraffic(bundle.platform, workspace.state_dir / "journal.db")
    conductor = Conductor(config, workspace.config_path, platform=platform, metrics=bundle.metrics,
                          clock=bundle.clock)
    try:
        held = conductor.run("canary 5", auto=True, actor=ACTOR)
        assert held.exit_code == 0
        [state] = conductor.in_flight()
        assert state.paused is not None and state.paused.actor == "person:other"
        assert state.waits_for_person
        assert max(percents(held).values()) == 5  # the --auto ramp stopped where the pause found it
        # The guard, not the brain, is what holds it: a ramp-up is refused, a rollback would not be.
        rt = conductor.runtime(state.id)
        refused = execute(rt, "shift_traffic", {"service": "api", "percent": 25}, "brain:test")
        assert refused.status == "refused" and refused.data["guard"] == "not_paused"
        assert execute(rt, "check_health", {"service": "api"}, "brain:test").status in ("ok", "no_data")
        done = conductor.resume(actor=ACTOR)
        assert done.exit_code == 0 and done.signals == [Signal("DEPLOYED", ("api", "web", "worker"))]
        resumed = workspace.journal_events("release_resumed")
        assert [e.actor for e in resumed] == [ACTOR]
    finally:
        conductor.close()


def test_pause_is_refused_with_nothing_in_flight_and_resume_of_a_running_release_is_a_no_op(
        conductor: Conductor, workspace: Workspace) -> None:
    with pytest.raises(UsageError, match="nothing in flight to pause"):
        conductor.pause(actor=ACTOR)
    conductor.run("canary 5", actor=ACTOR)
    result = conductor.resume(actor=ACTOR)
    assert "is not paused; nothing to resume" in result.report
    assert workspace.journal_events("release_resumed") == []


def test_a_resume_by_a_program_does_not_lift_a_pause(conductor: Conductor, workspace: Workspace) -> None:
    conductor.run("canary 5", actor=ACTOR)
    conductor.pause(actor="mcp-client")  # holding is safe: anyone may
    conductor.resume(actor="mcp-client")  # moving on is a person's decision
    [state] = conductor.in_flight()
    assert state.paused is not None


def test_promote_lifts_a_pause(conductor: Conductor) -> None:
    conductor.run("canary 5", actor=ACTOR)
    paused = conductor.pause(reason="lunch", actor=ACTOR)
    assert "Paused by person:test (lunch): nothing moves it forward" in paused.report
    assert "Paused by person:test (lunch)" in conductor.run("status").report  # every report says so
    result = conductor.promote(actor=ACTOR)
    assert "Paused by" not in result.report
    assert set(percents(result).values()) == {25}
    [state] = conductor.in_flight()
    assert state.paused is None


def _blue_green(workspace: Workspace, **orchestration: Any) -> Conductor:
    workspace.write_config(release_config(**orchestration))
    return Conductor.from_config(workspace.config_path)


def _flip_seconds(workspace: Workspace, oid: int, service: str) -> float:
    events = [e for e in workspace.journal_events() if e.orchestration == oid]
    start = events[0].at
    flip = next(e for e in events if e.kind == "traffic_shifted" and e.service == service)
    return float(flip.at - start)


@pytest.mark.parametrize("delay", [600, 0])
def test_undo_flips_back_instantly_while_warm_and_redeploys_otherwise(workspace: Workspace, delay: int) -> None:
    conductor = _blue_green(workspace, scaleDownDelay=delay)
    try:
        assert conductor.run("blue-green", actor=ACTOR).exit_code == 0
        undo = conductor.undo("api", actor=ACTOR)
        assert undo.exit_code == 0 and undo.signals == [Signal("DEPLOYED", ("api",))]
        [last, first] = conductor.history()
        assert last.undo_of == first.id and last.services == {
            "api": {"from": "v1.1.0", "to": "v1.0.0", "result": "Complete"}}
        assert [(a.actor, a.via) for a in last.approvals] == [(ACTOR, f"undo of #{first.id}")]
        assert serving(conductor, "api") == "v1.0.0"
        flip = _flip_seconds(workspace, last.id, "api")
        if delay:
            assert "api: v1.0.0 is still warm in blue: no deploy, the flip is instant" in undo.report
            assert flip < 1.0  # nothing deployed: the old color was running
        else:
            assert "api: v1.0.0 is no longer running: it is redeployed first" in undo.report
            assert flip >= 5.0  # the simulator's start-up time of a version
        # Still judged and baked like any release: health checks after the flip, then the bake.
        checks = [e for e in workspace.journal_events("health_checked") if e.orchestration == last.id]
        assert checks
    finally:
        conductor.close()


def test_undo_to_a_revision_and_what_undo_refuses(workspace: Workspace) -> None:
    conductor = _blue_green(workspace)
    try:
        with pytest.raises(UsageError, match="nothing to undo"):
            conductor.undo(actor=ACTOR)
        conductor.run("blue-green", actor=ACTOR)  # #1: v1.0.0 -> v1.1.0
        second = conductor.run("blue-green", actor=ACTOR, release={"api": "v1.2.0"})  # #2: api -> v1.2.0
        assert second.exit_code == 0
        back = conductor.undo(actor=ACTOR)  # the latest completed release (#2): api back to v1.1.0
        assert {row["service"]: row["target"] for row in back.services if row["status"] == "Complete"} == {
            "api": "v1.1.0"}
        again = conductor.undo("api", to_revision=2, actor=ACTOR)  # forward to what #2 completed
        assert again.exit_code == 0
        assert serving(conductor, "api") == "v1.2.0"
        with pytest.raises(UsageError, match="no such release"):
            conductor.undo(to_revision=99, actor=ACTOR)
        conductor.run("canary 5", actor=ACTOR, release={"api": "v1.3.0"})
        with pytest.raises(UsageError, match="is in flight: undo takes back a completed release"):
            conductor.undo(actor=ACTOR)
    finally:
        conductor.close()


def test_undo_dry_run_changes_nothing(workspace: Workspace) -> None:
    conductor = _blue_green(workspace, scaleDownDelay=600)  # the old color stays warm
    try:
        conductor.run("blue-green", actor=ACTOR)
        before = workspace.state_files()
        preview = conductor.undo(dry_run=True, actor=ACTOR)
        assert "dry run: nothing changed" in preview.report and "undo of release #1" in preview.report
        assert workspace.state_files() == before
        # The plan is the undo's: its target, a flip without a deploy while warm, and how to run it.
        assert "| api | v1.1.0 | v1.0.0 | Pending |" in preview.report
        assert "- api: smoke-check, flip 100% from v1.1.0, bake 60s" in preview.report
        assert "deploy v1.0.0 to the idle color" not in preview.report
        assert preview.data["next_steps"] == ["Run it: the same command without `--dry-run`"]
    finally:
        conductor.close()


def test_the_old_color_is_retired_once_the_scale_down_delay_ran_out(workspace: Workspace) -> None:
    conductor = _blue_green(workspace, scaleDownDelay=60)
    try:
        conductor.run("blue-green", actor=ACTOR)
        assert conductor.bundle.platform.snapshot("api").slots["blue"].instances  # warm
        conductor.bundle.clock.sleep(61)
        result = conductor.run("blue-green", actor=ACTOR, release={"api": "v1.2.0"})
        assert any("kept warm since release #1" in note for note in result.data["notes"])
        retired = [e for e in workspace.journal_events("retired") if e.actor == "scale-down"]
        assert {e.service for e in retired} == {"api", "web", "worker"}  # before the new release took api's
        assert result.exit_code == 0 and serving(conductor, "api") == "v1.2.0"
        assert not conductor.bundle.platform.snapshot("web").slots["blue"].instances  # retired, not warm
    finally:
        conductor.close()


def test_history_lists_releases_newest_first_with_approvals_and_the_deployments_log(workspace: Workspace) -> None:
    conductor = _blue_green(workspace)
    try:
        conductor.run("blue-green", actor=ACTOR)
        conductor.run("canary 5", actor="person:alice", release={"api": "v1.2.0"})
        conductor.promote(full=True, actor="person:bob")
        records = conductor.history()
        assert [r.id for r in records] == [2, 1]
        assert [(a.actor, a.percent) for a in records[0].approvals] == [("person:alice", 5), ("person:bob", 100)]
        assert records[0].outcome == "complete" and records[0].ended is not None
        assert [r.id for r in conductor.history("web")] == [1]
        assert [r.id for r in conductor.history(limit=1)] == [2]
        conductor.undo("api", actor=ACTOR)  # 3
        conductor.run("canary 5", actor=ACTOR, release={"api": "v1.3.0"})  # 4
        conductor.abort(reason="typo in the flag", actor=ACTOR)
    finally:
        conductor.close()
    # A fresh journal (another machine): what only DEPLOYMENTS.md still records is listed from it.
    (workspace.state_dir / "journal.db").rename(workspace.state_dir / "old-journal.db")
    for suffix in ("-wal", "-shm"):
        (workspace.state_dir / f"journal.db{suffix}").unlink(missing_ok=True)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        records = conductor.history()
        assert [(r.id, r.source, r.outcome) for r in records] == [
            (4, "DEPLOYMENTS.md", "rolled_back"), (3, "DEPLOYMENTS.md", "complete"),
            (2, "DEPLOYMENTS.md", "complete"), (1, "DEPLOYMENTS.md", "complete")]
        aborted, undo, canary = records[0], records[1], records[2]
        assert aborted.aborted == {"actor": ACTOR, "reason": "typo in the flag"}
        assert undo.undo_of == 2 and undo.services["api"]["to"] == "v1.1.0"
        assert canary.services["api"] == {"from": "v1.1.0", "to": "v1.2.0", "result": "Complete"}
        assert canary.command == "/orchestrate canary 5"
        assert [(a.actor, a.percent) for a in canary.approvals] == [("person:alice", 5), ("person:bob", 100)]
        assert all(a.at.startswith(canary.started[:10]) for a in canary.approvals)
    finally:
        conductor.close()


def test_releases_list_each_service(conductor: Conductor) -> None:
    conductor.run("canary 5", actor=ACTOR)
    conductor.pause(actor=ACTOR)
    rows = {r.service: r for r in conductor.releases()}
    assert rows["api"].version == "v1.0.0" and rows["api"].last_release == 1
    assert rows["api"].in_flight == "canary #1: Awaiting approval (5% → 25%), paused by person:test"


def test_an_undo_to_a_version_that_is_now_bad_is_rolled_back_by_the_judge(workspace: Workspace) -> None:
    config = release_config(scaleDownDelay=600)
    # The version before the release is the worse one (the release fixed it): undoing to it is a
    # regression against what now serves, and the judge says so as it would of any release.
    config["platform"] = {"kind": "sim", "versions": {"api@v1.0.0": {"errorRate": 40}}}
    workspace.write_config(config)
    conductor = Conductor.from_config(workspace.config_path)
    try:
        assert conductor.run("blue-green", actor=ACTOR).exit_code == 0
        undo = conductor.undo("api", actor=ACTOR)
        assert undo.exit_code == EXIT_ROLLED_BACK
        assert [s.kind for s in undo.signals] == ["ROLLBACK"] and "error rate" in undo.signals[0].reason
        assert serving(conductor, "api") == "v1.1.0"  # back on the release the undo tried to take back
    finally:
        conductor.close()


def test_abort_of_one_service_takes_back_the_whole_release_it_belongs_to(conductor: Conductor) -> None:
    conductor.run("canary 5", actor=ACTOR)
    result = conductor.abort("web", reason="web's graph", actor=ACTOR)
    assert result.exit_code == EXIT_ROLLED_BACK == result.data["exit_code"]
    assert set(statuses(result).values()) == {"Rolled back"}
    assert sorted(s.services[0] for s in result.signals) == ["api", "web", "worker"]
    assert conductor.in_flight() == []


def test_a_long_running_watch_retires_the_old_colors_when_the_delay_runs_out(workspace: Workspace) -> None:
    conductor = _blue_green(workspace, scaleDownDelay=60)
    try:
        conductor.run("blue-green", actor=ACTOR)
        patrol = Patrol(conductor)
        patrol.round()
        assert conductor.bundle.platform.snapshot("api").slots["blue"].instances  # still warm: within 60 s
        conductor.bundle.clock.sleep(61)
        patrol.round()
        retired = [e for e in workspace.journal_events("retired") if e.actor == "scale-down"]
        assert sorted(e.service for e in retired) == ["api", "web", "worker"]
        assert not conductor.bundle.platform.snapshot("api").slots["blue"].instances
        assert serving(conductor, "api") == "v1.1.0"  # the release itself is untouched
        patrol.round()  # nothing left to retire: nothing journaled twice
        assert len([e for e in workspace.journal_events("retired") if e.actor == "scale-down"]) == 3
        assert "is no longer running: it is redeployed first" in conductor.undo("api", dry_run=True).report
    finally:
        conductor.close()
