"""Starting and continuing orchestrations: what the release changes, the start event with the
person's approval, approvals for the next step, and reconciling the journal with the platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from conductor.command import Command
from conductor.config import ConductorConfig, service_order
from conductor.dispatch import execute
from conductor.errors import PlatformError, UsageError
from conductor.guards.freeze import freeze_reason
from conductor.journal.events import (
    ApprovalGranted,
    InstanceReplaced,
    OrchestrationStarted,
    Payload,
    ReleaseResumed,
    ServicePlan,
    TrafficShifted,
)
from conductor.journal.state import OrchestrationState, Phase
from conductor.journal.store import Journal
from conductor.platforms.base import SLOTS, Slot
from conductor.platforms.registry import PlatformBundle
from conductor.strategies.ramp import next_approval
from conductor.tools.outcome import finish_if_done
from conductor.tools.recovery import interrupted_rollback, last_rollback, rollback_reason
from conductor.tools.runtime import Runtime


@dataclass
class ReleasePlan:
    strategy: str
    services: dict[str, dict[str, object]] = field(default_factory=dict)  # name -> start info
    steps: list[str] = field(default_factory=list)  # human-readable plan (dry run)
    notes: list[str] = field(default_factory=list)
    first_percent: int = 100

    def targets(self) -> dict[str, str]:
        """The version each planned service is to run (a dry run's report shows these)."""
        return {name: str(info["target_version"]) for name, info in self.services.items()}


def plan_release(
    config: ConductorConfig, bundle: PlatformBundle, command: Command, overrides: dict[str, str]
) -> ReleasePlan:
    targets = {**config.release, **overrides}
    if not targets:
        raise UsageError(
            'nothing to release: the config has no "release" (e.g. {"release": {"api": "v1.1.0"}}); '
            "add one or pass --release api=v1.1.0"
        )
    strategy = command.action
    steps = config.orchestration.canary_steps
    plan = ReleasePlan(strategy=strategy)
    plan.first_percent = (command.percent or steps[0]) if strategy == "canary" else 100
    for name in service_order(config):
        target = targets.get(name)
        if target is None:
            continue
        snapshot = bundle.platform.snapshot(name)
        weights = dict(snapshot.weights)
        stable: Slot = max(SLOTS, key=lambda s: (weights.get(s, 0), s == "blue"))
        if weights.get(stable, 0) != 100:
            raise PlatformError(
                f"{name}: traffic is split {weights} but no orchestration is in flight; "
                f"restore it with `/orchestrate rollback {name}` first"
            )
        current = snapshot.slots[stable].version
        versions = {i.version for i in snapshot.slots[stable].instances}
        if current == target and versions <= {target}:
            plan.notes.append(f"{name} already runs {target}; nothing to deploy")
            continue
        replicas = config.spec(name).replicas
        plan.services[name] = {
            "stable_version": current,
            "stable_slot": stable,
            "target_version": target,
            "replicas": replicas if strategy != "rolling" else len(snapshot.slots[stable].instances),
        }
        plan.steps += _describe_steps(strategy, name, current, target, plan.first_percent, config)
    if not plan.services:
        plan.notes.append("nothing to deploy: every service already runs its release version")
    return plan


def _describe_steps(
    strategy: str, name: str, current: str | None, target: str, first: int, config: ConductorConfig
) -> list[str]:
    o = config.orchestration
    if strategy == "blue-green":
        return [f"{name}: deploy {target} to the idle color, smoke-check, flip 100% from {current}, "
                f"bake {o.bake_time:g}s, retire {current}"]
    if strategy == "rolling":
        return [f"{name}: replace instances {o.rolling_batch_size} at a time with {target}, health-gating each "
                f"batch, bake {o.bake_time:g}s"]
    ramp = [s for s in o.canary_steps if s > first]
    gate = "awaiting approval before each ramp-up" if o.require_approval else "ramping automatically"
    return [f"{name}: deploy {target} beside {current}, send {first}%, observe, then {ramp} {gate}, "
            f"bake {o.bake_time:g}s at 100%, retire {current}"]


def standing_refusal(config: ConductorConfig, state_dir: Path) -> str | None:
    """A rule that refuses any new step of a release whatever the brain would do (a freeze), asked
    before anything happens: no build, no journal entry, no lock, nothing left Pending. Rollback
    is never asked this."""
    return freeze_reason(config, state_dir)


def check_cutover(command: Command, in_flight: bool, confirmed: bool) -> None:
    """``canary 100`` with no canary in flight would send all traffic to the new version in one
    step, with no canary at all: refuse it (UsageError, nothing touched) unless the person
    confirmed a full cutover. On a canary in flight it is the promotion and needs no flag."""
    if command.action == "canary" and command.percent == 100 and not in_flight and not confirmed:
        raise UsageError(
            "canary 100 with no canary in flight is not a canary: it would send 100% of traffic to the new "
            "version in one step. Start with a small step (e.g. `/orchestrate canary 10`), use "
            "`/orchestrate blue-green` (deploy, smoke-check, flip, bake with the old version warm), or, to "
            "confirm a one-step canary to 100%, `conductor orchestrate canary 100 --full-cutover` in a terminal "
            "(`full_cutover=True` from Python). The REPL and MCP offer only the stepped paths: a one-step "
            "cutover is deliberate enough to be typed on a command line"
        )


def start_orchestration(
    journal: Journal, plan: ReleasePlan, command: Command, auto: bool, actor: str, brain: str, now: float,
    undo_of: int | None = None, via: str | None = None,
) -> int:
    """The start event and the person's approval in one transaction. ``undo_of``: the release a
    ``conductor undo`` takes back; ``via``: what the journal says approved it (the command)."""
    started = OrchestrationStarted(
        command=command.text, strategy=plan.strategy, auto=auto, brain=brain, first_percent=plan.first_percent,
        services={name: ServicePlan.model_validate(info) for name, info in plan.services.items()},
        undo_of=undo_of,
    )
    # The person's command is the approval: `canary 10` approves 10% exactly; `blue-green` the flip.
    # One transaction with the orchestration itself: nothing half-started is left by a crash.
    exact = plan.strategy != "canary" or command.percent is not None
    entries: list[tuple[Payload, str | None]] = [
        (started, None),
        (ApprovalGranted(percent=plan.first_percent, exact=exact, via=via or command.text), None),
    ]
    if auto:
        entries.append((ApprovalGranted(percent=100, exact=False, via="--auto"), None))
    return journal.start(command.text, plan.strategy, entries, at=now, actor=actor)


def check_continuation(state: OrchestrationState, command: Command, overrides: dict[str, str]) -> int:
    """Refuse (UsageError, nothing touched) a command that cannot continue ``state``; return the
    canary's current percentage. Checked before any lock is taken, and again under it."""
    differs = {n: v for n, v in overrides.items() if n not in state.services or state.services[n].target_version != v}
    if differs:
        held = ", ".join(f"{s.name} {s.target_version}" for s in state.services.values())
        asked = ", ".join(f"{n}={v}" for n, v in differs.items())
        raise UsageError(
            f"orchestration #{state.id} ({state.strategy}) in flight releases {held}; --release {asked} cannot "
            "change it. Finish it, or roll it back with `/orchestrate rollback`, then release again"
        )
    live = [s for s in state.services.values() if not s.terminal]
    if command.service is not None:
        if state.strategy != "canary":
            raise UsageError(f"approving one service is for a canary; orchestration #{state.id} is {state.strategy}")
        if command.service not in state.services:
            raise UsageError(f"{command.service} is not part of orchestration #{state.id} "
                             f"(services in play: {', '.join(state.services)})")
        live = [s for s in live if s.name == command.service]
        if not live:
            raise UsageError(f"{command.service} is already {state.services[command.service].phase.value.lower()} "
                             f"in orchestration #{state.id}; nothing to approve")
    _refuse_approval_of_a_stopped_release(state, command)
    current = min((s.candidate_percent for s in live), default=0)
    if state.strategy == "canary" and command.percent is not None and command.percent < current:
        raise UsageError(
            f"the canary already takes {current}% of traffic; a canary only ramps up. "
            "To take traffic away, use `/orchestrate rollback`"
        )
    return current


def _refuse_approval_of_a_stopped_release(state: OrchestrationState, command: Command) -> None:
    """``canary 25`` after a person rolled one service of the release back: the release stopped
    there, and carrying it on rolls the others back (strategies/plan.py), which is not what an
    approval means. Refused with nothing changed. The bare strategy command is not refused: it is
    also how a rollback a killed process cut short is finished."""
    if state.strategy != "canary" or command.percent is None:
        return
    stopped = [s.name for s in state.services.values() if s.phase in (Phase.ROLLED_BACK, Phase.FAILED)]
    left = [s for s in state.services.values()
            if not s.terminal and s.phase is not Phase.PENDING and s.rolling_back is None]
    if stopped and left:
        rest = ", ".join(f"{s.name} at {s.candidate_percent}%" for s in left)
        raise UsageError(f"orchestration #{state.id} stopped when {', '.join(stopped)} rolled back: the rest of it "
                         f"({rest}) can only be rolled back now, not ramped up. `/orchestrate rollback` (or "
                         "`conductor abort`) takes it back; then release again. Nothing was changed")


def grant_continuation(
    journal: Journal,
    state: OrchestrationState,
    command: Command,
    auto: bool,
    actor: str,
    config: ConductorConfig,
    now: float,
) -> None:
    """``canary 25`` on a canary in flight approves 25%; ``canary`` approves the next step;
    ``canary 25 api`` approves 25% for api alone; ``blue-green`` / ``rolling`` approve the switch
    again (a crash may have lost the first one). A person's command to move on lifts a pause."""
    if state.paused is not None:
        journal.append(ReleaseResumed(), at=now, actor=actor, orchestration=state.id)
    if state.strategy != "canary":
        if any(s.approved_percent < 100 for s in state.services.values() if not s.terminal):
            journal.append(ApprovalGranted(percent=100, exact=True, via=command.text), at=now, actor=actor,
                           orchestration=state.id)
        return
    check_continuation(state, command, {})
    if auto:
        journal.append(ApprovalGranted(percent=100, exact=False, via="--auto"), at=now, actor=actor,
                       orchestration=state.id)
    approval = next_approval(state, config.orchestration.canary_steps, command.percent, command.service)
    if approval.moves:
        journal.append(ApprovalGranted(percent=approval.percent, exact=approval.exact, via=command.text), at=now,
                       actor=actor, orchestration=state.id, service=command.service)


def reconcile(rt: Runtime) -> list[str]:
    """Make the journal agree with the platform after a crash between an action and its record.

    The platform is the truth about traffic: if the weights differ from what the journal last
    recorded, the actual weights are journaled (actor ``reconcile``) before anyone acts on them.
    A rollback the journal says was started (``rollback_started``) is finished first, with its
    own reason, whatever the platform shows now; so is one cut short in journals from before that
    event (all traffic back on stable, or an instance back on the old version). A resume never
    sends traffic back to the version being rolled back, and it hands on again the signals of
    the rollback or the end it finished, which the killed process may never have printed.
    """
    notes: list[str] = []
    state = rt.state()
    since = interrupted_rollback(state)
    for svc in list(state.services.values()):
        if svc.terminal:
            continue
        if svc.rolling_back is not None:
            result = execute(rt, "rollback", {"service": svc.name, "reason": rollback_reason(svc.rolling_back)},
                             "reconcile")
            if result.status != "ok":  # stop here: the brain must not carry on over a half-done rollback
                raise PlatformError(f"{svc.name}: finishing the rollback ({svc.rolling_back}) failed: {result.message}")
            notes.append(f"resumed the rollback a stopped process had started: {result.message}")
            continue
        snapshot = rt.platform.snapshot(svc.name)
        actual = {slot: int(snapshot.weights.get(slot, 0)) for slot in SLOTS}
        cut_short = False
        if actual != {slot: svc.weights.get(slot, 0) for slot in SLOTS}:
            cut_short = svc.candidate_percent > 0 and actual[svc.candidate_slot] == 0
            if not cut_short:  # recording it would hide the rollback cut short from the next resume
                rt.record(TrafficShifted(weights=dict(actual), requested=None), svc.name, "reconcile")
            notes.append(f"{svc.name}: resumed; the platform had {actual} where the journal said {svc.weights}")
        if state.strategy == "rolling" and svc.target_version:
            for instance in snapshot.slots[svc.stable_slot].instances:
                updated = instance.version == svc.target_version
                if updated != (instance.index in svc.instances_updated):
                    rt.record(InstanceReplaced(index=instance.index, version=instance.version), svc.name,
                              "reconcile")
        # Only a rollback takes all traffic off the new version or puts an instance back on the old
        # one: finish it, so a resume never sends traffic back to the version being rolled back.
        if cut_short or rt.state().service(svc.name).reverting:
            reason = "a rollback was cut short (part of it had already happened)"
            result = execute(rt, "rollback", {"service": svc.name, "reason": reason}, "reconcile")
            if result.status != "ok":  # stop here: the brain must not carry on over a half-done rollback
                raise PlatformError(f"{svc.name}: finishing {reason} failed: {result.message}")
            notes.append(result.message)
    # A crash between the last service's record and the end leaves an orchestration that nothing
    # would ever close (every service is finished, so no tool runs): close it now.
    outcome = finish_if_done(rt, "reconcile")
    if outcome is not None:
        notes.append(f"resumed: every service had finished; the orchestration is now {outcome}")
        if since is None and outcome == "rolled_back":
            since = last_rollback(rt.state())
    if since is not None:
        rt.republish(since)
    return notes


def finish_started_rollbacks(rt: Runtime, actor: str = "reconcile") -> list[str]:
    """Finish every rollback the journal says was started and not finished, and say so.

    Run when the brain's loop ends: a rollback typed in a second terminal journals its intent for
    every service at once and then undoes them one by one, so this process may look between two of
    them. Finishing them here (rollback is idempotent, and the per-service action lock orders this
    after the other process's step) means the report never says a rollback "could not complete"
    because another process had not reached that service yet; one the platform refuses stays
    unfinished, and the caller reports it as stuck."""
    notes: list[str] = []
    for svc in list(rt.state().services.values()):
        if svc.rolling_back is None or svc.terminal:
            continue
        result = execute(rt, "rollback", {"service": svc.name, "reason": rollback_reason(svc.rolling_back)}, actor)
        notes.append(result.message)
    return notes
