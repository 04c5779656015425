"""A release as series over time, read from the journal: what the dashboard and the report chart.

Per service: the new version's share of traffic after each change, and every health check with
the judge's figures — the canary's and stable's error rate and latency over the evidence since the
last traffic change (what the judge weighed, not one window), the judge's regression bounds
(stable's confidence limit plus the tolerance: above it the canary is a regression) and the
absolute ``rollbackThreshold``. Around them: the journal's events as a timeline, the approvals with
who gave them, the signals, and the outcome.

Nothing here computes a verdict or a bound; every number is one the judge journaled, so a chart
shows exactly the evidence the watchdog acted on. Nothing here renders either (no markup): the
front ends draw these series (``conductor.frontends.dashboard``).

Reading is incremental and cheap. :meth:`ReleaseHistory.advance` reads only the events appended
since the previous call, and health checks (most of a long release, each carrying two latency
histograms) are read through :meth:`Journal.fields`, which has SQLite pick the dozen figures out
of each one: ten thousand events cost tens of milliseconds, not the second a full parse takes.
It never writes and never takes a lock, so it can follow a release another process drives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from conductor.journal.store import Journal
from conductor.platforms.base import Slot, other_slot

# Read with Journal.fields(): the figures of one health check, in this order.
_CHECK_PATHS = (
    "$.assessment.verdict", "$.assessment.reason", "$.assessment.error_rate", "$.assessment.baseline_error_rate",
    "$.assessment.latency_ms", "$.assessment.baseline_latency_ms", "$.assessment.percentile",
    "$.assessment.requests", "$.assessment.evidence.settings.max_error_rate",
    "$.assessment.evidence.settings.max_latency_ms", "$.window_start", "$.assessment.evidence.baseline",
    "$.assessment.evidence.settings.error_tolerance", "$.assessment.evidence.settings.error_floor",
    "$.assessment.evidence.settings.latency_tolerance",
    *(f"$.assessment.evidence.tests[{i}].{key}" for i in range(4)
      for key in ("name", "p0_regression", "p0_non_inferior", "figures.slow_regression_ms",
                  "figures.slow_non_inferior_ms")),
)
_TESTS_AT, _TEST_FIELDS = 15, 5  # where the tests' figures start in _CHECK_PATHS, and how many each
_BASELINE_PATHS = ("$.usable", "$.baseline.requests", "$.baseline.errors", "$.baseline.p95_ms", "$.baseline.error")
_HEAVY = ("health_checked", "baseline_sampled")


class Check(NamedTuple):
    """One health check: the judge's verdict and figures, rates in percent, latencies in ms (a
    tuple, not a frozen dataclass: a long release has ten thousand of them, built in one read)."""

    seq: int
    at: float
    verdict: str
    reason: str
    error_rate: float | None
    stable_error_rate: float | None
    error_bound: float | None  # the regression bound: confidently above it, the canary is worse than stable
    error_limit: float | None  # rollbackThreshold.errorRate
    latency_ms: float | None
    stable_latency_ms: float | None
    latency_bound: float | None
    latency_limit: float | None  # rollbackThreshold.responseTime
    percentile: str
    requests: int
    window_start: float | None
    baseline: str | None  # concurrent | historical | none
    error_ok_bound: float | None = None  # the non-inferiority bound: confidently below it, the canary is fine
    latency_ok_bound: float | None = None
    error_tolerance_line: float | None = None  # stable x (1 + tolerance) + floor: the line the judge tests
    latency_tolerance_line: float | None = None


@dataclass
class ServiceSeries:
    name: str
    from_version: str | None
    target_version: str | None
    new_slot: Slot
    replicas: int = 1
    traffic: list[tuple[float, int]] = field(default_factory=list)  # (at, new version's %) after each change
    checks: list[Check] = field(default_factory=list)
    status: str = "Pending"
    awaiting: int | None = None  # the percentage a person is asked to approve
    updated: set[int] = field(default_factory=set)  # rolling: instances on the new version

    @property
    def percent(self) -> int:
        return self.traffic[-1][1] if self.traffic else 0


@dataclass(frozen=True)
class Approval:
    seq: int
    at: float
    wall: str
    actor: str
    percent: int
    via: str
    service: str | None


@dataclass(frozen=True)
class Entry:
    """One journal event as a line of the timeline (plain text: the reader escapes it)."""

    seq: int
    at: float
    wall: str
    kind: str
    service: str | None
    actor: str
    text: str


@dataclass
class ReleaseHistory:
    """One orchestration's series, advanced in place by :meth:`advance`.

    >>> history = ReleaseHistory(journal, 7)
    >>> history.advance()          # True: events were read
    >>> history.services["api"].checks[-1].error_rate
    """

    journal: Journal
    id: int
    command: str = ""
    strategy: str = ""
    undo_of: int | None = None  # `conductor undo`: the release this one takes back
    started_at: float = 0.0
    started_wall: str = ""
    last_at: float = 0.0
    last_seq: int = 0
    events: int = 0
    outcome: str | None = None
    outcome_reason: str = ""
    services: dict[str, ServiceSeries] = field(default_factory=dict)
    timeline: list[Entry] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    signals: list[dict[str, Any]] = field(default_factory=list)  # the SignalSent "signal" objects
    paused: str | None = None  # held by a pause: who (and why)
    aborted: str | None = None  # aborted: who (and why)
    found: bool = False

    @property
    def in_flight(self) -> bool:
        return self.found and self.outcome is None

    def advance(self) -> bool:
        """Read what was appended since the last call; True if anything was."""
        limit = self.journal.last_seq()  # both reads stop here, so neither skips what the other saw
        if limit <= self.last_seq:
            return False
        light = [e for e in self.journal.events(self.id, after=self.last_seq, other_kinds=_HEAVY) if e.seq <= limit]
        rows: list[tuple[int, float, str, str, str | None, str, Any]] = [
            (e.seq, e.at, e.wall, e.kind, e.service, e.actor, e.data) for e in light]
        for kind, paths in (("health_checked", _CHECK_PATHS), ("baseline_sampled", _BASELINE_PATHS)):
            rows += [r for r in self.journal.fields(self.id, (kind,), paths, after=self.last_seq) if r[0] <= limit]
        rows.sort(key=lambda r: r[0])
        for seq, at, wall, kind, service, actor, data in rows:
            self._apply(seq, at, wall, kind, service, actor, data)
        self.last_seq = limit
        return bool(rows)

    # -- one event -------------------------------------------------------------------------------

    def _apply(self, seq: int, at: float, wall: str, kind: str, service: str | None, actor: str, data: Any) -> None:
        if kind == "orchestration_started":
            self._started(at, wall, data)
        if not self.found:
            return
        self.events += 1
        self.last_at = max(self.last_at, at)
        svc = self.services.get(service) if service is not None else None
        text = ""
        if kind == "health_checked":
            check = _check(seq, at, data)
            if svc is not None:
                svc.checks.append(check)
            text = f"{check.verdict.replace('_', '-')}: {check.reason}"
        elif kind == "baseline_sampled":
            usable, requests, errors, p95, error = data
            text = (f"stable sampled alone: {requests or 0:,} requests, "
                    f"{100.0 * (errors or 0) / requests:.2f}% errors, p95 {p95 or 0:.0f}ms"
                    if requests else f"stable sampled alone: no requests{f' ({error})' if error else ''}")
            text += "" if usable else " (not kept as the baseline)"
        else:
            text = self._lifecycle(kind, svc, at, actor, seq, wall, service, data)
        self.timeline.append(Entry(seq, at, wall, kind, service, actor, text))

    def _started(self, at: float, wall: str, data: dict[str, Any]) -> None:
        if self.found:
            return  # a second start is ignored, as the fold does
        self.found = True
        self.command, self.strategy = str(data.get("command", "")), str(data.get("strategy", ""))
        undone = data.get("undo_of")
        self.undo_of = undone if isinstance(undone, int) and not isinstance(undone, bool) else None
        self.started_at, self.started_wall = at, wall
        for name, plan in (data.get("services") or {}).items():
            stable: Slot = "green" if plan.get("stable_slot") == "green" else "blue"
            self.services[name] = ServiceSeries(
                name, plan.get("stable_version"), plan.get("target_version"), other_slot(stable),
                replicas=int(plan.get("replicas") or 1), traffic=[(at, 0)])

    def _lifecycle(self, kind: str, svc: ServiceSeries | None, at: float, actor: str, seq: int, wall: str,
                   service: str | None, data: dict[str, Any]) -> str:
        """Fold one light event into the series; return its timeline line."""
        if kind == "orchestration_started":
            targets = ", ".join(f"{s.name} {s.from_version} → {s.target_version}" for s in self.services.values())
            return f"{data.get('command', '')} ({data.get('strategy', '')}): {targets}"
        if kind == "approval_granted":
            if actor.startswith("person:"):  # approvals come from people only, as the fold counts them
                self.approvals.append(Approval(seq, at, wall, actor, int(data.get("percent", 0)),
                                               str(data.get("via", "")), service))
            return f"approved up to {data.get('percent')}% via {data.get('via') or '?'}"
        if kind == "orchestration_ended":
            self.outcome, self.outcome_reason = str(data.get("outcome")), str(data.get("reason", ""))
            return f"ended: {self.outcome}{f' ({self.outcome_reason})' if self.outcome_reason else ''}"
        if kind == "signal":
            if isinstance(data.get("signal"), dict):
                self.signals.append(data["signal"])
            return "signal " + str(data.get("text", ""))
        if kind == "tool_call":
            refused = f" — refused by {data.get('guard')}" if data.get("decision") == "refused" else ""
            outcome = data.get("status") or data.get("decision")
            return f"{data.get('tool')} {outcome}{refused}: {data.get('message', '')}"
        if kind == "brain_turn":
            calls = ", ".join(str(c.get("name")) for c in data.get("tool_calls") or [] if isinstance(c, dict))
            said = " ".join(str(data.get("text") or "").split())
            words = f' — said "{said[:117]}…"' if len(said) > 120 else f' — said "{said}"' if said else ""
            return f"turn {data.get('turn')}: {calls or data.get('stop_reason') or ''}{'' if calls else words}"
        if kind == "brain_nudged":  # the brain ended its turn with a runbook step due: told so, at most twice
            why = f" ({data['why']})" if data.get("why") else ""
            return f"reminder {data.get('nudge')} to the brain: {data.get('due')} is due{why}"
        if kind == "notify_failed":
            return f"webhook failed: {data.get('error', '')}"
        why = f": {data['reason']}" if kind.startswith("release_") and data.get("reason") else ""
        if kind == "release_paused":  # the pause verbs: held until a person resumes (as the fold reads them)
            if self.paused is None and self.outcome is None:
                self.paused = actor + why
            return "paused" + why
        if kind == "release_resumed":
            if actor.startswith("person:"):
                self.paused = None
            return "resumed"
        if kind == "release_aborted":
            self.aborted = actor + why
            return "aborted" + why
        if svc is None:
            return kind.replace("_", " ")
        return _service_event(svc, kind, at, data)


def _service_event(svc: ServiceSeries, kind: str, at: float, data: dict[str, Any]) -> str:
    """What one event does to a service's series and status, and its timeline line."""
    if kind == "traffic_shifted":
        weights = data.get("weights") or {}
        percent = int(weights.get(svc.new_slot, 0))
        svc.traffic.append((at, percent))
        svc.awaiting = None
        if svc.status not in ("Rolling back", "Rolled back"):
            svc.status = "Baking" if percent >= 100 else f"Canary {percent}%" if percent else svc.status
        return f"traffic: {svc.target_version} {percent}% / {svc.from_version} {100 - percent}%"
    if kind == "instance_replaced":
        index = int(data.get("index", 0))
        if data.get("version") == svc.target_version:
            svc.updated.add(index)
        else:
            svc.updated.discard(index)
        svc.traffic.append((at, round(100 * len(svc.updated) / max(svc.replicas, 1))))
        svc.status = f"Updating {len(svc.updated)}/{svc.replicas}"
        return f"instance {index} now runs {data.get('version')}"
    if kind == "approval_requested":
        svc.awaiting = int(data.get("percent", 0))
        svc.status = f"Awaiting approval ({svc.percent}% → {svc.awaiting}%)"
        return f"asks a person for {svc.awaiting}%: {data.get('recommendation', '')}"
    if kind == "completed":
        if svc.percent != 100:
            svc.traffic.append((at, 100))
        svc.status = "Complete"
        return f"complete on {data.get('version')}"
    if kind == "rolled_back":
        if svc.percent != 0:
            svc.traffic.append((at, 0))
        svc.updated.clear()
        svc.status = "Rolled back"
        return f"rolled back to {data.get('restored')}: {data.get('reason', '')}"
    labels = {"deploying": "Deploying", "deployed": "Deployed", "switching": "Switching", "failed": "Failed",
              "rollback_started": "Rolling back", "bake_started": "Baking"}
    if kind in labels:
        svc.status = labels[kind]
    lines = {
        "deploying": f"deploying {data.get('version')} to {data.get('slot')}",
        "deployed": f"{data.get('version')} ready in {data.get('slot')}",
        "switching": "switching traffic",
        "failed": f"failed: {data.get('reason', '')}",
        "rollback_started": f"rollback started: {data.get('reason', '')}",
        "bake_started": "bake started",
        "retired": f"retired {data.get('version')} ({data.get('slot')})",
        "stable_redeployed": f"stable {data.get('version')} redeployed in {data.get('slot')}",
    }
    return lines.get(kind, kind.replace("_", " "))


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None  # never a bool, a string or a list


