"""SIGKILL at every write of a run, then resume: traffic, the orchestration and the signals hold.

The orchestrating process kills itself at its N-th durable write point
(:mod:`conductor.faults`: both sides of every journal commit and of the simulator's state file
write, fsync and rename), for N = 1, 2, … until a run ends without reaching N. After each kill
the command a person would type next runs to completion, and the test checks:

- traffic: every service sends 100% to one version, never the bad release, never a split;
- the orchestration ended (nothing left in flight) the way it had to (rolled back, or complete
  for the good release);
- signals: in the journal, exactly one ROLLBACK per service that took traffic, none for one that
  never did, one DEPLOYED for the good release and none otherwise; in the output, every
  journaled signal was printed by the killed process or by the resume (unless the kill came
  after the orchestration had already ended, when no process is left to print it), and no
  process printed one twice.

Each run is a fork of the test process (no interpreter start-up), on the simulator with
``timeScale`` 0. The default suite tries a stride of the kill points of each scenario (every
point for the first few, then every ``STRIDE``-th); ``CONDUCTOR_KILL_SWEEP=full`` tries every
one of them (~400 kills, several minutes).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conductor import faults
from conductor.journal.store import Journal
from conductor.signals import parse_signals
from tests.conftest import SPEC_CONFIG

FULL = os.environ.get("CONDUCTOR_KILL_SWEEP") == "full"
STRIDE = 13
BAD = "v1.1.0"


@dataclass
class Scenario:
    name: str
    config: dict[str, Any]
    setup: list[list[str]]  # run to completion before the killed command
    command: list[str]
    resume: list[str]
    took_traffic: set[str]  # services that must end with exactly one ROLLBACK signal
    no_signal: set[str] = field(default_factory=set)  # services rolled back that never took traffic
    good: dict[str, str] = field(default_factory=dict)  # services that may end on the new version
    outcome: str = "rolled_back"


def _config(services: list[str], timeline: list[dict[str, Any]], **orchestration: Any) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(json.dumps(SPEC_CONFIG))
    config["orchestration"].update({"services": services, "bakeTime": 30, "failureLimit": 2, **orchestration})
    config["platform"] = {"kind": "sim", "seed": 3, "timeScale": 0, "timeline": timeline}
    config["release"] = {name: BAD for name in services}
    return config


SCENARIOS = [
    Scenario(
        "canary-watchdog",
        _config(["api", "web"], [{"at": 0, "target": f"api@{BAD}", "set": {"errorRate": 30}}]),
        setup=[],
        command=["orchestrate", "canary", "--auto"],
        resume=["orchestrate", "canary", "--auto"],
        took_traffic={"api", "web"},
    ),
    Scenario(
        "manual-rollback",
        _config(["api", "web"], []),
        setup=[["orchestrate", "canary", "10"]],
        command=["orchestrate", "rollback"],
        resume=["orchestrate", "rollback"],
        took_traffic={"api", "web"},
    ),
    Scenario(
        "blue-green-bad-second",
        _config(["api", "web"], [{"at": 0, "target": f"web@{BAD}", "set": {"errorRate": 30}}]),
        setup=[],
        command=["orchestrate", "blue-green"],
        resume=["orchestrate", "blue-green"],
        took_traffic={"web"},
        good={"api": BAD},
    ),
    Scenario(  # a good release: exactly one DEPLOYED, whoever finishes it
        "blue-green-good",
        _config(["api", "web"], []),
        setup=[],
        command=["orchestrate", "blue-green"],
        resume=["orchestrate", "blue-green"],
        took_traffic=set(),
        good={"api": BAD, "web": BAD},
        outcome="complete",
    ),
]


@dataclass
class Run:
    code: int | None  # None: killed
    out: str


def _fork_cli(root: Path, args: list[str], kill_at: int | None) -> Run:
    """Run the CLI in a forked child (killed at its ``kill_at``-th write point, if given)."""
    out_path = root / f"out.{os.getpid()}.{len(list(root.glob('out.*')))}"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = os.fdopen(2, "w")
            os.chdir(root)
            os.environ.pop("ANTHROPIC_API_KEY", None)
            os.environ.pop("CONDUCTOR_MODEL", None)
            if kill_at is not None:
                os.environ[faults.ENV] = str(kill_at)
            faults._count = 0  # a fresh process's count
            from conductor.frontends.cli import main

            code = main(args)
            sys.stdout.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    out = out_path.read_text(encoding="utf-8", errors="replace")
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return Run(None, out)
    return Run(os.WEXITSTATUS(status), out)


def _workspace(base: Path, scenario: Scenario, n: int) -> Path:
    root = base / f"{scenario.name}-{n}"
    (root / ".mothership").mkdir(parents=True)
    (root / ".mothership" / "config.json").write_text(json.dumps(scenario.config))
    for args in scenario.setup:
        run = _fork_cli(root, args, None)
        assert run.code == 0, run.out
    return root


def _signals(out: str) -> list[str]:
    return [s.format() for s in parse_signals(out)]


def _check(root: Path, scenario: Scenario, killed: Run, ended_before_resume: bool, resumed: Run) -> list[str]:
    """Everything wrong after a kill and a resume (empty: all good)."""
    problems: list[str] = []
    state = json.loads((root / ".mothership" / "sim" / "state.json").read_text())
    for name, service in state["services"].items():
        weights = service["weights"]
        live = [slot for slot, w in weights.items() if w]
        if len(live) != 1:
            problems.append(f"{name}: traffic split {weights}")
            continue
        version = service["slots"][live[0]]["version"]
        if version == BAD and scenario.good.get(name) != BAD:
            problems.append(f"{name}: {weights[live[0]]}% on the bad release {version}")
    journal = Journal(root / ".mothership" / "journal.db")
    try:
        ended = {e.orchestration: e.data["outcome"] for e in journal.events(kinds=("orchestration_ended",))}
        open_ones = [oid for oid, *_ in journal.orchestrations() if oid not in ended]
        if open_ones:
            problems.append(f"orchestrations still open: {open_ones}")
        if ended and list(ended.values())[-1] != scenario.outcome:
            problems.append(f"the orchestration ended {list(ended.values())[-1]!r}, not {scenario.outcome}")
        texts = [str(e.data.get("text")) for e in journal.events(kinds=("signal",))]
    finally:
        journal.close()
    rollbacks = Counter(s.services[0] for t in texts for s in parse_signals(t) if s.kind == "ROLLBACK")
    for name in scenario.took_traffic:
        if rollbacks[name] != 1:
            problems.append(f"{name}: {rollbacks[name]} ROLLBACK signals journaled, expected 1")
    for name in scenario.no_signal:
        if rollbacks[name]:
            problems.append(f"{name}: a ROLLBACK signal for a service that never took traffic")
    deployed = sum("DEPLOYED" in t for t in texts)
    if deployed != (1 if scenario.outcome == "complete" else 0):
        problems.append(f"{deployed} DEPLOYED signals journaled")
    for label, run in (("killed", killed), ("resume", resumed)):
        doubled = [s for s, count in Counter(_signals(run.out)).items() if count > 1]
        if doubled:
            problems.append(f"the {label} process printed {doubled} more than once")
    if not ended_before_resume:
        printed = set(_signals(killed.out)) | set(_signals(resumed.out))
        missing = [t for t in texts if t not in printed]
        if missing:
            problems.append(f"journaled but printed by no process: {missing}")
    if resumed.code not in (0, 2, 3):
        problems.append(f"the resume exited {resumed.code}: {resumed.out[-500:]}")
    return problems


def _everything_ended(root: Path) -> bool:
    """True when the killed process had already ended its orchestration (nobody left to print)."""
    if not (root / ".mothership" / "journal.db").exists():
        return False
    journal = Journal(root / ".mothership" / "journal.db")
    try:
        ids = {oid for oid, *_ in journal.orchestrations()}
        return bool(ids) and ids <= {e.orchestration for e in journal.events(kinds=("orchestration_ended",))}
    finally:
        journal.close()


def _points(total: int) -> list[int]:
    if FULL:
        return list(range(1, total + 1))
    return sorted({*range(1, min(total, 3) + 1), *range(3, total + 1, STRIDE), total})


def _total_points(base: Path, scenario: Scenario) -> int:
    """How many write points the command passes when nothing kills it."""
    root = _workspace(base, scenario, 0)
    counter = root / "count"
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.chdir(root)
            os.environ[faults.ENV] = str(10**9)
            faults._count = 0
            from conductor.frontends.cli import main

            main(scenario.command)
            counter.write_text(str(faults.writes_so_far()))
            code = 0
        finally:
            os._exit(code)
    os.waitpid(pid, 0)
    return int(counter.read_text())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_kill_at_any_write_then_a_resume_leaves_a_consistent_release(scenario: Scenario, tmp_path: Path) -> None:
    total = _total_points(tmp_path, scenario)
    assert total > 10, "the command passed almost no write points: the fault hooks are not wired"
    failures: dict[int, list[str]] = {}
    tried = 0
    for n in _points(total):
        root = _workspace(tmp_path, scenario, n)
        killed = _fork_cli(root, scenario.command, n)
        if killed.code is not None:
            continue  # this run passed fewer points than the calibration (not killed): nothing to resume
        tried += 1
        ended_before = _everything_ended(root)
        resumed = _fork_cli(root, scenario.resume, None)
        problems = _check(root, scenario, killed, ended_before, resumed)
        if problems:
            failures[n] = problems
    print(f"{scenario.name}: {total} write points, {tried} kills tried, {tried - len(failures)} passed")
    assert tried >= min(total, 10) // 2
    assert not failures, "\n".join(f"kill at write {n}: {p}" for n, p in failures.items())
