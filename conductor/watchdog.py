"""The watchdog: rolls back a bad release by itself, whatever the brain is doing.

While any new version takes traffic it adds every ``healthCheckInterval`` to the evidence the
judge (:mod:`conductor.metrics.judge`) weighs; on a *regression* verdict — or after
``noDataLimit`` consecutive *unavailable* checks (metrics outage, no traffic reaching the new
version) — it rolls the service back at once through the same guarded executor, as actor
``watchdog``. *Inconclusive* never rolls back: low traffic means a longer wait, not a blame.
It never asks the brain and no text the brain reads can switch it off.

Two ways to run it: inline (``Runtime.tick``: after every interval the orchestration waits,
which is exact in virtual time) and :func:`watch_round` / :func:`watch_forever` for long-running
hosts (``conductor watch``, the local control process, a pod), over every orchestration in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from conductor.dispatch import execute
from conductor.errors import LockHeldError
from conductor.journal.queries import InFlightView
from conductor.journal.state import OrchestrationState, ServiceState
from conductor.locks import ServiceLocks
from conductor.metrics.analysis import HealthVerdict
from conductor.project import Project
from conductor.tools.health import observe
from conductor.tools.outcome import finish_if_done
from conductor.tools.recovery import interrupted_rollback, rollback_reason
from conductor.tools.runtime import Runtime
from conductor.tools.warm import kept_warm, retire_expired

if TYPE_CHECKING:
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
            if not state.in_flight:
                return rolled_back
            interrupted = interrupted_rollback(state)
            if finish_if_done(self.rt, ACTOR) is not None:  # every service was; only the end was lost in a crash
                if interrupted is not None:
                    self.rt.republish(interrupted)
                return rolled_back
            for svc in list(state.services.values()):
                if svc.rolling_back is not None and not svc.terminal:
                    # A rollback another process started and never finished (killed): finish it,
                    # with its own reason, before anything else looks at this service.
                    result = execute(self.rt, "rollback", {"service": svc.name,
                                                           "reason": rollback_reason(svc.rolling_back)}, ACTOR)
                    if result.status == "ok":
                        rolled_back.append(svc.name)
                    continue
                if not svc.new_version_live:
                    continue
                observe(self.rt, svc, ACTOR)
                reason = self.breach_reason(self.rt.state().service(svc.name))
                if reason is not None:
                    arguments = {"service": svc.name, "reason": rollback_reason(reason)}  # never too long to act
                    result = execute(self.rt, "rollback", arguments, ACTOR)
                    if result.status == "ok":
                        rolled_back.append(svc.name)
            if interrupted is not None:  # its earlier signals may never have been printed by the killed process
                self.rt.republish(interrupted)
        return rolled_back

    def breach_reason(self, svc: ServiceState) -> str | None:
        """The rollback reason once the judge shows a regression or the checks stay blind, else None.

        A regression verdict rolls back at once: the sequential test already holds its
        false-alarm rate over every look, so waiting ``failureLimit`` more checks would only leave
        users on a release known to be worse. Inconclusive is not blind (data flows; the step
        waits); ``noDataLimit`` counts only unavailable checks.
        """
        orchestration = self.rt.config.orchestration
        health = svc.health
        if health is None:
            return None
        if health.verdict is HealthVerdict.REGRESSION and svc.consecutive_breaches >= 1:
            return "; ".join(b.description for b in health.breaches) or health.reason
        if svc.consecutive_blind >= orchestration.no_data_limit:
            return f"no usable metrics for {svc.consecutive_blind} consecutive checks ({health.reason})"
        return None


def watch_round(
    conductor: Project,
    on_signal: Callable[[Signal], None] | None = None,
    dogs: dict[int, Watchdog] | None = None,
) -> list[str]:
    """Tick every orchestration in flight once; return the services rolled back.

    An orchestration whose services are locked by a live process is skipped: that process runs
    its own watchdog inline, and two writers on one service would race. Pass the same ``dogs``
    dict every round so each orchestration's state is folded incrementally, not from scratch.
    """
    return _round(conductor, conductor.in_flight(), on_signal, {} if dogs is None else dogs)


class Patrol:
    """What a long-running watch keeps between rounds, so a round costs what happened since the
    previous one, not the journal's history: the orchestrations in flight, advanced by new
    events only (:class:`~conductor.journal.queries.InFlightView`), and one watchdog (with its
    incrementally folded runtime) per orchestration."""

    def __init__(self, conductor: Project, on_signal: Callable[[Signal], None] | None = None) -> None:
        self.conductor = conductor
        self.on_signal = on_signal
        self.dogs: dict[int, Watchdog] = {}
        self._view: InFlightView | None = None

    def in_flight(self) -> list[OrchestrationState]:
        if self._view is None:
            if not self.conductor.has_journal:
                return []  # nothing was ever orchestrated here: do not create a journal by looking
            self._view = InFlightView(self.conductor.journal)
        return self._view.refresh()

    def round(self) -> list[str]:
        """Tick every orchestration in flight once; return the services rolled back. Then retire
        the old colors whose ``scaleDownDelay`` ran out (nothing to do unless it is set)."""
        rolled_back = _round(self.conductor, self.in_flight(), self.on_signal, self.dogs)
        if self.conductor.config.orchestration.scale_down_delay > 0 and self.conductor.has_journal:
            scale_down(self.conductor)
        return rolled_back


def scale_down(conductor: Project) -> list[str]:
    """Retire each kept-warm color whose delay ran out, under its service's lock, unless a release
    in flight holds the service (its idle color is that release's candidate now). A lock held by
    a live process means someone acts on the service: it waits for the next round."""
    notes: list[str] = []
    now = conductor.bundle.clock.now()
    for color in kept_warm(conductor.journal, conductor.bundle.platform).values():
        if color.until > now:
            continue
        try:
            with ServiceLocks(conductor.state_dir, [color.service]):
                busy = {name for state in conductor.in_flight() for name in state.services}
                notes += retire_expired(conductor.journal, conductor.bundle.platform, now, busy,
                                        only={color.service})
        except LockHeldError:
            continue
    return notes


def _round(
    conductor: Project,
    flights: list[OrchestrationState],
    on_signal: Callable[[Signal], None] | None,
    dogs: dict[int, Watchdog],
) -> list[str]:
    rolled_back: list[str] = []
    sinks = {"on_signal": on_signal} if on_signal is not None else {}
    for stale in set(dogs) - {state.id for state in flights}:
        del dogs[stale]
    for state in list(flights):
        try:
            with ServiceLocks(conductor.state_dir, list(state.services)):
                if state.id not in dogs:
                    dogs[state.id] = Watchdog(conductor.runtime(state.id, **sinks))
                rolled_back += dogs[state.id].tick()
        except LockHeldError:
            continue
    return rolled_back


def watch_forever(
    conductor: Project,
    stop: threading.Event,
    on_rollback: Callable[[str], None] | None = None,
    on_signal: Callable[[Signal], None] | None = None,
) -> None:
    """Run :func:`watch_round` every ``healthCheckInterval`` until ``stop`` is set (long-running hosts)."""
    interval = conductor.config.orchestration.health_check_interval
    patrol = Patrol(conductor, on_signal)
    while not stop.wait(interval):
        for service in patrol.round():
            if on_rollback is not None:
                on_rollback(service)
