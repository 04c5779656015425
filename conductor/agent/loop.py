"""The agent loop: ask the brain for a turn, run its tool calls through the guards, repeat.

Conductor owns this loop (not an SDK tool runner) so every call is guarded and journaled, the
history is replayable, and the budget is enforced here:

- ``model.maxTurns`` turns and ``model.tokenBudget`` tokens per run; hitting either stops safely
  (the watchdog keeps guarding whatever takes traffic) and says why;
- every ``tool_use`` gets exactly one ``tool_result`` (refusals and errors with ``is_error``);
- the live state is rendered into the newest user message each turn, not kept in the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conductor.agent.prompt import state_block, system_prompt
from conductor.errors import ModelError
from conductor.guards.executor import execute
from conductor.models.base import AgentContext, Model, ModelRequest, Turn, Usage
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import TOOLS, ToolResult


@dataclass
class LoopOutcome:
    turns: int = 0
    stop: str = "end_turn"  # end_turn | finished | max_turns | token_budget | model_error | refusal | ...
    final_text: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    error: str = ""


def tool_definitions() -> list[dict[str, Any]]:
    tools = [
        {"name": spec.name, "description": spec.description, "input_schema": spec.json_schema()}
        for spec in TOOLS.values()
    ]
    tools[-1]["cache_control"] = {"type": "ephemeral"}
    return tools


def run_agent(rt: Runtime, model: Model, instruction: str) -> LoopOutcome:
    """Drive the orchestration with ``model`` until it ends its turn, finishes, or runs out of budget."""
    settings = rt.config.model
    outcome = LoopOutcome()
    system = [{"type": "text", "text": system_prompt(rt), "cache_control": {"type": "ephemeral"}}]
    history: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": instruction}]}]
    tools = tool_definitions()
    last_results: list[ToolResult] = []
    actor = f"brain:{model.name}"
    while True:
        state = rt.state()
        if not state.in_flight:
            outcome.stop = "finished"
            return outcome
        if outcome.turns >= settings.max_turns:
            outcome.stop = "max_turns"
            return outcome
        spent = outcome.usage.get("input_tokens", 0) + outcome.usage.get("output_tokens", 0)
        if spent >= settings.token_budget:
            outcome.stop = "token_budget"
            return outcome
        request = ModelRequest(
            system=system,
            messages=_with_state(history, state_block(rt, state)),
            tools=tools,
            context=AgentContext(state=state, config=rt.config, now=rt.now(), last_results=last_results),
            max_tokens=settings.max_tokens,
        )
        try:
            turn = model.next_turn(request)
        except ModelError as exc:
            outcome.stop, outcome.error = "model_error", str(exc)
            return outcome
        outcome.turns += 1
        _account(outcome, turn.usage)
        rt.record("brain_turn", None, actor, turn=outcome.turns, stop_reason=turn.stop_reason,
                  usage=turn.usage.to_dict(), text=turn.text[:2000],
                  tool_calls=[{"name": c.name, "arguments": c.arguments} for c in turn.tool_calls])
        history.append({"role": "assistant", "content": turn.content or _blocks(turn)})
        if turn.text:
            outcome.final_text = turn.text
        if not turn.tool_calls:
            if turn.stop_reason in ("pause_turn", "max_tokens"):
                continue  # let the brain carry on from where it stopped
            outcome.stop = turn.stop_reason
            return outcome
        last_results = []
        results: list[dict[str, Any]] = []
        for call in turn.tool_calls:
            result = execute(rt, call.name, call.arguments, actor)
            last_results.append(result)
            results.append(
                {"type": "tool_result", "tool_use_id": call.id, "content": result.to_text(),
                 **({"is_error": True} if result.is_error else {})}
            )
        history.append({"role": "user", "content": results})


def _with_state(history: list[dict[str, Any]], block: str) -> list[dict[str, Any]]:
    """A copy of the history whose newest user message also carries the live state."""
    messages = [dict(m) for m in history]
    last = messages[-1]
    last["content"] = [*last["content"], {"type": "text", "text": block}]
    return messages


def _blocks(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in turn.tool_calls]
    return blocks


def _account(outcome: LoopOutcome, usage: Usage) -> None:
    for key, value in usage.to_dict().items():
        outcome.usage[key] = outcome.usage.get(key, 0) + value
