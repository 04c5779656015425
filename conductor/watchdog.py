"""The watchdog: rolls back a bad release by itself, whatever the brain is doing.

While any new version takes traffic it samples health every ``healthCheckInterval``; after
``failureLimit`` consecutive breaches — or ``noDataLimit`` consecutive checks without usable
data (metrics outage, too little traffic) — it rolls the service back at once through the same
guarded executor, as actor ``watchdog``. It never asks the brain and no text the brain reads can
switch it off.

Two ways to run it: inline (``Runtime.tick``: after every interval the orchestration waits,
which is exact in virtual time) and :func:`watch_round` / :func:`watch_forever` for long-running
hosts (``conductor watch``, the local control process, a pod), over every orchestration in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from conductor.guards.executor import execute
from conductor.journal.state import ServiceState
from conductor.metrics.analysis import HealthVerdict
from conductor.tools.health import observe
from conductor.tools.outcome import finish_if_done
from conductor.tools.runtime import Runtime

if TYPE_CHECKING:
    from conductor.session import Conductor
    from conductor.signals import Signal

ACTOR = "watchdog"


class Watchdog:
    """One orchestration's watchdog. ``tick()`` observes every live service once."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = threading.Lock()

    def tick(self) -> list[str]:
        """Observe each service whose new version takes traffic; return the services rolled back."""
        rolled_back: list[str] = []
        with self._lock:
            state = self.rt.state()
            if not state.in_flight or finish_if_done(self.rt, ACTOR) is not None:
                return rolled_back  # finished, or every service was and only the end was lost in a crash
            for svc in list(state.services.values()):
                if not svc.new_version_live:
                    continue
                observe(self.rt, svc, ACTOR)
                reason = self.breach_reason(self.rt.state().service(svc.name))
                if reason is not None:
                    result = execute(self.rt, "rollback", {"service": svc.name, "reason": reason}, ACTOR)
                    if result.status == "ok":
                        rolled_back.append(svc.name)
        return rolled_back

    def breach_reason(self, svc: ServiceState) -> str | None:
        """The rollback reason once the limits are reached, else None."""
        orchestration = self.rt.config.orchestration
        health = svc.health
        if health is None:
            return None
        if health.verdict is HealthVerdict.UNHEALTHY and svc.consecutive_breaches >= orchestration.failure_limit:
            return "; ".join(b.description for b in health.breaches) or health.reason
        if svc.consecutive_blind >= orchestration.no_data_limit:
            return f"no usable metrics for {svc.consecutive_blind} consecutive checks ({health.reason})"
        return None


def watch_round(
    conductor: Conductor,
    on_signal: Callable[[Signal], None] | None = None,
    dogs: dict[int, Watchdog] | None = None,
) -> list[str]:
    """Tick every orchestration in flight once; return the services rolled back.

    An orchestration whose services are locked by a live process is skipped: that process runs
    its own watchdog inline, and two writers on one service would race. Pass the same ``dogs``
    dict every round so each orchestration's state is folded incrementally, not from scratch.
    """
    from conductor.errors import LockHeldError
    from conductor.locks import ServiceLocks

    rolled_back: list[str] = []
    sinks = {"on_signal": on_signal} if on_signal is not None else {}
    dogs = {} if dogs is None else dogs
    flights = conductor.in_flight()
    for stale in set(dogs) - {state.id for state in flights}:
        del dogs[stale]
    for state in flights:
        try:
            with ServiceLocks(conductor.state_dir, list(state.services)):
                if state.id not in dogs:
                    dogs[state.id] = Watchdog(conductor.runtime(state.id, **sinks))
                rolled_back += dogs[state.id].tick()
        except LockHeldError:
            continue
    return rolled_back


def watch_forever(
    conductor: Conductor,
    stop: threading.Event,
    on_rollback: Callable[[str], None] | None = None,
    on_signal: Callable[[Signal], None] | None = None,
) -> None:
    """Run :func:`watch_round` every ``healthCheckInterval`` until ``stop`` is set (long-running hosts)."""
    interval = conductor.config.orchestration.health_check_interval
    dogs: dict[int, Watchdog] = {}
    while not stop.wait(interval):
        for service in watch_round(conductor, on_signal, dogs):
            if on_rollback is not None:
                on_rollback(service)
