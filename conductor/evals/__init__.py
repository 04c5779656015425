"""Recorded evals: scenarios that prove a brain, the guards and the watchdog keep releases safe.

A scenario is a folder (``evals/NN_slug/``: ``scenario.json``, a cassette, maybe a script) that
runs on the simulator in virtual time and is judged on the journal — never on what the model
said. Python use::

    from conductor.evals import load_scenario, run_scenario
    result = run_scenario(load_scenario(Path("evals/06_watchdog_error_rate")), brain="replay")
    assert result.passed, result.first_violation or result.failures

Modules: :mod:`~conductor.evals.scenario` (the file format), :mod:`~conductor.evals.runner`
(workspaces, steps, suites in parallel), :mod:`~conductor.evals.invariants` (safety properties),
:mod:`~conductor.evals.expectations` (what a scenario says must be true),
:mod:`~conductor.evals.scorecard` (table, JSON, JUnit), :mod:`~conductor.evals.scripted` and
:mod:`~conductor.evals.record` (writing cassettes), :mod:`~conductor.evals.inject` (hostile text),
:mod:`~conductor.evals.crash` (a SIGKILL at a chosen event).
"""

from conductor.evals.invariants import INVARIANTS, Facts, InvariantResult, check_invariants
from conductor.evals.results import ScenarioResult
from conductor.evals.runner import run_scenario, run_suite
from conductor.evals.scenario import Scenario, discover, load_scenario

__all__ = [
    "INVARIANTS",
    "Facts",
    "InvariantResult",
    "Scenario",
    "ScenarioResult",
    "check_invariants",
    "discover",
    "load_scenario",
    "run_scenario",
    "run_suite",
]
