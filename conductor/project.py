"""The project Conductor is open on, as the layers below the session see it.

The report, the watchdog's patrol and the question loop work on an open project — its config,
state folder, journal and platform, and a :class:`~conductor.tools.runtime.Runtime` per
orchestration — but run *under* the session, which imports them. They depend on this protocol
instead of on :class:`conductor.session.Conductor` (which satisfies it), so imports point down
and anything with these members can be handed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState
from conductor.journal.store import Journal
from conductor.platforms.registry import PlatformBundle
from conductor.tools.runtime import Runtime


class Project(Protocol):
    config: ConductorConfig
    state_dir: Path

    @property
    def journal(self) -> Journal:
        """The journal, created on first use (read :attr:`has_journal` first to avoid creating one)."""

    @property
    def bundle(self) -> PlatformBundle:
        """The platform, metrics provider and clock the config names."""

    @property
    def has_journal(self) -> bool:
        """False before the first orchestration."""

    def in_flight(self) -> list[OrchestrationState]:
        """Orchestrations not finished yet, oldest first."""

    def runtime(self, orchestration_id: int, **sinks: Any) -> Runtime:
        """What tools and guards act through for one orchestration, with the watchdog attached."""
