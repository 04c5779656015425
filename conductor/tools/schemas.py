"""The typed tools: one pydantic input model each (its JSON schema is what a model sees) and the
structured result every tool returns. Each tool's entry, with its handler, guards and traits, is
in :data:`conductor.toolbox.TOOLS`.

A tool result has a status a model (or a person) can act on — ``ok``, ``refused`` (a guard said
no, with the reason), ``error`` (the platform or the arguments failed, with the exact message),
``no_data`` (nothing to judge yet) or ``paused`` (waiting for a person) — plus the numbers behind it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from conductor.config import SERVICE_NAME_PATTERN, VERSION_PATTERN

ToolStatus = Literal["ok", "refused", "error", "no_data", "paused"]


class ToolInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GetStatusInput(ToolInput):
    """Current state of every service of the orchestration: versions, weights, phase, health."""


class CheckHealthInput(ToolInput):
    """Observe one full health-check interval of the new version against stable and the thresholds."""

    service: str = Field(pattern=SERVICE_NAME_PATTERN)


class DeployInput(ToolInput):
    """Deploy the release's target version to the idle slot, wait until ready, run smoke checks.
    Sends no traffic."""

    service: str = Field(pattern=SERVICE_NAME_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN)


class ShiftTrafficInput(ToolInput):
    """Send ``percent`` of the service's traffic to the new version (100 = blue-green flip)."""

    service: str = Field(pattern=SERVICE_NAME_PATTERN)
    percent: int = Field(ge=1, le=100, strict=True)


class UpdateInstancesInput(ToolInput):
    """Rolling: replace the next ``count`` instances of the service with the new version."""

    service: str = Field(pattern=SERVICE_NAME_PATTERN)
    count: int = Field(1, ge=1, le=1000, strict=True)


class MonitorInput(ToolInput):
    """Watch the new version for ``seconds`` (the bake), checking health every interval."""

    service: str = Field(pattern=SERVICE_NAME_PATTERN)
    seconds: float = Field(gt=0, le=86_400, strict=True)


class PromoteInput(ToolInput):
    """After the bake at 100%: make the new version stable and retire the old one."""

    service: str = Field(pattern=SERVICE_NAME_PATTERN)


class RequestApprovalInput(ToolInput):
    """Pause and ask a person to approve the next ramp-up; ends this run, state is kept."""

    service: str = Field(pattern=SERVICE_NAME_PATTERN)
    percent: int = Field(ge=1, le=100, strict=True)
    recommendation: str = Field("", max_length=500)


class RollbackInput(ToolInput):
    """Send all traffic back to the stable version and retire the new one. Always allowed."""

    service: str = Field(pattern=SERVICE_NAME_PATTERN)
    reason: str = Field("manual", min_length=1, max_length=200)


@dataclass(frozen=True)
class ToolResult:
    status: ToolStatus
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.status in ("refused", "error")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, **({"data": self.data} if self.data else {})}

    def to_text(self) -> str:
        """What a model reads in its tool_result block."""
        return json.dumps(self.to_dict(), sort_keys=True, default=str)
