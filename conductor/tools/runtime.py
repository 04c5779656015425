"""Runtime: everything a tool handler, a guard or the watchdog needs for one orchestration.

It owns no state of its own: facts go to the journal (committed before a handler returns) and
``state()`` folds them back, incrementally, so what a guard reads is what another process would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conductor.clock import Clock
from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState, _apply, fold
from conductor.journal.store import Event, Journal
from conductor.metrics.base import MetricsProvider
from conductor.platforms.base import Platform
from conductor.signals import Signal

SignalSink = Callable[[Signal], None]
ProgressSink = Callable[[str, float, float], None]  # (label, done seconds, total seconds)


def _ignore_signal(signal: Signal) -> None:
    """Default signal sink: the journal already holds the signal."""


def _ignore_progress(label: str, done: float, total: float) -> None:
    """Default progress sink: silent (piped output, tests)."""


@dataclass
class Runtime:
    config: ConductorConfig
    journal: Journal
    orchestration_id: int
    platform: Platform
    metrics: MetricsProvider
    clock: Clock
    state_dir: Path
    on_signal: SignalSink = _ignore_signal
    on_progress: ProgressSink = _ignore_progress
    notifier: Any = None  # conductor.notify.Notifier | None; Any keeps this module import-light
    tick: Callable[[], object] | None = None  # the watchdog, run after every interval of waiting
    _state: OrchestrationState | None = field(default=None, init=False, repr=False)

    def state(self) -> OrchestrationState:
        """The orchestration as the journal says it is now (new events folded in incrementally)."""
        if self._state is None:
            state = fold(self.journal.events(self.orchestration_id))
            if state is None:
                raise LookupError(f"orchestration {self.orchestration_id} has no start event")
            self._state = state
        else:
            for event in self.journal.events(self.orchestration_id, after=self._state.last_seq):
                self._state.last_at = max(self._state.last_at, event.at)
                self._state.last_seq = event.seq
                _apply(self._state, event)
        return self._state

    def now(self) -> float:
        return self.clock.now()

    def record(self, kind: str, service: str | None, actor: str, **data: Any) -> Event:
        """Append a fact for this orchestration; durable when this returns."""
        return self.journal.append(
            kind, at=self.clock.now(), actor=actor, orchestration=self.orchestration_id, service=service, data=data
        )

    def emit(self, signal: Signal, actor: str) -> None:
        """Journal a signal, then hand it to the sink and the webhooks."""
        self.record("signal", signal.services[0] if signal.kind == "ROLLBACK" else None, actor,
                    text=signal.format(), signal=signal.to_dict())
        self.on_signal(signal)
        if self.notifier is not None:
            self.notifier.send(signal.kind.lower(), signal.format(), self)

    def wait(self, seconds: float, label: str, stop: Callable[[], bool] | None = None) -> None:
        """Let ``seconds`` pass in health-check intervals, running the watchdog after each;
        return early once ``stop()`` is true (e.g. the service was rolled back meanwhile)."""
        interval = self.config.orchestration.health_check_interval
        waited = 0.0
        while waited < seconds - 1e-9 and not (stop is not None and stop()):
            step = min(interval, seconds - waited)
            self.clock.sleep(step)
            waited += step
            self.on_progress(label, waited, seconds)
            if self.tick is not None:
                self.tick()
