"""Questions asked of the whole journal: what is in flight, what happened last to a service."""

from __future__ import annotations

from conductor.journal.state import OrchestrationState, fold
from conductor.journal.store import Journal


def in_flight(journal: Journal) -> list[OrchestrationState]:
    """Every orchestration without an ``orchestration_ended`` event, oldest first."""
    ended = {e.orchestration for e in journal.events(kinds=("orchestration_ended",))}
    states = []
    for oid, *_ in journal.orchestrations():
        if oid in ended:
            continue
        state = fold(journal.events(oid))
        if state is not None and state.in_flight:
            states.append(state)
    return states


def latest(journal: Journal) -> OrchestrationState | None:
    """The most recent orchestration (finished or not)."""
    ids = [oid for oid, *_ in journal.orchestrations()]
    for oid in reversed(ids):
        state = fold(journal.events(oid))
        if state is not None:
            return state
    return None
