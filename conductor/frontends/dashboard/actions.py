"""What a person may do from the dashboard (only when it was started with ``--allow-actions``),
said exactly before it happens, and done through the session like every other front end.

    plan = plan_action(conductor, release_id, "approve")   # a str instead says why not
    plan.description        "ramp api, web, worker 25% → 50%"
    plan.command            "/orchestrate canary 50"
    run_action(conductor, plan)                           # through the session, actor person:dashboard

The actions: ``approve`` (the next step of a canary waiting for it), ``promote`` (all traffic to
the new version at once, ``canary 100``: the bake still runs, judged), ``pause`` and ``resume``, ``rollback``
(every service in flight) and ``undo`` (a completed release back to the versions before it).

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

from conductor.errors import UsageError
from conductor.journal.state import OrchestrationState
from conductor.strategies.ramp import next_approval, release_percent

if TYPE_CHECKING:
    from conductor.session import Conductor, Result

ACTOR = "person:dashboard"
REASON = "from the dashboard"
ACTIONS = ("approve", "promote", "pause", "resume", "rollback", "undo")


@dataclass(frozen=True)
class Plan:
    name: str  # one of ACTIONS
    release: int
    description: str
    command: str  # what runs, as a person would type it

    @property
    def fingerprint(self) -> str:
        text = "\n".join((self.name, str(self.release), self.description, self.command))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _where(state: OrchestrationState) -> str:
    return ", ".join(f"{s.name} {s.candidate_percent}%" for s in state.services.values() if not s.terminal)


def plan_action(conductor: Conductor, release: int, name: str) -> Plan | str:
    """The plan of ``name`` on ``release`` as the journal stands now, or why there is none."""
    if name not in ACTIONS:
        return f"unknown action {name!r}"
    flights = {state.id: state for state in conductor.in_flight()}
    if name == "undo":
        return _plan_undo(conductor, release, flights)
    state = flights.get(release)
    if state is None:
        return f"release #{release} is not in flight: there is nothing to {name}"
    live = [s for s in state.services.values() if not s.terminal]
    names = ", ".join(s.name for s in live)
    if name == "rollback":  # `/orchestrate rollback` rolls back every service in flight: say so
        every = [s for flight in flights.values() for s in flight.services.values() if not s.terminal]
        what = "; ".join(f"{s.name} all traffic to {s.stable_version}, {s.target_version} retired" for s in every)
        return Plan(name, release, f"roll back {what}", "/orchestrate rollback")
    if name == "pause":
        if state.paused is not None:
            return f"release #{release} is already paused (by {state.paused.actor})"
        return Plan(name, release, f"pause release #{release} where it is ({_where(state)}): nothing moves it "
                    "forward until a person resumes it; the watchdog still judges it and rollback stays available",
                    "conductor pause")
    if name == "resume":
        if state.paused is None:
            return f"release #{release} is not paused"
        return Plan(name, release, f"resume release #{release} from {_where(state)}, under the approvals it has",
                    "conductor resume")
    if state.strategy != "canary":
        return f"release #{release} is a {state.strategy} release: its command approved the switch already"
    current = release_percent(state)
    if name == "promote":
        if current >= 100:
            return f"release #{release} already sends all traffic to the new version"
        resuming = " (resuming it)" if state.paused is not None else ""
        return Plan(name, release, f"promote {names} {current}% → 100% in one step{resuming}, then bake (still "
                    "judged and watched) and retire the old version", "conductor promote --full")
    if state.paused is not None:
        return f"release #{release} is paused: resume it first (or promote it, which resumes it)"
    approval = next_approval(state, conductor.config.orchestration.canary_steps)
    if not approval.waiting:
        return f"release #{release} is not waiting for an approval (it is {state.status.replace('_', ' ')})"
    verb = "promote" if approval.percent >= 100 else "ramp"
    return Plan(name, release, f"{verb} {names} {approval.current}% → {approval.percent}%",
                f"/orchestrate canary {approval.percent}")


def _plan_undo(conductor: Conductor, release: int, flights: dict[int, OrchestrationState]) -> Plan | str:
    if flights:
        return f"release #{min(flights)} is in flight: undo takes back a completed release"
    try:
        preview = conductor.undo(dry_run=True, actor=ACTOR)
    except UsageError as exc:
        return str(exc)
    header = next((n for n in preview.data.get("notes", []) if n.startswith("undo of release #")), None)
    if header is None:
        return "nothing to undo: " + "; ".join(preview.data.get("notes", [])[:2])
    if not header.startswith(f"undo of release #{release}:"):
        return f"undo takes back the latest completed release ({header.split(':')[0][8:]}), not #{release}"
    return Plan("undo", release, header + " as a new blue-green release, judged and watched", "conductor undo")


def run_action(conductor: Conductor, plan: Plan) -> Result:
    """Do what ``plan`` says, as the person at the dashboard (may take as long as the step)."""
    if plan.name == "pause":
        return conductor.pause(reason=REASON, actor=ACTOR)
    if plan.name == "resume":
        return conductor.resume(actor=ACTOR)
    if plan.name == "promote":
        return conductor.promote(full=True, actor=ACTOR)
    if plan.name == "undo":
        return conductor.undo(actor=ACTOR)
    return conductor.run(plan.command, actor=ACTOR)
