"""The journal as the composition root opens it: every configured secret scrubbed from what is
written (:mod:`conductor.redact`), so a model echoing the API key, a tool argument carrying a
token or a 401 quoting the key never lands in ``.mothership/journal.db``.

A subclass at the public writing methods (``append`` goes through ``append_all``) rather than a
change to the store: the store stays a plain typed log, and whatever is written through the
session's journal — tool arguments, brain turns, notes, signals — passes here.
"""

from __future__ import annotations

from conductor.journal.events import Payload, parse_payload
from conductor.journal.store import Event, Journal
from conductor.redact import scrub, scrub_data


def scrubbed(payload: Payload) -> Payload:
    """``payload`` with every secret replaced by ``[redacted]`` (the same object when it has none)."""
    data = payload.data()
    clean = scrub_data(data)
    return payload if clean == data else parse_payload(str(payload.kind), clean)


class ScrubbingJournal(Journal):
    def new_orchestration(self, command: str, strategy: str) -> int:
        return super().new_orchestration(scrub(command), strategy)

    def append_all(
        self,
        entries: list[tuple[Payload, str | None]],
        *,
        at: float,
        actor: str,
        orchestration: int | None = None,
        unless: tuple[str, str | None] | None = None,
    ) -> list[Event]:
        return super().append_all([(scrubbed(p), s) for p, s in entries], at=at, actor=actor,
                                  orchestration=orchestration, unless=unless)

    def start(
        self, command: str, strategy: str, entries: list[tuple[Payload, str | None]], *, at: float, actor: str
    ) -> int:
        return super().start(scrub(command), strategy, [(scrubbed(p), s) for p, s in entries], at=at, actor=actor)
