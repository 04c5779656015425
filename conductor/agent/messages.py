"""What the orchestration loop (:mod:`conductor.agent.loop`) and the question loop
(:mod:`conductor.agent.questions`) both send to the Messages API: tools in its form, and the
prompt-cache breakpoint that makes a static prefix (system prompt, tool list) cost once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from conductor.toolbox import Tool

CACHE = {"type": "ephemeral"}


def tool_definition(tool: Tool) -> dict[str, Any]:
    """A tool as the model sees it: the very pydantic schema the dispatcher validates against."""
    return {"name": tool.name, "description": tool.description, "input_schema": tool.json_schema()}


def cached(definitions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool list with the cache breakpoint on its last entry, which caches the whole list."""
    tools = list(definitions)
    tools[-1]["cache_control"] = dict(CACHE)
    return tools
