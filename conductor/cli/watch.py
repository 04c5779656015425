"""`conductor watch`: the watchdog in the foreground for every orchestration in flight.

Run it between approvals (a canary paused at 10% is still taking traffic) or as a long-running
host's main loop. It stops when nothing is in flight (or after --duration seconds).
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from conductor.cli.common import add_config_option, print_json
from conductor.clock import VirtualClock
from conductor.errors import EXIT_OK, EXIT_ROLLED_BACK


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch", help="run the watchdog for every orchestration in flight",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_option(parser)
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="stop after this many (platform) seconds; default: until nothing is in flight")
    parser.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from conductor.session import Conductor

    conductor = Conductor.from_config(args.config)
    rolled_back: list[str] = []
    signals: list[str] = []
    interval = conductor.config.orchestration.health_check_interval
    clock = conductor.bundle.clock
    started = clock.now()
    deadline = started + args.duration if args.duration is not None else None

    def runtimes() -> list[Any]:
        sink = {"on_signal": lambda s: (signals.append(s.format()), None if args.json else print(s.format()))}
        return [conductor.runtime(state.id, **sink) for state in conductor.in_flight()]

    stop = threading.Event()
    try:
        if isinstance(clock, VirtualClock):
            _watch_virtual(conductor, runtimes, clock, interval, deadline, rolled_back)
        else:
            from conductor.watchdog import watch_forever

            def until_done() -> list[Any]:
                current = runtimes()
                if not current or (deadline is not None and clock.now() >= deadline):
                    stop.set()
                return current

            watch_forever(until_done, stop, interval, on_rollback=rolled_back.append)
    except KeyboardInterrupt:
        print("watch: stopped by the user", file=sys.stderr)
    finally:
        conductor.close()
    if args.json:
        print_json({"rolled_back": rolled_back, "signals": signals, "watched_seconds": clock.now() - started})
    elif not rolled_back:
        print(f"watch: {clock.now() - started:.0f}s watched, nothing rolled back")
    return EXIT_ROLLED_BACK if rolled_back else EXIT_OK


def _watch_virtual(conductor: Any, runtimes: Any, clock: VirtualClock, interval: float,
                   deadline: float | None, rolled_back: list[str]) -> None:
    """Simulated time: advance the clock one interval per round (instant unless timeScale > 0)."""
    from conductor.watchdog import Watchdog

    while True:
        current = runtimes()
        if not current or (deadline is not None and clock.now() >= deadline):
            return
        clock.sleep(interval)
        for rt in current:
            rolled_back += Watchdog(rt).tick()