def _check(seq: int, at: float, values: list[Any]) -> Check:
    verdict, reason, err, stable_err, lat, stable_lat, percentile, requests, max_err, max_lat, start, kind = values[:12]
    error_tol, error_floor, latency_tol = (_number(v) for v in values[12:15])
    error_reg = error_ni = latency_reg = latency_ni = None
    for i in range(_TESTS_AT, _TESTS_AT + 4 * _TEST_FIELDS, _TEST_FIELDS):  # by name: their order is the judge's
        name, p0_reg, p0_ni, slow_reg, slow_ni = values[i:i + _TEST_FIELDS]
        if name == "error_rate":
            error_reg, error_ni = _percent(p0_reg), _percent(p0_ni)
        elif name == "latency":
            latency_reg, latency_ni = _number(slow_reg), _number(slow_ni)
    stable_rate, stable_ms = _number(stable_err), _number(stable_lat)
    error_line = None if stable_rate is None or error_tol is None else \
        stable_rate * (1 + error_tol) + 100.0 * (error_floor or 0.0)
    latency_line = None if stable_ms is None or latency_tol is None else stable_ms * (1 + latency_tol)
    return Check(seq, at, str(verdict), str(reason or ""), _number(err), stable_rate, error_reg, _percent(max_err),
                 _number(lat), stable_ms, latency_reg, _number(max_lat), str(percentile or "p95"), int(requests or 0),
                 _number(start), kind if isinstance(kind, str) else None, error_ni, latency_ni, error_line,
                 latency_line)


