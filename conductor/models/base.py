"""The Model seam: given the conversation and the tools, return the brain's next turn.

Implementations: ``policy`` (offline, deterministic runbook), ``anthropic`` (Claude over the
Messages API), ``replay`` (a recorded cassette). The loop in :mod:`conductor.agent.loop` owns the
conversation, the budget and the guards; a Model only proposes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

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
    """A turn's tokens, as the API's ``usage`` reports them (or as estimated: ``estimated``).

    ``cache_creation_1h_input_tokens`` is the part of the cache writes made with the 1-hour
    lifetime (``usage.cache_creation.ephemeral_1h_input_tokens``), priced at its own rate.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    estimated: bool = False  # modelled from request sizes (scripted cassettes), not the API's own count

    def to_dict(self) -> dict[str, int]:
        """The four totals every brain reports (journaled per turn, summed per orchestration)."""
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens,
                "cache_creation_input_tokens": self.cache_creation_input_tokens}

    def priced(self) -> dict[str, int]:
        """:meth:`to_dict` plus the 1-hour share of the writes, for :mod:`conductor.models.pricing`."""
        return {**self.to_dict(), "cache_creation_1h_input_tokens": self.cache_creation_1h_input_tokens}

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the request, cached or not."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


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
    tools: list[dict[str, Any]]  # name, description, input_schema (, strict, cache_control)
    context: AgentContext
    max_tokens: int = 4096
    thinking: dict[str, Any] | None = None  # the Messages API ``thinking`` parameter, None: not sent
    output_config: dict[str, Any] | None = None  # e.g. {"effort": "medium"}, None: not sent


class Model(Protocol):
    name: str  # shown in the report: which brain ran

    def next_turn(self, request: ModelRequest) -> Turn:
        """Propose the next turn. Raises ModelError when the brain cannot answer."""


@runtime_checkable
class CountsTokens(Protocol):
    """A brain that can say what a request's prompt weighs before sending it (``count_tokens``)."""

    def count_tokens(self, request: ModelRequest) -> int:
        """Input tokens of ``request`` (system, tools, messages). Raises ModelError on failure."""
