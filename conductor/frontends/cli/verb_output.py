"""What the day-to-day verbs share on the command line: their options and how a result prints.

A verb's result is the same ``Result`` as ``conductor orchestrate``'s (the report, its signals,
the ``conductor.report/v1`` document), so it prints the same way: signals as they happen, the
markdown report (rich on a terminal, exact when piped), or ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from conductor.frontends.cli.common import add_brain_option, add_config_option, print_json, print_markdown
from conductor.output import write_signal
from conductor.signals import Signal

if TYPE_CHECKING:
    from conductor.result import Result
    from conductor.session import Conductor


def add_verb_options(parser: argparse.ArgumentParser, drives: bool) -> None:
    """--config and --json for every verb; --model for the verbs that drive the release on."""
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON (schema conductor.report/v1)")
    if drives:
        add_brain_option(parser, "the brain that carries the release on")


def open_conductor(args: argparse.Namespace) -> Conductor:
    # deferred: the session loads the whole engine when a verb runs, not on `--help`
    from conductor.session import Conductor

    return Conductor.from_config(args.config, model=getattr(args, "model", None))


def sinks(args: argparse.Namespace) -> dict[str, Any]:
    """Signals printed as they happen (not with --json); progress bars on a terminal."""
    if args.json:
        return {}
    out: dict[str, Any] = {"on_signal": _print_signal}
    if sys.stdout.isatty():
        out["on_progress"] = _progress
    return out


def show(args: argparse.Namespace, result: Result) -> int:
    if args.json:
        print_json(result.data)
    else:
        report = result.report
        for signal in result.signals:  # printed as they happened; keep them out of the rendered report
            report = report.replace(signal.format() + "\n", "")
        print_markdown(report)
    return result.exit_code


def _print_signal(signal: Signal) -> None:
    write_signal(signal)


def _progress(label: str, done: float, total: float) -> None:
    width = 24
    filled = int(width * min(done / total, 1.0)) if total else width
    sys.stderr.write(f"\r{label}: [{'█' * filled}{'░' * (width - filled)}] {done:.0f}/{total:.0f}s")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
