"""What a person may do from the dashboard (only when it was started with ``--allow-actions``),
said exactly before it happens, and done through the session like every other front end.

    plan = plan_action(conductor, release_id, "approve")   # or "rollback"; a str says why not
    plan.description        "ramp api, web, worker 25% → 50%"
    plan.command            "/orchestrate canary 50"
    run_action(conductor, plan)                           # the session's run(), actor person:dashboard

The confirmation page shows ``description``; the form carries ``fingerprint``, and the action runs
only if planning it again gives the same fingerprint: if the release moved in between (another
process approved, the watchdog rolled back), the person is shown what would happen now instead of
getting something they did not confirm. The session does the rest — grammar, locks, guards,
journal — so an approval from the page is journaled as ``person:dashboard`` exactly like one typed
in a terminal, and a rollback is never refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conductor.journal.state import OrchestrationState
from conductor.strategies.ramp import next_approval

if TYPE_CHECKING:
    from conductor.session import Conductor, Result

ACTOR = "person:dashboard"
ACTIONS = ("approve", "rollback")


@dataclass(frozen=True)
class Plan:
    name: str  # approve | rollback
    release: int
    description: str
    command: str

    @property
    def fingerprint(self) -> str:
        text = "\n".join((self.name, str(self.release), self.description, self.command))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _flight(conductor: Conductor, release: int) -> OrchestrationState | str:
    flights = {state.id: state for state in conductor.in_flight()}
    if release not in flights:
        return f"release #{release} is not in flight: nothing to approve or roll back"
    return flights[release]


def plan_action(conductor: Conductor, release: int, name: str) -> Plan | str:
    """The plan of ``name`` on ``release`` as the journal stands now, or why there is none."""
    if name not in ACTIONS:
        return f"unknown action {name!r}"
    state = _flight(conductor, release)
    if isinstance(state, str):
        return state
    live = [s for s in state.services.values() if not s.terminal]
    if name == "rollback":  # `/orchestrate rollback` rolls back every service in flight: say so
        every = [s for flight in conductor.in_flight() for s in flight.services.values() if not s.terminal]
        what = "; ".join(f"{s.name} all traffic to {s.stable_version}, {s.target_version} retired" for s in every)
        return Plan(name, release, f"roll back {what}", "/orchestrate rollback")
    if state.strategy != "canary":
        return f"release #{release} is a {state.strategy} release: it pauses for nobody's approval"
    approval = next_approval(state, conductor.config.orchestration.canary_steps)
    if not approval.waiting:
        return f"release #{release} is not waiting for an approval (it is {state.status.replace('_', ' ')})"
    verb = "promote" if approval.percent >= 100 else "ramp"
    names = ", ".join(s.name for s in live)
    return Plan(name, release, f"{verb} {names} {approval.current}% → {approval.percent}%",
                f"/orchestrate canary {approval.percent}")


def run_action(conductor: Conductor, plan: Plan) -> Result:
    """Do what ``plan`` says, as the person at the dashboard (may take as long as the step)."""
    return conductor.run(plan.command, actor=ACTOR)
