"""`conductor undo [service] [--to-revision N]`: take back a completed release."""

from __future__ import annotations

import argparse
from typing import Any

from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.verb_output import add_verb_options, open_conductor, show, sinks

DESCRIPTION = """Take back a completed release: back to the version before it, as a blue-green.

  conductor undo                  every service of the latest completed release, to its previous version
  conductor undo api              api only
  conductor undo --to-revision 3  the versions release #3 completed (`conductor history` lists them)

While the old color is still warm (orchestration.scaleDownDelay after the promotion), the flip
back is instant: nothing is deployed. Otherwise the old version is redeployed first. Either way
the judge and the watchdog gate it, and the bake keeps the undone version warm. The command is
the approval; a freeze refuses it (exit 4). For a release still in flight, use `conductor abort`.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "undo", help="take back a completed release (instant while the old color is warm)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "the previous version is deployed (or --dry-run)", 1: None,
                                  2: "bad usage, nothing to undo, a release in flight, or another process holding a "
                                     "service: nothing was changed",
                                  3: "the undo itself was rolled back (the previous version was unhealthy)",
                                  4: None, 7: None, 130: None}),
    )
    parser.add_argument("service", nargs="?", help="undo this service only")
    parser.add_argument("--to-revision", type=int, metavar="N", help="go to the versions release #N completed")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    add_verb_options(parser, drives=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    conductor = open_conductor(args)
    try:
        result = conductor.undo(args.service, to_revision=args.to_revision, dry_run=args.dry_run, **sinks(args))
    finally:
        conductor.close()
    return show(args, result)