def _percent(fraction: Any) -> float | None:
    value = _number(fraction)
    return None if value is None else 100.0 * value


@dataclass(frozen=True)
class ReleaseSummary:
    """One line of the releases list."""

    id: int
    command: str
    strategy: str
    created_wall: str
    services: dict[str, tuple[str | None, str | None]]  # name -> (from, to)
    outcome: str | None
    reason: str
    approvals: tuple[Approval, ...]


def releases(journal: Journal) -> list[ReleaseSummary]:
    """Every orchestration, newest first, with its outcome and who approved what (one indexed
    read of three small kinds over the whole journal; no health check is parsed)."""
    started: dict[int, dict[str, Any]] = {}
    ended: dict[int, tuple[str, str]] = {}
    approvals: dict[int, list[Approval]] = {}
    for e in journal.events(kinds=("orchestration_started", "approval_granted", "orchestration_ended")):
        if e.orchestration is None:
            continue
        if e.kind == "orchestration_started":
            started.setdefault(e.orchestration, e.data)
        elif e.kind == "orchestration_ended":
            ended[e.orchestration] = (str(e.data.get("outcome")), str(e.data.get("reason", "")))
        elif e.actor.startswith("person:"):
            approvals.setdefault(e.orchestration, []).append(
                Approval(e.seq, e.at, e.wall, e.actor, int(e.data.get("percent", 0)), str(e.data.get("via", "")),
                         e.service))
    rows = []
    for oid, command, strategy, created in journal.orchestrations():
        plan = started.get(oid)
        if plan is None:
            continue  # never started (nothing of it was committed)
        services = {name: (info.get("stable_version"), info.get("target_version"))
                    for name, info in (plan.get("services") or {}).items()}
        outcome, reason = ended.get(oid, (None, ""))
        rows.append(ReleaseSummary(oid, command, strategy, created, services, outcome, reason,
                                   tuple(approvals.get(oid, ()))))
    return rows[::-1]


__all__ = ["Approval", "Check", "Entry", "ReleaseHistory", "ReleaseSummary", "ServiceSeries", "releases"]
