"""The report in the spec's Output Format, and the same content as JSON (schema ``conductor.report/v1``).

Built from the journal and the platform, never from model prose, so it is accurate by
construction; the brain's recommendation appears under Notes. Rendered with jinja2 from
``conductor/prompts/report.md.j2``; the CLI shows it with rich on a terminal and as plain markdown when piped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from conductor.agent.prompt import render
from conductor.command import Command
from conductor.config import ModelSettings
from conductor.errors import EXIT_BRAIN_STOPPED, EXIT_REFUSED
from conductor.journal.queries import latest
from conductor.journal.state import OrchestrationState, Phase, ServiceState
from conductor.metrics.analysis import HealthAssessment, HealthVerdict
from conductor.metrics.judge import Judgement, Verdict
from conductor.models.pricing import estimate_cost
from conductor.output import safe_data, safe_report
from conductor.platforms.base import SLOTS
from conductor.project import Project
from conductor.signals import Signal
from conductor.strategies.actions import observed_healthy
from conductor.strategies.ramp import next_approval

if TYPE_CHECKING:
    from conductor.agent.loop import LoopOutcome

SCHEMA = "conductor.report/v1"
TITLES = {"blue-green": "Blue-Green", "canary": "Canary", "rolling": "Rolling", "rollback": "Rollback",
          "status": "Status"}


def build_report(
    conductor: Project,
    command: Command,
    state: OrchestrationState | None,
    emitted: list[Signal],
    exit_code: int,
    notes: list[str],
    outcome: LoopOutcome | None,
    planned: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """``planned``: a dry run's target versions (the plan's, which --release or an undo may set
    apart from the config's release); the report then shows them and how to run it for real."""
    config = conductor.config
    if state is None and command.action == "status":
        flights = conductor.in_flight()
        state = flights[0] if flights else (latest(conductor.journal) if conductor.has_journal else None)
    rows, traffic, health = [], [], []
    for name in config.orchestration.services:
        svc = state.services.get(name) if state else None
        if svc is not None:
            percent = _new_version_percent(svc, state.strategy if state else "")
            row = _row_from_state(svc) | {"new_version_percent": percent}
            if state is not None and state.in_flight and state.paused is not None and not svc.terminal:
                row["status"] = f"Paused at {percent}%"  # not awaiting an approval: resume carries it on
            rows.append(row)
            if svc.new_version_live or svc.phase in (Phase.CANARY, Phase.AWAITING_APPROVAL, Phase.BAKING):
                traffic.append(f"{name}: {svc.stable_version} {100 - percent}% / {svc.target_version} {percent}%")
            if svc.health is not None:
                health += _health_lines(name, svc.health)
        else:
            rows.append(_row_from_platform(conductor, name, planned))
    instances = _instance_lines(conductor, state) if state and state.strategy == "rolling" else []
    strategy = state.strategy if state and command.action != "status" else command.action
    if command.action == "status" and state is not None and state.in_flight:
        strategy = state.strategy
    if exit_code == EXIT_REFUSED:  # what the command would have started did not start
        rows = [row | {"status": "Refused"} if row["status"] == "Pending" else row for row in rows]
    usage = dict(state.usage) if state else {}
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "command": command.text,
        "strategy": strategy,
        "orchestration": state.id if state else None,
        # A refused command changed nothing; "refused" is what it did, whatever is in flight.
        "status": "refused" if exit_code == EXIT_REFUSED else state.status if state else "idle",
        "services": rows,
        "health": health,
        "instances": instances,
        "next_steps": _refused_steps(command, state) if exit_code == EXIT_REFUSED else
        ["Run it: the same command without `--dry-run`"] if planned is not None else [
            *_finish_with_policy(state, exit_code), *_next_steps(conductor, state)],
        "signals": [s.to_dict() for s in emitted],
        "notes": [*_held(state), *(n for n in notes if n)],
        "brain": state.brain if state else None,
        "usage": {"turns": state.turns if state else 0, **usage},
        "exit_code": exit_code,
    }
    markdown = render(
        "report.md.j2",
        strategy_title=TITLES.get(strategy, strategy.replace("-", " ").capitalize()),
        services=list(config.orchestration.services),
        rows=rows,
        traffic=traffic,
        health=health,
        instances=instances,
        next_steps=data["next_steps"],
        notes=data["notes"],
        brain=data["brain"] or "none (status only)",
        usage_line=_usage_line(data["usage"], outcome, config.model, state),
        exit_code=exit_code,
        signals=[s.format() for s in emitted],
    )
    # Notes, failures and reasons carry text from outside (model, API errors, platform, config):
    # only the signals Conductor emitted may read as signals, and no secret is shown.
    return safe_report(markdown, emitted), safe_data(data)


