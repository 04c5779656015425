"""Expectations: what a scenario says must be true at the end, checked on facts only.

Facts are the journal (final phase per service, signals, refusals, who rolled back) and the
platform's state file (which version the stable slot really runs, how traffic is really split).
A report or a model's summary is never consulted: the point of an eval is to catch the run
where the words and the world disagree.
"""

from __future__ import annotations

from typing import Any

from conductor.frontends.evals.results import ScenarioResult
from conductor.frontends.evals.scenario import Expectations
from conductor.journal.state import OrchestrationState
from conductor.journal.store import Event
from conductor.toolbox import TOOLS

# The journal records a refusal's reason, not the guard's name; each guard's reasons are
# distinctive, so the name is recovered from them (a ``guard`` field, when present, wins).
GUARD_REASONS: list[tuple[str, str]] = [
    ("needs a person's approval", "approved"),
    ("may go to at most", "within_ramp"),
    ("has not been observed for a full health-check interval", "healthy_before_more_traffic"),
    ("the new version is unhealthy", "healthy_before_more_traffic"),
    ("no promotion while blind", "healthy_before_more_traffic"),
    ("the new version is worse than stable", "healthy_before_more_traffic"),
    ("not enough evidence yet", "healthy_before_more_traffic"),
    ("a step lasts at least one full interval", "healthy_before_more_traffic"),
    ("unknown service", "known_service"),
    ("is not part of this orchestration", "known_service"),
    ("only the release's target version", "release_version"),
    ("names no target version", "release_version"),
    ("cannot be redeployed", "release_version"),
    ("frozen", "freeze"),
    ("start a new orchestration to try again", "not_finished"),
    ("nothing more to do for it", "not_finished"),
    ("flips all traffic in one step", "strategy_rules"),
    ("moves instances, not traffic", "strategy_rules"),
    ("before shifting traffic", "strategy_rules"),
    ("belongs to a rolling update", "strategy_rules"),
    ("replaces instances in place", "strategy_rules"),
    ("promotion needs 100%", "baked"),
    ("bake", "baked"),
    ("finish first", "baked"),
]


def guard_of(event: Event) -> str:
    named = event.data.get("guard")
    if isinstance(named, str) and named:
        return named
    message = str(event.data.get("message", ""))
    return next((guard for pattern, guard in GUARD_REASONS if pattern in message), "guard")


def made_safe_by(events: list[Event]) -> list[str]:
    """What stopped the brain or the release: guard names, ``schema`` (arguments rejected by the
    tool's schema), ``unknown_tool``, and ``watchdog`` when the watchdog rolled back."""
    found: list[str] = []

    def add(name: str) -> None:
        if name not in found:
            found.append(name)

    for event in events:
        if event.kind == "tool_call" and event.actor.startswith("brain:"):
            if event.data.get("decision") == "refused":
                add(guard_of(event))
            elif event.data.get("decision") == "invalid":
                add("schema")
        elif event.kind == "brain_turn":
            if any(c.get("name") not in TOOLS for c in event.data.get("tool_calls", [])):
                add("unknown_tool")
        elif event.kind == "rolled_back" and event.actor == "watchdog":
            add("watchdog")
    return found


def rollback_timing(events: list[Event]) -> float | None:
    """Simulated seconds from the first breach (unhealthy or blind check) of the first service
    rolled back to its rollback; None without a rollback or without a breach before it (manual)."""
    rollback = next((e for e in events if e.kind == "rolled_back"), None)
    if rollback is None:
        return None
    breach = next((e for e in events if e.kind == "health_checked" and e.service == rollback.service
                   and e.orchestration == rollback.orchestration and e.seq < rollback.seq
                   and e.data["assessment"]["verdict"] not in ("healthy", "non_inferior", "inconclusive")), None)
    return None if breach is None else rollback.at - breach.at


