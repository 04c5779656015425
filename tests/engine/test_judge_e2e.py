"""Each of the judge's verdicts, end to end on the simulator: what the watchdog does, what the
guards allow, what the journal, the report and ``--json`` say."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from conductor.metrics.judge import Judgement
from tests.conftest import Workspace, release_config


def _sim(workspace: Workspace, platform: dict[str, Any] | None = None, **orchestration: Any) -> None:
    config = release_config(**orchestration)
    config["release"] = {"api": "v1.1.0"}
    config["platform"] = {"kind": "sim", **(platform or {})}
    workspace.write_config(config)


def _checks(workspace: Workspace) -> list[Any]:
    return workspace.journal_events("health_checked")


def test_a_subtle_regression_is_caught_and_explained_by_its_evidence(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.5% -> 1% errors: far below the 5% limit and invisible to a per-window rule."""
    _sim(workspace, {"versions": {"api@v1.1.0": {"errorRate": 1.0}}})
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 3, result.out
    signal = result.out.splitlines()[0]
    assert signal.startswith("<conductor>ROLLBACK:api:error rate ") and "vs stable 0.5" in signal
    last = _checks(workspace)[-1]
    assert last.data["assessment"]["verdict"] == "regression"
    judgement = Judgement.from_dict(last.data["assessment"]["evidence"])  # replayable from the journal alone
    assert judgement.test("error_rate") is not None and judgement.baseline.value == "concurrent"
    assert judgement.candidate.requests > 0 and judgement.stable is not None and judgement.stable.errors > 0
    assert workspace.journal_events("rolled_back")[0].actor == "watchdog"
    assert workspace.journal_events("completed") == []


def test_a_healthy_canary_ends_each_step_as_soon_as_it_is_non_inferior(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _sim(workspace)
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 0, result.out
    assert "<conductor>DEPLOYED:api</conductor>" in result.out
    shifts = workspace.journal_events("traffic_shifted")
    checks = _checks(workspace)
    for before, after in itertools.pairwise(shifts):
        step = [c for c in checks if before.at < c.at <= after.at]
        verdicts = [c.data["assessment"]["verdict"] for c in step]
        assert verdicts and verdicts[-1] == "non_inferior"  # every ramp followed a non-inferior verdict
        assert "non_inferior" not in verdicts[:-1]  # ... and came at the first one
        assert after.at - before.at >= 10 - 1e-6  # after at least one full interval
    assert "verdict: **non-inferior**" in result.out


def test_a_healthy_low_traffic_canary_pauses_as_inconclusive_and_a_person_may_ramp_it_explicitly(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _sim(workspace, {"requestRate": 10}, maxStepDuration=120)
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == 0, result.out
    assert "ROLLBACK" not in result.out
    verdicts = [c.data["assessment"]["verdict"] for c in _checks(workspace)]
    assert set(verdicts) <= {"inconclusive", "unavailable"} and verdicts[-1] == "inconclusive"
    asked = workspace.journal_events("approval_requested")
    assert len(asked) == 1 and asked[0].data["recommendation"].startswith("wait: canary inconclusive at 5%")
    assert "verdict: **inconclusive**" in result.out and "Awaiting approval" in result.out
    assert workspace.journal_events("rolled_back") == []

    ramped = workspace.cli(capsys, "orchestrate", "canary", "25")  # a person, explicitly
    assert ramped.code == 0, ramped.out
    weights = [e.data["weights"]["green"] for e in workspace.journal_events("traffic_shifted")]
    assert weights[:2] == [5, 25]
    approval = workspace.journal_events("approval_granted")[-1]
    assert approval.actor.startswith("person:") and approval.data["percent"] == 25 and approval.data["exact"]


def test_the_json_report_carries_the_verdict_and_its_evidence(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _sim(workspace, {"requestRate": 10}, maxStepDuration=60)
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto", "--json")
    document = json.loads(result.out)
    verdict = next(line for line in document["health"] if line["metric"] == "verdict")
    assert verdict["verdict"] == "inconclusive" and verdict["ok"] is False
    evidence = verdict["evidence"]
    assert evidence["baseline"] == "concurrent" and evidence["false_alarm_rate"] == 0.01
    assert {t["name"] for t in evidence["tests"]} == {"error_rate", "error_rate_limit", "latency", "latency_limit"}
    assert evidence["candidate"]["requests"] > 0


def test_blue_green_is_judged_against_stables_traffic_before_the_flip(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _sim(workspace)
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 0, result.out
    judgement = Judgement.from_dict(_checks(workspace)[-1].data["assessment"]["evidence"])
    assert judgement.baseline.value == "historical" and judgement.stable is not None
    assert "just before the switch" in result.out


def test_a_fully_broken_canary_is_rolled_back_at_the_first_check(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _sim(workspace, {"requestRate": 3, "versions": {"api@v1.1.0": {"errorRate": 100}}})
    result = workspace.cli(capsys, "orchestrate", "canary", "50", "--auto")
    assert result.code == 3, result.out
    checks = _checks(workspace)
    assert len(checks) == 1 and checks[0].data["assessment"]["verdict"] == "regression"
    assert "above the 5% limit" in result.out.splitlines()[0]


@pytest.mark.parametrize("strategy", ["blue-green", "rolling"])
def test_an_inconclusive_blue_green_or_rolling_release_pauses_instead_of_looping(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], strategy: str
) -> None:
    _sim(workspace, {"requestRate": 10}, maxStepDuration=60)
    result = workspace.cli(capsys, "orchestrate", strategy)
    assert result.code == 0, result.out
    asked = workspace.journal_events("approval_requested")
    assert len(asked) == 1 and asked[0].data["recommendation"].startswith("wait: api inconclusive")
    assert workspace.journal_events("rolled_back") == [] and workspace.journal_events("completed") == []
    assert "verdict: **inconclusive**" in result.out
