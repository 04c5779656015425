"""`conductor watch`: the watchdog in the foreground for every orchestration in flight.

Run it between approvals (a canary paused at 10% still takes traffic), or as a long-running
host's main loop (the example Kubernetes manifest runs it in a pod). Every healthCheckInterval
it observes each new version taking traffic and rolls back after failureLimit breaches. It stops
when nothing is in flight (never, with --follow), after --duration seconds of platform time, or
on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from conductor.cli.common import add_config_option, print_json
from conductor.clock import VirtualClock
from conductor.errors import EXIT_OK, EXIT_ROLLED_BACK, UsageError
from conductor.signals import Signal


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch", help="run the watchdog for every orchestration in flight",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 nothing rolled back, 3 something was rolled back, 2 bad usage or config",
    )
    add_config_option(parser)
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="stop after this many seconds of platform time (simulated on the sim); "
                        "default: until nothing is in flight")
    parser.add_argument("--follow", action="store_true",
                        help="keep watching when nothing is in flight (a long-running host, e.g. a pod)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from conductor.session import Conductor
    from conductor.watchdog import watch_round

    conductor = Conductor.from_config(args.config)
    rolled_back: list[str] = []
    signals: list[str] = []

    def on_signal(signal: Signal) -> None:
        signals.append(signal.format())
        if not args.json:
            print(signal.format(), flush=True)

    clock = conductor.bundle.clock
    if args.follow and args.duration is None and isinstance(clock, VirtualClock):
        conductor.close()
        raise UsageError("--follow on the simulator needs --duration (simulated time would race ahead)")
    interval = conductor.config.orchestration.health_check_interval
    started = clock.now()
    dogs: dict[int, Any] = {}
    try:
        while args.follow or conductor.in_flight():
            if args.duration is not None and clock.now() - started >= args.duration:
                break
            clock.sleep(interval)  # virtual on the simulator, real elsewhere
            rolled_back += watch_round(conductor, on_signal, dogs)
    except KeyboardInterrupt:
        print("watch: stopped by the user", file=sys.stderr)
    finally:
        conductor.close()
    watched = clock.now() - started
    if args.json:
        print_json({"rolled_back": rolled_back, "signals": signals, "watched_seconds": watched})
    elif not rolled_back:
        print(f"watch: {watched:.0f}s watched, nothing rolled back")
    return EXIT_ROLLED_BACK if rolled_back else EXIT_OK
