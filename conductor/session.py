"""Conductor: one entry point for every front end (CLI, REPL, MCP server, evals, Python).

    >>> from conductor import Conductor
    >>> conductor = Conductor.from_config()            # finds .mothership/config.json upward
    >>> result = conductor.run("/orchestrate canary 10")
    >>> result.exit_code, [s.format() for s in result.signals]
    (0, [])
    >>> print(result.report)                           # the spec's markdown report

A run parses the command, loads the journal, takes the service locks, and either renders status,
rolls back (directly: rollback never waits for a brain), or drives the agent loop for a strategy,
continuing an orchestration already in flight (an approval, or a resume after a crash).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from functools import cached_property
from pathlib import Path
from typing import Any

from conductor import redact
from conductor import signals as signal_format
from conductor.agent.loop import WATCHED, LoopOutcome, run_agent
from conductor.clock import Clock, RealClock
from conductor.command import Command, parse_command
from conductor.config import VERSION_PATTERN, ConductorConfig, find_config
from conductor.config_file import load_config
from conductor.dispatch import execute
from conductor.errors import (
    EXIT_BRAIN_STOPPED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_ROLLED_BACK,
    LockHeldError,
    UsageError,
)
from conductor.journal.queries import in_flight, latest
from conductor.journal.state import OrchestrationState, Phase
from conductor.journal.store import Journal
from conductor.locks import ServiceLocks
from conductor.metrics.base import MetricsProvider
from conductor.models.base import Model
from conductor.models.policy import PolicyModel
from conductor.models.registry import BrainChoice, choose_brain
from conductor.notify import Notifier
from conductor.paths import check_owner, claim, project_root, state_dir_for
from conductor.platforms.base import Platform
from conductor.platforms.registry import PlatformBundle, build_platform
from conductor.predeploy import run_pre_deploy
from conductor.readonly_journal import ReadOnlyJournal, writable
from conductor.report import build_report
from conductor.result import Result
from conductor.scrubbed_journal import ScrubbingJournal
from conductor.signals import Signal
from conductor.starting import (
    check_continuation,
    check_cutover,
    finish_started_rollbacks,
    grant_continuation,
    plan_release,
    reconcile,
    standing_refusal,
    start_orchestration,
)
from conductor.tools.recovery import interrupted_rollback, start_rollbacks
from conductor.tools.runtime import ProgressSink, Runtime
from conductor.tools.warm import retire_expired
from conductor.verbs import ReleaseVerbs
from conductor.watchdog import Watchdog


class Conductor(ReleaseVerbs):
    """The composition root: builds what the config names, unless it is handed in.

    ``platform``, ``metrics`` and ``clock`` replace the backend the config names (a platform that
    is also a metrics provider, like the simulator, serves as both; its ``clock`` attribute, if
    any, is the clock); ``brain`` replaces the brain ``model``/the config would choose; ``journal``
    an open journal. What is handed in belongs to the caller: :meth:`close` closes only what this
    object built.

        conductor = Conductor(load_config(path), path, platform=my_platform, metrics=my_metrics,
                              brain=MyModel())
    """

    def __init__(
        self,
        config: ConductorConfig,
        config_path: Path,
        model: str | None = None,
        *,
        platform: Platform | None = None,
        metrics: MetricsProvider | None = None,
        clock: Clock | None = None,
        brain: Model | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        # Every secret this process knows of is scrubbed from whatever it writes or prints.
        redact.register_environment()
        redact.register_config(config)
        # One state directory per environment (conductor.paths): a config never reads or acts on
        # another one's journal, locks or platform state; a collision is refused here.
        self.state_dir = state_dir_for(config_path, config)
        check_owner(self.state_dir, config_path)
        self.root = project_root(self.state_dir)
        self.model_name = model
        self._brain = brain
        self._given_bundle = _given_bundle(platform, metrics, clock)
        if journal is not None:
            self.__dict__["journal"] = journal  # the cached_property's slot: never built, never closed here
        self._given = {name for name, value in (("bundle", self._given_bundle), ("journal", journal))
                       if value is not None}

    @classmethod
    def from_config(
        cls,
        path: Path | str | None = None,
        *,
        model: str | None = None,
        platform: Platform | None = None,
        metrics: MetricsProvider | None = None,
        clock: Clock | None = None,
        brain: Model | None = None,
        journal: Journal | None = None,
    ) -> Conductor:
        """Load the config (default: the nearest ``.mothership/config.json`` upward); the other
        arguments are the collaborators :class:`Conductor` accepts."""
        config_path = Path(path) if path is not None else find_config(Path.cwd())
        return cls(load_config(config_path), config_path, model=model, platform=platform, metrics=metrics,
                   clock=clock, brain=brain, journal=journal)

    @cached_property
    def journal(self) -> Journal:
        path = self.state_dir / "journal.db"
        if path.exists() and not writable(self.state_dir):
            return ReadOnlyJournal(path)  # status works; a write fails with a JournalError saying why
        if not path.exists():
            claim(self.state_dir, self.config_path)  # the first write: record whose state this is

        return ScrubbingJournal(path)  # no configured secret is ever written to the journal

    @cached_property
    def bundle(self) -> PlatformBundle:
        return self._given_bundle or build_platform(self.config, self.state_dir)

    @cached_property
    def notifier(self) -> Notifier:
        return Notifier(self.config.notify)

    def close(self) -> None:
        if "notifier" in self.__dict__:
            self.notifier.close()
        if "bundle" in self.__dict__ and "bundle" not in self._given:
            self.bundle.platform.close()
        if "journal" in self.__dict__ and "journal" not in self._given:
            self.journal.close()

    def runtime(self, orchestration_id: int, **sinks: Any) -> Runtime:
        rt = Runtime(
            config=self.config,
            journal=self.journal,
            orchestration_id=orchestration_id,
            platform=self.bundle.platform,
            metrics=self.bundle.metrics,
            clock=self.bundle.clock,
            state_dir=self.state_dir,
            notifier=self.notifier,
            **sinks,
        )
        rt.tick = Watchdog(rt).tick
        if hasattr(self.bundle.platform, "orchestration_id"):  # backends that label what they touch
            self.bundle.platform.orchestration_id = str(orchestration_id)
        return rt

    @property
    def has_journal(self) -> bool:
        """False before the first orchestration: reading must not create the journal (dry runs)."""
        return "journal" in self.__dict__ or (self.state_dir / "journal.db").exists()

    def in_flight(self) -> list[OrchestrationState]:
        return in_flight(self.journal) if self.has_journal else []

    def run(
        self,
        text: str | list[str],
        *,
        auto: bool = False,
        dry_run: bool = False,
        release: Mapping[str, str] | None = None,
        retry: bool = False,
        actor: str = "person:cli",
        on_signal: Callable[[Signal], None] | None = None,
        on_progress: ProgressSink | None = None,
        full_cutover: bool = False,
    ) -> Result:
        """Run one ``/orchestrate …`` command. Bad grammar or config raises UsageError/ConfigError
        before anything is touched; a freeze refuses a strategy command (exit 4) before anything
        is touched either. ``full_cutover`` confirms ``canary 100`` on a fresh release."""
        command = parse_command(text, self.config.orchestration.services)
        overrides = _check_release(release or {}, self.config)
        if command.action not in ("status", "rollback"):
            check_cutover(command, bool(self.in_flight()), full_cutover)
            refusal = standing_refusal(self.config, self.state_dir)
            if refusal is not None:
                flights = self.in_flight()
                return self._result(command, flights[0] if flights else None, [], EXIT_REFUSED,
                                    notes=[f"refused: {refusal}; nothing was changed"])
        sinks, emitted = self._sinks(on_signal, on_progress)
        if command.action == "status":
            return self._result(command, None, emitted, EXIT_OK)
        if command.action == "rollback":
            return self._rollback(command, actor, sinks, emitted, dry_run)
        return self._orchestrate(command, auto, dry_run, overrides, retry, actor, sinks, emitted)

    @staticmethod
    def _sinks(
        on_signal: Callable[[Signal], None] | None, on_progress: ProgressSink | None
    ) -> tuple[dict[str, Any], list[Signal]]:
        """The runtime's sinks for one run, and the list that collects the signals it emitted."""
        emitted: list[Signal] = []

        def sink(signal: Signal) -> None:
            emitted.append(signal)
            if on_signal is not None:
                on_signal(signal)

        sinks: dict[str, Any] = {"on_signal": sink}
        if on_progress is not None:
            sinks["on_progress"] = on_progress
        return sinks, emitted

    # -- rollback ------------------------------------------------------------------------------

    def _rollback(
        self, command: Command, actor: str, sinks: dict[str, Any], emitted: list[Signal], dry_run: bool = False,
        reason: str = "manual",
    ) -> Result:
        flights = [o for o in self.in_flight() if command.service is None or command.service in o.services]
        # Without a service: every service in flight, even one the config no longer lists.
        wanted = [command.service] if command.service else [s for o in flights for s in o.services] or list(
            self.config.orchestration.services)
        notes: list[str] = []
        touched: OrchestrationState | None = None
        failed = False
        if dry_run:
            notes = ["dry run: nothing changed"] + [
                f"would roll back {s.name} of orchestration #{o.id} ({o.strategy}): all traffic to "
                f"{s.stable_version}, {s.target_version} retired"
                for o in flights for s in o.services.values() if s.name in wanted and not s.terminal
            ]
            return self._result(command, flights[0] if flights else None, emitted, EXIT_OK,
                                notes=notes if flights else [*notes, "nothing in flight to roll back"])
        # No run lock: a rollback must not wait for another process's orchestration. The executor's
        # per-action lock orders it after whatever action is in progress, and that process sees the
        # rollback in the journal before its next action.
        undone = False
        for state in flights:
            rt = self.runtime(state.id, **sinks)
            mine = [s for s in state.services if s in wanted]
            before = {s: rt.state().service(s).terminal for s in mine}
            # Every service this command will roll back is journaled as being rolled back first: a
            # kill halfway leaves the rest to whoever comes next, never a release half undone.
            interrupted = interrupted_rollback(rt.state())
            start_rollbacks(rt, [(rt.state().service(s), reason) for s in mine], actor)
            for service in mine:
                result = execute(rt, "rollback", {"service": service, "reason": reason}, actor)
                notes.append(result.message)
                failed = failed or result.status != "ok"
            if interrupted is not None:  # finishing a killed rollback: hand on its signals again
                rt.republish(interrupted)
            touched = rt.state()
            undone = undone or any(not before[s] and touched.service(s).phase is Phase.ROLLED_BACK for s in mine)
        if not flights:
            notes.append(f"nothing in flight for {', '.join(wanted)}: no orchestration holds "
                         f"{'it' if len(wanted) == 1 else 'them'}, nothing to roll back")
        # Rolled back even when no signal was due (a service whose new version never took traffic).
        code = EXIT_ROLLED_BACK if undone or any(s.kind == "ROLLBACK" for s in emitted) else EXIT_OK
        if failed:  # a rollback that did not happen must never look like success
            code = EXIT_ERROR
        return self._result(command, touched, emitted, code, notes=notes)

    # -- strategies ----------------------------------------------------------------------------

    def _orchestrate(
        self,
        command: Command,
        auto: bool,
        dry_run: bool,
        overrides: dict[str, str],
        retry: bool,
        actor: str,
        sinks: dict[str, Any],
        emitted: list[Signal],
    ) -> Result:
        flights = self.in_flight()
        if flights:
            state = flights[0]
            if state.strategy != command.action:
                held = ", ".join(state.services)
                raise UsageError(
                    f"{held}: orchestration #{state.id} ({state.strategy}, {state.status}) is in flight; "
                    f"continue it with `/orchestrate {state.strategy}` or roll it back with `/orchestrate rollback`"
                )

            check_continuation(state, command, overrides)  # bad input touches nothing, not even a lock file
            if dry_run:
                return self._result(command, state, emitted, EXIT_OK, notes=["dry run: nothing changed"])

            brain = self._choose_brain()

            def approve() -> None:
                grant_continuation(self.journal, state, command, auto, actor, self.config, self.bundle.clock.now())

            return self._drive(command, state.id, brain, sinks, emitted, notes=[brain.note], prepare=approve)
        if command.service is not None:
            raise UsageError(f"`{command.text}` approves a step for {command.service} of a canary in flight, and "
                             "none is; start the release with `/orchestrate canary [percent]`")
        plan = plan_release(self.config, self.bundle, command, overrides)
        if plan.services and not retry:
            self._refuse_a_rolled_back_release(plan.services, command)
        if not plan.services:
            return self._result(command, None, emitted, EXIT_OK, notes=plan.notes)
        if dry_run:
            return self._result(command, None, emitted, EXIT_OK, notes=["dry run: nothing changed", *plan.steps],
                                planned=plan.targets())

        # One lock scope from before the first side effect to the end of the run: a second
        # orchestration started at the same moment is refused before its preDeploy build runs,
        # and no watchdog can take the services between the start event and the first action
        # (which used to refuse the run with exit 2 after it had journaled a new orchestration).
        with ServiceLocks(self.state_dir, list(plan.services)):
            racing = self.in_flight()  # another process may have started one since we looked
            if racing:
                raise LockHeldError(
                    f"orchestration #{racing[0].id} ({racing[0].strategy}) was started by another process "
                    f"meanwhile; continue it with `/orchestrate {racing[0].strategy}`"
                )
            notes = self._scale_down(keep=set())
            notes += run_pre_deploy(self.config.pre_deploy, self.root)
            brain = self._choose_brain()
            oid = start_orchestration(self.journal, plan, command, auto, actor, brain.model.name,
                                      self.bundle.clock.now())
            return self._drive(command, oid, brain, sinks, emitted, notes=[brain.note, *notes], announce=True,
                               locked=True)

    def _scale_down(self, keep: set[str]) -> list[str]:
        """Retire the old colors whose ``scaleDownDelay`` ran out (not on services in flight or in
        ``keep``); called under the service locks, before a release starts."""
        if not self.has_journal:
            return []
        busy = {name for state in self.in_flight() for name in state.services} | keep
        return retire_expired(self.journal, self.bundle.platform, self.bundle.clock.now(), busy)

    def _choose_brain(self) -> BrainChoice:
        if self._brain is not None:
            return BrainChoice(self._brain, f"{self._brain.name} brain (handed in)")
        return choose_brain(self.model_name, self.config, self.state_dir)

    def _refuse_a_rolled_back_release(self, services: Mapping[str, Mapping[str, object]], command: Command) -> None:
        """A late ``canary 25`` after the watchdog rolled the canary back must not quietly start a
        new canary of the same bad version (at more traffic than it had when it broke)."""
        last = latest(self.journal) if self.has_journal else None
        if last is None or last.outcome != "rolled_back":
            return
        again = [name for name, info in services.items()
                 if name in last.services and last.services[name].rollback_reason
                 and last.services[name].target_version == info["target_version"]]
        if again:
            reasons = "; ".join(f"{n} {last.services[n].target_version}: {last.services[n].rollback_reason}"
                                for n in again)
            raise UsageError(
                f"orchestration #{last.id} ({last.strategy}) rolled back this release ({reasons}); "
                f"`{command.text}` would deploy it again. Release a fixed version, or pass --retry to "
                "deploy the same version deliberately"
            )

    def _drive(
        self,
        command: Command,
        oid: int,
        brain: BrainChoice,
        sinks: dict[str, Any],
        emitted: list[Signal],
        notes: list[str],
        prepare: Callable[[], None] | None = None,
        announce: bool = False,
        locked: bool = False,
    ) -> Result:
        """Take the locks (unless the caller holds them: ``locked``), run ``prepare`` (journal an
        approval) under them, reconcile, run the brain."""
        state = next(o for o in self.in_flight() if o.id == oid)
        with nullcontext() if locked else ServiceLocks(self.state_dir, list(state.services)):
            if prepare is not None:
                prepare()
            rt = self.runtime(oid, **sinks)
            if announce:
                targets = ", ".join(f"{s.name} {s.stable_version} → {s.target_version}"
                                    for s in rt.state().services.values())
                self.notifier.send("start", f"{command.text}: {targets}", rt)
            notes += reconcile(rt)
            instruction = (
                f"The person typed `{command.text}`. Carry out this {state.strategy} orchestration "
                "through your tools, following the runbook; stop when it needs a person or is done."
            )
            outcome = run_agent(rt, brain.model, instruction)
            if outcome.stop == "model_error" and brain.model.name != "policy":
                notes.append(f"the {brain.model.name} brain failed ({outcome.error}); ")
                # A replay that diverged must fail loudly (it is a test), not be papered over.
                if self.config.model.fallback_to_policy and brain.model.name != "replay":
                    notes[-1] += "the offline policy brain took over"
                    outcome = run_agent(rt, PolicyModel(), instruction)
                else:
                    notes[-1] += WATCHED
            notes += _loop_notes(outcome)
            notes += finish_started_rollbacks(rt)
            final = rt.state()
        code = EXIT_OK
        stuck = [s for s in final.services.values() if s.rolling_back is not None and not s.terminal]
        if stuck:
            # A rollback that could not complete (the platform refused it every time): the worst
            # outcome there is, never a success. The watchdog and a rerun keep finishing it.
            code = EXIT_ERROR
            notes.append("the rollback of " + ", ".join(f"{s.name} ({s.rolling_back})" for s in stuck)
                         + " could not complete: the new version may still take traffic. Fix the platform, then "
                         "`/orchestrate rollback` finishes it (`conductor watch` keeps retrying meanwhile)")
        elif final.outcome == "failed" or outcome.stop == "model_error" or outcome.platform_error:
            code = EXIT_ERROR
        elif any(s.kind == "ROLLBACK" for s in emitted) or final.outcome == "rolled_back":
            code = EXIT_ROLLED_BACK
        elif final.in_flight and outcome.stop == "stopped_early":
            code = EXIT_BRAIN_STOPPED
            notes.append(f"orchestration #{final.id} is still in flight: `conductor orchestrate {final.strategy} "
                         "--model policy` finishes it with the offline policy brain; `conductor watch` keeps the "
                         "watchdog on it, `/orchestrate rollback` undoes it")
        elif final.in_flight and not final.waits_for_person and outcome.stop in _STOPPED_SHORT:
            # The brain was stopped (turns, budget, a refusal, a cut-off answer) with the release
            # neither done nor paused for a person: not a success a pipeline may carry on from.
            # A brain that ends its turn by choice (e.g. after a canary step) is a pause.
            code = EXIT_ERROR
            notes.append(f"orchestration #{final.id} is still in flight and not waiting for approval: run "
                         f"`/orchestrate {final.strategy}` to continue, `conductor watch` to keep the watchdog on "
                         "it, or `/orchestrate rollback`")
        return self._result(command, final, emitted, code, notes=notes, outcome=outcome)

    def _result(
        self,
        command: Command,
        state: OrchestrationState | None,
        emitted: list[Signal],
        code: int,
        notes: list[str] | None = None,
        outcome: LoopOutcome | None = None,
        planned: dict[str, str] | None = None,
    ) -> Result:
        report, data = build_report(self, command, state, emitted, code, notes or [], outcome, planned)
        return Result(report=report, signals=list(emitted), services=data["services"], exit_code=code, data=data)


