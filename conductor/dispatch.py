"""The dispatcher: the only way a tool call reaches a handler, whoever makes it (the brain, a
person at the REPL or over MCP, the watchdog).

    validate arguments (pydantic)  ->  [action lock]  the tool's guards  ->  handler  ->  journal

Everything it needs to know about a tool is its entry in :data:`conductor.toolbox.TOOLS`.

A refusal or an error comes back as a structured :class:`ToolResult` (status ``refused`` /
``error`` with the reason); only journal failures propagate, because without the journal nothing
may act.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from conductor.errors import JournalError, PlatformError
from conductor.guards import GuardedCall
from conductor.journal.events import ToolCall
from conductor.locks import action_lock
from conductor.toolbox import TOOLS, Tool
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import ToolInput, ToolResult


def execute(rt: Runtime, tool: str, arguments: Any, actor: str) -> ToolResult:
    """Run one tool call for ``actor`` ("brain:policy", "person:cli", "watchdog", ...)."""
    spec = TOOLS.get(tool)
    if spec is None:
        result = ToolResult("error", f"unknown tool {tool!r}; available: {', '.join(TOOLS)}")
        _journal(rt, tool, arguments, actor, "invalid", result)
        return result
    try:
        args: ToolInput = spec.input_model.model_validate(arguments if arguments is not None else {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        result = ToolResult("error", f"invalid arguments for {tool}: {problems}")
        _journal(rt, tool, arguments, actor, "invalid", result)
        return result
    service = getattr(args, "service", None)
    if spec.moves_traffic and isinstance(service, str) and (
        service in rt.config.orchestration.services or service in rt.state().services
    ):
        with action_lock(rt.state_dir, service):
            return _guarded(rt, spec, args, actor)
    return _guarded(rt, spec, args, actor)


def _guarded(rt: Runtime, spec: Tool, args: ToolInput, actor: str) -> ToolResult:
    tool = spec.name
    call = GuardedCall(tool=tool, args=args, actor=actor, state=rt.state())
    for guard in spec.guards:
        reason = guard(rt, call)
        if reason is not None:
            result = ToolResult("refused", reason, {"guard": guard.__name__})
            _journal(rt, tool, args.model_dump(), actor, "refused", result)
            return result
    try:
        result = spec.handler(rt, args, actor)
    except JournalError:
        raise
    except PlatformError as exc:
        result = ToolResult("error", f"platform error: {exc}", {"platform_error": True})
    _journal(rt, tool, args.model_dump(), actor, "allowed", result)
    return result


def _journal(rt: Runtime, tool: str, arguments: Any, actor: str, decision: str, result: ToolResult) -> None:
    service = arguments.get("service") if isinstance(arguments, dict) else None
    rt.record(
        ToolCall(tool=tool, arguments=arguments, decision=decision, status=result.status, message=result.message,
                 guard=result.data["guard"] if decision == "refused" else None),
        service if isinstance(service, str) else None,
        actor,
    )
