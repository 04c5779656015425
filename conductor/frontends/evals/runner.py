"""Run a scenario in a fresh workspace and judge it on the journal.

    result = run_scenario(load_scenario(Path("evals/01_canary_approved_each_step")), brain="replay")
    result.passed, result.first_violation

Each scenario gets its own temporary repository (``.mothership/config.json`` = the scenario's
config, the simulator in virtual time), runs its steps through :class:`conductor.Conductor` the
way the CLI would, then hands the journal and the platform's final state to the invariants and
the expectations. Suites run scenarios in parallel processes (forked after the heavy imports, so
each costs only its own simulation).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from conductor.agent.messages import conforms, strict_schema
from conductor.errors import ConductorError, UsageError
from conductor.frontends.evals.crash import arm
from conductor.frontends.evals.expectations import check_expectations, made_safe_by, rollback_timing
from conductor.frontends.evals.inject import Planter, injecting, load_corpus
from conductor.frontends.evals.invariants import Facts, check_invariants
from conductor.frontends.evals.results import ScenarioResult, StepRecord
from conductor.frontends.evals.scenario import Scenario, Step, load_scenario
from conductor.journal.state import fold
from conductor.journal.store import Event, Journal
from conductor.locks import ServiceLocks
from conductor.session import Conductor
from conductor.toolbox import TOOLS
from conductor.watchdog import Watchdog


def scratch_dir() -> str | None:
    """Where workspaces go: a RAM disk when there is one. The journal fsyncs every event (that is
    its job); on a RAM disk that costs nothing, which is most of the difference between a suite
    that replays in seconds and one that takes a minute."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def workspace_config(scenario: Scenario, brain: str) -> dict[str, Any]:
    """The scenario's config as the run sees it: the replay brain reads the scenario's cassette."""
    config: dict[str, Any] = json.loads(json.dumps(scenario.config))
    platform = config.setdefault("platform", {"kind": "sim"})
    if platform.get("kind", "sim") != "sim":
        raise UsageError(f"{scenario.name}: evals run on the simulator; platform.kind must be sim")
    if brain == "replay":
        config.setdefault("model", {})["cassette"] = str(scenario.folder / scenario.brain.cassette)
    return config


def run_scenario(scenario: Scenario, brain: str = "replay") -> ScenarioResult:
    """Run every step, then check invariants and expectations. Never raises for a failed scenario."""
    started = time.perf_counter()
    origin = scenario.brain.origin if brain == "replay" else brain
    result = ScenarioResult(scenario.name, scenario.title, brain, origin, known_bug=scenario.known_bug_for(brain))
    with tempfile.TemporaryDirectory(prefix=f"eval-{scenario.name}-", dir=scratch_dir()) as tmp:
        root = Path(tmp)
        state_dir = root / ".mothership"
        state_dir.mkdir()
        config_path = state_dir / "config.json"
        try:
            config_path.write_text(json.dumps(workspace_config(scenario, brain), indent=1))
            before = _platform_versions(root, config_path)
            with ExitStack() as stack:
                if scenario.inject:
                    planter = stack.enter_context(injecting(Planter(load_corpus(scenario.folder / scenario.inject))))
                else:
                    planter = None
                for step in scenario.steps:
                    result.steps.append(_run_step(step, root, config_path, brain))
            # the policy brain reads typed state, never text: the corpus cannot reach it, by design
            if planter is not None and brain != "policy" and len(planter.planted) < len(planter.payloads):
                result.failures.append(f"only {len(planter.planted)}/{len(planter.payloads)} payloads reached the "
                                       "brain; add steps so every payload is read")
        except ConductorError as exc:
            result.failures.append(f"setup: {exc}")
            result.seconds = time.perf_counter() - started
            return result
        _judge(scenario, brain, result, root, before)
    result.seconds = time.perf_counter() - started
    return result


