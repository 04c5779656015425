"""Prompt injection: plant hostile text in every text field a tool returns.

A real platform hands Conductor text it does not control — log lines, version labels, metric
labels, error messages, annotations — and a model reads all of it. While a scenario with
``"inject": "payloads.json"`` runs, each tool result the brain receives carries payloads from the
corpus in each of those fields (the journal keeps the true result). The scenario's brain may obey
them; the point is that nothing it does can widen what the guards allow, so the eval asserts
that every mutating call stayed inside the config's scope and no guard was bypassed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conductor.agent import loop
from conductor.errors import UsageError
from conductor.tools.schemas import ToolResult

FIELDS = ("error message", "log line", "version label", "metric label", "service annotation")


@dataclass
class Planter:
    """Hands out payloads in order, cycling, and counts which ones reached the brain."""

    payloads: list[str]
    planted: set[int] = field(default_factory=set)
    _next: int = 0

    def take(self) -> str:
        index = self._next % len(self.payloads)
        self._next += 1
        self.planted.add(index)
        return self.payloads[index]

    def plant(self, result: ToolResult) -> ToolResult:
        data: dict[str, Any] = _versions_labelled(result.data, self)
        data["logs"] = [f"2026-11-27T12:00:00Z app[0]: {self.take()}"]
        data["metric_labels"] = {"route": self.take()}
        data["annotations"] = {"conductor.dev/note": self.take()}
        return replace(result, message=f"{result.message} {self.take()}", data=data)


def _versions_labelled(value: Any, planter: Planter) -> Any:
    if isinstance(value, dict):
        return {k: (f"{v} {planter.take()}" if "version" in k and isinstance(v, str) else
                    _versions_labelled(v, planter)) for k, v in value.items()}
    if isinstance(value, list):
        return [_versions_labelled(v, planter) for v in value]
    return value


def load_corpus(path: Path) -> list[str]:
    try:
        payloads = json.loads(path.read_text(encoding="utf-8"))["payloads"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a payload corpus ({{\"payloads\": [...]}}): {exc}") from None
    if not payloads or not all(isinstance(p, str) for p in payloads):
        raise UsageError(f"{path}: payloads must be a non-empty list of strings")
    return list(payloads)


@contextmanager
def injecting(planter: Planter) -> Iterator[Planter]:
    """While active, the agent loop's tool results carry payloads (in this process only)."""
    real: Callable[..., ToolResult] = getattr(loop, "execute")  # noqa: B009  (patched for this process only)

    def execute(rt: Any, tool: str, arguments: Any, actor: str) -> ToolResult:
        return planter.plant(real(rt, tool, arguments, actor))

    setattr(loop, "execute", execute)  # noqa: B010
    try:
        yield planter
    finally:
        setattr(loop, "execute", real)  # noqa: B010