def _held(state: OrchestrationState | None) -> list[str]:
    """A release a person paused says so first, whatever else the report says."""
    if state is None or not state.in_flight or state.paused is None:
        return []
    why = f" ({state.paused.reason})" if state.paused.reason else ""
    return [f"Paused by {state.paused.actor}{why}: nothing moves it forward until a person resumes or promotes it "
            "(resume, promote); the watchdog still judges it and rollback stays available"]


def _refused_steps(command: Command, state: OrchestrationState | None) -> list[str]:
    steps = [f"Lift the freeze (`orchestration.freeze` in the config, or the file `.mothership/FREEZE`), "
             f"then run `{command.text}` again"]
    if state is not None and state.in_flight:
        steps.append(f"Orchestration #{state.id} ({state.strategy}) stays as it is; `/orchestrate rollback` "
                     "is always allowed, and `conductor watch` keeps the watchdog on it")
    return steps


def _new_version_percent(svc: ServiceState, strategy: str) -> int:
    """Share of traffic on the new version: the weights, or for a rolling update (one slot, mixed
    instances, requests spread evenly) the share of instances already updated."""
    if strategy == "rolling" and not svc.terminal and svc.replicas:
        return round(100 * len(svc.instances_updated) / svc.replicas)
    return svc.candidate_percent


def _row_from_state(svc: ServiceState) -> dict[str, Any]:
    return {
        "service": svc.name,
        "current": svc.stable_version,
        "target": svc.target_version,
        "status": svc.status_label,
        "phase": svc.phase.value,
        "new_version_percent": svc.candidate_percent,
        "rollback_reason": svc.rollback_reason,
        "failure": svc.failure,
    }


def _row_from_platform(conductor: Project, name: str, planned: Mapping[str, str] | None = None) -> dict[str, Any]:
    snapshot = conductor.bundle.platform.snapshot(name)
    weights = dict(snapshot.weights)
    serving = max(SLOTS, key=lambda s: (weights.get(s, 0), s == "blue"))
    current = snapshot.slots[serving].version
    target = planned[name] if planned is not None and name in planned else conductor.config.release.get(name)
    status = "Deployed" if target in (None, current) else "Pending"
    return {"service": name, "current": current, "target": target, "status": status, "phase": status,
            "new_version_percent": 0, "rollback_reason": None, "failure": None}


def _instance_lines(conductor: Project, state: OrchestrationState) -> list[str]:
    """The spec's rolling picture: ``api instance 1: ████████████ v1.1.0 ✓`` per instance."""
    lines = []
    for svc in state.services.values():
        snapshot = conductor.bundle.platform.snapshot(svc.name)
        for instance in snapshot.slots[svc.stable_slot].instances:
            if instance.version == svc.target_version:
                bar, mark = "█" * 12, " ✓" if svc.observed_since_shift or svc.terminal else " (observing)"
            else:
                bar, mark = "░" * 12, ""
            if instance.crashed:
                mark = " ✗ crashed"
            lines.append(f"{svc.name} instance {instance.index + 1}: {bar} {instance.version}{mark}")
    return lines


_BASELINE_NOTE = {"concurrent": "against stable over the same period",
                  "historical": "against stable's own traffic just before the switch (no concurrent baseline)",
                  "none": "no stable figures: absolute limits only"}


def _mark(judgement: Judgement | None, names: tuple[str, ...], breached: bool) -> tuple[bool, str]:
    """✗ for a regression, ✓ when every test of the metric shows non-inferiority, … while undecided."""
    if breached:
        return False, "✗"
    if judgement is None:
        return True, "✓"
    outcomes = [t.outcome for t in judgement.tests if t.name in names]
    if outcomes and all(o is Verdict.NON_INFERIOR for o in outcomes):
        return True, "✓"
    return False, "… undecided"


