"""Time, injected: real time on real platforms, virtual time in the simulator.

Everything that waits (monitoring windows, the bake, readiness) asks a :class:`Clock`, so a
15-minute bake on the simulator replays in milliseconds and tests never sleep for real.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable  # the session recognises a platform that brings its own clock
class Clock(Protocol):
    def now(self) -> float:
        """Seconds since an arbitrary, fixed epoch; never goes backwards."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass (really, or virtually)."""


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Time that only moves when someone sleeps.

    ``time_scale`` > 0 also sleeps ``seconds * time_scale`` for real, which lets a test kill a
    process "in the middle" of a simulated canary without the simulation taking minutes.
    """

    def __init__(self, start: float = 0.0, time_scale: float = 0.0) -> None:
        self._now = start
        self._time_scale = time_scale

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._time_scale > 0:
            time.sleep(seconds * self._time_scale)
        self._now += seconds
