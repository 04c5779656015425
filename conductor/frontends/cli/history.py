"""`conductor history [service]` and `conductor list`: the releases, from the journal and DEPLOYMENTS.md."""

from __future__ import annotations

import argparse
from typing import Any

from conductor.errors import UsageError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option, print_json, print_markdown
from conductor.frontends.cli.verb_output import open_conductor
from conductor.frontends.release_tables import history_markdown, services_markdown

HISTORY_SCHEMA = "conductor.history/v1"
LIST_SCHEMA = "conductor.list/v1"

HISTORY = """Every release of this environment, newest first: what changed (from -> to), who
approved what and when, how it ended, aborts and undos. Read from the journal, plus the
releases only .mothership/DEPLOYMENTS.md still records. The ids are the revisions
`conductor undo --to-revision N` takes. Read-only: no lock, no platform call.
"""
LIST = """One line per configured service: the version taking its traffic, its latest release and
what is in flight (like `kubectl argo rollouts list rollouts`). Read-only.
"""


def add_parser(subparsers: Any) -> None:
    history = subparsers.add_parser(
        "history", help="the releases: who approved what, when, and the outcome",
        description=HISTORY, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "shown (also when there is no release yet)",
                                  1: "the journal could not be read (a bug)", 2: None}),
    )
    history.add_argument("service", nargs="?", help="only the releases of this service")
    history.add_argument("--limit", type=_positive, metavar="N", help="the newest N releases only")
    add_config_option(history)
    history.add_argument("--json", action="store_true", help=f"print a {HISTORY_SCHEMA} document")
    history.set_defaults(handler=run_history)
    listing = subparsers.add_parser(
        "list", help="each service: the version it runs, its last release, what is in flight",
        description=LIST, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "shown", 1: "the journal or the platform could not be read", 2: None}),
    )
    add_config_option(listing)
    listing.add_argument("--json", action="store_true", help=f"print a {LIST_SCHEMA} document")
    listing.set_defaults(handler=run_list)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def run_history(args: argparse.Namespace) -> int:
    conductor = open_conductor(args)
    try:
        if args.service is not None and args.service not in conductor.config.orchestration.services:
            raise UsageError(f"history: unknown service {args.service!r}; configured services: "
                             f"{', '.join(conductor.config.orchestration.services)}")
        records = conductor.history(args.service, limit=args.limit)
    finally:
        conductor.close()
    if args.json:
        print_json({"schema": HISTORY_SCHEMA, "releases": [r.to_dict() for r in records]})
    else:
        print_markdown(history_markdown(records))
    return 0


def run_list(args: argparse.Namespace) -> int:
    conductor = open_conductor(args)
    try:
        rows = conductor.releases()
    finally:
        conductor.close()
    if args.json:
        print_json({"schema": LIST_SCHEMA, "services": [r.to_dict() for r in rows]})
        return 0
    print_markdown(services_markdown(rows))
    return 0