def _health_lines(service: str, health: HealthAssessment) -> list[dict[str, Any]]:
    judgement = health.judgement
    verdict_line: dict[str, Any] = {
        "service": service, "metric": "verdict", "verdict": health.verdict.value, "ok": health.healthy,
        "text": f"{service} verdict: **{health.verdict.value.replace('_', '-')}** — {health.reason}",
        "evidence": judgement.summary() if judgement is not None else None,
    }
    if judgement is not None:
        verdict_line["text"] += f" ({_BASELINE_NOTE[judgement.baseline.value]})"
    if health.verdict is HealthVerdict.UNAVAILABLE:
        return [verdict_line, {"service": service, "metric": "data", "ok": False,
                               "text": f"{service}: {health.reason} ✗"}]
    breached = {b.metric for b in health.breaches}
    lines = [verdict_line]
    latency, base_latency = health.latency_ms, health.baseline_latency_ms
    base = f" (baseline: {base_latency:.0f}ms)" if base_latency is not None else " (no baseline)"
    ok, mark = _mark(judgement, ("latency", "latency_limit"), "latency" in breached)
    lines.append({
        "service": service, "metric": "latency", "value": latency, "baseline": base_latency, "ok": ok,
        "text": f"{service} {health.percentile} response time: {latency:.0f}ms{base} {mark}" if latency is not None
        else f"{service} response time: no data ✗",
    })
    rate, base_rate = health.error_rate, health.baseline_error_rate
    base = f" (baseline: {base_rate:.2f}%)" if base_rate is not None else " (no baseline)"
    ok, mark = _mark(judgement, ("error_rate", "error_rate_limit"), "error_rate" in breached)
    lines.append({
        "service": service, "metric": "error_rate", "value": rate, "baseline": base_rate, "ok": ok,
        "text": f"{service} error rate: {rate:.2f}%{base} {mark}" if rate is not None
        else f"{service} error rate: no data ✗",
    })
    lines.append({"service": service, "metric": "active_connections", "value": health.active_connections,
                  "ok": True, "text": f"{service} active connections: {health.active_connections:,}"})
    return lines


def _finish_with_policy(state: OrchestrationState | None, exit_code: int) -> list[str]:
    """After the brain stopped early (exit 7), the first advice is the one that finishes the
    release without a model: the offline policy brain follows the same runbook, guarded alike."""
    if exit_code != EXIT_BRAIN_STOPPED or state is None or not state.in_flight:
        return []
    return [f"Finish it with the offline policy brain: `conductor orchestrate {state.strategy} --model policy`"]


def _next_steps(conductor: Project, state: OrchestrationState | None) -> list[str]:
    if state is None:
        if conductor.config.release:
            return ["Start a release: `/orchestrate blue-green`, `/orchestrate canary 10` or `/orchestrate rolling`"]
        return ['Add a "release" to .mothership/config.json, then run `/orchestrate canary 10`']
    if state.outcome == "complete":
        return ["All traffic is on the new version and the old one is retired",
                "Keep watching dashboards for the next hours",
                "The deployment record was appended to .mothership/DEPLOYMENTS.md"]
    if state.outcome == "rolled_back":
        return ["All traffic is back on the stable version",
                "Investigate: " + "; ".join(f"{s.name}: {s.rollback_reason}" for s in state.services.values()
                                            if s.rollback_reason),
                "Fix and release a new version, then `/orchestrate canary`"]
    if state.outcome == "failed":
        return ["The release stopped at a platform failure (not a bad release): " + "; ".join(
            f"{s.name}: {s.failure}" for s in state.services.values() if s.failure),
            f"Then retry with `/orchestrate {state.strategy}`"]
    steps = []
    undone = [s.name for s in state.services.values() if s.rolling_back is not None and not s.terminal]
    reverted = [s.name for s in state.services.values()  # judged bad, not a person's choice
                if s.phase is Phase.ROLLED_BACK and s.rollback_reason != "manual"]
    live_new = [s.name for s in state.services.values()
                if not s.terminal and s.phase is not Phase.PENDING and s.rolling_back is None]
    if undone or (reverted and live_new):
        # Half a release rolled back (a process stopped mid-cascade, a platform refusing the
        # rollback): promoting the rest would put all traffic on a release already judged bad.
        # The only advice is to finish the rollback.
        done = f"{', '.join(reverted)} rolled back; " if reverted else ""
        return [f"Finish the rollback: `/orchestrate rollback` ({done}"
                f"{', '.join(undone + live_new)} still on the release being rolled back)"]
    stopped = [s.name for s in state.services.values() if s.phase is Phase.ROLLED_BACK]
    if stopped and live_new:
        # A person rolled one service back: the release stopped there. Carrying the others on
        # would only roll them back too (``promote`` refuses), so no approval is offered.
        return [f"The release stopped when {', '.join(stopped)} rolled back: `/orchestrate rollback` (or "
                f"`conductor abort`) rolls back {', '.join(live_new)} too",
                "Then fix and release a new version"]
    if state.paused is not None:
        return ["Resume it: `conductor resume` (or `conductor promote` to approve the next step at once)",
                "Or roll back: `/orchestrate rollback`"]
    approval = next_approval(state, conductor.config.orchestration.canary_steps)
    if approval.waiting:
        steps.append(f"Approve the ramp-up to {approval.percent}%: `/orchestrate canary {approval.percent}`")
        steps.append("Or roll back: `/orchestrate rollback`")
        steps.append("Meanwhile `conductor watch` keeps the watchdog on the canary")
        return steps
    live = [s for s in state.services.values() if not s.terminal]
    canaries = [s for s in live if s.candidate_percent]
    judged = [s for s in canaries if not observed_healthy(s)]
    if state.strategy == "canary" and judged:
        # The step is still being judged (inconclusive, or no data): nothing ramps until the judge
        # finds it non-inferior, and a process driving it holds the service's lock until it pauses,
        # so the advice is to wait, and what to type once the verdict is in.
        where = ", ".join(f"{s.name} at {s.candidate_percent}%" for s in judged)
        percent = approval.percent
        steps.append(f"Wait: {where} is still being judged (`conductor watch` shows each verdict); once it is "
                     f"non-inferior, approve the ramp-up to {percent}%: `/orchestrate canary {percent}`")
    elif state.strategy == "canary" and canaries:
        steps.append(f"Continue: `/orchestrate canary {approval.percent}`")
    else:
        steps.append(f"Resume: `/orchestrate {state.strategy}`")
    steps.append("Or roll back: `/orchestrate rollback`")
    return steps


