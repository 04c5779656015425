"""`conductor pause [--reason TEXT]`: hold the release in flight where it is."""

from __future__ import annotations

import argparse
from typing import Any

from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.verb_output import add_verb_options, open_conductor, show

DESCRIPTION = """Hold every release in flight where it is (typically an --auto ramp).

Nothing moves it forward — no deploy, no more traffic, no promotion — until `conductor resume`
(or `conductor promote`). The watchdog keeps judging the new version and rolls it back on a
regression; `conductor abort` / `orchestrate rollback` stay available. The pause is journaled,
so the process driving the release stops at its next step, wherever it runs.
`conductor status` exits 5 (paused for a person) meanwhile.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pause", help="hold the release in flight (no more traffic) until `conductor resume`",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "paused (or already paused)", 1: None,
                                  2: "bad usage, or nothing in flight to pause: nothing was changed"}),
    )
    parser.add_argument("--reason", default="", help="why (kept in the journal and in history)")
    add_verb_options(parser, drives=False)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    conductor = open_conductor(args)
    try:
        result = conductor.pause(reason=args.reason)
    finally:
        conductor.close()
    return show(args, result)
