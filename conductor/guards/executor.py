"""The guarded executor: the only way a tool call reaches a handler.

    validate arguments (pydantic)  ->  [action lock]  guards for that tool  ->  handler  ->  journal

A refusal or an error comes back as a structured :class:`ToolResult` (status ``refused`` /
``error`` with the reason); only journal failures propagate, because without the journal nothing
may act.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from conductor.errors import JournalError, PlatformError
from conductor.guards import GUARDS_BY_TOOL, GuardedCall
from conductor.journal.events import ToolCall
from conductor.locks import action_lock
from conductor.tools import lifecycle, observation, recovery
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import TOOLS, ToolInput, ToolResult

Handler = Callable[[Runtime, Any, str], ToolResult]

# Tools that change who gets traffic: guards and action run under the service's action lock.
TRAFFIC_TOOLS = frozenset({"shift_traffic", "update_instances", "promote", "rollback"})

HANDLERS: dict[str, Handler] = {
    "get_status": observation.get_status,
    "check_health": observation.check_health,
    "monitor": observation.monitor,
    "request_approval": observation.request_approval,
    "deploy": lifecycle.deploy,
    "shift_traffic": lifecycle.shift_traffic,
    "update_instances": lifecycle.update_instances,
    "promote": lifecycle.promote,
    "rollback": recovery.rollback,
}


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
    if tool in TRAFFIC_TOOLS and isinstance(service, str) and (
        service in rt.config.orchestration.services or service in rt.state().services
    ):
        with action_lock(rt.state_dir, service):
            return _guarded(rt, tool, args, actor)
    return _guarded(rt, tool, args, actor)


def _guarded(rt: Runtime, tool: str, args: ToolInput, actor: str) -> ToolResult:
    call = GuardedCall(tool=tool, args=args, actor=actor, state=rt.state())
    for guard in GUARDS_BY_TOOL[tool]:
        reason = guard(rt, call)
        if reason is not None:
            result = ToolResult("refused", reason, {"guard": guard.__name__})
            _journal(rt, tool, args.model_dump(), actor, "refused", result)
            return result
    try:
        result = HANDLERS[tool](rt, args, actor)
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