def _usage_line(usage: dict[str, int], outcome: LoopOutcome | None, settings: ModelSettings | None = None,
                state: OrchestrationState | None = None) -> str:
    """``12 turns, 48,210 tokens, cache hit 83%, est. $0.042; this run, per turn (…): $0.0111
    129/164/0/2,311* · $0.0031 130/78/2,311/718``: one
    line, for the whole orchestration, then what each turn of this run cost.

    The cache hit ratio is cache reads over all input tokens; the cost is the sum of the turns'
    journaled estimates (``model.prices`` or the published prices, each cache write at the rate
    of the lifetime it asked for), else estimated from the totals. Token figures modelled from
    request sizes (a scripted cassette) are labelled "estimated tokens".
    """
    turns = usage.get("turns", 0)
    if not turns:
        return ""
    tokens_in = usage.get("input_tokens", 0)
    tokens_out = usage.get("output_tokens", 0)
    read = usage.get("cache_read_input_tokens", 0)
    write = usage.get("cache_creation_input_tokens", 0)
    line = f"{turns} turn" if turns == 1 else f"{turns} turns"
    if tokens_in or tokens_out or read or write:
        total_in = tokens_in + read + write
        ratio = read / total_in if total_in else 0.0
        estimated = "estimated " if state is not None and state.usage_estimated else ""
        line += f", {total_in + tokens_out:,} {estimated}tokens, cache hit {ratio:.0%}"
        cost = state.cost_usd if state is not None and state.cost_usd is not None else None
        if cost is None and settings is not None:
            cost = estimate_cost(usage, settings)
        if cost is not None:
            line += f", est. ${cost:.3f}" if cost < 10 else f", est. ${cost:,.2f}"
        per_turn = [f"${t.cost:.4f} {t.usage.input_tokens:,}/{t.usage.output_tokens:,}/"
                    f"{t.usage.cache_read_input_tokens:,}/{t.usage.cache_creation_input_tokens:,}"
                    + ("*" if t.usage.cache_creation_1h_input_tokens else "")
                    for t in (outcome.turn_log if outcome is not None else []) if t.cost is not None]
        if per_turn:
            shown = per_turn if len(per_turn) <= 20 else [*per_turn[:19], f"… {len(per_turn) - 19} more"]
            line += ("; this run, per turn (est. $ input/output/cache read/cache write tokens, * written for 1h): "
                     + " · ".join(shown))
    return line