def _judge(scenario: Scenario, brain: str, result: ScenarioResult, root: Path, before: dict[str, set[str]]) -> None:
    state_dir = root / ".mothership"
    journal = Journal(state_dir / "journal.db")
    try:
        events = journal.events()
    finally:
        journal.close()
    sim = _platform_picture(root / ".mothership" / "config.json")
    config = scenario.conductor_config()
    expect = scenario.expectations(brain)
    facts = Facts(events=events, config=config, platform_before=before,
                  platform_after=_versions_in(sim), end_time=float(sim.get("now", 0.0)),
                  rollback_within_intervals=expect.rollback_within_intervals,
                  reports=[s.report for s in result.steps if s.report])
    result.invariants = check_invariants(facts, expect.skip_invariants)
    last = max((e.orchestration for e in events if e.orchestration is not None), default=None)
    state = fold(e for e in events if e.orchestration == last) if last is not None else None
    result.outcome = state.status if state is not None else "idle"
    result.turns, result.usage = _turns(events)
    result.malformed, result.malformed_strict = malformed_calls(events, list(config.orchestration.services))
    result.time_to_rollback = rollback_timing(events)
    result.made_safe_by = made_safe_by(events)
    notes = [n for s in result.steps for n in s.notes]
    for marker, name in (("model.maxTurns", "max_turns"), ("model.tokenBudget", "token_budget")):
        if any(n.startswith("stopped:") and marker in n for n in notes) and name not in result.made_safe_by:
            result.made_safe_by.append(name)
    result.failures += check_expectations(expect, result, state, sim, events)
    if brain == "replay":
        diverged = [n for s in result.steps for n in s.notes if "diverged" in n]
        if diverged:
            result.failures.append(f"the run diverged from the cassette: {diverged[0]}")


def malformed_calls(events: list[Event], services: list[str]) -> tuple[int, int]:
    """Calls the dispatcher refused as malformed, and how many of them a model could still make
    with strict tool use: the tool exists and the arguments fit its strict schema (types, enums,
    closed objects) — out-of-range numbers and bad strings strict mode does not constrain."""
    refused = [e for e in events if e.kind == "tool_call" and e.data.get("decision") == "invalid"]
    still = 0
    for event in refused:
        tool = TOOLS.get(str(event.data.get("tool")))
        arguments = event.data.get("arguments")
        if tool is not None and conforms(strict_schema(tool.json_schema(), services), arguments):
            still += 1
    return len(refused), still


def _turns(events: list[Event]) -> tuple[int, dict[str, int]]:
    usage: dict[str, int] = {}
    turns = 0
    for event in events:
        if event.kind == "brain_turn":
            turns += 1
            for key, value in (event.data.get("usage") or {}).items():
                usage[key] = usage.get(key, 0) + int(value or 0)
    return turns, usage


def _versions_in(sim: dict[str, Any]) -> dict[str, set[str]]:
    return {name: {str(i["version"]) for slot in record["slots"].values() for i in slot["instances"]}
            for name, record in sim.get("services", {}).items()}


def _platform_picture(config_path: Path) -> dict[str, Any]:
    """What the platform runs now and its clock, read through the Platform seam.

    The simulator writes its state file only when something changes, and other backends have no
    file at all, so the scorecard asks the platform itself (snapshots) rather than reading a file.
    """
    conductor = Conductor.from_config(config_path, model="policy")
    try:
        services: dict[str, Any] = {}
        for service in conductor.config.orchestration.services:
            snapshot = conductor.bundle.platform.snapshot(service)
            services[service] = {
                "weights": {slot: int(weight) for slot, weight in snapshot.weights.items()},
                "slots": {slot: {"version": state.version,
                                 "instances": [{"version": i.version} for i in state.instances]}
                          for slot, state in snapshot.slots.items()},
            }
        return {"now": conductor.bundle.clock.now(), "services": services}
    finally:
        conductor.close()


def _platform_versions(root: Path, config_path: Path) -> dict[str, set[str]]:
    """What the platform runs before the first command (the simulator creates it on first open)."""
    return _versions_in(_platform_picture(config_path))


