"""The agent loop: ask the brain for a turn, run its tool calls through the guards, repeat.

Conductor owns this loop (not an SDK tool runner) so every call is guarded and journaled, the
history is replayable, and the budget is enforced here:

- ``model.maxTurns`` turns per run and ``model.tokenBudget`` tokens per orchestration (read from
  the journal, so approvals in later processes share one budget); hitting either stops safely —
  says what is left taking traffic and that nothing watches it once the command exits — and why;
- every ``tool_use`` gets exactly one ``tool_result`` (refusals and errors with ``is_error``), in
  the order the model asked, parallel calls included;
- the live state is rendered into the newest user message each turn, not kept in the history,
  and a moving cache breakpoint sits just before it, so each turn re-reads the conversation from
  the prompt cache instead of paying for it again.

Every stop reason the Messages API returns has a deliberate answer:

    tool_use                       run the calls, continue
    end_turn, stop_sequence        the brain is done for this run (paused for a person, or finished)
    max_tokens                     discard the cut turn (a tool call cut mid-input must never run),
                                   retry with a larger max_tokens; stop when that is not enough
    pause_turn                     send the turn back as it is so the model carries on
    refusal                        stop; traffic stays as it is, under the watchdog
    model_context_window_exceeded  stop; the conversation no longer fits
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conductor.agent.messages import CACHE, cached, tool_definition
from conductor.agent.prompt import state_block, system_prompt
from conductor.dispatch import execute
from conductor.errors import ModelError
from conductor.journal.events import BrainTurn
from conductor.journal.state import OrchestrationState
from conductor.models.base import AgentContext, Model, ModelRequest, Turn, Usage
from conductor.toolbox import TOOLS
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import ToolResult

MAX_TOKENS_CEILING = 64_000  # the most model.maxTokens may be raised to after a cut turn
WATCHED = ("nothing watches what takes traffic once this command exits: keep `conductor watch` (or `conductor up`) "
           "running, or roll back")


@dataclass
class LoopOutcome:
    turns: int = 0
    # finished | end_turn | stop_sequence | max_turns | token_budget | model_error | refusal |
    # max_tokens | context_window
    stop: str = "end_turn"
    final_text: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    error: str = ""
    platform_error: str = ""  # the last tool call failed on the platform and nothing came after it


def tool_definitions() -> list[dict[str, Any]]:
    """Every tool of the table, in its fixed order (the whole list is one cached prefix)."""
    return cached(tool_definition(tool) for tool in TOOLS.values())


def budget_spent(state: OrchestrationState) -> int:
    """Tokens the orchestration paid full price for: uncached input, cache writes and output.
    Cache reads (a tenth of the price) are left out, or caching would eat the budget it saves."""
    usage = state.usage
    return (usage.get("input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
            + usage.get("output_tokens", 0))


def run_agent(rt: Runtime, model: Model, instruction: str) -> LoopOutcome:
    """Drive the orchestration with ``model`` until it ends its turn, finishes, or runs out of budget."""
    settings = rt.config.model
    outcome = LoopOutcome()
    system = [{"type": "text", "text": system_prompt(rt), "cache_control": dict(CACHE)}]
    history: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": instruction}]}]
    tools = tool_definitions()
    last_results: list[ToolResult] = []
    actor = f"brain:{model.name}"
    max_tokens = settings.max_tokens
    while True:
        state = rt.state()
        if not state.in_flight:
            outcome.stop = "finished"
            return outcome
        if outcome.turns >= settings.max_turns:
            outcome.stop = "max_turns"
            return outcome
        if budget_spent(state) >= settings.token_budget:
            outcome.stop = "token_budget"
            return outcome
        request = ModelRequest(
            system=system,
            messages=with_state(history, state_block(rt, state)),
            tools=tools,
            context=AgentContext(state=state, config=rt.config, now=rt.now(), last_results=last_results),
            max_tokens=max_tokens,
        )
        asked_at = rt.now()
        try:
            turn = model.next_turn(request)
        except ModelError as exc:
            _catch_up_watchdog(rt, asked_at)
            outcome.stop, outcome.error = "model_error", str(exc)
            return outcome
        _catch_up_watchdog(rt, asked_at)
        outcome.turns += 1
        _account(outcome, turn.usage)
        _journal_turn(rt, actor, outcome.turns, turn, max_tokens)
        reason = turn.stop_reason
        if reason == "max_tokens":
            if max_tokens >= MAX_TOKENS_CEILING:
                outcome.stop = "max_tokens"
                outcome.final_text = (f"stopped: the brain's reply did not fit in {max_tokens} tokens; {WATCHED}")
                return outcome
            max_tokens = min(max_tokens * 2, MAX_TOKENS_CEILING)
            continue  # the cut turn is dropped: never run a call whose input may be incomplete
        if reason == "refusal":
            outcome.stop, outcome.final_text = "refusal", turn.text
            return outcome
        if reason == "model_context_window_exceeded":
            outcome.stop = "context_window"
            outcome.final_text = f"stopped: the conversation outgrew the model's context window; {WATCHED}"
            return outcome
        history.append({"role": "assistant", "content": turn.content or _blocks(turn)})
        if reason == "pause_turn":
            continue  # the API continues a paused turn when it is sent back unchanged
        if not turn.tool_calls:
            # Only the closing turn's text is the recommendation; narration between calls goes stale.
            outcome.final_text = turn.text
            outcome.stop = reason if reason in ("end_turn", "stop_sequence") else "end_turn"
            return outcome
        last_results = []
        results: list[dict[str, Any]] = []
        for call in turn.tool_calls:
            result = execute(rt, call.name, call.arguments, actor)
            last_results.append(result)
            outcome.platform_error = result.message if result.data.get("platform_error") else ""
            results.append(
                {"type": "tool_result", "tool_use_id": call.id, "content": result.to_text(),
                 **({"is_error": True} if result.is_error else {})}
            )
        history.append({"role": "user", "content": results})


def with_state(history: list[dict[str, Any]], block: str) -> list[dict[str, Any]]:
    """A copy of the history whose newest *user* message also carries the live state.

    The block before the state text gets the conversation's cache breakpoint: everything up to it
    is identical next turn (the state is never kept), so it is read back from the cache. After a
    ``pause_turn`` the newest message is the assistant's; the state then rides on the user
    message before it, so the assistant turn stays last and is continued.
    """
    messages = [dict(m) for m in history]
    index = max(i for i, m in enumerate(messages) if m["role"] == "user")
    content = [dict(b) for b in messages[index]["content"]]
    content[-1]["cache_control"] = dict(CACHE)
    messages[index]["content"] = [*content, {"type": "text", "text": block}]
    return messages


def _catch_up_watchdog(rt: Runtime, since: float) -> None:
    """A slow answer (retries, a long generation) must not leave traffic unwatched: when a model
    call took a whole health-check interval of platform time, the watchdog observes once now.
    On the simulator a call takes no virtual time, so runs there stay exactly reproducible."""
    if rt.tick is not None and rt.now() - since >= rt.config.orchestration.health_check_interval:
        rt.tick()


def _journal_turn(rt: Runtime, actor: str, number: int, turn: Turn, max_tokens: int) -> None:
    rt.record(BrainTurn(turn=number, stop_reason=turn.stop_reason, usage=turn.usage.to_dict(),
                        text=turn.text[:2000], max_tokens=max_tokens,
                        tool_calls=[{"name": c.name, "arguments": c.arguments} for c in turn.tool_calls]),
              None, actor)


def _blocks(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in turn.tool_calls]
    return blocks


def _account(outcome: LoopOutcome, usage: Usage) -> None:
    for key, value in usage.to_dict().items():
        outcome.usage[key] = outcome.usage.get(key, 0) + value
