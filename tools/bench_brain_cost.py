"""What the Claude brain costs for one rollout: a 3-service canary from start to DEPLOYED, offline.

    .venv/bin/python tools/bench_brain_cost.py            # per-turn table, totals, caching on vs off
    .venv/bin/python tools/bench_brain_cost.py --json     # the same figures as JSON

The rollout is real (simulator in virtual time, guards, journal, watchdog): ``canary 10`` for
api, web and worker, then approvals minutes apart (``canary 25`` 4 minutes later, ``canary 50``
7 minutes after that, ``canary 100`` 5 minutes after that; the watchdog runs in between), and a
15-minute bake at 100%. The brain is a scripted model behind the real SDK client and loop: it
follows the runbook and calls the tools for all three services in one turn (parallel tool use,
as a model that read the runbook does), deploying and sending the first percentage together.

Token figures are *estimated*: no machine here reaches the API, so the scripted Messages API
models ``usage`` with :class:`conductor.frontends.evals.prompt_cache.PromptCache` (~4 characters
a token; entries read and written by the breakpoints and lifetimes each request asks for, on the
simulator's clock). The request shape — system prompt, tool definitions (strict), state block,
history, cache breakpoints and the lifetime the loop picks for each turn — is the product's own.
Costs are priced by :mod:`conductor.models.pricing` (1-hour writes at 2x input, 5-minute at
1.25x, reads at 0.1x). The same rollout runs twice, with ``model.promptCache`` ``auto`` and
``off``, side by side.

Goals checked: at most 15 model turns start → DEPLOYED; from the second turn on, at least 80% of
input tokens read from the cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from conductor.config import ConductorConfig
from conductor.frontends.evals.prompt_cache import PromptCache
from conductor.frontends.evals.runner import _watch
from conductor.frontends.evals.scripted import ScriptedBrain
from conductor.journal.state import OrchestrationState
from conductor.journal.store import Journal
from conductor.models.base import ModelRequest, ToolCall, Turn
from conductor.models.pricing import DEFAULT_MODEL, prices_for
from conductor.session import Conductor
from conductor.strategies import CallTool, WaitForPerson, next_action
from conductor.strategies.ramp import ramp_target

SERVICES = ["api", "web", "worker"]
CONFIG: dict[str, Any] = {
    "orchestration": {"strategy": "canary", "services": SERVICES, "healthCheckInterval": 10,
                      "rollbackThreshold": {"errorRate": 5, "responseTime": 1000}, "bakeTime": 900,
                      "canarySteps": [10, 25, 50, 100]},
    "release": dict.fromkeys(SERVICES, "v1.1.0"),
}
# (command, minutes a person takes before typing it): approvals minutes apart
PLAN = [("canary 10", 0.0), ("canary 25", 4.0), ("canary 50", 7.0), ("canary 100", 5.0)]
MAX_TURNS_GOAL = 15
CACHE_GOAL = 0.80


class ParallelPolicy:
    """The runbook, one turn for every service at the same step (parallel tool calls)."""

    name = "policy"

    def __init__(self) -> None:
        self._ids = 0

    def next_turn(self, request: ModelRequest) -> Turn:
        context = request.context
        state, config, now = context.state, context.config, context.now
        first = next_action(state, config, now)
        if not isinstance(first, CallTool):
            why = first.why if isinstance(first, WaitForPerson) else "done"
            text = f"Paused: {why}."
            return Turn(text=text, tool_calls=[], stop_reason="end_turn", content=[{"type": "text", "text": text}])
        calls = [_call(first.tool, first.arguments)]
        # One wait is enough: the watchdog observes every service taking traffic meanwhile.
        for name, svc in state.services.items() if first.tool != "monitor" else []:
            if name == first.arguments.get("service") or svc.terminal:
                continue
            alone = next_action(dataclasses.replace(state, services={name: svc}), config, now)
            if isinstance(alone, CallTool) and alone.tool == first.tool:
                calls.append(_call(alone.tool, alone.arguments))
        if first.tool == "deploy":  # the runbook's next step: the first percentage, for every canary
            steps = config.orchestration.canary_steps
            calls += [_call("shift_traffic", {"service": args["service"],
                                              "percent": ramp_target(state, state.services[args["service"]], steps)})
                      for _, args in list(calls)]
        turn_calls = []
        for call in calls:
            self._ids += 1
            turn_calls.append(ToolCall(id=f"toolu_b{self._ids:04d}", name=call[0], arguments=call[1]))
        content = [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in turn_calls]
        return Turn(text="", tool_calls=turn_calls, stop_reason="tool_use", content=content)


def _call(tool: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return tool, dict(arguments)


def rollout(prompt_cache: str) -> dict[str, Any]:
    """One rollout start → DEPLOYED with ``model.promptCache`` set; every turn's journaled figures."""
    with tempfile.TemporaryDirectory(prefix="bench-brain-") as tmp:
        root = Path(tmp)
        (root / ".mothership").mkdir()
        config_path = root / ".mothership" / "config.json"
        config = json.loads(json.dumps(CONFIG))
        config["model"] = {"promptCache": prompt_cache}
        config_path.write_text(json.dumps(config))
        cache = PromptCache()
        signals: list[str] = []
        exits: list[int] = []
        for command, minutes in PLAN:
            conductor = Conductor.from_config(config_path, model="policy")
            try:
                if minutes:
                    _watch(conductor, minutes * 60)
            finally:
                conductor.close()
            settings = ConductorConfig.model_validate(config).model
            brain = ScriptedBrain([{"policy": "rest"}], root / "cassette.json", DEFAULT_MODEL, settings.max_retries,
                                  cache=cache, _policy=ParallelPolicy())  # type: ignore[arg-type]
            conductor = Conductor.from_config(config_path, brain=brain)
            try:
                result = conductor.run(f"/orchestrate {command}")
            finally:
                conductor.close()
            exits.append(result.exit_code)
            signals += [s.format() for s in result.signals]
        journal = Journal(root / ".mothership" / "journal.db")
        try:
            events = journal.events()
        finally:
            journal.close()
    turns = [e for e in events if e.kind == "brain_turn"]
    rows = []
    for number, event in enumerate(turns, 1):
        usage = event.data["usage"]
        rows.append({"turn": number, "at_min": round(event.at / 60, 1), "ttl": event.data.get("cache_ttl"),
                     "input": usage["input_tokens"], "output": usage["output_tokens"],
                     "cache_read": usage["cache_read_input_tokens"],
                     "cache_write": usage["cache_creation_input_tokens"],
                     "cache_write_1h": event.data.get("cache_write_1h", 0),
                     "calls": _calls(event.data.get("tool_calls", [])),
                     "cost": event.data.get("cost_usd") or 0.0,
                     "estimated": bool(event.data.get("usage_estimated"))})
    deployed = any(s.startswith("<conductor>DEPLOYED") for s in signals)
    return {"prompt_cache": prompt_cache, "rows": rows, "exits": exits, "deployed": deployed,
            "signals": signals, "totals": _totals(rows)}


