"""The canary's ramp: where traffic goes next, and what a person's next approval means.

One answer for everyone who has to say it — the runbook (``strategies/canary.py``), the guard that
refuses a jump past the next step, the engine that journals an approval (``starting.py``), the
report's Next Steps, the REPL's ``/approve``, the MCP client's confirmation question and the
brain's state block — so what a person is asked to approve is what the engine grants.

    next_step(steps, current)        the smallest configured step above ``current`` (100 past the last)
    ramp_target(state, svc, steps)   the percentage this service moves to next
    next_approval(state, steps, p)   what ``/orchestrate canary [p]`` approves on this orchestration

Pure functions of journaled state and config: no platform, no journal writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from conductor.journal.state import OrchestrationState, Phase, ServiceState


def next_step(steps: list[int], current: int) -> int:
    """The smallest configured canary step above ``current`` (100 past the last one)."""
    return next((s for s in steps if s > current), 100)


def ramp_target(state: OrchestrationState, svc: ServiceState, steps: list[int]) -> int:
    """Where ``svc`` goes next: the command's first percentage before any traffic moved, then the
    next configured step, or further when a person asked for an exact larger percentage."""
    current = svc.candidate_percent
    if current == 0:
        return state.first_percent
    if current >= 100:
        return 100
    target = next_step(steps, current)
    if svc.exact_request is not None and svc.exact_request > current:
        target = svc.exact_request
    return target


@dataclass(frozen=True)
class NextApproval:
    """What the next approval of a canary in flight grants.

    ``current`` is the release's percentage (the service furthest behind: canaries move in
    lockstep); ``percent`` what the approval allows; ``exact`` whether the person named it (only
    an exact request may skip steps or ramp up an inconclusive canary); ``waiting`` the services
    paused for it.
    """

    current: int
    percent: int
    exact: bool
    waiting: tuple[str, ...]

    @property
    def moves(self) -> bool:
        return self.percent > self.current


def release_percent(state: OrchestrationState) -> int:
    """The canary percentage of the release: the least of the services still in flight."""
    return min((s.candidate_percent for s in state.services.values() if not s.terminal), default=0)


def next_approval(
    state: OrchestrationState, steps: list[int], requested: int | None = None, service: str | None = None
) -> NextApproval:
    """``/orchestrate canary`` approves the next configured step above the release's percentage;
    ``/orchestrate canary 25`` approves exactly 25%; ``canary 25 api`` (``service``) approves it
    for that service alone, from that service's percentage. On a blue-green or rolling release
    the approval is for the whole switch (100%)."""
    if service is not None and service in state.services:
        current = state.services[service].candidate_percent
        names = [service]
    else:
        current, names = release_percent(state), list(state.services)
    waiting = tuple(n for n in names if state.services[n].phase is Phase.AWAITING_APPROVAL)
    if state.strategy != "canary":
        return NextApproval(current, 100, True, waiting)
    if requested is not None:
        return NextApproval(current, requested, True, waiting)
    return NextApproval(current, next_step(steps, current), False, waiting)
