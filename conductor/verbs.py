"""The verbs people reach for day to day, beside the spec's grammar: promote, abort, pause,
resume, undo, history and list. Mixed into :class:`conductor.Conductor`, so the CLI, the REPL,
the MCP server and Python call the same methods.

Each verb is the seed grammar, or a small journaled fact plus the seed grammar's own path, so
they read as one language and nothing new can bypass a guard:

    promote [service]        the approval `canary` (the next step), or `canary <next> <service>`
    promote --full           the approval `canary 100`: straight to 100% once the judge cleared the current
                             step; the bake at 100% still runs
    abort [service]          `rollback`, with a ``release_aborted`` fact first (who, why)
    pause / resume           a ``release_paused`` / ``release_resumed`` fact; guard ``not_paused``
    undo [service]           a new blue-green of the version before the last completed release
    undo --to-revision N     ... of the versions release #N completed
    history / list           read-only, from the journal and DEPLOYMENTS.md

Unlike ``kubectl argo rollouts promote --full``, nothing here skips the judge's verdict on the
step in flight or the bake: a person may approve more traffic, never less checking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from conductor.command import Command, parse_command
from conductor.config import ConductorConfig
from conductor.errors import EXIT_ERROR, EXIT_OK, EXIT_REFUSED, LockHeldError, UsageError
from conductor.history import ReleaseRecord, release_history
from conductor.journal.events import ReleaseAborted, ReleasePaused, ReleaseResumed
from conductor.journal.state import OrchestrationState, Phase, fold
from conductor.journal.store import Journal
from conductor.locks import ServiceLocks
from conductor.models.registry import BrainChoice
from conductor.platforms.base import SLOTS
from conductor.platforms.registry import PlatformBundle
from conductor.result import Result
from conductor.signals import Signal, clean_reason
from conductor.starting import plan_release, standing_refusal, start_orchestration
from conductor.tools.runtime import ProgressSink
from conductor.tools.warm import kept_warm

SignalSink = Callable[[Signal], None] | None


class _Session(Protocol):
    """What the verbs need of :class:`conductor.Conductor` (whose methods they are)."""

    config: ConductorConfig
    state_dir: Path

    @property
    def journal(self) -> Journal: ...
    @property
    def bundle(self) -> PlatformBundle: ...
    @property
    def has_journal(self) -> bool: ...
    def in_flight(self) -> list[OrchestrationState]: ...
    def run(self, text: str | list[str], *, auto: bool = ..., dry_run: bool = ...,
            release: Any = ..., retry: bool = ..., actor: str = ..., on_signal: SignalSink = ...,
            on_progress: ProgressSink | None = ..., full_cutover: bool = ...) -> Result: ...
    def _sinks(self, on_signal: SignalSink, on_progress: ProgressSink | None
               ) -> tuple[dict[str, Any], list[Signal]]: ...
    def _rollback(self, command: Command, actor: str, sinks: dict[str, Any], emitted: list[Signal],
                  dry_run: bool = ..., reason: str = ...) -> Result: ...
    def _drive(self, command: Command, oid: int, brain: BrainChoice, sinks: dict[str, Any],
               emitted: list[Signal], notes: list[str], prepare: Callable[[], None] | None = ...,
               announce: bool = ..., locked: bool = ...) -> Result: ...
    def _choose_brain(self) -> BrainChoice: ...
    def _scale_down(self, keep: set[str]) -> list[str]: ...
    def _result(self, command: Command, state: OrchestrationState | None, emitted: list[Signal], code: int,
                notes: list[str] | None = ..., outcome: Any = ..., planned: dict[str, str] | None = ...) -> Result: ...


NOTHING_IN_FLIGHT = ("nothing in flight to {verb}: no orchestration is running. Start one with "
                     "`conductor orchestrate canary 10` (or blue-green, rolling)")


@dataclass(frozen=True)
class ServiceRelease:
    """One line of ``conductor list``: a service, what it runs, and its latest release."""

    service: str
    version: str | None  # what takes its traffic now (the platform's stable slot)
    slot: str | None
    last_release: int | None
    last_outcome: str | None
    in_flight: str | None  # e.g. "canary #4: Canary 25%" (", paused by person:cli")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReleaseVerbs:
    """The day-to-day verbs of :class:`conductor.Conductor` (see the module docstring)."""

    def promote(self: _Session, service: str | None = None, *, full: bool = False, actor: str = "person:cli",
                on_signal: SignalSink = None, on_progress: ProgressSink | None = None) -> Result:
        """Approve the next step of the release in flight and drive it there: ``canary`` (the next
        configured step), ``canary <next> <service>`` for one service, ``canary 100`` with
        ``full``; on a blue-green or rolling release, the switch. A paused release is resumed
        (as Argo's promote unpauses). Nothing in flight: UsageError, nothing touched."""
        words = promote_words(self.in_flight(), service, full)
        return self.run(words, actor=actor, on_signal=on_signal, on_progress=on_progress)

    def abort(self: _Session, service: str | None = None, *, reason: str = "", dry_run: bool = False,
              actor: str = "person:cli", on_signal: SignalSink = None) -> Result:
        """Roll back the release in flight (the one holding ``service``: all of its services) and
        keep it marked aborted, by whom and why; exit 3. Like every rollback it waits for nobody's
        run and no freeze refuses it. Nothing in flight: exit 0, nothing to abort."""
        flights = [s for s in self.in_flight() if service is None or service in s.services]
        why = clean_reason(reason)[:120]
        if dry_run or not flights:  # the rollback's own answer (and its check of the service's name)
            result = self.run(["rollback", *([service] if service else [])], dry_run=dry_run, actor=actor,
                              on_signal=on_signal)
            return result if flights else _with_note(result, NOTHING_IN_FLIGHT.format(verb="abort"))
        for state in flights:
            if state.aborted is None:
                self.journal.append(ReleaseAborted(reason=why), at=self.bundle.clock.now(), actor=actor,
                                    orchestration=state.id)
        sinks, emitted = self._sinks(on_signal, None)
        text = f"aborted by {actor}" + (f": {why}" if why else "")
        if service is None:  # every release in flight
            return self._rollback(Command("rollback"), actor, sinks, emitted, reason=text)
        # The release holding ``service``, all of it: a release is a unit (Argo aborts a rollout).
        results = [self._rollback(Command("rollback", service=name), actor, sinks, emitted, reason=text)
                   for name in flights[0].services]
        notes = [note for r in results for note in r.data.get("notes", [])]
        codes = {r.exit_code for r in results}
        code = EXIT_ERROR if EXIT_ERROR in codes else max(codes)  # a rollback that failed is never hidden
        return self._result(Command("rollback", service=service), fold(self.journal.events(flights[0].id)),
                            emitted, code, notes=notes)

    def pause(self: _Session, *, reason: str = "", actor: str = "person:cli") -> Result:
        """Hold every release in flight where it is: no deploy, no more traffic, no promotion
        (guard ``not_paused``) until a person resumes or promotes. Rollback, health checks and the
        watchdog go on. Journaled only: it never waits for the process driving the release."""
        flights = self.in_flight()
        if not flights:
            raise UsageError(NOTHING_IN_FLIGHT.format(verb="pause"))
        notes = []
        why = clean_reason(reason)[:120]
        for state in flights:
            if state.paused is not None:
                notes.append(f"orchestration #{state.id} was already paused by {state.paused.actor}")
                continue
            self.journal.append(ReleasePaused(reason=why), at=self.bundle.clock.now(), actor=actor,
                                orchestration=state.id)
            notes.append(f"paused orchestration #{state.id} ({state.strategy} of {', '.join(state.services)})")
        return self._result(Command("status"), None, [], EXIT_OK, notes=notes)

    def resume(self: _Session, *, actor: str = "person:cli", on_signal: SignalSink = None,
               on_progress: ProgressSink | None = None) -> Result:
        """Lift a pause and drive the release on, under the approvals it already has (an
        ``--auto`` ramp goes on ramping; a step that needs an approval asks for it)."""
        flights = self.in_flight()
        if not flights:
            raise UsageError(NOTHING_IN_FLIGHT.format(verb="resume"))
        state = next((s for s in flights if s.paused is not None), None)
        if state is None:
            return self._result(Command("status"), None, [], EXIT_OK,
                                notes=[f"orchestration #{flights[0].id} is not paused; nothing to resume"])
        _refuse_stopped(state, "resume")
        command = parse_command(state.strategy)
        refusal = standing_refusal(self.config, self.state_dir)
        if refusal is not None:
            return self._result(command, state, [], EXIT_REFUSED, notes=[f"refused: {refusal}; still paused"])
        sinks, emitted = self._sinks(on_signal, on_progress)
        brain = self._choose_brain()
        oid = state.id

        def lift() -> None:
            self.journal.append(ReleaseResumed(), at=self.bundle.clock.now(), actor=actor, orchestration=oid)

        return self._drive(command, oid, brain, sinks, emitted, notes=[brain.note, f"resumed by {actor}"],
                           prepare=lift)

    def undo(self: _Session, service: str | None = None, *, to_revision: int | None = None, dry_run: bool = False,
             actor: str = "person:cli", on_signal: SignalSink = None,
             on_progress: ProgressSink | None = None) -> Result:
        """Take back a completed release: a new blue-green orchestration of the version before it
        (``to_revision``: of the versions release #N completed). If the old color is still warm
        (``orchestration.scaleDownDelay``) the deploy returns at once and the flip is immediate;
        otherwise it is redeployed. Either way the judge and the watchdog gate it, and the bake
        keeps the undone version warm for a flip back. The command is the person's approval."""
        flights = self.in_flight()
        if flights:
            raise UsageError(f"orchestration #{flights[0].id} ({flights[0].strategy}) is in flight: undo takes back "
                             "a completed release. Roll it back with `conductor abort` (or "
                             "`conductor orchestrate rollback`) first")
        history = release_history(self.journal if self.has_journal else None, self.state_dir)
        targets, undone = _undo_targets(history, self.config.orchestration.services, service, to_revision)
        command = Command("blue-green")
        config = self.config.model_copy(update={"release": targets})
        plan = plan_release(config, self.bundle, command, {})
        warm = kept_warm(self.journal, self.bundle.platform) if self.has_journal else {}
        still_warm = {name for name, version in targets.items()
                      if name in plan.services and name in warm and warm[name].version == version}
        how = [f"{name}: {version} is still warm in {warm[name].slot}: no deploy, the flip is instant"
               if name in still_warm else f"{name}: {version} is no longer running: it is redeployed first"
               for name, version in targets.items() if name in plan.services]
        header = f"undo of release #{undone}: " + ", ".join(f"{n} → {v}" for n, v in targets.items())
        if not plan.services:
            return self._result(command, None, [], EXIT_OK, notes=[header, *plan.notes])
        if dry_run:
            bake = self.config.orchestration.bake_time
            steps = [f"{name}: smoke-check, flip 100% from {plan.services[name]['stable_version']}, bake {bake:g}s"
                     if name in still_warm else step  # the plan's own step starts with the deploy it skips
                     for name, step in zip(plan.services, plan.steps, strict=True)]
            return self._result(command, None, [], EXIT_OK, notes=["dry run: nothing changed", header, *how, *steps],
                                planned=plan.targets())
        refusal = standing_refusal(self.config, self.state_dir)
        if refusal is not None:
            return self._result(command, None, [], EXIT_REFUSED, notes=[f"refused: {refusal}; nothing was changed"])
        sinks, emitted = self._sinks(on_signal, on_progress)
        with ServiceLocks(self.state_dir, list(plan.services)):
            racing = self.in_flight()
            if racing:
                raise LockHeldError(f"orchestration #{racing[0].id} ({racing[0].strategy}) was started by another "
                                    "process meanwhile; nothing was undone")
            notes = self._scale_down(keep=set(plan.services))
            brain = self._choose_brain()
            oid = start_orchestration(self.journal, plan, command, False, actor, brain.model.name,
                                      self.bundle.clock.now(), undo_of=undone, via=f"undo of #{undone}")
            return self._drive(command, oid, brain, sinks, emitted, notes=[brain.note, header, *how, *notes],
                               announce=True, locked=True)

    def history(self: _Session, service: str | None = None, *, limit: int | None = None) -> list[ReleaseRecord]:
        """Every release, newest first, from the journal and DEPLOYMENTS.md: who approved what and
        when, the outcome, aborts and undos. Read-only."""
        if limit is not None and limit < 1:
            raise UsageError(f"limit must be at least 1, got {limit}")
        return release_history(self.journal if self.has_journal else None, self.state_dir, service, limit)

    def releases(self: _Session) -> list[ServiceRelease]:
        """Per configured service: the version taking its traffic, its latest release and what is
        in flight (``conductor list``; like ``kubectl argo rollouts list rollouts``)."""
        history = release_history(self.journal if self.has_journal else None, self.state_dir)
        flights = {name: state for state in self.in_flight() for name in state.services}
        rows = []
        for name in self.config.orchestration.services:
            snapshot = self.bundle.platform.snapshot(name)
            stable = max(SLOTS, key=lambda s: (snapshot.weights.get(s, 0), s == "blue"))
            last = next((r for r in history if name in r.services), None)
            state = flights.get(name)
            live = None
            if state is not None:
                live = f"{state.strategy} #{state.id}: {state.services[name].status_label}"
                live += f", paused by {state.paused.actor}" if state.paused is not None else ""
            rows.append(ServiceRelease(name, snapshot.slots[stable].version, stable, last.id if last else None,
                                       last.outcome if last else None, live))
        return rows


def promote_words(flights: list[OrchestrationState], service: str | None, full: bool) -> list[str]:
    """The seed command ``promote`` is: ``canary [100] [service]`` on a canary, the strategy's
    own command on a blue-green or rolling release (raises UsageError when there is none)."""
    state = _holding(flights, service, "promote")
    _refuse_stopped(state, "promote")
    if state.strategy == "canary":
        return ["canary", *(["100"] if full else []), *([service] if service else [])]
    if service is not None:
        raise UsageError(f"promoting one service is for a canary; orchestration #{state.id} is a "
                         f"{state.strategy}: `conductor promote` approves the switch of the whole release")
    return [state.strategy]


def _holding(flights: list[OrchestrationState], service: str | None, verb: str) -> OrchestrationState:
    if not flights:
        raise UsageError(NOTHING_IN_FLIGHT.format(verb=verb))
    if service is None:
        return flights[0]
    for state in flights:
        if service in state.services:
            return state
    raise UsageError(f"{service} is not part of any orchestration in flight "
                     f"(in flight: {', '.join(n for s in flights for n in s.services)})")


def _refuse_stopped(state: OrchestrationState, verb: str) -> None:
    """A release one of whose services failed or was rolled back has stopped: the next run of it
    rolls the others back (strategies/plan.py). Carrying it on would do exactly that, which is
    not what a person asking to move it forward meant: refuse, and say what is left."""
    stopped = [s for s in state.services.values() if s.phase in (Phase.FAILED, Phase.ROLLED_BACK)]
    left = [s for s in state.services.values() if not s.terminal and s.phase is not Phase.PENDING]
    if not stopped or not left:
        return
    rest = ", ".join(f"{s.name} at {s.candidate_percent}%" for s in left)
    raise UsageError(f"orchestration #{state.id} stopped when {stopped[0].name} was "
                     f"{stopped[0].phase.value.lower()}: the rest of it ({rest}) can only be rolled back now, "
                     f"not {verb}d. `conductor abort` (or `conductor orchestrate rollback`) takes it back; "
                     "then release again. Nothing was changed")


def _undo_targets(history: list[ReleaseRecord], configured: list[str], service: str | None,
                  to_revision: int | None) -> tuple[dict[str, str], int]:
    """What undo deploys, per service, and the release it takes back (raises UsageError)."""
    if service is not None and service not in configured:
        raise UsageError(f"undo: unknown service {service!r}; configured services: {', '.join(configured)}")
    journaled = [r for r in history if r.source == "journal"]
    if to_revision is not None:
        record = next((r for r in journaled if r.id == to_revision), None)
        if record is None:
            ids = ", ".join(f"#{r.id}" for r in journaled) or "none"
            raise UsageError(f"undo --to-revision {to_revision}: no such release in the journal (releases: {ids}; "
                             "see `conductor history`)")
        names = [n for n in record.services if (service is None or n == service) and record.completed(n)]
        targets = {n: str(record.services[n]["to"]) for n in names if record.services[n]["to"]}
        if not targets:
            raise UsageError(f"release #{to_revision} completed no version of {service or 'any service'} "
                             f"({record.outcome}); pick a completed release from `conductor history`")
        return targets, to_revision
    candidates = [r for r in journaled if any(r.completed(n) for n in r.services if service in (None, n))]
    if not candidates:
        raise UsageError(f"nothing to undo: no completed release of {service or 'any service'} in the journal "
                         "(see `conductor history`)")
    record = candidates[0]  # newest first
    names = [n for n in record.services if service in (None, n) and record.completed(n)]
    targets = {n: str(record.services[n]["from"]) for n in names if record.services[n]["from"]}
    if not targets:
        raise UsageError(f"release #{record.id} was the first release of {', '.join(names)}: there is no previous "
                         "version to go back to")
    return targets, record.id


def _with_note(result: Result, note: str) -> Result:
    result.data.setdefault("notes", []).append(note)
    result.report = result.report.rstrip("\n") + f"\n\n{note}\n"
    return result


__all__ = ["ReleaseVerbs", "ServiceRelease", "promote_words"]
