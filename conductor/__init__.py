"""Conductor: blue-green, canary and rolling deployments driven by a model, guarded by code.

The public Python API — the same path the ``conductor`` command line, the MCP server and the
Claude Code slash command take::

    from conductor import Conductor, parse_signals

    conductor = Conductor.from_config(".mothership/config.json")
    try:
        result = conductor.run("/orchestrate canary 10")
    finally:
        conductor.close()
    print(result.report)               # the spec's markdown report
    result.exit_code                   # 0 done / paused for approval, 1 error, 3 rolled back
    result.signals                     # [Signal(kind="DEPLOYED", services=("api",), reason="")]
    result.data["status"]              # the --json document (schema conductor.report/v1)

Approvals come from people: ``run`` records its ``actor`` (default ``"person:cli"``) as the
person who typed the command, so pass the identity of whoever actually asked.

Collaborators can be handed in instead of built from the config — the seams are public, each a
small protocol: ``Platform`` (where versions run, how traffic is split), ``MetricsProvider`` (what
a slot's traffic looks like), ``Clock`` and ``Model`` (the brain)::

    conductor = Conductor.from_config(path, platform=my_platform, metrics=my_metrics, brain=my_model)

The day-to-day verbs are methods too — ``promote``, ``abort``, ``pause``, ``resume``, ``undo``,
``history``, ``releases`` — and ``init_config(directory, platform="sim")`` writes a starting config.

Names listed in ``__all__`` are the stable surface (pinned by ``tests/test_public_api.py``);
anything else may change between releases. ``Conductor``, ``Result`` and ``Report`` are loaded
on first use so ``import conductor`` stays cheap for tools that only parse signals.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from conductor.command import Command, parse_command
from conductor.errors import (
    EXIT_ERROR,
    EXIT_IN_PROGRESS,
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_REFUSED,
    EXIT_ROLLED_BACK,
    EXIT_USAGE,
    ConductorError,
    ConfigError,
    JournalError,
    LockHeldError,
    MetricsError,
    ModelError,
    NotReadyError,
    PlatformError,
    UsageError,
)
from conductor.signals import Signal, parse_signals

if TYPE_CHECKING:
    from conductor.clock import Clock
    from conductor.metrics.base import MetricsProvider, MetricsSample
    from conductor.models.base import Model, ModelRequest, ToolCall, Turn, Usage
    from conductor.platforms.base import InstanceState, Platform, ServiceSnapshot, SlotState
    from conductor.schema import Report
    from conductor.session import Conductor, Result
    from conductor.starter_config import init_config

try:
    __version__ = version("conductor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

_LAZY = {
    "Conductor": "conductor.session", "Result": "conductor.session", "Report": "conductor.schema",
    # the seams, and the values that cross them
    "Platform": "conductor.platforms.base", "ServiceSnapshot": "conductor.platforms.base",
    "SlotState": "conductor.platforms.base", "InstanceState": "conductor.platforms.base",
    "MetricsProvider": "conductor.metrics.base", "MetricsSample": "conductor.metrics.base",
    "Clock": "conductor.clock",
    "init_config": "conductor.starter_config",  # `conductor init`: a config does not exist yet
    "Model": "conductor.models.base", "ModelRequest": "conductor.models.base", "Turn": "conductor.models.base",
    "ToolCall": "conductor.models.base", "Usage": "conductor.models.base",
}


def __getattr__(name: str) -> Any:
    """Import the heavy names (the engine, pydantic models) only when someone asks for them."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'conductor' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "EXIT_ERROR",
    "EXIT_IN_PROGRESS",
    "EXIT_OK",
    "EXIT_PAUSED",
    "EXIT_REFUSED",
    "EXIT_ROLLED_BACK",
    "EXIT_USAGE",
    "Clock",
    "Command",
    "Conductor",
    "ConductorError",
    "ConfigError",
    "InstanceState",
    "JournalError",
    "LockHeldError",
    "MetricsError",
    "MetricsProvider",
    "MetricsSample",
    "Model",
    "ModelError",
    "ModelRequest",
    "NotReadyError",
    "Platform",
    "PlatformError",
    "Report",
    "Result",
    "ServiceSnapshot",
    "Signal",
    "SlotState",
    "ToolCall",
    "Turn",
    "Usage",
    "UsageError",
    "__version__",
    "init_config",
    "parse_command",
    "parse_signals",
]
