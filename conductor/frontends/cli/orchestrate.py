"""`conductor orchestrate [blue-green | canary [percent] | rolling | rollback [service]]`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from conductor.errors import UsageError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import (
    add_brain_option,
    add_config_option,
    add_record_option,
    apply_record,
    print_json,
    print_markdown,
)
from conductor.output import write_signal
from conductor.signals import Signal

DESCRIPTION = """Run the spec's /orchestrate command.

  conductor orchestrate                     deployment status
  conductor orchestrate blue-green          blue-green deployment
  conductor orchestrate canary [percent]    canary deployment, or approve the next ramp-up
  conductor orchestrate rolling             rolling update
  conductor orchestrate rollback [service]  roll back one service, or every one in flight

A canary pauses for approval before each ramp-up (state is kept; exit 0). Running
`canary 25` later is the approval for 25% (`canary 25 api`: for api alone; `conductor
promote` approves the next step); `canary 100` promotes. `canary 100` with no
canary in flight is refused (it would be a one-step cutover): use blue-green, a small
first step, or --full-cutover. Rerunning the same strategy command resumes an
orchestration that was interrupted.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "orchestrate", help="deploy, ramp up, roll back, or show status (the spec's /orchestrate)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: None, 1: None, 2: None, 3: None, 4: None, 7: None, 130: None}),
    )
    parser.add_argument("words", nargs="*", metavar="ARGS", help="e.g. `canary 10` or `rollback api`")
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON (schema conductor.report/v1)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    parser.add_argument("--auto", action="store_true",
                        help="canary: ramp through orchestration.canarySteps without pausing (still health-gated)")
    add_brain_option(parser)
    parser.add_argument("--full-cutover", action="store_true",
                        help="confirm `canary 100` with no canary in flight: all traffic to the new version in "
                        "one step (without it, that command is refused)")
    parser.add_argument("--retry", action="store_true",
                        help="deploy a release again although its last orchestration was rolled back")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit 0 even after a rollback or an error (the exit code is in the report); "
                        "for harnesses that hide the output of a failing command")
    add_record_option(parser)
    parser.add_argument("--release", action="append", default=[], metavar="SERVICE=VERSION",
                        help="target version for a service, overriding the config's release (repeatable)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # deferred: the session loads the whole engine when `conductor orchestrate` runs, not on `--help`
    from conductor.session import Conductor

    release = _parse_release(args.release)
    conductor = Conductor.from_config(args.config, model=args.model)
    apply_record(conductor, args.record)
    live = sys.stdout.isatty() and not args.json
    try:
        result = conductor.run(
            args.words, auto=args.auto, dry_run=args.dry_run, release=release, retry=args.retry,
            full_cutover=args.full_cutover,
            on_signal=None if args.json else _print_signal,
            on_progress=_progress_printer() if live else None,
        )
    finally:
        conductor.close()
    if args.json:
        print_json(result.data)
    else:
        report = result.report
        # signals were printed as they happened; keep them out of the rendered report
        for signal in result.signals:
            report = report.replace(signal.format() + "\n", "")
        print_markdown(report)
    return 0 if args.exit_zero else result.exit_code


def _print_signal(signal: Signal) -> None:
    write_signal(signal)


def _progress_printer() -> Any:
    def show(label: str, done: float, total: float) -> None:
        width = 24
        filled = int(width * min(done / total, 1.0)) if total else width
        sys.stderr.write(f"\r{label}: [{'█' * filled}{'░' * (width - filled)}] {done:.0f}/{total:.0f}s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _parse_release(pairs: list[str]) -> dict[str, str]:
    release: dict[str, str] = {}
    for pair in pairs:
        service, sep, version = pair.partition("=")
        if not sep or not service or not version:
            raise UsageError(f"--release expects SERVICE=VERSION, got {pair!r}")
        release[service] = version
    return release
