"""Settings of the simulated platform: how each version behaves, and a timeline of events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conductor.config import ServiceName, StrictModel, Version, VersionTarget


class Behaviour(StrictModel):
    """How one version behaves. Every field is optional so a timeline event can change just one."""

    error_rate: float | None = Field(None, alias="errorRate", ge=0, le=100, description="Failed requests, %.")
    latency_ms: float | None = Field(None, alias="latencyMs", gt=0, description="Median latency, ms.")
    p95_ms: float | None = Field(None, alias="p95Ms", gt=0, description="Default: 1.6 x latencyMs.")
    latency_growth_per_minute: float | None = Field(
        None, alias="latencyGrowthPerMinute", ge=0, description="Latency creep, % per minute since deploy."
    )
    ready_seconds: float | None = Field(None, alias="readySeconds", ge=0)
    never_ready: bool | None = Field(None, alias="neverReady")
    crash_after: float | None = Field(None, alias="crashAfter", ge=0, description="Seconds after deploy.")
    smoke_status: int | None = Field(None, alias="smokeStatus", ge=100, le=599)


DEFAULT_BEHAVIOUR = Behaviour(
    error_rate=0.5,
    latency_ms=90.0,
    latency_growth_per_minute=0.0,
    ready_seconds=5.0,
    never_ready=False,
    smoke_status=200,
)


class TimelineEvent(StrictModel):
    """From ``at`` (simulated seconds since the simulator started) until ``until`` (or forever)."""

    at: float = Field(ge=0)
    until: float | None = Field(None, gt=0)
    target: VersionTarget = Field("*", description='"*", "api", "v1.2.0" or "api@v1.2.0".')
    set: Behaviour | None = None
    metrics_outage: bool = Field(False, alias="metricsOutage")


class SimSettings(StrictModel):
    kind: Literal["sim"] = "sim"
    seed: int = 1
    time_scale: float = Field(0.0, alias="timeScale", ge=0, le=10, description="Real seconds per simulated one.")
    request_rate: float = Field(
        20_000.0, alias="requestRate", ge=0,
        description="Requests per second per service: enough for the judge to decide within a step or two.",
    )
    initial_version: Version = Field("v1.0.0", alias="initialVersion")
    initial: dict[ServiceName, Version] = Field(default_factory=dict, description="Starting version per service.")
    versions: dict[VersionTarget, Behaviour] = Field(
        default_factory=dict, description='Behaviour by "v1.2.0" or "api@v1.2.0" (more specific wins).'
    )
    timeline: list[TimelineEvent] = Field(default_factory=list)
    readiness_timeout: float = Field(300.0, alias="readinessTimeout", gt=0)
