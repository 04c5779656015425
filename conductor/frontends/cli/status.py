"""`conductor status [--wait [--timeout S]]`: the release's state as an exit code, for pipelines.

    conductor status                      0 complete (or nothing released yet), 3 rolled back,
                                          1 failed, 5 paused for approval, 6 still in progress
    conductor status --wait --timeout 600 block until the orchestration ends or pauses for a
                                          person; 6 if the timeout comes first

The equivalent of ``kubectl argo rollouts status --timeout``: a deploy job runs ``conductor
orchestrate canary --auto`` (or starts one and lets ``conductor up`` / ``conductor watch`` drive
it) and gates the next stage on this command's exit code. It only reads the journal: it never
moves traffic, and waiting does not advance anything (the simulator's virtual time moves only
while an orchestrate, watch or up process runs).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conductor.errors import (
    EXIT_ERROR,
    EXIT_IN_PROGRESS,
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_ROLLED_BACK,
    UsageError,
)
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option, print_json, print_markdown

if TYPE_CHECKING:
    from conductor.session import Conductor

SCHEMA = "conductor.status/v1"
_BY_OUTCOME = {"complete": EXIT_OK, "rolled_back": EXIT_ROLLED_BACK, "failed": EXIT_ERROR}


@dataclass(frozen=True)
class Gate:
    """What a pipeline asks: the state of the latest orchestration, and the code it maps to."""

    state: str  # idle | running | awaiting_approval | paused | complete | rolled_back | failed | <other outcome>
    exit_code: int
    orchestration: int | None

    @property
    def settled(self) -> bool:
        """Nothing more will happen without a person (ended, paused, or nothing started)."""
        return self.exit_code != EXIT_IN_PROGRESS


def read_gate(conductor: Conductor) -> Gate:
    """The gate from the journal alone (a pure read; no lock, no platform call)."""
    # deferred: the journal queries load the state fold when `conductor status` runs, not on `--help`
    from conductor.journal.queries import latest

    flights = conductor.in_flight()
    if flights:
        state = flights[0]
        code = EXIT_PAUSED if state.waits_for_person else EXIT_IN_PROGRESS  # approval, or `conductor pause`
        return Gate("paused" if state.paused is not None else state.status, code, state.id)
    last = latest(conductor.journal) if conductor.has_journal else None
    if last is None:
        return Gate("idle", EXIT_OK, None)
    # An outcome this table does not know is not a success a pipeline should carry on from.
    return Gate(last.status, _BY_OUTCOME.get(last.status, EXIT_ERROR), last.id)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status", help="the release's state as an exit code; --wait blocks until it ends (pipeline gate)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({
            0: "complete: every service deployed (or nothing was ever released)",
            1: "failed (a platform failure ended it), or an error reading the state",
            2: None,
            3: "rolled back",
            5: None,
            6: None,
            130: "interrupted (Ctrl-C) while waiting; nothing was changed",
        }),
    )
    add_config_option(parser)
    parser.add_argument("--wait", action="store_true",
                        help="block until the orchestration ends or pauses for approval")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help="with --wait: give up after this long (exit 6); default: wait forever")
    parser.add_argument("--interval", type=_seconds, default=2.0, metavar="SECONDS",
                        help="with --wait: seconds between two reads of the journal (default 2)")
    parser.add_argument("--json", action="store_true", help=f"print a {SCHEMA} document (with the report)")
    parser.set_defaults(handler=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    # deferred: the session loads the whole engine when `conductor status` runs, not on `--help`
    from conductor.session import Conductor

    if args.timeout is not None and not args.wait:
        raise UsageError("--timeout needs --wait")
    conductor = Conductor.from_config(args.config)
    started = time.monotonic()
    try:
        gate = read_gate(conductor)
        while args.wait and not gate.settled:
            left = None if args.timeout is None else args.timeout - (time.monotonic() - started)
            if left is not None and left <= 0:
                break
            time.sleep(args.interval if left is None else min(args.interval, left))
            gate = read_gate(conductor)
        result = conductor.run("/orchestrate")
    finally:
        conductor.close()
    waited = round(time.monotonic() - started, 3)
    timed_out = args.wait and not gate.settled
    if args.json:
        print_json({"schema": SCHEMA, "state": gate.state, "exit_code": gate.exit_code,
                    "orchestration": gate.orchestration, "waited_seconds": waited, "timed_out": timed_out,
                    "report": result.data})
    else:
        print_markdown(result.report)  # a status read emits no signal
        why = f" after waiting {waited:g}s (--timeout)" if timed_out else ""
        print(f"status: {gate.state}{why} (exit {gate.exit_code})")
    return gate.exit_code
