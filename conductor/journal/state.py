"""State is a fold over the journal: ``fold(events) -> OrchestrationState``.

Nothing about an orchestration is kept anywhere else, so a new process (the approval of the next
ramp-up, ``conductor watch``, a resume after SIGKILL) sees exactly what the last one committed.

Event kinds and their ``data`` (all appended through :class:`conductor.journal.store.Journal`):

    orchestration_started  {command, strategy, auto, brain, first_percent, services: {name: {stable_version,
                            stable_slot, target_version, replicas}}}
    approval_granted       {percent, exact, via}  service=None: every service; exact: typed by a person;
                            counted only when the actor is ``person:*``
    approval_requested     {percent, recommendation}
    tool_call              {tool, arguments, decision, reason, status, result}
    deploying / deployed   {slot, version}
    traffic_shifted        {weights: {blue, green}}
    baseline_sampled       {baseline, usable}   stable alone, before traffic moves
    health_checked         {assessment, window_start, candidate, baseline}
    instance_replaced      {index, version}
    retired                {slot}
    stable_redeployed      {slot, version}   a rollback brought back an old color a cut-short promote retired
    completed              {version}
    rolled_back            {reason, by}
    signal                 {text}
    brain_turn             {turn, stop_reason, usage}
    orchestration_ended    {outcome, reason}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conductor.journal.store import Event
from conductor.metrics.analysis import HealthAssessment, HealthVerdict
from conductor.platforms.base import Slot, other_slot


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
# Events that move a release forward; they cannot reopen a service that is already finished.
_PROGRESS_KINDS = frozenset({"approval_requested", "deploying", "deployed", "switching", "bake_started",
                             "completed", "failed"})


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
    approval_requested: int | None = None
    instances_updated: set[int] = field(default_factory=set)
    rollback_reason: str | None = None
    failure: str | None = None
    reverting: bool = False  # an instance went back to the old version: only a rollback does that

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


@dataclass
class OrchestrationState:
    id: int
    command: str
    strategy: str
    auto: bool = False
    brain: str = "policy"
    first_percent: int = 100
    exact_request: int | None = None  # the latest percentage a person typed exactly (canary 50)
    services: dict[str, ServiceState] = field(default_factory=dict)
    outcome: str | None = None
    outcome_reason: str = ""
    signals: list[str] = field(default_factory=list)
    turns: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    last_at: float = 0.0
    last_seq: int = 0

    @property
    def status(self) -> str:
        if self.outcome is not None:
            return self.outcome
        if any(s.phase is Phase.AWAITING_APPROVAL for s in self.services.values()):
            return "awaiting_approval"
        return "running"

    @property
    def in_flight(self) -> bool:
        return self.outcome is None

    def service(self, name: str) -> ServiceState:
        return self.services[name]


def fold(events: Iterable[Event]) -> OrchestrationState | None:
    """Rebuild one orchestration from its events (None if it never started)."""
    state: OrchestrationState | None = None
    for event in events:
        if event.kind == "orchestration_started":
            state = _started(event)
            continue
        if state is None:
            continue
        state.last_at = max(state.last_at, event.at)
        state.last_seq = event.seq
        _apply(state, event)
    return state


def _started(event: Event) -> OrchestrationState:
    data = event.data
    state = OrchestrationState(
        id=event.orchestration or 0,
        command=data["command"],
        strategy=data["strategy"],
        auto=bool(data.get("auto")),
        brain=data.get("brain", "policy"),
        first_percent=int(data.get("first_percent", 100)),
        started_at=event.at,
        last_at=event.at,
        last_seq=event.seq,
    )
    for name, info in data["services"].items():
        stable_slot: Slot = info.get("stable_slot", "blue")
        state.services[name] = ServiceState(
            name=name,
            stable_version=info.get("stable_version"),
            from_version=info.get("stable_version"),
            target_version=info.get("target_version"),
            stable_slot=stable_slot,
            replicas=int(info.get("replicas", 1)),
            weights={stable_slot: 100, other_slot(stable_slot): 0},
        )
    return state


def _apply(state: OrchestrationState, event: Event) -> None:
    data = event.data
    kind = event.kind
    if kind == "signal":
        state.signals.append(data["text"])
        return
    if kind == "brain_turn":
        state.turns += 1
        for key, value in (data.get("usage") or {}).items():
            state.usage[key] = state.usage.get(key, 0) + int(value or 0)
        return
    if kind == "orchestration_ended":
        state.outcome = data["outcome"]
        state.outcome_reason = data.get("reason", "")
        return
    if kind == "approval_granted":
        if not event.actor.startswith("person:"):
            return  # approvals come from people only, whatever else wrote one
        if data.get("exact"):
            state.exact_request = int(data["percent"])
        targets = [state.services[event.service]] if event.service in state.services else state.services.values()
        for svc in targets:
            svc.approved_percent = max(svc.approved_percent, int(data["percent"]))
        return
    if event.service not in state.services:
        return
    svc = state.services[event.service]
    if svc.terminal and kind in _PROGRESS_KINDS:
        return  # e.g. a deploy that finished after another process rolled the service back
    if kind == "approval_requested":
        svc.phase = Phase.AWAITING_APPROVAL
        svc.approval_requested = int(data["percent"])
    elif kind == "deploying":
        svc.phase = Phase.DEPLOYING
    elif kind == "deployed":
        svc.phase = Phase.DEPLOYED
        svc.deployed_version = data["version"]
    elif kind == "switching":
        svc.phase = Phase.SWITCHING
    elif kind == "traffic_shifted":
        svc.weights = {slot: int(w) for slot, w in data["weights"].items()}
        svc.last_shift_at = event.at
        # The breach counters are NOT reset here: only a healthy check resets them. Otherwise a
        # brain re-applying the same (or a lower) split after each bad check could keep the
        # watchdog from ever reaching failureLimit.
        svc.approval_requested = None
        percent = svc.candidate_percent
        if percent >= 100:
            svc.phase, svc.bake_started_at = Phase.BAKING, event.at
        elif percent > 0:
            svc.phase = Phase.CANARY
    elif kind == "health_checked":
        assessment = HealthAssessment.from_dict(data["assessment"])
        svc.health = assessment
        svc.health_window_start = float(data["window_start"])
        if data.get("baseline"):
            svc.baseline = data["baseline"]
        if assessment.verdict is HealthVerdict.UNHEALTHY:
            svc.consecutive_breaches += 1
            svc.consecutive_blind = 0
        elif assessment.verdict is HealthVerdict.HEALTHY:
            svc.consecutive_breaches = 0
            svc.consecutive_blind = 0
        else:
            svc.consecutive_blind += 1
    elif kind == "baseline_sampled":
        if data.get("usable"):
            svc.baseline = data["baseline"]
    elif kind == "instance_replaced":
        if data["version"] == svc.target_version:
            svc.instances_updated.add(int(data["index"]))
            svc.phase = Phase.UPDATING
        else:
            svc.instances_updated.discard(int(data["index"]))
            svc.reverting = True
        svc.last_shift_at = event.at
    elif kind == "bake_started":
        svc.phase, svc.bake_started_at = Phase.BAKING, event.at
    elif kind == "completed":
        svc.phase = Phase.COMPLETE
        if state.strategy != "rolling":
            svc.stable_slot = svc.candidate_slot
        svc.stable_version = data["version"]
        svc.weights = {svc.stable_slot: 100, other_slot(svc.stable_slot): 0}
        svc.instances_updated = set()
    elif kind == "rolled_back":
        svc.phase = Phase.ROLLED_BACK
        svc.rollback_reason = data["reason"]
        svc.weights = {svc.stable_slot: 100, other_slot(svc.stable_slot): 0}
        svc.instances_updated = set()
    elif kind == "failed":
        svc.phase = Phase.FAILED
        svc.failure = data.get("reason")