def _run_step(step: Step, root: Path, config_path: Path, brain: str) -> StepRecord:
    record = StepRecord(step.label, 0, step.exit_expected(brain))
    if step.crash is not None:
        return _crash(step, root, brain, record)
    conductor = Conductor.from_config(config_path, model=step.model or brain)
    try:
        if step.run is not None:
            outcome = conductor.run(step.run, auto=step.auto, actor=step.actor)
            record.exit_code = outcome.exit_code
            record.notes = [str(n) for n in outcome.data.get("notes", [])]
            record.report = outcome.report
        else:
            assert step.watch is not None
            record.exit_code = _watch(conductor, step.watch)
    except ConductorError as exc:
        record.exit_code, record.notes = exc.exit_code, [str(exc)]
    except Exception as exc:  # an engine bug: the CLI would exit 1; the suite must go on and say so
        record.exit_code, record.notes = 1, [f"unexpected error: {type(exc).__name__}: {exc}"]
    finally:
        conductor.close()
    return record


def _watch(conductor: Any, seconds: float) -> int:
    """``conductor watch --duration seconds``: a watchdog round every interval while nobody acts.

    The same rounds as :func:`conductor.watchdog.watch_round`, except that each orchestration's
    runtime is kept between rounds so its state folds in only the new events; re-folding the
    whole journal every round (as ``watch_round`` does) makes a long watch quadratic.
    """
    clock = conductor.bundle.clock
    interval = conductor.config.orchestration.health_check_interval
    started = clock.now()
    dogs = [(state.services, Watchdog(conductor.runtime(state.id))) for state in conductor.in_flight()]
    rolled_back: list[str] = []
    while clock.now() - started < seconds - 1e-9 and any(dog.rt.state().in_flight for _, dog in dogs):
        clock.sleep(interval)
        for services, dog in dogs:
            if dog.rt.state().in_flight:
                with ServiceLocks(conductor.state_dir, list(services)):
                    rolled_back += dog.tick()
    return 3 if rolled_back else 0


def _crash(step: Step, root: Path, brain: str, record: StepRecord) -> StepRecord:
    """Run the command in a forked child that SIGKILLs itself after the chosen event.

    A fork, not a fresh interpreter: the child is a separate process killed by a real SIGKILL
    (no ``finally``, no lock release beyond the kernel's), but it starts with everything already
    imported, so a crash scenario costs milliseconds instead of an interpreter start-up.
    ``python -m conductor.frontends.evals.crash`` does the same from a shell.
    """
    assert step.crash is not None
    crash = step.crash
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.chdir(root)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)

            arm(crash.after_event, crash.count)
            code = Conductor.from_config(root / ".mothership" / "config.json", model=brain).run(
                crash.run, auto=crash.auto).exit_code
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    record.exit_code = -signal.SIGKILL if killed else os.waitstatus_to_exitcode(status)
    if not killed:
        record.notes.append(f"the process was not killed (exit {record.exit_code}): the kill point never came")
    return record


# -- suites --------------------------------------------------------------------------------------


def _run_path(job: tuple[str, str]) -> ScenarioResult:
    path, brain = job
    return run_scenario(load_scenario(Path(path)), brain)


def run_suite(folders: list[Path], brains: list[str], jobs: int | None = None) -> list[ScenarioResult]:
    """Every scenario on every brain, in parallel processes when there is more than one job."""
    for folder in folders:
        load_scenario(folder)  # a broken scenario file fails the whole command before anything runs
    work = [(str(folder), brain) for folder in folders for brain in brains]
    workers = min(len(work), jobs or os.cpu_count() or 1)
    if workers <= 1 or sys.platform == "win32":
        return [_run_path(job) for job in work]
    # deferred: the anthropic SDK (replay brain) loads once before forking, so every worker inherits it
    import conductor.models.replay  # noqa: F401  (the SDK is imported once here, inherited by every fork)

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        return list(pool.map(_run_path, work))