def _given_bundle(
    platform: Platform | None, metrics: MetricsProvider | None, clock: Clock | None
) -> PlatformBundle | None:
    """The backend handed in, if any: all of it, never half mixed with the config's backend."""
    if platform is None and metrics is None and clock is None:
        return None
    if platform is None:
        raise TypeError("metrics= or clock= without platform=: hand in the platform they belong to")
    if metrics is None and isinstance(platform, MetricsProvider):
        metrics = platform
    if metrics is None:
        raise TypeError(f"platform={type(platform).__name__} is no MetricsProvider: pass metrics= too")
    if clock is None:
        given_clock = getattr(platform, "clock", None)
        clock = given_clock if isinstance(given_clock, Clock) else RealClock()
    return PlatformBundle(platform=platform, metrics=metrics, clock=clock)


_STOPPED_SHORT = frozenset({"max_turns", "token_budget", "refusal", "max_tokens", "context_window",
                            "cannot_continue"})


def _loop_notes(outcome: LoopOutcome) -> list[str]:
    messages = {
        "max_turns": f"stopped: the brain used all of model.maxTurns; {WATCHED}",
        "token_budget": f"stopped: the brain used its model.tokenBudget; {WATCHED}",
        "refusal": f"stopped: the model refused to continue; {WATCHED}",
        "stopped_early": f"stopped: the brain stopped early (it ended its turn {outcome.nudges + 1} times with a "
                         f"runbook step due and no person asked); {WATCHED}",
    }
    notes = [messages[outcome.stop]] if outcome.stop in messages else []
    if outcome.budget_note:
        notes = [outcome.budget_note]
    if outcome.final_text:
        notes.append(signal_format.neutralize(outcome.final_text.strip()))
    return notes


def _check_release(release: Mapping[str, str], config: ConductorConfig) -> dict[str, str]:
    import re

    checked: dict[str, str] = {}
    for service, version in release.items():
        if service not in config.orchestration.services:
            raise UsageError(f"--release: unknown service {service!r}; configured: "
                             f"{', '.join(config.orchestration.services)}")
        if not re.fullmatch(VERSION_PATTERN, version):  # match() would accept a trailing newline
            raise UsageError(f"--release: {version!r} is not a valid version for {service}")
        checked[service] = version
    return checked


__all__ = ["Conductor", "Result", "signal_format"]
