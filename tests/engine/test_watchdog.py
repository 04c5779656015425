"""The watchdog rolls back by itself — on error rate, latency, crashes and blindness — and never
lets traffic grow while the new version is unhealthy or unobserved."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Workspace, release_config


def _sim(workspace: Workspace, timeline: list[dict[str, Any]], **orchestration: Any) -> None:
    config = release_config(**orchestration)
    config["release"] = {"api": "v1.1.0"}
    config["platform"] = {"kind": "sim", "timeline": timeline}
    workspace.write_config(config)


def _assert_never_ramped_while_unhealthy(workspace: Workspace) -> None:
    """Invariant: every increase of traffic followed a healthy check of the current step."""
    healthy_since_shift = True
    percent = 0
    for event in workspace.journal_events():
        if event.kind == "traffic_shifted":
            new = event.data["weights"]["green"]
            if new > percent and percent > 0:
                assert healthy_since_shift, f"traffic increased to {new}% without a healthy check"
            percent, healthy_since_shift = new, False
        elif event.kind == "health_checked":
            healthy_since_shift = event.data["assessment"]["verdict"] == "non_inferior"


def test_error_rate_breach_mid_canary_rolls_back_at_the_first_regression_verdict(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _sim(workspace, [{"at": 60, "target": "api@v1.1.0", "set": {"errorRate": 12}}])
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 3
    signal = result.out.splitlines()[0]
    assert signal.startswith("<conductor>ROLLBACK:api:error rate ") and "at 99%" in signal
    assert "| api | v1.0.0 | v1.1.0 | Rolled back |" in result.out
    checks = [e for e in workspace.journal_events("health_checked")]
    first_regression = next(e for e in checks if e.data["assessment"]["verdict"] == "regression")
    rollback = workspace.journal_events("rolled_back")[0]
    assert rollback.actor == "watchdog"
    # The sequential test is already confident: no failureLimit wait after the verdict.
    assert rollback.at - first_regression.at <= 1e-6
    assert first_regression.at <= 60 + 10 + 1e-6  # the first check that saw the spike
    _assert_never_ramped_while_unhealthy(workspace)
    assert workspace.journal_events("traffic_shifted")[-1].data["weights"] == {"blue": 100, "green": 0}


def test_latency_creep_rolls_back_on_latency(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    _sim(workspace, [{"at": 0, "target": "api@v1.1.0", "set": {"latencyGrowthPerMinute": 100}}])
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 3
    assert "p95 latency" in result.out.splitlines()[0]
    _assert_never_ramped_while_unhealthy(workspace)


def test_instance_crash_rolls_back(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    _sim(workspace, [{"at": 0, "target": "api@v1.1.0", "set": {"crashAfter": 40}}])
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 3
    signal = result.out.splitlines()[0]
    assert signal.startswith("<conductor>ROLLBACK:api:error rate ") and "above the 5% limit at 99%" in signal


def test_metrics_outage_blocks_promotion_then_rolls_back_after_the_no_data_limit(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _sim(workspace, [{"at": 20, "metricsOutage": True}], noDataLimit=3)
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 3
    assert "no usable metrics for 3 consecutive checks" in result.out.splitlines()[0]
    _assert_never_ramped_while_unhealthy(workspace)
    assert not workspace.journal_events("completed")


def test_short_outage_only_delays_the_release(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    _sim(workspace, [{"at": 20, "until": 45, "metricsOutage": True}])
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 0
    assert "<conductor>DEPLOYED:api</conductor>" in result.out
    verdicts = [e.data["assessment"]["verdict"] for e in workspace.journal_events("health_checked")]
    assert "unavailable" in verdicts
    _assert_never_ramped_while_unhealthy(workspace)


def test_conductor_watch_guards_a_paused_canary(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    _sim(workspace, [{"at": 200, "target": "api@v1.1.0", "set": {"errorRate": 30}}])
    assert workspace.cli(capsys, "orchestrate", "canary", "10").code == 0
    result = workspace.cli(capsys, "watch", "--duration", "600")
    assert result.code == 3
    assert "<conductor>ROLLBACK:api:error rate" in result.out
    status = workspace.cli(capsys, "orchestrate")
    assert "| api | v1.0.0 | v1.1.0 | Rolled back |" in status.out
    idle = workspace.cli(capsys, "watch")
    assert idle.code == 0


def test_a_flap_on_the_canary_is_evidence_and_rolls_back_at_once(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the sequential judge, failureLimit 2 let one bad window pass. Now the evidence of
    the step is summed, so 8 s of 40% errors stay in it: the check that sees them is confident
    the canary is worse, and a second one would only keep users on it longer."""
    _sim(workspace, [{"at": 31, "until": 39, "target": "api@v1.1.0", "set": {"errorRate": 40}}], failureLimit=2)
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 3, result.out
    verdicts = [e.data["assessment"]["verdict"] for e in workspace.journal_events("health_checked")]
    assert verdicts[-1] == "regression" and verdicts.count("regression") == 1
    assert workspace.journal_events("rolled_back")[0].actor == "watchdog"


def test_rolling_failure_reverts_the_instances_already_updated(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    config = release_config()
    config["release"] = {"api": "v1.1.0"}
    config["services"] = {"api": {"replicas": 4}}
    config["platform"] = {"kind": "sim", "versions": {"api@v1.1.0": {"errorRate": 40}}}
    workspace.write_config(config)
    result = workspace.cli(capsys, "orchestrate", "rolling")
    assert result.code == 3
    assert result.out.startswith("<conductor>ROLLBACK:api:error rate")
    replaced = [(e.data["index"], e.data["version"]) for e in workspace.journal_events("instance_replaced")]
    assert replaced == [(0, "v1.1.0"), (0, "v1.0.0")]  # the one updated instance went back
    assert "api instance 1: ░░░░░░░░░░░░ v1.0.0" in result.out


def test_a_late_approval_does_not_redeploy_a_rolled_back_release(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _sim(workspace, [{"at": 200, "target": "api@v1.1.0", "set": {"errorRate": 30}}])
    workspace.cli(capsys, "orchestrate", "canary", "10")
    assert workspace.cli(capsys, "watch").code == 3
    before = workspace.state_files()
    late = workspace.cli(capsys, "orchestrate", "canary", "25")
    assert late.code == 2
    assert "rolled back this release (api v1.1.0: error rate" in late.err and "--retry" in late.err
    assert workspace.state_files() == before
    retried = workspace.cli(capsys, "orchestrate", "canary", "10", "--retry")
    assert retried.code in (0, 3)
    assert len(workspace.journal_events("orchestration_started")) == 2


def test_watch_follow_keeps_watching_for_the_duration(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert workspace.cli(capsys, "watch", "--follow").code == 2  # would race simulated time
    result = workspace.cli(capsys, "watch", "--follow", "--duration", "120", "--json")
    assert result.code == 0 and result.json()["watched_seconds"] >= 120
