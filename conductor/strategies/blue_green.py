"""Blue-green, one dependency level at a time, the services of a level together: deploy each to
its idle color, smoke-check, flip each 100% in one step, and bake them side by side while their
old colors stay warm (instant flip back), then retire the old colors; the next level starts when
every service of this one is complete.

Services that do not depend on each other share a level (:func:`dependency_levels`), so three
independent services bake their 15 minutes at the same time (15 minutes, not 45). Within a
level the runbook never waits while another service of it has something quick to do: it
deploys and flips them all before it observes, and observes them all before the one wait for the
bake (the watchdog judges every service taking traffic during any wait). A regression in one
stops the release: the plan rolls back the others of the level (``strategies/plan.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState, Phase, ServiceState
from conductor.strategies.actions import (
    Action,
    CallTool,
    Finished,
    inconclusive_too_long,
    observed_healthy,
    pause_inconclusive,
)

# No explicit override here: the start command approved 100% before any evidence existed.
_WAIT = ("wait: {service} inconclusive at 100% ({reason}); keep `conductor watch` running to gather evidence "
         "and run `/orchestrate {strategy}` again, or `/orchestrate rollback`")


def _reason(svc: ServiceState) -> str:
    return svc.health.reason if svc.health is not None else "no health data"


def dependency_levels(config: ConductorConfig, names: Iterable[str]) -> list[list[str]]:
    """``names`` grouped by dependency level, in order: level 0 depends on none of ``names``, level
    n on something of level n-1 at most; each level keeps the order of ``names``. A dependency
    outside ``names`` (not part of this release) does not hold anything back."""
    order = list(names)
    level: dict[str, int] = {}

    def rank(name: str, seen: tuple[str, ...]) -> int:
        if name not in level:
            deps = [d for d in config.spec(name).depends_on if d in order and d not in seen]
            level[name] = 1 + max((rank(d, (*seen, name)) for d in deps), default=-1)
        return level[name]

    for name in order:
        rank(name, ())
    return [[n for n in order if level[n] == depth] for depth in range(max(level.values(), default=-1) + 1)]


def next_blue_green_action(state: OrchestrationState, config: ConductorConfig, now: float) -> Action:
    for names in dependency_levels(config, state.services):
        live = [state.services[n] for n in names if not state.services[n].terminal]
        if live:
            return _level_action(live, config, now)
    return Finished("every service is complete")


def _level_action(live: list[ServiceState], config: ConductorConfig, now: float) -> Action:
    """The next step of one level: quick steps of any service first, then the one wait."""
    for svc in live:
        if svc.deployed_version != svc.target_version or svc.phase in (Phase.PENDING, Phase.DEPLOYING):
            return CallTool("deploy", {"service": svc.name, "version": svc.target_version}, "deploy to idle color")
    for svc in live:
        if svc.candidate_percent < 100:
            return CallTool("shift_traffic", {"service": svc.name, "percent": 100}, "flip to the new color")
    for svc in live:
        if not svc.observed_since_shift:
            return CallTool("check_health", {"service": svc.name}, "observe after the flip")
        if not observed_healthy(svc) and inconclusive_too_long(svc, config, now):
            return pause_inconclusive(svc, 100, _WAIT.format(service=svc.name, reason=_reason(svc),
                                                             strategy="blue-green"))
    remaining = {svc.name: _bake_left(svc, config, now) for svc in live}
    done = next((svc for svc in live if remaining[svc.name] <= 1e-6 and observed_healthy(svc)), None)
    if done is not None:
        return CallTool("promote", {"service": done.name}, "bake complete")
    baking = [svc for svc in live if remaining[svc.name] > 1e-6]
    if baking:  # one wait covers every bake of the level; the watchdog judges each service meanwhile
        soonest = min(baking, key=lambda s: remaining[s.name])
        others = [s.name for s in live if s is not soonest]
        return CallTool("monitor", {"service": soonest.name, "seconds": round(remaining[soonest.name], 3)},
                        "bake at 100%" + (f" (with {', '.join(others)})" if others else ""))
    # Baked, still inconclusive (low traffic): wait for the judge's decision in one call, up to the
    # step's maximum duration, rather than one check per turn that would spend the brain's turns.
    slow = next(svc for svc in live if not observed_healthy(svc))
    return CallTool("monitor", {"service": slow.name, "seconds": _rest_of_step(slow, config, now)},
                    "gather evidence")


def _rest_of_step(svc: ServiceState, config: ConductorConfig, now: float) -> float:
    """Seconds until the step reaches ``maxStepDuration`` since the flip (at least one interval)."""
    started = svc.last_shift_at if svc.last_shift_at is not None else now
    remaining = started + config.orchestration.max_step_duration - now
    return round(max(remaining, float(config.orchestration.health_check_interval)), 3)


def _bake_left(svc: ServiceState, config: ConductorConfig, now: float) -> float:
    assert svc.bake_started_at is not None
    return svc.bake_started_at + config.orchestration.bake_time - now
