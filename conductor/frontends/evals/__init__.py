"""Recorded evals: scenarios that prove a brain, the guards and the watchdog keep releases safe.

A scenario is a folder (``evals/NN_slug/``: ``scenario.json``, a cassette, maybe a script) that
runs on the simulator in virtual time and is judged on the journal — never on what the model
said. Python use::

    from conductor.frontends.evals import load_scenario, run_scenario
    result = run_scenario(load_scenario(Path("evals/06_watchdog_error_rate")), brain="replay")
    assert result.passed, result.first_violation or result.failures

Modules: :mod:`~conductor.frontends.evals.scenario` (the file format), :mod:`~conductor.frontends.evals.runner`
(workspaces, steps, suites in parallel), :mod:`~conductor.frontends.evals.invariants` (safety properties),
:mod:`~conductor.frontends.evals.expectations` (what a scenario says must be true),
:mod:`~conductor.frontends.evals.scorecard` (table, JSON, JUnit), :mod:`~conductor.frontends.evals.scripted` and
:mod:`~conductor.frontends.evals.record` (writing cassettes), :mod:`~conductor.frontends.evals.inject` (hostile text),
:mod:`~conductor.frontends.evals.crash` (a SIGKILL at a chosen event).
"""

from conductor.frontends.evals.invariants import INVARIANTS, Facts, InvariantResult, check_invariants
from conductor.frontends.evals.results import ScenarioResult
from conductor.frontends.evals.runner import run_scenario, run_suite
from conductor.frontends.evals.scenario import Scenario, discover, load_scenario

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
