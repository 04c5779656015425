"""Crash injection for tests: the process kills itself (SIGKILL) at its N-th durable write.

``CONDUCTOR_KILL_AT_WRITE=N`` makes the N-th call of :func:`write_point` (counted per process,
across the journal's commits and the simulator's state file writes) end the process with
SIGKILL, as if the machine had lost power there. Writers call it on both sides of each write
(before the commit or rename, and after it), so a test can land a kill on every point of a run
and check that a resume leaves traffic, the orchestration and the signals consistent.

Unset (always, outside tests) it costs one dictionary lookup per write.
"""

from __future__ import annotations

import os
import signal

ENV = "CONDUCTOR_KILL_AT_WRITE"
_count = 0


def write_point(label: str) -> None:
    """One more durable write point passed; SIGKILL this process if it is the chosen one."""
    target = os.environ.get(ENV)
    if not target:
        return
    global _count
    _count += 1
    if _count == int(target):
        trace = os.environ.get(ENV + "_TRACE")
        if trace:
            with open(trace, "a", encoding="utf-8") as handle:
                handle.write(f"{_count} {label}\n")
        os.kill(os.getpid(), signal.SIGKILL)


def writes_so_far() -> int:
    """How many write points this process passed (a test sizes its sweep with it)."""
    return _count
