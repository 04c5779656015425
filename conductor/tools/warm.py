"""The previous color kept warm after promotion (``orchestration.scaleDownDelay``), and its end.

With a delay, ``promote`` leaves the old color running without traffic and journals
``kept_warm`` (slot, version, until) instead of retiring it, so ``conductor undo`` within the
delay flips back at once: the platform already runs the old version, and ``deploy`` returns a
ready slot as is. After ``until`` whoever runs next (a new release, an undo) retires it
(:func:`retire_expired`), journaling ``retired``. The platform is the truth: a slot that no
longer runs the kept version, or that takes traffic, is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from conductor.errors import PlatformError
from conductor.journal.events import KeptWarm, Retired
from conductor.journal.store import Journal
from conductor.platforms.base import Platform, Slot

ACTOR = "scale-down"


@dataclass(frozen=True)
class WarmColor:
    service: str
    slot: Slot
    version: str
    until: float
    orchestration: int


def kept_warm(journal: Journal, platform: Platform) -> dict[str, WarmColor]:
    """Per service, the old color promotion kept warm that the platform still runs idle."""
    events = journal.events(kinds=("kept_warm", "retired"))
    warm: dict[str, WarmColor] = {}
    for event in events:
        payload, service = event.payload, event.service
        if service is None:
            continue
        if isinstance(payload, KeptWarm) and payload.version is not None and payload.slot in ("blue", "green"):
            slot: Slot = "blue" if payload.slot == "blue" else "green"
            warm[service] = WarmColor(service, slot, payload.version, payload.until, event.orchestration or 0)
        elif isinstance(payload, Retired) and service in warm and warm[service].slot == payload.slot:
            del warm[service]
    still: dict[str, WarmColor] = {}
    for service, color in warm.items():
        try:
            snapshot = platform.snapshot(service)
        except PlatformError:  # a service the platform no longer knows: nothing of it is warm
            continue
        state = snapshot.slots[color.slot]
        if state.version == color.version and state.instances and snapshot.weights.get(color.slot, 0) == 0:
            still[service] = color
    return still


def retire_expired(journal: Journal, platform: Platform, now: float, busy: set[str],
                   only: set[str] | None = None) -> list[str]:
    """Retire every kept-warm color whose delay is over (of ``only`` those services, if given),
    except on ``busy`` services (held by an orchestration in flight: their idle color is that
    release's candidate). The caller holds the services' locks. Returns the notes."""
    notes = []
    for color in kept_warm(journal, platform).values():
        if color.until > now or color.service in busy or (only is not None and color.service not in only):
            continue
        platform.retire(color.service, color.slot)
        journal.append(Retired(slot=color.slot, version=color.version), at=now, actor=ACTOR,
                       orchestration=color.orchestration, service=color.service)
        notes.append(f"{color.service}: retired {color.version} ({color.slot}), kept warm since release "
                     f"#{color.orchestration} until its scaleDownDelay ran out")
    return notes
