"""`conductor history [service]` and `conductor list`: the releases, from the journal and DEPLOYMENTS.md."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from conductor.errors import UsageError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option, print_json, print_markdown
from conductor.frontends.cli.verb_output import open_conductor

if TYPE_CHECKING:
    from conductor.history import ReleaseRecord

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
        epilog=exit_codes.epilog({0: "shown (also when there is no release yet)", 1: None, 2: None}),
    )
    history.add_argument("service", nargs="?", help="only the releases of this service")
    history.add_argument("--limit", type=_positive, metavar="N", help="the newest N releases only")
    add_config_option(history)
    history.add_argument("--json", action="store_true", help=f"print a {HISTORY_SCHEMA} document")
    history.set_defaults(handler=run_history)
    listing = subparsers.add_parser(
        "list", help="each service: the version it runs, its last release, what is in flight",
        description=LIST, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "shown", 1: None, 2: None}),
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


def history_markdown(records: list[ReleaseRecord]) -> str:
    if not records:
        return "## Release history\n\nNo release yet: `conductor orchestrate canary 10` starts one.\n"
    lines = ["## Release history", "", "| # | Started (UTC) | Strategy | Changes | Outcome | Approvals |",
             "|---|---|---|---|---|---|"]
    for r in records:
        changes = "; ".join(f"{n} {s['from'] or '—'} → {s['to'] or '—'} ({s['result']})" for n, s in r.services.items())
        outcome = r.outcome
        if r.aborted is not None:
            outcome = f"aborted by {r.aborted['actor']}" + (f": {r.aborted['reason']}" if r.aborted["reason"] else "")
        if r.paused is not None:
            outcome += f", paused by {r.paused['actor']}"
        if r.undo_of is not None:
            outcome += f" (undo of #{r.undo_of})"
        approvals = "; ".join(f"{a.actor} {a.percent}%{' ' + a.service if a.service else ''} at {a.at[11:19]}"
                              for a in r.approvals) or ("— (from DEPLOYMENTS.md)" if r.source != "journal" else "—")
        lines.append(f"| {r.id} | {r.started[:19].replace('T', ' ')} | {r.strategy} | {changes} | {outcome} | "
                     f"{approvals} |")
    return "\n".join(lines) + "\n"


def run_list(args: argparse.Namespace) -> int:
    conductor = open_conductor(args)
    try:
        rows = conductor.releases()
    finally:
        conductor.close()
    if args.json:
        print_json({"schema": LIST_SCHEMA, "services": [r.to_dict() for r in rows]})
        return 0
    lines = ["## Services", "", "| Service | Running | Slot | Last release | In flight |", "|---|---|---|---|---|"]
    for r in rows:
        last = f"#{r.last_release} {r.last_outcome}" if r.last_release is not None else "—"
        lines.append(f"| {r.service} | {r.version or '—'} | {r.slot or '—'} | {last} | {r.in_flight or '—'} |")
    print_markdown("\n".join(lines) + "\n")
    return 0
