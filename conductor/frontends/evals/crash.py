"""``python -m conductor.frontends.evals.crash KIND COUNT -- ARGS…``: run ``conductor ARGS…`` and SIGKILL
this very process right after the ``COUNT``-th journaled event of ``KIND`` is committed.

Why not kill it from outside, as a person would: an outside kill lands a few events later or
earlier from one run to the next, so the resumed conversation would differ and no cassette could
replay it. Killing from inside, right after a chosen commit, is just as abrupt — no ``finally``,
no lock release, no flush beyond what the journal already committed — and lands at the same
event every time.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from conductor.frontends.cli import main as cli
from conductor.journal.store import Journal


def arm(kind: str, count: int) -> None:
    """Make the journal kill the process after the ``count``-th ``kind`` event is durable."""
    append_all = Journal.append_all  # every append goes through it, one transaction each
    seen = 0

    def append_then_maybe_die(self: Journal, entries: Any, **fields: Any) -> Any:
        nonlocal seen
        events = append_all(self, entries, **fields)
        seen += sum(1 for event in events if event.kind == kind)
        if seen >= count and any(event.kind == kind for event in events):
            os.kill(os.getpid(), signal.SIGKILL)
        return events

    setattr(Journal, "append_all", append_then_maybe_die)  # noqa: B010  (a patch for this process only)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[2] != "--":
        print("usage: python -m conductor.frontends.evals.crash KIND COUNT -- ARGS...", file=sys.stderr)
        return 2
    arm(argv[0], int(argv[1]))

    return cli(argv[3:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
