"""Runtime: everything a tool handler, a guard or the watchdog needs for one orchestration.

It owns no state of its own: facts go to the journal (committed before a handler returns) and
``state()`` folds them back, incrementally, so what a guard reads is what another process would.

Signals are facts of the journal too. A writer journals a signal in the same transaction as the
fact it reports (``record(RolledBack(…), svc, actor, signal=…)``), and ``state()`` hands every
signal journaled after this runtime was made to the sinks, once each, whoever wrote it: the
process driving a blue-green prints the ROLLBACK that a second terminal journaled. A resume that
finishes what a killed process started hands on that work's signals again (:meth:`republish`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conductor.clock import Clock
from conductor.config import ConductorConfig
from conductor.journal.events import Payload, SignalSent
from conductor.journal.state import OrchestrationState, advance, fold
from conductor.journal.store import Event, Journal
from conductor.metrics.base import MetricsProvider
from conductor.platforms.base import Platform
from conductor.signals import Signal, parse_signals, shielded

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
    _attached_at: int = field(default=0, init=False, repr=False)  # signals after this seq are ours to hand on
    _published: set[int] = field(default_factory=set, init=False, repr=False)
    _notify: set[int] = field(default_factory=set, init=False, repr=False)  # signals whose webhooks are ours

    def __post_init__(self) -> None:
        self._attached_at = self.journal.last_seq()

    def __setattr__(self, name: str, value: Any) -> None:
        # Output sinks are shielded however they are set (constructor or later): a closed pipe, a
        # dead terminal or a failing MCP notification must never interrupt a rollback halfway.
        if name in ("on_signal", "on_progress"):
            value = shielded(value)
        object.__setattr__(self, name, value)

    def state(self) -> OrchestrationState:
        """The orchestration as the journal says it is now (new events folded in incrementally);
        signals journaled since this runtime was made are handed to the sinks on the way."""
        if self._state is None:
            events = self.journal.events(self.orchestration_id)
            state = fold(events)
            if state is None:
                raise LookupError(f"orchestration {self.orchestration_id} has no start event")
            self._state = state
        else:
            events = self.journal.events(self.orchestration_id, after=self._state.last_seq)
            advance(self._state, events)
        self._publish([e for e in events if e.seq > self._attached_at])
        return self._state

    def now(self) -> float:
        return self.clock.now()

    def record(self, payload: Payload, service: str | None, actor: str, signal: Signal | None = None) -> Event:
        """Append a fact for this orchestration, with the signal that reports it in the same
        transaction; durable when this returns. The signal reaches the sinks at the next ``state()``."""
        event = self._append(payload, service, actor, signal, once=False)
        assert event is not None
        return event

    def record_once(self, payload: Payload, service: str | None, actor: str,
                    signal: Signal | None = None) -> Event | None:
        """:meth:`record` a fact that happens once per orchestration and service (its end, a
        service's rollback), unless another process journaled it first: then nothing is written
        and this returns None. Two processes that race to the same fact journal it, and its
        signal, exactly once between them."""
        return self._append(payload, service, actor, signal, once=True)

    def _append(self, payload: Payload, service: str | None, actor: str, signal: Signal | None,
                once: bool) -> Event | None:
        entries: list[tuple[Payload, str | None]] = [(payload, service)]
        if signal is not None:
            text = SignalSent(text=signal.format(), signal=signal.to_dict())
            entries.insert(0 if signal.kind == "DEPLOYED" else 1,
                           (text, signal.services[0] if signal.kind == "ROLLBACK" else None))
        events = self.journal.append_all(entries, at=self.clock.now(), actor=actor,
                                         orchestration=self.orchestration_id,
                                         unless=(str(payload.kind), service) if once else None)
        if not events:
            return None
        self._notify.update(e.seq for e in events if e.kind == "signal")
        return events[0 if signal is None or signal.kind == "ROLLBACK" else 1]

    def republish(self, since_seq: int) -> None:
        """Hand on again the signals journaled after ``since_seq``: a resume that finishes work a
        killed process started reports that work's signals, which the killed process may never
        have printed (nor sent to the webhooks: this process sends them, so a crash means at least
        once for a webhook, never zero). Each signal still reaches this process's sinks at most once."""
        self.state()
        again = self.journal.events(self.orchestration_id, after=since_seq, kinds=("signal",))
        self._notify.update(e.seq for e in again)
        self._publish(again)

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            payload = event.payload
            if not isinstance(payload, SignalSent) or event.seq in self._published:
                continue
            self._published.add(event.seq)
            signal = _signal_of(payload)
            if signal is None:
                continue
            self.on_signal(signal)
            # Webhooks hear a signal from the process that wrote it (or that took its work over),
            # not once more from every process that happens to be watching the orchestration.
            if self.notifier is not None and event.seq in self._notify:
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


def _signal_of(payload: SignalSent) -> Signal | None:
    """The signal a journal entry carries (its parts, or, in older journals, its text)."""
    parts = payload.signal or {}
    if parts.get("kind") in ("DEPLOYED", "ROLLBACK") and parts.get("services"):
        return Signal(parts["kind"], tuple(parts["services"]), str(parts.get("reason", "")))
    found = parse_signals(payload.text)
    return found[0] if found else None
