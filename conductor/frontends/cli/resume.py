"""`conductor resume`: lift a pause and carry the release on."""

from __future__ import annotations

import argparse
from typing import Any

from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.verb_output import add_verb_options, open_conductor, show, sinks

DESCRIPTION = """Lift `conductor pause` and carry the release on, under the approvals it already has.

An --auto ramp goes on ramping (each step still judged); a canary step that needs an approval
asks for it (then `conductor promote`). Equivalent to `kubectl argo rollouts promote` on a paused
rollout, without approving a new step.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "resume", help="lift a pause and carry the release on",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "done, paused awaiting approval, or nothing was paused", 1: None,
                                  2: "bad usage, nothing in flight, a release that stopped (abort it), or another "
                                     "process driving it: nothing was changed", 3: None,
                                  4: "refused (a freeze): still paused", 7: None, 130: None}),
    )
    add_verb_options(parser, drives=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    conductor = open_conductor(args)
    try:
        result = conductor.resume(**sinks(args))
    finally:
        conductor.close()
    return show(args, result)
