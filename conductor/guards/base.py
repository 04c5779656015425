"""A guard is a small function that may refuse a tool call, with a reason a model can act on.

    def guard(rt: Runtime, call: GuardedCall) -> str | None   # None: allowed; str: refused

Guards read the journal (through ``rt.state()``), the config and the platform; never the model's
text. They never raise for a refusal and they change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conductor.journal.state import OrchestrationState, ServiceState
from conductor.tools.runtime import Runtime
from conductor.tools.schemas import ToolInput


@dataclass(frozen=True)
class GuardedCall:
    tool: str
    args: ToolInput
    actor: str
    state: OrchestrationState

    @property
    def service_name(self) -> str | None:
        name = getattr(self.args, "service", None)
        return name if isinstance(name, str) else None

    @property
    def service(self) -> ServiceState | None:
        name = self.service_name
        return self.state.services.get(name) if name else None


Guard = Callable[[Runtime, GuardedCall], "str | None"]
