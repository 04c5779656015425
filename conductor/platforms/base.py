"""The Platform seam: where versions run and how traffic is split between them.

Every service has two *slots*, ``blue`` and ``green``. One is stable (serving the current
version); the other receives the candidate. Blue-green flips the weights 0/100 in one step;
canary moves them gradually; rolling replaces instances inside the stable slot. Strategies see
only this protocol, never a concrete backend (sim, local, kubernetes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Slot = Literal["blue", "green"]
SLOTS: tuple[Slot, Slot] = ("blue", "green")


def other_slot(slot: Slot) -> Slot:
    return "green" if slot == "blue" else "blue"


@dataclass(frozen=True)
class InstanceState:
    index: int
    version: str
    ready: bool
    crashed: bool = False
    detail: str = ""


@dataclass(frozen=True)
class SlotState:
    slot: Slot
    version: str | None
    instances: tuple[InstanceState, ...] = ()

    @property
    def ready(self) -> bool:
        return bool(self.instances) and all(i.ready and not i.crashed for i in self.instances)


@dataclass(frozen=True)
class ServiceSnapshot:
    service: str
    slots: Mapping[Slot, SlotState]
    weights: Mapping[Slot, int] = field(default_factory=dict)


class Platform(Protocol):
    def snapshot(self, service: str) -> ServiceSnapshot:
        """Slots, versions, instances and applied weights of ``service``. Read-only."""

    def deploy(self, service: str, slot: Slot, version: str, replicas: int) -> SlotState:
        """Run ``version`` in ``slot`` and wait until ready. Never touches traffic.
        Idempotent: the same version already ready in that slot is returned as is.
        Raises NotReadyError (with the cause, e.g. a log tail) or PlatformError."""

    def set_weights(self, service: str, weights: Mapping[Slot, int]) -> dict[Slot, int]:
        """Apply the split atomically (values sum to 100); return the weights read back. Idempotent."""

    def replace_instance(self, service: str, slot: Slot, index: int, version: str) -> InstanceState:
        """Rolling: replace instance ``index`` of ``slot`` with ``version`` and wait until ready. Idempotent."""

    def retire(self, service: str, slot: Slot) -> None:
        """Drain and stop the slot's instances (it must carry 0% traffic). Idempotent."""

    def probe(self, service: str, slot: Slot, path: str) -> int:
        """Smoke check: HTTP status of GET ``path`` on the slot directly (not via the split)."""

    def close(self) -> None:
        """Release clients and handles; running versions keep running."""
