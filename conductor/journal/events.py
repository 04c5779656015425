"""The journal's vocabulary: every event kind and its payload, as types.

This module is the catalogue. A writer builds one of the payloads below
(``rt.record(RolledBack(reason=…, restored=…), "api", "watchdog")``), the store writes the kind
in its own column and the payload as JSON, and the fold (:mod:`conductor.journal.state`)
dispatches on the payload's type. ``python -m conductor.journal.events`` prints the catalogue
generated from these classes, so documentation cannot drift from what is written.

Reading is tolerant: fields added later have defaults (journals written before them still open),
unknown fields are ignored, and a kind this version does not know becomes :class:`Unrecognized`,
which the fold leaves alone (a journal written by a newer version still opens). A *known* kind
whose payload cannot be read is a corrupt journal and raises: guessing would make state lie.

Every payload's ``kind`` is a :class:`EventKind`, a ``StrEnum``: ``event.kind == "rolled_back"``
keeps working for readers that match by name.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conductor.errors import JournalError

JSONObject = dict[str, Any]


class EventKind(StrEnum):
    ORCHESTRATION_STARTED = "orchestration_started"
    APPROVAL_GRANTED = "approval_granted"
    APPROVAL_REQUESTED = "approval_requested"
    TOOL_CALL = "tool_call"
    BRAIN_TURN = "brain_turn"
    BRAIN_NUDGED = "brain_nudged"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    FAILED = "failed"
    SWITCHING = "switching"
    TRAFFIC_SHIFTED = "traffic_shifted"
    BASELINE_SAMPLED = "baseline_sampled"
    HEALTH_CHECKED = "health_checked"
    INSTANCE_REPLACED = "instance_replaced"
    BAKE_STARTED = "bake_started"
    RETIRED = "retired"
    STABLE_REDEPLOYED = "stable_redeployed"
    COMPLETED = "completed"
    ROLLBACK_STARTED = "rollback_started"
    ROLLED_BACK = "rolled_back"
    SIGNAL = "signal"
    NOTIFY_FAILED = "notify_failed"
    ORCHESTRATION_ENDED = "orchestration_ended"
    RELEASE_PAUSED = "release_paused"
    RELEASE_RESUMED = "release_resumed"
    RELEASE_ABORTED = "release_aborted"
    KEPT_WARM = "kept_warm"


class Payload(BaseModel):
    """Base of every payload. ``progress``: the event moves a release forward, so it cannot
    reopen a service that is already finished (a deploy that ends after another process rolled
    the service back)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    kind: EventKind
    progress: ClassVar[bool] = False

    def data(self) -> JSONObject:
        """The JSON object stored in the journal's ``data`` column (the kind has its own)."""
        return self.model_dump(mode="json", exclude={"kind"})