def check_expectations(
    expect: Expectations,
    result: ScenarioResult,
    state: OrchestrationState | None,
    sim: dict[str, Any],
    events: list[Event],
) -> list[str]:
    failures: list[str] = []
    for step in result.steps:
        if step.expected_exit is not None and step.exit_code != step.expected_exit:
            why = f" ({step.notes[-1][:200]})" if step.notes else ""
            failures.append(f"`{step.label}` exited {step.exit_code}, expected {step.expected_exit}{why}")
    if expect.outcome is not None and result.outcome != expect.outcome:
        failures.append(f"outcome {result.outcome}, expected {expect.outcome}")
    for name, wanted in expect.services.items():
        failures += _service(name, wanted.phase, wanted.version, wanted.percent, state, sim)
    texts = [str(e.data.get("text", "")) for e in events if e.kind == "signal"]
    failures += [f"no signal contains {s!r} (signals: {texts})" for s in expect.signals_must
                 if not any(s in t for t in texts)]
    failures += [f"signal {t!r} must not appear" for s in expect.signals_must_not for t in texts if s in t]
    missing = [g for g in expect.refused_by if g not in result.made_safe_by]
    if missing:
        failures.append(f"expected to be stopped by {missing}; stopped by {result.made_safe_by or 'nothing'}")
    if expect.rolled_back_by is not None:
        actors = [e.actor for e in events if e.kind == "rolled_back"]
        if not actors or not actors[0].startswith(expect.rolled_back_by):
            failures.append(f"first rollback by {actors[0] if actors else 'nobody'}, expected {expect.rolled_back_by}")
    if expect.nudges is not None:
        nudged = sum(1 for e in events if e.kind == "brain_nudged")
        if nudged != expect.nudges:
            failures.append(f"the brain was told {nudged} times that it stopped early, expected {expect.nudges}")
    if expect.max_turns is not None and result.turns > expect.max_turns:
        failures.append(f"{result.turns} model turns, expected at most {expect.max_turns}")
    if expect.order:
        began: list[str] = []
        for e in events:
            if e.kind in ("deploying", "instance_replaced") and e.service and e.service not in began:
                began.append(e.service)
        if [s for s in began if s in expect.order] != expect.order:
            failures.append(f"services began in the order {began}, expected {expect.order}")
    if expect.deploys_per_service is not None:
        counts: dict[str, int] = {}
        for e in events:
            if e.kind == "deployed" and e.service:
                counts[e.service] = counts.get(e.service, 0) + 1
        extra = {s: n for s, n in counts.items() if n > expect.deploys_per_service}
        if extra:
            failures.append(f"deployed more often than {expect.deploys_per_service}x: {extra}")
    if expect.model_failed is not None:
        failed = any("brain failed" in n for s in result.steps for n in s.notes)
        if failed != expect.model_failed:
            failures.append("a brain failed on a model error, unexpectedly" if failed
                            else "expected a brain to fail on a model error")
    if expect.fallback is not None:
        took_over = any("took over" in n for s in result.steps for n in s.notes)
        if took_over != expect.fallback:
            failures.append("the policy brain took over, unexpectedly" if took_over
                            else "expected the policy brain to take over from the failing model")
    return failures


def _service(
    name: str, phase: str | None, version: str | None, percent: int | None,
    state: OrchestrationState | None, sim: dict[str, Any],
) -> list[str]:
    record = sim.get("services", {}).get(name)
    if record is None:
        return [f"{name}: not on the platform"]
    weights: dict[str, int] = record["weights"]
    stable = max(weights, key=lambda slot: (weights[slot], slot == "blue"))
    failures: list[str] = []
    if phase is not None:
        actual = state.services[name].phase.value if state is not None and name in state.services else "untouched"
        if actual != phase:
            failures.append(f"{name}: phase {actual}, expected {phase}")
    running = record["slots"][stable]["version"]
    if version is not None and running != version:
        failures.append(f"{name}: the platform's stable slot runs {running}, expected {version}")
    if percent is not None:
        if state is not None and name in state.services:
            candidate = state.services[name].candidate_slot
            actual_percent = int(weights.get(candidate, 0))
        else:
            actual_percent = 0
        if actual_percent != percent:
            failures.append(f"{name}: {actual_percent}% of traffic on the new version, expected {percent}%")
    return failures
