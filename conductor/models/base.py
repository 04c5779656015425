"""The Model seam: given the conversation and the tools, return the brain's next turn.

Implementations: ``policy`` (offline, deterministic runbook), ``anthropic`` (Claude over the
Messages API), ``replay`` (a recorded cassette). The loop in :mod:`conductor.agent.loop` owns the
conversation, the budget and the guards; a Model only proposes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from conductor.config import ConductorConfig
    from conductor.journal.state import OrchestrationState
    from conductor.tools.schemas import ToolResult


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Turn:
    """One assistant turn. ``content`` holds the Messages API blocks to keep in the history."""

    text: str
    tool_calls: list[ToolCall]
    stop_reason: str  # end_turn | tool_use | max_tokens | pause_turn | refusal | ...
    usage: Usage = field(default_factory=Usage)
    content: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class AgentContext:
    """Typed live state for brains that reason on structure (the policy); others read the prompt."""

    state: OrchestrationState
    config: ConductorConfig
    now: float
    last_results: list[ToolResult] = field(default_factory=list)


@dataclass(frozen=True)
class ModelRequest:
    system: list[dict[str, Any]]  # Messages API system blocks (static block cached)
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]  # name, description, input_schema
    context: AgentContext
    max_tokens: int = 4096


class Model(Protocol):
    name: str  # shown in the report: which brain ran

    def next_turn(self, request: ModelRequest) -> Turn:
        """Propose the next turn. Raises ModelError when the brain cannot answer."""