class ServicePlan(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    stable_version: str | None = None
    stable_slot: Literal["blue", "green"] = "blue"
    target_version: str | None = None
    replicas: int = 1


class OrchestrationStarted(Payload):
    """A person's command started an orchestration; services are in dependency order."""

    kind: Literal[EventKind.ORCHESTRATION_STARTED] = EventKind.ORCHESTRATION_STARTED
    command: str
    strategy: str
    auto: bool = False
    brain: str = "policy"
    first_percent: int = 100
    services: dict[str, ServicePlan] = Field(default_factory=dict)
    undo_of: int | None = None  # `conductor undo`: the release this orchestration takes back


class ApprovalGranted(Payload):
    """Up to ``percent`` is approved (service None: every service). ``exact``: a person typed that
    number. Counted only when the event's actor is ``person:*``."""

    kind: Literal[EventKind.APPROVAL_GRANTED] = EventKind.APPROVAL_GRANTED
    percent: int
    exact: bool = False
    via: str = ""


class ApprovalRequested(Payload):
    """The orchestration paused, asking a person for ``percent``."""

    kind: Literal[EventKind.APPROVAL_REQUESTED] = EventKind.APPROVAL_REQUESTED
    progress: ClassVar[bool] = True
    percent: int
    recommendation: str = ""


class ToolCall(Payload):
    """A tool call and the guards' decision (allowed / refused / unknown); ``guard`` names the refuser."""

    kind: Literal[EventKind.TOOL_CALL] = EventKind.TOOL_CALL
    tool: str
    arguments: Any = None
    decision: str
    status: str = ""
    message: str = ""
    guard: str | None = None


class BrainTurn(Payload):
    """One turn of the brain: its stop reason, token usage, text (truncated) and tool calls."""

    kind: Literal[EventKind.BRAIN_TURN] = EventKind.BRAIN_TURN
    turn: int
    stop_reason: str | None = None
    usage: dict[str, int | None] = Field(default_factory=dict)
    text: str = ""
    max_tokens: int | None = None
    tool_calls: list[JSONObject] = Field(default_factory=list)
    cache_ttl: str | None = None  # the prompt-cache lifetime the turn asked for: 5m, 1h, None (caching off)
    cache_write_1h: int = 0  # of usage's cache_creation_input_tokens, those written for 1 hour
    usage_estimated: bool = False  # usage modelled from request sizes (a scripted cassette), not the API's
    cost_usd: float | None = None  # estimated from conductor.models.pricing; None: the model is unpriced


class BrainNudged(Payload):
    """The brain ended its turn while the runbook had a step due now (not a pause for a person):
    the loop told it so (``nudge`` of at most 2) instead of ending the run."""

    kind: Literal[EventKind.BRAIN_NUDGED] = EventKind.BRAIN_NUDGED
    turn: int
    nudge: int
    due: str  # the runbook's tool that was due
    why: str = ""


class Deploying(Payload):
    kind: Literal[EventKind.DEPLOYING] = EventKind.DEPLOYING
    progress: ClassVar[bool] = True
    slot: str
    version: str


class Deployed(Payload):
    """The new version is ready in ``slot`` (no traffic yet)."""

    kind: Literal[EventKind.DEPLOYED] = EventKind.DEPLOYED
    progress: ClassVar[bool] = True
    slot: str
    version: str
    instances: int | None = None


class Failed(Payload):
    """A platform failure (never ready, smoke check): not a bad release, the release stopped."""

    kind: Literal[EventKind.FAILED] = EventKind.FAILED
    progress: ClassVar[bool] = True
    reason: str | None = None


class Switching(Payload):
    """About to flip traffic (blue-green): a crash after this and before traffic_shifted resumes here."""

    kind: Literal[EventKind.SWITCHING] = EventKind.SWITCHING
    progress: ClassVar[bool] = True
    weights: dict[str, int] = Field(default_factory=dict)


class TrafficShifted(Payload):
    """The platform applied ``weights`` (what was asked: ``requested``; None when reconciled)."""

    kind: Literal[EventKind.TRAFFIC_SHIFTED] = EventKind.TRAFFIC_SHIFTED
    weights: dict[str, int]
    requested: dict[str, int] | None = None


class BaselineSampled(Payload):
    """Stable alone, before traffic moves; kept as the baseline when ``usable``."""

    kind: Literal[EventKind.BASELINE_SAMPLED] = EventKind.BASELINE_SAMPLED
    baseline: JSONObject
    usable: bool = False


class HealthChecked(Payload):
    """One health check. ``assessment`` is the judge's own JSON (its verdict and the evidence
    behind it): typed here only as an object, so the judge can add evidence without a new kind."""

    kind: Literal[EventKind.HEALTH_CHECKED] = EventKind.HEALTH_CHECKED
    assessment: JSONObject
    window_start: float
    candidate: JSONObject | None = None
    baseline: JSONObject | None = None


class InstanceReplaced(Payload):
    kind: Literal[EventKind.INSTANCE_REPLACED] = EventKind.INSTANCE_REPLACED
    index: int
    version: str | None = None


class BakeStarted(Payload):
    kind: Literal[EventKind.BAKE_STARTED] = EventKind.BAKE_STARTED
    progress: ClassVar[bool] = True


class Retired(Payload):
    kind: Literal[EventKind.RETIRED] = EventKind.RETIRED
    slot: str
    version: str | None = None


class StableRedeployed(Payload):
    """A rollback brought back an old color that a cut-short promote had retired."""

    kind: Literal[EventKind.STABLE_REDEPLOYED] = EventKind.STABLE_REDEPLOYED
    slot: str
    version: str | None = None


class Completed(Payload):
    kind: Literal[EventKind.COMPLETED] = EventKind.COMPLETED
    progress: ClassVar[bool] = True
    version: str | None = None


class RollbackStarted(Payload):
    """A rollback of the service began, written before anything on the platform moves (for every
    service of a cascade or a multi-service rollback, in one transaction): from here on the
    service is being undone, and whoever resumes finishes the rollback, with this reason,
    instead of re-applying a split."""

    kind: Literal[EventKind.ROLLBACK_STARTED] = EventKind.ROLLBACK_STARTED
    reason: str


class RolledBack(Payload):
    """All traffic is back on ``restored``. Written in one transaction with its ROLLBACK signal
    when the new version ever took traffic; a service that never served users is rolled back
    without a signal (nothing changed for them)."""

    kind: Literal[EventKind.ROLLED_BACK] = EventKind.ROLLED_BACK
    reason: str
    restored: str | None = None


class SignalSent(Payload):
    """A ``<conductor>`` signal: ``text`` as printed, ``signal`` its parts."""

    kind: Literal[EventKind.SIGNAL] = EventKind.SIGNAL
    text: str
    signal: JSONObject | None = None


class NotifyFailed(Payload):
    kind: Literal[EventKind.NOTIFY_FAILED] = EventKind.NOTIFY_FAILED
    url: str = ""
    event: str = ""
    error: str = ""


class OrchestrationEnded(Payload):
    kind: Literal[EventKind.ORCHESTRATION_ENDED] = EventKind.ORCHESTRATION_ENDED
    outcome: str
    reason: str = ""


class ReleasePaused(Payload):
    """The release was paused (``conductor pause``; holding is safe, so any actor may): nothing
    moves it forward (guard ``not_paused``) until a person resumes or promotes it; rollback and
    the watchdog go on."""

    kind: Literal[EventKind.RELEASE_PAUSED] = EventKind.RELEASE_PAUSED
    reason: str = ""


class ReleaseResumed(Payload):
    """A person lifted the pause (``conductor resume``, or ``promote``); counted only when the
    event's actor is ``person:*``."""

    kind: Literal[EventKind.RELEASE_RESUMED] = EventKind.RELEASE_RESUMED


class ReleaseAborted(Payload):
    """A person aborted the release (``conductor abort``): written before its rollbacks, so the
    orchestration ends rolled back and stays marked aborted, by whom and why."""

    kind: Literal[EventKind.RELEASE_ABORTED] = EventKind.RELEASE_ABORTED
    reason: str = ""


class KeptWarm(Payload):
    """Promotion left the previous color running, without traffic, until ``until`` (platform
    time; ``orchestration.scaleDownDelay``): ``conductor undo`` flips back to it without a deploy.
    Whoever runs next after ``until`` retires it (a ``retired`` event)."""

    kind: Literal[EventKind.KEPT_WARM] = EventKind.KEPT_WARM
    slot: str
    version: str | None = None
    until: float


class Unrecognized(Payload):
    """A kind this version does not know (a newer writer): kept, shown, never folded."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str  # type: ignore[assignment]
    raw: JSONObject = Field(default_factory=dict)

    def data(self) -> JSONObject:
        return dict(self.raw)


PAYLOADS: dict[EventKind, type[Payload]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        OrchestrationStarted, ApprovalGranted, ApprovalRequested, ToolCall, BrainTurn, BrainNudged, Deploying,
        Deployed,
        Failed, Switching, TrafficShifted, BaselineSampled, HealthChecked, InstanceReplaced, BakeStarted,
        Retired, StableRedeployed, Completed, RollbackStarted, RolledBack, SignalSent, NotifyFailed,
        OrchestrationEnded, ReleasePaused, ReleaseResumed, ReleaseAborted, KeptWarm,
    )
}
assert set(PAYLOADS) == set(EventKind), "every kind has exactly one payload type"


def parse_payload(kind: str, data: JSONObject) -> Payload:
    """The typed payload of a stored event (see the module docstring for what is tolerated)."""
    try:
        cls = PAYLOADS[EventKind(kind)]
    except ValueError:
        return Unrecognized(kind=kind, raw=data)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise JournalError(f"journal event {kind} cannot be read: {exc.errors()[0]['msg']} "
                           f"at {'.'.join(str(p) for p in exc.errors()[0]['loc'])}") from exc


def catalogue() -> str:
    """The catalogue of event kinds and their fields, generated from the types."""
    lines = []
    for kind, cls in PAYLOADS.items():
        fields = ", ".join(name for name in cls.model_fields if name != "kind")
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines.append(f"{kind.value:22} {{{fields}}}" + (f"\n{'':22} {doc}" if doc else ""))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - documentation
    sys.stdout.write(catalogue() + "\n")
