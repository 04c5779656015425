"""What a run of any command produced: the same content the CLI prints, as objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conductor.signals import Signal


@dataclass
class Result:
    """What a run produced: the same content the CLI prints, as objects."""

    report: str
    signals: list[Signal]
    services: list[dict[str, Any]]
    exit_code: int
    data: dict[str, Any] = field(default_factory=dict)
