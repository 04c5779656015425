"""`conductor eval run [PATH …]` and `conductor eval record PATH`: the recorded-eval suite.

  conductor eval run                              every scenario under ./evals, replaying cassettes
  conductor eval run evals/19_hostile_jumps_to_100 one scenario
  conductor eval run --model replay --model policy   the same suite on two brains, side by side
  conductor eval run --json out.json --junit out.xml
  conductor eval record evals/NN_slug --model anthropic   record a live model (needs ANTHROPIC_API_KEY)
  conductor eval record evals --model scripted            rewrite scripted cassettes offline

Each scenario runs in a fresh temporary workspace on the simulator (virtual time), then its
journal is checked against invariants and expectations. Exit 1 when anything failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from conductor.errors import EXIT_ERROR, EXIT_OK, UsageError
from conductor.frontends import terminal
from conductor.frontends.cli import exit_codes

RUN_BRAINS = ("replay", "policy", "anthropic")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval", help="run the recorded-eval suite (scenarios in evals/) and print a scorecard",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "every scenario passed", 1: "an invariant or expectation failed", 2: None}),
    )
    actions = parser.add_subparsers(dest="eval_action", metavar="ACTION")
    run = actions.add_parser("run", help="run scenarios and print the scorecard")
    run.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="scenario folders or folders of them (default: ./evals)")
    run.add_argument("--model", action="append", choices=RUN_BRAINS, dest="models",
                     help="the brain; repeat to compare brains side by side (default: replay)")
    run.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    run.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML for CI")
    run.add_argument("--jobs", type=int, metavar="N", help="parallel scenarios (default: CPU count)")
    run.set_defaults(handler=run_command)
    record = actions.add_parser("record", help="write a scenario's cassette (live model or its script)")
    record.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    record.add_argument("--model", choices=("anthropic", "scripted"), required=True,
                        help="anthropic: a live model (needs ANTHROPIC_API_KEY); scripted: from script.json")
    record.set_defaults(handler=record_command)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)


def run_command(args: argparse.Namespace) -> int:
    # deferred: the eval runner loads the whole engine when `conductor eval` runs, not on `--help`
    from conductor.frontends.evals.runner import run_suite
    from conductor.frontends.evals.scenario import discover
    from conductor.frontends.evals.scorecard import render_table, write_json, write_junit

    brains: list[str] = args.models or ["replay"]
    if "anthropic" in brains and not os.environ.get("ANTHROPIC_API_KEY"):
        raise UsageError("--model anthropic runs a live model and needs ANTHROPIC_API_KEY; "
                         "use --model replay (the cassettes) or --model policy (offline)")
    if not args.paths and not Path("evals").exists():
        raise UsageError(f"no evals/ folder in {Path.cwd()} (the default): name scenario folders "
                         "(`conductor eval run path/to/evals`), or run it at the root of a Conductor checkout, "
                         "whose evals/ holds the shipped suite")
    folders = discover(args.paths or [Path("evals")])
    if not folders:
        raise UsageError(f"no scenarios under {', '.join(map(str, args.paths or ['evals']))}")
    started = time.perf_counter()
    results = run_suite(folders, brains, jobs=args.jobs)
    seconds = time.perf_counter() - started
    # A terminal's own width (rich folds the long cells); piped, wide lines a log keeps whole.
    render_table(results, terminal.console(width=None if sys.stdout.isatty() else 200), seconds)
    if args.json:
        write_json(results, args.json, seconds)
    if args.junit:
        write_junit(results, args.junit)
    return EXIT_OK if all(r.ok for r in results) else EXIT_ERROR


def record_command(args: argparse.Namespace) -> int:
    # deferred: the recorder loads the whole engine when `conductor eval record` runs, not on `--help`
    from conductor.frontends.evals.record import record_live, record_scripted
    from conductor.frontends.evals.scenario import discover, load_scenario

    if args.model == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
        raise UsageError("recording needs a live model: set ANTHROPIC_API_KEY (nothing was recorded). "
                         "To rewrite scripted cassettes offline, use --model scripted")
    code = EXIT_OK
    for folder in discover(args.paths):
        scenario = load_scenario(folder)
        result = record_live(scenario) if args.model == "anthropic" else record_scripted(scenario)
        mark = "✓" if result.ok else "✗"
        why = "" if result.ok else f": {result.first_violation or result.failures[0]}"
        turns = f"{result.turns} turn" + ("" if result.turns == 1 else "s")
        print(f"{mark} {scenario.name}: cassette {scenario.brain.cassette} written ({turns}){why}")
        if not result.ok:
            code = EXIT_ERROR
    return code
