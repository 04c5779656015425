"""Each command end to end on the simulator: report, signals, journal, exit code."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace, release_config

DEPLOYED = "<conductor>DEPLOYED:api,web,worker</conductor>"


def test_status_before_anything_shows_current_and_target(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = workspace.cli(capsys, "orchestrate")
    assert result.code == 0
    assert "## Deployment Orchestration" in result.out
    assert "| api | v1.0.0 | v1.1.0 | Pending |" in result.out


def test_blue_green_deploys_every_service_in_order_and_signals(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    config = release_config()
    config["services"] = {"web": {"dependsOn": ["worker"]}}
    workspace.write_config(config)
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "<conductor>DEPLOYED:api,worker,web</conductor>"
    for line in ("### Strategy: Blue-Green", "### Services: api, web, worker",
                 "| Service | Current | Target | Status |", "| api | v1.1.0 | v1.1.0 | Complete |",
                 "### Health", "### Next Steps"):
        assert line in result.out
    flips = [e for e in workspace.journal_events("traffic_shifted")]
    assert [e.service for e in flips] == ["api", "worker", "web"]  # dependency order: worker before web
    assert all(e.data["weights"]["green"] == 100 for e in flips)  # one atomic flip each
    record = (workspace.state_dir / "DEPLOYMENTS.md").read_text()
    assert "| api | v1.0.0 | v1.1.0 | Complete |" in record


def test_blue_green_keeps_old_color_warm_until_the_bake_ends(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.cli(capsys, "orchestrate", "blue-green")
    events = workspace.journal_events()
    flip = next(e for e in events if e.kind == "traffic_shifted" and e.service == "api")
    retired = next(e for e in events if e.kind == "retired" and e.service == "api")
    assert retired.at - flip.at >= 60  # bakeTime in the test config


def test_canary_pauses_for_approval_then_ramps_and_promotes(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    first = workspace.cli(capsys, "orchestrate", "canary", "10")
    assert first.code == 0
    assert "| api | v1.0.0 | v1.1.0 | Awaiting approval (10% → 25%) |" in first.out
    assert "`conductor orchestrate canary 25`" in first.out  # the CLI suggests CLI commands
    assert "<conductor>" not in first.out
    status = workspace.cli(capsys, "orchestrate")
    assert "Awaiting approval (10% → 25%)" in status.out
    second = workspace.cli(capsys, "orchestrate", "canary", "25")
    assert "Awaiting approval (25% → 50%)" in second.out
    final = workspace.cli(capsys, "orchestrate", "canary", "100")
    assert final.code == 0
    assert DEPLOYED in final.out
    shifts = [e.data["weights"]["green"] for e in workspace.journal_events("traffic_shifted") if e.service == "api"]
    assert shifts == [10, 25, 100]


def test_canary_without_percent_starts_at_the_first_step_and_approves_the_next(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.cli(capsys, "orchestrate", "canary")
    second = workspace.cli(capsys, "orchestrate", "canary")
    assert "Awaiting approval (25% → 50%)" in second.out
    shifts = [e.data["weights"]["green"] for e in workspace.journal_events("traffic_shifted") if e.service == "api"]
    assert shifts == [5, 25]


def test_canary_auto_ramps_through_every_step_without_pausing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 0
    assert DEPLOYED in result.out
    shifts = [e.data["weights"]["green"] for e in workspace.journal_events("traffic_shifted") if e.service == "web"]
    assert shifts == [5, 25, 50, 100]
    assert not workspace.journal_events("approval_requested")


def test_canary_cannot_go_down(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.cli(capsys, "orchestrate", "canary", "25")
    before = workspace.state_files()
    result = workspace.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 2
    assert "already takes 25%" in result.err
    assert workspace.state_files() == before


def test_another_strategy_while_one_is_in_flight_is_refused(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.cli(capsys, "orchestrate", "canary", "10")
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 2
    assert "is in flight" in result.err


def test_rolling_replaces_instances_one_batch_at_a_time(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    config = release_config()
    config["services"] = {"api": {"replicas": 4}}
    workspace.write_config(config)
    result = workspace.cli(capsys, "orchestrate", "rolling")
    assert result.code == 0, result.out
    assert DEPLOYED in result.out
    events = [e for e in workspace.journal_events() if e.service == "api"]
    kinds = [e.kind for e in events if e.kind in ("instance_replaced", "health_checked")]
    # every batch is health-gated before the next one
    assert kinds[:4] == ["instance_replaced", "health_checked", "instance_replaced", "health_checked"]
    assert sum(1 for e in events if e.kind == "instance_replaced") == 4


def test_manual_rollback_restores_stable_and_signals(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.cli(capsys, "orchestrate", "canary", "10")
    result = workspace.cli(capsys, "orchestrate", "rollback", "api")
    assert result.code == 3
    assert result.out.splitlines()[0] == "<conductor>ROLLBACK:api:manual</conductor>"
    assert "| api | v1.0.0 | v1.1.0 | Rolled back |" in result.out
    assert "| web | v1.0.0 | v1.1.0 | Awaiting approval (10% → 25%) |" in result.out
    everything = workspace.cli(capsys, "orchestrate", "rollback")
    assert everything.code == 3
    assert "<conductor>ROLLBACK:web:manual</conductor>" in everything.out
    assert "<conductor>ROLLBACK:worker:manual</conductor>" in everything.out
    nothing = workspace.cli(capsys, "orchestrate", "rollback", "api")
    assert nothing.code == 0
    assert "nothing to roll back" in nothing.out


def test_dry_run_prints_the_plan_and_changes_nothing(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    result = workspace.cli(capsys, "orchestrate", "canary", "10", "--dry-run")
    assert result.code == 0
    assert "dry run: nothing changed" in result.out
    assert "api: deploy v1.1.0 beside v1.0.0, send 10%" in result.out
    assert not (workspace.state_dir / "journal.db").exists()


def test_json_output_carries_the_same_content(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    result = workspace.cli(capsys, "orchestrate", "blue-green", "--json")
    data = result.json()
    assert data["schema"] == "conductor.report/v1"
    assert data["status"] == "complete"
    assert [s["text"] for s in data["signals"]] == [DEPLOYED]
    assert {row["service"]: row["status"] for row in data["services"]} == dict.fromkeys(
        ["api", "web", "worker"], "Complete")
    assert data["exit_code"] == 0


def test_release_override_and_nothing_to_deploy(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    config = release_config()
    config["release"] = {"api": "v1.0.0"}
    workspace.write_config(config)
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 0
    assert "nothing to deploy" in result.out
    result = workspace.cli(capsys, "orchestrate", "blue-green", "--release", "api=v2.0.0")
    assert "<conductor>DEPLOYED:api</conductor>" in result.out
    bad = workspace.cli(capsys, "orchestrate", "blue-green", "--release", "db=v2")
    assert bad.code == 2 and "unknown service 'db'" in bad.err