def _calls(calls: list[dict[str, Any]]) -> str:
    """``monitor×3``, ``deploy×3 shift_traffic×3``, or ``(text)`` for a turn without calls."""
    names: dict[str, int] = {}
    for call in calls:
        names[str(call.get("name"))] = names.get(str(call.get("name")), 0) + 1
    return " ".join(f"{name}×{count}" for name, count in names.items()) or "(text)"


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def total(key: str, subset: list[dict[str, Any]]) -> int:
        return sum(int(r[key]) for r in subset)

    later = rows[1:]
    prompt_later = total("input", later) + total("cache_read", later) + total("cache_write", later)
    return {"turns": len(rows), "input": total("input", rows), "output": total("output", rows),
            "cache_read": total("cache_read", rows), "cache_write": total("cache_write", rows),
            "cache_write_1h": total("cache_write_1h", rows),
            "cost": round(sum(float(r["cost"]) for r in rows), 4),
            "cache_read_share_from_turn_2": round(total("cache_read", later) / prompt_later, 3) if prompt_later
            else 0.0}


def render(runs: list[dict[str, Any]]) -> str:
    lines = []
    for run in runs:
        lines.append(f"model.promptCache = {run['prompt_cache']}  (token figures estimated: scripted Messages API, "
                     f"~4 chars/token; {DEFAULT_MODEL} prices)")
        lines.append(f"{'turn':>4} {'min':>6} {'ttl':>4} {'calls':<30} {'input':>7} {'output':>6} {'c.read':>7} "
                     f"{'c.write':>7} {'(1h)':>6} {'est. $':>8}")
        for r in run["rows"]:
            lines.append(f"{r['turn']:>4} {r['at_min']:>6} {r['ttl'] or '-':>4} {r['calls']:<30} {r['input']:>7,} "
                         f"{r['output']:>6,} {r['cache_read']:>7,} {r['cache_write']:>7,} {r['cache_write_1h']:>6,} "
                         f"{r['cost']:>8.4f}")
        t = run["totals"]
        lines.append(f"{'all':>4} {'':>6} {'':>4} {'':<30} {t['input']:>7,} {t['output']:>6,} {t['cache_read']:>7,} "
                     f"{t['cache_write']:>7,} {t['cache_write_1h']:>6,} {t['cost']:>8.4f}")
        lines.append(f"     DEPLOYED: {'yes' if run['deployed'] else 'NO'}; exits {run['exits']}; {t['turns']} turns; "
                     f"input read from cache from turn 2 on: {t['cache_read_share_from_turn_2']:.0%}")
        lines.append("")
    on, off = runs
    saved = off["totals"]["cost"] - on["totals"]["cost"]
    lines.append(f"cost per rollout: ${on['totals']['cost']:.4f} with caching (auto TTL), "
                 f"${off['totals']['cost']:.4f} without ({saved / off['totals']['cost']:.0%} saved)"
                 if off["totals"]["cost"] else "")
    goals = goals_met(on)
    lines.append(f"goals: ≤ {MAX_TURNS_GOAL} turns start → DEPLOYED: {'met' if goals['turns'] else 'MISSED'} "
                 f"({on['totals']['turns']}); ≥ {CACHE_GOAL:.0%} of input from cache from turn 2 on: "
                 f"{'met' if goals['cache'] else 'MISSED'} ({on['totals']['cache_read_share_from_turn_2']:.0%})")
    return "\n".join(lines)


def goals_met(run: dict[str, Any]) -> dict[str, bool]:
    totals = run["totals"]
    return {"turns": run["deployed"] and totals["turns"] <= MAX_TURNS_GOAL,
            "cache": totals["cache_read_share_from_turn_2"] >= CACHE_GOAL}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if prices_for(DEFAULT_MODEL) is None:
        print(f"no published prices for {DEFAULT_MODEL}", file=sys.stderr)
        return 2
    runs = [rollout("auto"), rollout("off")]
    if args.json:
        print(json.dumps({"runs": runs, "goals": goals_met(runs[0])}, indent=1))
    else:
        print(render(runs))
    goals = goals_met(runs[0])
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["OrchestrationState", "ParallelPolicy", "rollout"]
