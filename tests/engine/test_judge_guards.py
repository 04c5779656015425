"""The health guard reads the judge's verdict: only non-inferior over a full interval lets more
traffic through; an inconclusive step moves only on a percentage a person typed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from conductor.dispatch import execute
from conductor.journal import events as ev
from conductor.metrics.analysis import assess
from conductor.metrics.evidence import SlotEvidence
from conductor.metrics.judge import BaselineKind
from conductor.platforms.sim.noise import draw_window, lognormal_sigma
from conductor.session import Conductor
from conductor.tools.runtime import Runtime
from tests.conftest import Workspace


@pytest.fixture
def canary_at_10(workspace: Workspace) -> Iterator[Runtime]:
    conductor = Conductor.from_config(workspace.config_path)
    assert conductor.run("/orchestrate canary 10").exit_code == 0
    yield conductor.runtime(conductor.in_flight()[0].id)
    conductor.close()


def _evidence(rate: float, seconds: float, seed: int) -> SlotEvidence:
    rng = np.random.default_rng(seed)
    requests, errors, latency = draw_window(rng, rate, seconds, 0.005, 90.0, lognormal_sigma(90.0, 144.0))
    return SlotEvidence(requests, errors, latency, seconds, 1)


def _journal_verdict(rt: Runtime, candidate: SlotEvidence, stable: SlotEvidence) -> str:
    assessment = assess(candidate, stable, BaselineKind.CONCURRENT, rt.config.orchestration)
    state = rt.state().service("api")
    rt.record(ev.HealthChecked(assessment=assessment.to_dict(), window_start=state.last_shift_at or 0.0), "api",
              "test")
    return assessment.verdict.value


def _shift(rt: Runtime, actor: str = "brain:test") -> tuple[str, str]:
    result = execute(rt, "shift_traffic", {"service": "api", "percent": 25}, actor)
    return result.status, result.message


def test_inconclusive_refuses_until_a_person_types_the_percentage(canary_at_10: Runtime) -> None:
    rt = canary_at_10
    rt.record(ev.ApprovalGranted(percent=25, exact=False, via="--auto"), None, "person:test")
    assert _journal_verdict(rt, _evidence(1.0, 60, 1), _evidence(9.0, 60, 2)) == "inconclusive"
    status, message = _shift(rt)
    assert status == "refused" and "not enough evidence yet" in message and "ramp up explicitly" in message
    rt.record(ev.ApprovalGranted(percent=25, exact=True), None, "person:cli")
    assert _shift(rt)[0] == "ok"


def test_non_inferior_on_less_than_a_full_interval_is_not_enough(canary_at_10: Runtime) -> None:
    rt = canary_at_10
    rt.record(ev.ApprovalGranted(percent=25, exact=True), None, "person:test")
    assert _journal_verdict(rt, _evidence(200_000, 5, 3), _evidence(1_800_000, 5, 4)) == "non_inferior"
    status, message = _shift(rt)
    assert status == "refused" and "at least one full interval" in message
    assert _journal_verdict(rt, _evidence(20_000, 10, 5), _evidence(180_000, 10, 6)) == "non_inferior"
    assert _shift(rt)[0] == "ok"


def test_blue_green_cannot_promote_an_inconclusive_bake_on_its_start_command(workspace: Workspace) -> None:
    """``/orchestrate blue-green`` approves 100% before any evidence: that is no decision on it."""
    from conductor.guards.base import GuardedCall
    from conductor.guards.healthy import explicitly_approved
    from conductor.tools.schemas import PromoteInput

    conductor = Conductor.from_config(workspace.config_path)
    try:
        conductor.run("/orchestrate blue-green")
        oid = next(iter(conductor.journal.orchestrations()))[0]
        state = conductor.runtime(oid).state()
        assert state.exact_request == 100
        assert not explicitly_approved(GuardedCall("promote", PromoteInput(service="api"), "brain:x", state))
    finally:
        conductor.close()
