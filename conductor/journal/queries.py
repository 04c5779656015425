"""Questions asked of the whole journal: what is in flight, what happened last to a service.

:func:`in_flight` and :func:`latest` answer once, reading only the orchestrations concerned
(finished ones are found by index, without reading their events). :class:`InFlightView` answers
again and again at the cost of what happened since the previous answer: a long-running watch
(``conductor watch --follow`` for weeks) must not re-read history every round.
"""

from __future__ import annotations

from conductor.journal.events import OrchestrationEnded, OrchestrationStarted
from conductor.journal.state import OrchestrationState, advance, fold
from conductor.journal.store import Journal


def in_flight(journal: Journal) -> list[OrchestrationState]:
    """Every orchestration without an ``orchestration_ended`` event, oldest first."""
    states = []
    for oid in journal.unended():
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


class InFlightView:
    """The orchestrations in flight, kept folded and advanced by new events only (by seq).

    The first :meth:`refresh` folds what is in flight now; each later one reads the events
    appended since (one indexed range scan) and applies them: a new start adds an
    orchestration, an end drops it. The states returned are the view's own, advanced in place
    by the next refresh: read them, do not keep them across refreshes.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._states: dict[int, OrchestrationState] = {}
        self._cursor: int | None = None

    def refresh(self) -> list[OrchestrationState]:
        if self._cursor is None:
            self._cursor = self.journal.last_seq()  # first: anything newer is read by the next step
            for unended in self.journal.unended():
                state = fold(self.journal.events(unended))
                if state is not None and state.in_flight:
                    self._states[unended] = state
        for event in self.journal.events(after=self._cursor):
            self._cursor = event.seq
            oid = event.orchestration
            if oid is None:
                continue
            if oid not in self._states:
                if isinstance(event.payload, OrchestrationStarted):
                    started = fold([event])
                    if started is not None:
                        self._states[oid] = started
                continue
            advance(self._states[oid], [event])
            if isinstance(event.payload, OrchestrationEnded):
                del self._states[oid]
        return [self._states[oid] for oid in sorted(self._states)]
