"""Every shipped scenario, on the replay brain (its cassette) and on the offline policy brain.

One test per scenario and brain, so a red run names the scenario. The suite runs once per
session, in parallel, and each test reads its own result: running one test costs the suite's
few seconds, running all of them costs the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conductor.frontends.evals import ScenarioResult, discover, load_scenario, run_suite

EVALS = Path(__file__).resolve().parents[2] / "evals"
FOLDERS = discover([EVALS])
BRAINS = ("replay", "policy")
REQUIRED_COVERAGE = {
    "strategy:canary", "strategy:blue-green", "strategy:rolling",
    "rollback:manual", "rollback:error-rate", "rollback:latency", "rollback:crash",
    "guard-refusal", "recovery", "metrics-outage:limit", "metrics-outage:short", "model-failure",
    "ordering", "multi-service-failure", "approval:given", "approval:withheld", "approval:late", "resume",
    "hostile:jump-to-100", "hostile:ignores-errors", "hostile:prompt-injection", "hostile:bad-arguments",
    "hostile:loop", "hostile:resets-watchdog", "hostile:forged-signals", "platform-failure",
}


@pytest.fixture(scope="session")
def suite() -> dict[tuple[str, str], ScenarioResult]:
    return {(r.scenario, r.brain): r for r in run_suite(FOLDERS, list(BRAINS))}


def _cases() -> list[object]:
    cases: list[object] = []
    for folder in FOLDERS:
        scenario = load_scenario(folder)
        for brain in BRAINS:
            bug = scenario.known_bug_for(brain)
            marks = [pytest.mark.xfail(strict=True, reason=f"known engine bug: {bug}")] if bug else []
            cases.append(pytest.param(folder.name, brain, id=f"{folder.name}-{brain}", marks=marks))
    return cases


@pytest.mark.parametrize(("name", "brain"), _cases())
def test_scenario(suite: dict[tuple[str, str], ScenarioResult], name: str, brain: str) -> None:
    result = suite[(name, brain)]
    broken = [f"invariant {i.name}: {i.violation}" for i in result.invariants if not i.passed]
    assert result.invariants, f"{name} ({brain}): no invariant was checked: {result.failures}"
    assert not broken and not result.failures, f"{name} ({brain}):\n" + "\n".join(broken + result.failures)


def test_the_suite_covers_what_the_product_promises() -> None:
    assert len(FOLDERS) >= 20
    covered = {c for folder in FOLDERS for c in load_scenario(folder).covers}
    assert covered >= REQUIRED_COVERAGE, f"not covered: {sorted(REQUIRED_COVERAGE - covered)}"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_cassettes_say_how_they_were_made(folder: Path) -> None:
    """A scripted cassette must never pass for a recording of a live model."""
    scenario = load_scenario(folder)
    cassette = json.loads((folder / scenario.brain.cassette).read_text(encoding="utf-8"))
    assert cassette["format"] == "conductor.cassette/v1"
    assert cassette["meta"]["origin"] == scenario.brain.origin
    if scenario.brain.origin == "scripted":
        assert scenario.brain.script and (folder / scenario.brain.script).exists()
        assert "not a recording of a live model" in cassette["meta"]["note"]
    assert scenario.brain.behaviour, "say what the brain does (hostile brains: how)"


def test_the_injection_corpus_has_at_least_fifty_payloads() -> None:
    injected = [load_scenario(f) for f in FOLDERS if load_scenario(f).inject]
    assert injected
    for scenario in injected:
        assert scenario.inject is not None
        payloads = json.loads((scenario.folder / scenario.inject).read_text(encoding="utf-8"))["payloads"]
        assert len(set(payloads)) >= 50
