"""A healthy canary on a service with little traffic: the judge stays inconclusive for a long
time, and the offline brain must wait for evidence without spending its turn budget, then pause
for a person at ``maxStepDuration`` (exit 0) — never exit 1 "stopped short", never roll back."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace


@pytest.mark.parametrize("auto", [False, True])
def test_a_healthy_low_traffic_canary_pauses_inconclusive_within_the_turn_budget(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], auto: bool
) -> None:
    workspace.write_config({
        "orchestration": {"services": ["api"]},
        "release": {"api": "v1.1.0"},
        "platform": {"kind": "sim", "requestRate": 10, "seed": 7},
    })
    args = ["orchestrate", "canary", *(["--auto"] if auto else ["10"]), "--json"]
    result = workspace.cli(capsys, *args)
    document = result.json()
    assert result.code == 0, result.out
    assert document["status"] == "awaiting_approval"
    assert "<conductor>ROLLBACK" not in result.out and "<conductor>DEPLOYED" not in result.out
    verdicts = [row for row in document["health"] if row.get("metric") == "verdict"]
    assert verdicts and verdicts[0]["verdict"] == "inconclusive"
    assert document["usage"]["turns"] <= 10  # one monitor call per step, not one check per turn
    assert not any("maxTurns" in note for note in document["notes"])
