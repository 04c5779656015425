"""State is a fold over the journal: ``fold(events) -> OrchestrationState``.

Nothing about an orchestration is kept anywhere else, so a new process (the approval of the next
ramp-up, ``conductor watch``, a resume after SIGKILL) sees exactly what the last one committed.

The events and their payloads are types, catalogued in :mod:`conductor.journal.events`
(``python -m conductor.journal.events`` prints it). The fold dispatches on the payload's type
through two tables below, one entry per kind (a test holds them to the catalogue), and is
incremental: :func:`advance` applies only events newer than ``state.last_seq``, so a state kept
between reads costs what happened since, not the whole history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conductor.journal import events as ev
from conductor.journal.store import Event
from conductor.metrics.analysis import HealthAssessment, HealthVerdict
from conductor.platforms.base import SLOTS, Slot, other_slot


class Phase(StrEnum):
    PENDING = "Pending"
    DEPLOYING = "Deploying"
    DEPLOYED = "Deployed"
    SWITCHING = "Switching"
    CANARY = "Canary"
    AWAITING_APPROVAL = "Awaiting approval"
    UPDATING = "Updating"
    BAKING = "Baking"
    COMPLETE = "Complete"
    ROLLED_BACK = "Rolled back"
    FAILED = "Failed"


TERMINAL_PHASES = (Phase.COMPLETE, Phase.ROLLED_BACK, Phase.FAILED)


@dataclass
class ServiceState:
    name: str
    stable_version: str | None
    target_version: str | None
    stable_slot: Slot = "blue"
    replicas: int = 1
    from_version: str | None = None  # stable when the orchestration started; never changes
    phase: Phase = Phase.PENDING
    weights: dict[Slot, int] = field(default_factory=lambda: {"blue": 100, "green": 0})
    deployed_version: str | None = None
    last_shift_at: float | None = None
    bake_started_at: float | None = None
    health: HealthAssessment | None = None
    health_window_start: float | None = None
    baseline: dict[str, Any] | None = None
    consecutive_breaches: int = 0
    consecutive_blind: int = 0
    approved_percent: int = 0
    exact_request: int | None = None  # the latest percentage a person typed exactly for this service
    approval_requested: int | None = None
    instances_updated: set[int] = field(default_factory=set)
    rollback_reason: str | None = None
    failure: str | None = None
    reverting: bool = False  # an instance went back to the old version: only a rollback does that
    rolling_back: str | None = None  # a rollback started (its reason) and has not finished yet
    rollback_started_seq: int | None = None  # the event that started the latest rollback
    took_traffic: bool = False  # the new version ever served users: only then is a rollback signalled

    @property
    def candidate_slot(self) -> Slot:
        return other_slot(self.stable_slot)

    @property
    def candidate_percent(self) -> int:
        return self.weights.get(self.candidate_slot, 0)

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def new_version_live(self) -> bool:
        """True while the new version takes any traffic: the watchdog guards exactly this."""
        if self.terminal:
            return False
        return self.candidate_percent > 0 or bool(self.instances_updated)

    @property
    def observed_since_shift(self) -> bool:
        """A health check whose whole window came after the latest traffic change."""
        return (
            self.health is not None
            and self.health_window_start is not None
            and (self.last_shift_at is None or self.health_window_start >= self.last_shift_at - 1e-6)
        )

    @property
    def status_label(self) -> str:
        if self.phase is Phase.CANARY:
            return f"Canary {self.candidate_percent}%"
        if self.phase is Phase.AWAITING_APPROVAL:
            return f"Awaiting approval ({self.candidate_percent}% → {self.approval_requested}%)"
        if self.phase is Phase.UPDATING:
            return f"Updating {len(self.instances_updated)}/{self.replicas}"
        return self.phase.value


@dataclass(frozen=True)
class PersonNote:
    """Who did something to the whole release, when (platform time) and why: a pause, an abort."""

    actor: str
    at: float
    reason: str = ""


@dataclass
class OrchestrationState:
    id: int
    command: str
    strategy: str
    auto: bool = False
    brain: str = "policy"
    first_percent: int = 100
    exact_request: int | None = None  # the latest percentage a person typed exactly (canary 50) for all
    services: dict[str, ServiceState] = field(default_factory=dict)
    paused: PersonNote | None = None  # `conductor pause`: held until a person resumes or promotes
    aborted: PersonNote | None = None  # `conductor abort`: ends rolled back, marked aborted
    undo_of: int | None = None  # `conductor undo`: the release this one takes back
    outcome: str | None = None
    outcome_reason: str = ""
    signals: list[str] = field(default_factory=list)
    turns: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None  # summed from the turns that were priced
    usage_estimated: bool = False  # some turn's usage was modelled, not the API's own
    started_at: float = 0.0
    last_at: float = 0.0
    last_seq: int = 0

    @property
    def status(self) -> str:
        if self.outcome is not None:
            return self.outcome
        if any(s.phase is Phase.AWAITING_APPROVAL for s in self.services.values()):
            return "awaiting_approval"
        return "running"  # a release held by `conductor pause` is running, with ``paused`` set

    @property
    def waits_for_person(self) -> bool:
        """Nothing moves without a person: awaiting an approval, or held by ``conductor pause``."""
        return self.in_flight and (self.status == "awaiting_approval" or self.paused is not None)

    @property
    def in_flight(self) -> bool:
        return self.outcome is None

    def service(self, name: str) -> ServiceState:
        return self.services[name]


def fold(events: Iterable[Event]) -> OrchestrationState | None:
    """Rebuild one orchestration from its events (None if it never started)."""
    state: OrchestrationState | None = None
    rest: list[Event] = []
    for event in events:
        if isinstance(event.payload, ev.OrchestrationStarted):
            state, rest = _started(event, event.payload), []
        elif state is not None:
            rest.append(event)
    return advance(state, rest) if state is not None else None


def advance(state: OrchestrationState, events: Iterable[Event]) -> OrchestrationState:
    """Fold ``events`` into ``state`` in place and return it. Events at or before
    ``state.last_seq`` are skipped, so overlapping reads are harmless."""
    for event in events:
        if event.seq <= state.last_seq:
            continue
        state.last_at = max(state.last_at, event.at)
        state.last_seq = event.seq
        _apply(state, event)
    return state


def _started(event: Event, started: ev.OrchestrationStarted) -> OrchestrationState:
    state = OrchestrationState(
        id=event.orchestration or 0,
        command=started.command,
        strategy=started.strategy,
        auto=started.auto,
        brain=started.brain,
        first_percent=started.first_percent,
        undo_of=started.undo_of,
        started_at=event.at,
        last_at=event.at,
        last_seq=event.seq,
    )
    for name, info in started.services.items():
        state.services[name] = ServiceState(
            name=name,
            stable_version=info.stable_version,
            from_version=info.stable_version,
            target_version=info.target_version,
            stable_slot=info.stable_slot,
            replicas=info.replicas,
            weights={info.stable_slot: 100, other_slot(info.stable_slot): 0},
        )
    return state


def _apply(state: OrchestrationState, event: Event) -> None:
    payload = event.payload
    whole = _ORCHESTRATION_FOLDS.get(type(payload))
    if whole is not None:
        whole(state, event, payload)
        return
    one = _SERVICE_FOLDS.get(type(payload))
    if one is None or event.service not in state.services:
        return  # an unrecognized kind (a newer writer), or a service this orchestration never had
    svc = state.services[event.service]
    if svc.terminal and payload.progress:
        return  # e.g. a deploy that finished after another process rolled the service back
    one(state, svc, event, payload)


# -- what each kind does to the whole orchestration -----------------------------------------------

def _on_signal(state: OrchestrationState, event: Event, p: ev.SignalSent) -> None:
    state.signals.append(p.text)


def _on_brain_turn(state: OrchestrationState, event: Event, p: ev.BrainTurn) -> None:
    state.turns += 1
    for key, value in p.usage.items():
        state.usage[key] = state.usage.get(key, 0) + int(value or 0)
    if p.cost_usd is not None:
        state.cost_usd = (state.cost_usd or 0.0) + p.cost_usd
    state.usage_estimated = state.usage_estimated or p.usage_estimated


def _on_ended(state: OrchestrationState, event: Event, p: ev.OrchestrationEnded) -> None:
    state.outcome = p.outcome
    state.outcome_reason = p.reason


def _on_approval_granted(state: OrchestrationState, event: Event, p: ev.ApprovalGranted) -> None:
    if not event.actor.startswith("person:"):
        return  # approvals come from people only, whatever else wrote one
    # A per-service approval (`canary 25 api`) moves that service only; None is the whole release.
    one = state.services.get(event.service) if event.service is not None else None
    if p.exact and one is None:
        state.exact_request = p.percent
    targets = [one] if one is not None else list(state.services.values())
    for svc in targets:
        svc.approved_percent = max(svc.approved_percent, p.percent)
        if p.exact:
            svc.exact_request = p.percent


def _on_paused(state: OrchestrationState, event: Event, p: ev.ReleasePaused) -> None:
    if state.in_flight and state.paused is None:  # holding is always safe: anyone may pause
        state.paused = PersonNote(event.actor, event.at, p.reason)


def _on_resumed(state: OrchestrationState, event: Event, p: ev.ReleaseResumed) -> None:
    if event.actor.startswith("person:"):  # moving on again is a person's decision, like an approval
        state.paused = None


def _on_aborted(state: OrchestrationState, event: Event, p: ev.ReleaseAborted) -> None:
    if state.aborted is None:
        state.aborted = PersonNote(event.actor, event.at, p.reason)


def _no_state(state: OrchestrationState, event: Event, p: ev.Payload) -> None:
    """Journaled for the record (audit, report, evals); nothing in state depends on it."""


WholeFold = Callable[[OrchestrationState, Event, Any], None]  # Any: each entry takes its own payload type
_ORCHESTRATION_FOLDS: dict[type[ev.Payload], WholeFold] = {
    ev.OrchestrationStarted: _no_state,  # consumed by fold(); a second one is ignored
    ev.SignalSent: _on_signal,
    ev.BrainTurn: _on_brain_turn,
    ev.BrainNudged: _no_state,
    ev.OrchestrationEnded: _on_ended,
    ev.ApprovalGranted: _on_approval_granted,
    ev.ReleasePaused: _on_paused,
    ev.ReleaseResumed: _on_resumed,
    ev.ReleaseAborted: _on_aborted,
    ev.ToolCall: _no_state,
    ev.NotifyFailed: _no_state,
}


# -- what each kind does to one service -----------------------------------------------------------

def _on_approval_requested(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.ApprovalRequested) -> None:
    svc.phase = Phase.AWAITING_APPROVAL
    svc.approval_requested = p.percent


def _on_deploying(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.Deploying) -> None:
    svc.phase = Phase.DEPLOYING


def _on_deployed(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.Deployed) -> None:
    svc.phase = Phase.DEPLOYED
    svc.deployed_version = p.version


def _on_switching(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.Switching) -> None:
    svc.phase = Phase.SWITCHING


def _on_traffic_shifted(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.TrafficShifted) -> None:
    svc.weights = {slot: int(w) for slot, w in p.weights.items() if slot in SLOTS}
    svc.last_shift_at = event.at
    # The breach counters are NOT reset here: only a healthy check resets them. Otherwise a
    # brain re-applying the same (or a lower) split after each bad check could keep the
    # watchdog from ever reaching failureLimit.
    svc.approval_requested = None
    percent = svc.candidate_percent
    svc.took_traffic = svc.took_traffic or percent > 0
    if svc.rolling_back is not None:
        return  # the weights of a rollback in progress: the phase stays until it is rolled back
    if percent >= 100:
        svc.phase, svc.bake_started_at = Phase.BAKING, event.at
    elif percent > 0:
        svc.phase = Phase.CANARY


def _on_health_checked(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.HealthChecked) -> None:
    assessment = HealthAssessment.from_dict(p.assessment)
    svc.health = assessment
    svc.health_window_start = p.window_start
    if p.baseline:
        svc.baseline = p.baseline
    if assessment.verdict is HealthVerdict.UNHEALTHY:
        svc.consecutive_breaches += 1
        svc.consecutive_blind = 0
    elif assessment.verdict is HealthVerdict.HEALTHY:
        svc.consecutive_breaches = 0
        svc.consecutive_blind = 0
    elif assessment.verdict is HealthVerdict.INCONCLUSIVE:
        svc.consecutive_blind = 0  # data flows, it just does not decide yet: waiting, not blind
    else:
        svc.consecutive_blind += 1


def _on_baseline_sampled(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.BaselineSampled) -> None:
    if p.usable:
        svc.baseline = p.baseline


def _on_instance_replaced(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.InstanceReplaced) -> None:
    if p.version == svc.target_version:
        svc.instances_updated.add(p.index)
        svc.took_traffic = True
        svc.phase = Phase.UPDATING
    else:
        svc.instances_updated.discard(p.index)
        svc.reverting = True
    svc.last_shift_at = event.at


def _on_bake_started(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.BakeStarted) -> None:
    svc.phase, svc.bake_started_at = Phase.BAKING, event.at


def _on_completed(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.Completed) -> None:
    svc.phase = Phase.COMPLETE
    if state.strategy != "rolling":
        svc.stable_slot = svc.candidate_slot
    svc.stable_version = p.version
    svc.weights = {svc.stable_slot: 100, other_slot(svc.stable_slot): 0}
    svc.instances_updated = set()


def _on_rollback_started(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.RollbackStarted) -> None:
    if not svc.terminal:
        svc.rolling_back = p.reason
        svc.rollback_started_seq = event.seq


def _on_rolled_back(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.RolledBack) -> None:
    svc.phase = Phase.ROLLED_BACK
    svc.rollback_reason = p.reason
    svc.rolling_back = None
    svc.weights = {svc.stable_slot: 100, other_slot(svc.stable_slot): 0}
    svc.instances_updated = set()


def _on_failed(state: OrchestrationState, svc: ServiceState, event: Event, p: ev.Failed) -> None:
    svc.phase = Phase.FAILED
    svc.failure = p.reason


ServiceFold = Callable[[OrchestrationState, ServiceState, Event, Any], None]
_SERVICE_FOLDS: dict[type[ev.Payload], ServiceFold] = {
    ev.ApprovalRequested: _on_approval_requested,
    ev.Deploying: _on_deploying,
    ev.Deployed: _on_deployed,
    ev.Switching: _on_switching,
    ev.TrafficShifted: _on_traffic_shifted,
    ev.HealthChecked: _on_health_checked,
    ev.BaselineSampled: _on_baseline_sampled,
    ev.InstanceReplaced: _on_instance_replaced,
    ev.BakeStarted: _on_bake_started,
    ev.Completed: _on_completed,
    ev.RollbackStarted: _on_rollback_started,
    ev.RolledBack: _on_rolled_back,
    ev.Failed: _on_failed,
    ev.Retired: lambda state, svc, event, p: None,  # the platform's cleanup; weights say what is live
    ev.StableRedeployed: lambda state, svc, event, p: None,  # idem: the old color is back, no traffic yet
    ev.KeptWarm: lambda state, svc, event, p: None,  # the previous color, idle: read by undo from the journal
}


def handled_kinds() -> set[ev.EventKind]:
    """Every kind the fold has an entry for (a test holds this to the catalogue)."""
    tables: list[dict[type[ev.Payload], Any]] = [_ORCHESTRATION_FOLDS, _SERVICE_FOLDS]
    return {cls.model_fields["kind"].default for table in tables for cls in table}
