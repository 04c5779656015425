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
  the prompt cache instead of paying for it again; each turn asks for the cache lifetime the
  coming wait needs (:mod:`conductor.agent.waits`: 1 hour before a bake or an approval, else 5
  minutes; ``model.promptCache``), and journals what it cost;
- when the spent budget is close to ``model.tokenBudget``, the next request is weighed first
  (``count_tokens``) and not sent if it would go over: the budget stops *before* that turn;
- a turn that ends while the runbook has a step due now is early (:mod:`conductor.agent.early`):
  the model is told so at most twice (journaled), then the run ends ``stopped_early``;
- thinking blocks stay in the history exactly as the API returned them (signature included),
  and ``model.thinking``/``model.effort`` go out on every request.

Every stop reason the Messages API returns has a deliberate answer:

    tool_use                       run the calls, continue — unless they asked for approval and left
                                   the release waiting for a person: the run ends there, with no
                                   closing turn to pay for (the request's recommendation is the text)
    end_turn, stop_sequence        the brain is done for this run (paused for a person, or finished),
                                   unless it stopped early (above)
    max_tokens                     discard the cut turn (a tool call cut mid-input must never run),
                                   retry with a larger max_tokens; stop when that is not enough
    pause_turn                     send the turn back as it is so the model carries on
    refusal                        stop; traffic stays as it is, under the watchdog
    model_context_window_exceeded  stop; the conversation no longer fits
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conductor.agent.early import MAX_NUDGES, nudge_text, states_inability, stopped_early
from conductor.agent.messages import (
    CacheTTL,
    cache_control,
    cached,
    result_text,
    strict_definition,
    tool_definition,
)
from conductor.agent.prompt import state_block, system_prompt
from conductor.agent.waits import plan_cache
from conductor.config import ModelSettings
from conductor.dispatch import execute
from conductor.errors import ModelError
from conductor.journal.events import BrainNudged, BrainTurn
from conductor.journal.state import OrchestrationState, Phase
from conductor.models.base import AgentContext, CountsTokens, Model, ModelRequest, Turn, Usage
from conductor.models.pricing import estimate_cost
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
    # max_tokens | context_window | stopped_early | cannot_continue
    stop: str = "end_turn"
    final_text: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    error: str = ""
    platform_error: str = ""  # the last tool call failed on the platform and nothing came after it
    nudges: int = 0  # times the brain was told it stopped early
    turn_log: list[TurnCost] = field(default_factory=list)  # this run's turns, for the footer
    budget_note: str = ""  # why token_budget stopped before a turn (count_tokens)


@dataclass(frozen=True)
class TurnCost:
    """What one turn cost: its usage, the cache lifetime it asked for, estimated USD."""

    usage: Usage
    ttl: str | None
    cost: float | None


def tool_definitions(services: list[str] | None = None, *, strict: bool = False,
                     ttl: CacheTTL | None = None, cache: bool = True) -> list[dict[str, Any]]:
    """Every tool of the table, in its fixed order (the whole list is one cached prefix);
    ``strict``: strict tool use, the service an enum of ``services``."""
    definitions = [strict_definition(tool, services or []) if strict else tool_definition(tool)
                   for tool in TOOLS.values()]
    return cached(definitions, ttl) if cache else definitions


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
    history: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": instruction}]}]
    services = list(rt.state().services)
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
        plan = plan_cache(settings.prompt_cache, state, rt.config, rt.now())
        caching = plan.prefix is not None
        system: list[dict[str, Any]] = [{"type": "text", "text": system_prompt(rt),
                                         **({"cache_control": cache_control(plan.prefix)} if caching else {})}]
        request = ModelRequest(
            system=system,
            messages=with_state(history, state_block(rt, state), plan.messages, cache=plan.messages is not None,
                                reread=plan.reread),
            tools=tool_definitions(services, strict=settings.strict_tools, ttl=plan.prefix, cache=caching),
            context=AgentContext(state=state, config=rt.config, now=rt.now(), last_results=last_results),
            max_tokens=max_tokens,
            thinking=settings.thinking.param(),
            output_config={"effort": settings.effort} if settings.effort else None,
        )
        asked_at = rt.now()
        try:
            over = _over_budget(model, request, state, settings, outcome)
            if over:
                outcome.stop, outcome.budget_note = "token_budget", over
                return outcome
            turn = model.next_turn(request)
        except ModelError as exc:
            _catch_up_watchdog(rt, asked_at)
            outcome.stop, outcome.error = "model_error", str(exc)
            return outcome
        _catch_up_watchdog(rt, asked_at)
        outcome.turns += 1
        _account(outcome, turn.usage)
        priced = turn.usage.priced()
        cost = estimate_cost(priced, settings, getattr(model, "model", None)) if any(priced.values()) else None
        outcome.turn_log.append(TurnCost(turn.usage, plan.label, cost))
        _journal_turn(rt, actor, outcome.turns, turn, max_tokens, plan.label, cost)
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
            early = stopped_early(rt.state(), rt.config, rt.now(), turn.text, last_results)
            if early is not None:
                if outcome.nudges >= MAX_NUDGES:
                    outcome.stop = "stopped_early"
                    return outcome
                outcome.nudges += 1
                rt.record(BrainNudged(turn=outcome.turns, nudge=outcome.nudges, due=early.tool, why=early.why),
                          None, "conductor:loop")
                history.append({"role": "user", "content": [{"type": "text",
                                                             "text": nudge_text(early, outcome.nudges)}]})
                continue
            outcome.stop = reason if reason in ("end_turn", "stop_sequence") else "end_turn"
            if states_inability(turn.text) and rt.state().in_flight:
                outcome.stop = "cannot_continue"
            return outcome
        last_results = []
        results: list[dict[str, Any]] = []
        for call in turn.tool_calls:
            result = execute(rt, call.name, call.arguments, actor)
            last_results.append(result)
            outcome.platform_error = result.message if result.data.get("platform_error") else ""
            results.append(
                {"type": "tool_result", "tool_use_id": call.id, "content": result_text(result),
                 **({"is_error": True} if result.is_error else {})}
            )
        history.append({"role": "user", "content": results})
        asked = _asked_a_person(rt, turn, last_results)
        if asked:
            # Paused for a person: no turn of the brain can change anything now, so none is paid
            # for; its recommendation (the request_approval argument) is its word to the person.
            outcome.stop, outcome.final_text = "end_turn", asked
            return outcome


def _over_budget(model: Model, request: ModelRequest, state: OrchestrationState, settings: ModelSettings,
                 outcome: LoopOutcome) -> str:
    """Why the next turn would take ``model.tokenBudget`` over it ("" when it fits or cannot be weighed).

    Only when the budget is close — less than two of the dearest turns of this run left (before
    its first turn: two of the orchestration's mean turn) — is the request weighed with
    ``count_tokens`` (one extra request, free of charge). Its full-price part is what the cache
    does not hold: the prompt minus the prefix the last turn read or wrote; with the output the
    largest seen so far (a quarter of ``max_tokens`` before any).
    """
    spent, budget = budget_spent(state), settings.token_budget
    # Before this run's first turn: the orchestration's mean turn so far (none yet: nothing to weigh).
    mean = spent // state.turns if state.turns else 0
    dearest = max((_full_price(t.usage) for t in outcome.turn_log), default=mean)
    if spent + 2 * dearest < budget or not isinstance(model, CountsTokens):
        return ""
    prompt = model.count_tokens(request)
    last = outcome.turn_log[-1].usage if outcome.turn_log else None
    cached_prefix = last.cache_read_input_tokens + last.cache_creation_input_tokens if last is not None else 0
    output = max((t.usage.output_tokens for t in outcome.turn_log), default=request.max_tokens // 4)
    turn = max(prompt - cached_prefix, 0) + output
    if spent + turn <= budget:
        return ""
    return (f"stopped before the next turn: count_tokens weighs its prompt at {prompt:,} tokens (~{turn:,} at "
            f"full price with its answer), and {max(budget - spent, 0):,} of model.tokenBudget "
            f"({budget:,}) are left; {WATCHED}")


def _full_price(usage: Usage) -> int:
    return usage.input_tokens + usage.cache_creation_input_tokens + usage.output_tokens


def with_state(history: list[dict[str, Any]], block: str, ttl: CacheTTL | None = None,
               cache: bool = True, reread: bool = False) -> list[dict[str, Any]]:
    """A copy of the history whose newest *user* message also carries the live state.

    The block before the state text gets the conversation's cache breakpoint: everything up to it
    is identical next turn (the state is never kept), so it is read back from the cache. After a
    ``pause_turn`` the newest message is the assistant's; the state then rides on the user
    message before it, so the assistant turn stays last and is continued. ``cache=False``
    (``model.promptCache: off``) sends no breakpoint; ``reread`` puts it back on the user message
    before, where the previous turn had it (the first turn of a run then has none).
    """
    messages = [dict(m) for m in history]
    index = max(i for i, m in enumerate(messages) if m["role"] == "user")
    content = [dict(b) for b in messages[index]["content"]]
    if cache and not reread:
        content[-1]["cache_control"] = cache_control(ttl)
    messages[index]["content"] = [*content, {"type": "text", "text": block}]
    earlier = [i for i, m in enumerate(messages[:index]) if m["role"] == "user"]
    if cache and reread and earlier:
        before = [dict(b) for b in messages[earlier[-1]]["content"]]
        before[-1]["cache_control"] = cache_control(ttl)
        messages[earlier[-1]]["content"] = before
    return messages


def _asked_a_person(rt: Runtime, turn: Turn, results: list[ToolResult]) -> str:
    """The turn's approval requests' recommendations, when they left the whole release waiting
    for a person (every service not finished awaits approval); "" otherwise."""
    asked = [c for c, r in zip(turn.tool_calls, results, strict=True)
             if c.name == "request_approval" and r.status in ("ok", "paused")]
    state = rt.state()
    if not asked or not state.in_flight:
        return ""
    if not all(s.phase is Phase.AWAITING_APPROVAL or s.terminal for s in state.services.values()):
        return ""
    words = [str(c.arguments.get("recommendation") or "").strip() for c in asked]
    return "; ".join(dict.fromkeys(w for w in words if w)) or "Awaiting a person's approval."


def _catch_up_watchdog(rt: Runtime, since: float) -> None:
    """A slow answer (retries, a long generation) must not leave traffic unwatched: when a model
    call took a whole health-check interval of platform time, the watchdog observes once now.
    On the simulator a call takes no virtual time, so runs there stay exactly reproducible."""
    if rt.tick is not None and rt.now() - since >= rt.config.orchestration.health_check_interval:
        rt.tick()


def _journal_turn(rt: Runtime, actor: str, number: int, turn: Turn, max_tokens: int, ttl: str | None,
                  cost: float | None) -> None:
    rt.record(BrainTurn(turn=number, stop_reason=turn.stop_reason, usage=turn.usage.to_dict(),
                        text=turn.text[:2000], max_tokens=max_tokens,
                        tool_calls=[{"name": c.name, "arguments": c.arguments} for c in turn.tool_calls],
                        cache_ttl=ttl, cache_write_1h=turn.usage.cache_creation_1h_input_tokens,
                        usage_estimated=turn.usage.estimated, cost_usd=None if cost is None else round(cost, 6)),
              None, actor)


def _blocks(turn: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in turn.tool_calls]
    return blocks


def _account(outcome: LoopOutcome, usage: Usage) -> None:
    for key, value in usage.to_dict().items():
        outcome.usage[key] = outcome.usage.get(key, 0) + value
