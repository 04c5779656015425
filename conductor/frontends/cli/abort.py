"""`conductor abort [service] [--reason TEXT]`: roll back the release in flight, marked aborted."""

from __future__ import annotations

import argparse
from typing import Any

from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.verb_output import add_verb_options, open_conductor, show, sinks

DESCRIPTION = """Stop the release in flight and put all traffic back on the stable version.

  conductor abort                 = `rollback` of every release in flight, marked aborted
  conductor abort api             = ... of the release that holds api (all of its services)

The release ends rolled back and stays marked aborted in `conductor history` (by whom, and
--reason). As with `kubectl argo rollouts abort`, the new versions stay named in the config's
release: running the same release again is refused until you pass --retry (Argo's `retry`) or
release another version. Like every rollback it waits for no other process and no freeze
refuses it.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "abort", help="roll back the release in flight and keep it marked aborted",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "nothing was in flight (or --dry-run)", 1: "a rollback could not complete",
                                  2: None, 3: "aborted: traffic is back on stable", 130: None}),
    )
    parser.add_argument("service", nargs="?", help="the release holding this service")
    parser.add_argument("--reason", default="", help="why (kept in the journal and in history)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be rolled back; change nothing")
    add_verb_options(parser, drives=False)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    conductor = open_conductor(args)
    try:
        options = sinks(args)
        options.pop("on_progress", None)
        result = conductor.abort(args.service, reason=args.reason, dry_run=args.dry_run, **options)
    finally:
        conductor.close()
    return show(args, result)
