"""The agent's tools, one object each, in one table: :data:`TOOLS`.

A :class:`Tool` is everything there is to know about a tool — its input schema (what a model
sees), its handler, the guards that protect it, and its traits: does it change the world, does
it move traffic (then it runs under the service's action lock), does it let time pass or pause
for a person (then a quick question must not call it), is calling it twice harmless. The brain's
tool list, the MCP server's tools and annotations, the question loop's read-only set and the
dispatcher (:mod:`conductor.dispatch`) all read this table, so they cannot disagree.

Names: ``conductor/tools/`` holds the handlers and the input models (one module per tool group);
this module puts them together. The top-level ``tools/`` folder of the repository is unrelated:
benchmarks and helpers for people working on Conductor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conductor.guards import (
    Guard,
    approved,
    baked,
    freeze,
    healthy_before_more_traffic,
    known_service,
    not_finished,
    not_paused,
    release_version,
    strategy_rules,
    within_ramp,
)
from conductor.tools import lifecycle, observation, recovery
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import (
    CheckHealthInput,
    DeployInput,
    GetStatusInput,
    MonitorInput,
    PromoteInput,
    RequestApprovalInput,
    RollbackInput,
    ShiftTrafficInput,
    ToolInput,
    ToolResult,
    UpdateInstancesInput,
)

Handler = Callable[[Runtime, Any, str], ToolResult]


@dataclass(frozen=True)
class Tool:
    name: str
    input_model: type[ToolInput]
    handler: Handler
    guards: tuple[Guard, ...]  # run in order before the handler; the first refusal stops the call
    mutating: bool  # changes the world (MCP: destructive, not read-only)
    moves_traffic: bool = False  # changes who gets traffic: guards and action run under the action lock
    waits: bool = False  # lets time pass (an interval, the bake); the watchdog guards traffic meanwhile
    asks_person: bool = False  # pauses the orchestration until a person answers
    idempotent: bool = False  # calling it twice with the same arguments is harmless

    @property
    def description(self) -> str:
        return (self.input_model.__doc__ or "").strip().replace("\n    ", " ")

    def json_schema(self) -> dict[str, Any]:
        schema = self.input_model.model_json_schema()
        schema.pop("title", None)
        schema.pop("description", None)
        return schema

    @property
    def for_questions(self) -> bool:
        """Safe for a quick question: changes nothing, never waits, never pauses for a person."""
        return not (self.mutating or self.waits or self.asks_person)


# Every tool that may change the world passes these first; ``rollback`` has only known_service:
# rolling back a known service is never refused.
_MUTATING: tuple[Guard, ...] = (known_service, freeze, not_finished, not_paused, strategy_rules)

TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("get_status", GetStatusInput, observation.get_status, (), mutating=False),
        Tool("check_health", CheckHealthInput, observation.check_health, (known_service,), mutating=False,
             waits=True),
        Tool("deploy", DeployInput, lifecycle.deploy, (*_MUTATING, release_version), mutating=True,
             idempotent=True),
        Tool("shift_traffic", ShiftTrafficInput, lifecycle.shift_traffic,
             (*_MUTATING, healthy_before_more_traffic, approved, within_ramp), mutating=True, moves_traffic=True,
             idempotent=True),
        Tool("update_instances", UpdateInstancesInput, lifecycle.update_instances,
             (*_MUTATING, healthy_before_more_traffic), mutating=True, moves_traffic=True),
        Tool("monitor", MonitorInput, observation.monitor, (known_service, not_finished), mutating=False,
             waits=True),
        Tool("promote", PromoteInput, lifecycle.promote, (*_MUTATING, baked, healthy_before_more_traffic),
             mutating=True, moves_traffic=True, idempotent=True),
        Tool("request_approval", RequestApprovalInput, observation.request_approval, (known_service, not_finished),
             mutating=False, asks_person=True),
        Tool("rollback", RollbackInput, recovery.rollback, (known_service,), mutating=True, moves_traffic=True,
             idempotent=True),
    )
}
