"""`conductor promote [service] [--full]`: approve the next step of the release in flight."""

from __future__ import annotations

import argparse
from typing import Any

from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.verb_output import add_verb_options, open_conductor, show, sinks

DESCRIPTION = """Approve the next step of the release in flight, and carry it there.

  conductor promote               = the approval `canary` (the next configured step, e.g. 5% -> 25%)
  conductor promote api           = `canary 25 api` (when 25% is the next step): that service only
  conductor promote --full        = `canary 100`: straight to 100% for a canary already in flight

On a blue-green or rolling release in flight, promote approves the switch and continues it. A
paused release is resumed (as `kubectl argo rollouts promote` unpauses). Unlike Argo's
`promote --full`, the checks are not skipped: the jump waits until the judge found the step in
flight non-inferior to stable, and the bake at 100% still runs before the old version is retired.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "promote", help="approve the next canary step (or --full: 100%%) of the release in flight",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "done, or paused awaiting the next approval", 1: None,
                                  2: "bad usage, nothing in flight to promote, a release that stopped (abort it), or "
                                     "another process driving it: nothing was changed",
                                  3: None, 4: None, 7: None, 130: None}),
    )
    parser.add_argument("service", nargs="?", help="approve for this service only (canary)")
    parser.add_argument("--full", action="store_true", help="approve 100%% (a canary in flight): `canary 100`")
    add_verb_options(parser, drives=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    conductor = open_conductor(args)
    try:
        result = conductor.promote(args.service, full=args.full, **sinks(args))
    finally:
        conductor.close()
    return show(args, result)
