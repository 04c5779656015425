"""`conductor watch`: the watchdog in the foreground for every orchestration in flight.

Run it between approvals (a canary paused at 10% still takes traffic), or as a long-running
host's main loop (the example Kubernetes manifest runs it in a pod). Every healthCheckInterval
it observes each new version taking traffic and rolls back after failureLimit breaches. It stops
when nothing is in flight (never, with --follow), after --duration seconds of platform time, or
on Ctrl-C. On a terminal it shows a heartbeat line on stderr after each round.

On the simulator time is virtual: it only passes while something waits, so a paused canary
would be watched through endless simulated hours at full CPU. There ``watch`` covers --duration
seconds of simulated time, one hour by default, and then stops.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from conductor.clock import VirtualClock
from conductor.errors import EXIT_OK, EXIT_ROLLED_BACK, UsageError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option, print_json
from conductor.frontends.cli.interrupted import in_flight_message
from conductor.output import write_signal
from conductor.signals import Signal


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch", help="run the watchdog for every orchestration in flight",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "nothing was rolled back", 1: None, 2: None,
                                  3: "something was rolled back (also when interrupted after it)",
                                  130: "interrupted (Ctrl-C or SIGTERM) before anything was rolled back"}),
    )
    add_config_option(parser)
    parser.add_argument("--duration", type=_positive_seconds, metavar="SECONDS",
                        help="stop after this many seconds of platform time (simulated on the sim); "
                        f"default: until nothing is in flight (on the sim: {SIM_HORIZON:.0f}s of simulated time)")
    parser.add_argument("--follow", action="store_true",
                        help="keep watching when nothing is in flight (a long-running host, e.g. a pod)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    parser.set_defaults(handler=run)


SIM_HORIZON = 3600.0  # simulated seconds watched on the simulator when no --duration is given
HEARTBEAT_EVERY = 1.0  # real seconds between heartbeat lines at most (simulated rounds are instant)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def run(args: argparse.Namespace) -> int:
    # deferred: the session and the watchdog load the whole engine when `conductor watch` runs, not on `--help`
    from conductor.session import Conductor
    from conductor.watchdog import Patrol

    conductor = Conductor.from_config(args.config)
    rolled_back: list[str] = []
    signals: list[str] = []
    emitted: list[Signal] = []

    def on_signal(signal: Signal) -> None:
        signals.append(signal.format())
        emitted.append(signal)
        if not args.json:
            write_signal(signal)

    clock = conductor.bundle.clock
    if args.follow and args.duration is None and isinstance(clock, VirtualClock):
        conductor.close()
        raise UsageError("--follow on the simulator needs --duration (simulated time would race ahead)")
    interval = conductor.config.orchestration.health_check_interval
    duration = args.duration
    if duration is None and isinstance(clock, VirtualClock):
        duration = SIM_HORIZON
    started = clock.now()
    patrol = Patrol(conductor, on_signal)
    heartbeat = _Heartbeat(enabled=not args.json and sys.stderr.isatty())
    interrupted = False
    try:
        while args.follow or patrol.in_flight():
            if duration is not None and clock.now() - started >= duration - 1e-9:
                break
            clock.sleep(min(interval, duration - (clock.now() - started)) if duration else interval)
            rolled_back += patrol.round()
            heartbeat.beat(clock.now() - started, patrol, rolled_back)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI turns it into one)
        interrupted = True
    finally:
        conductor.close()
    watched = clock.now() - started
    if args.json:
        print_json({"rolled_back": rolled_back, "signals": signals, "watched_seconds": watched}, emitted)
    elif not rolled_back:
        print(f"watch: {watched:.0f}s watched, nothing rolled back")
    if interrupted:
        # The watchdog stops with this process: say what is left unwatched, as every driver does.
        print(in_flight_message(args.config), file=sys.stderr)
    # A rollback is the news a pipeline needs first; else an interruption is not "all fine".
    return EXIT_ROLLED_BACK if rolled_back else exit_codes.EXIT_INTERRUPTED if interrupted else EXIT_OK


class _Heartbeat:
    """One line on stderr after a round, on a terminal only (never in pipes or --json), at most
    once per real second: what is watched, its health, and how long it has been watched."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = -math.inf

    def beat(self, watched: float, patrol: Any, rolled_back: list[str]) -> None:
        if not self.enabled or time.monotonic() - self._last < HEARTBEAT_EVERY:
            return
        self._last = time.monotonic()
        parts = []
        for state in patrol.in_flight():
            for svc in state.services.values():
                if svc.new_version_live:
                    verdict = svc.health.verdict.value if svc.health is not None else "not checked yet"
                    parts.append(f"{svc.name} {svc.status_label} ({verdict})")
        watching = ", ".join(parts) or "nothing taking traffic"
        done = f"; rolled back: {', '.join(rolled_back)}" if rolled_back else ""
        print(f"watch: {watched:.0f}s watched: {watching}{done}", file=sys.stderr, flush=True)
