"""`conductor dashboard`: the releases as a web page on this machine, live, read-only by default.

    conductor dashboard                    serve on 127.0.0.1 (a free port) and print the URL with
                                           its token; every request without the token gets 401
    conductor dashboard --port 8765        a fixed port
    conductor dashboard --allow-actions    also offer approve the next step, promote, pause, resume
                                           and roll back on a release in flight, undo on the latest
                                           completed one, each after a confirmation that says
                                           exactly what will happen; journaled as person:dashboard

The pages read the journal only (never a lock), so the dashboard follows a release that another
process drives (`conductor orchestrate`, `conductor up`, `conductor watch`) and updates as it
advances. Nothing is fetched from the network: the charts are SVG drawn by Conductor.
Stop it with Ctrl-C (in the middle of an action from the page, that action stops too: exit 130).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from typing import Any

from conductor.errors import EXIT_OK, UsageError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option
from conductor.frontends.cli.exit_codes import EXIT_INTERRUPTED
from conductor.frontends.cli.interrupted import in_flight_message


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard", help="serve the releases as a live local web page (token in the URL; read-only by default)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "stopped (Ctrl-C or SIGTERM)", 1: "an unexpected error (a bug)",
                                  2: "bad usage or config, or the port is taken",
                                  EXIT_INTERRUPTED: "stopped while an action from the page was running: stderr "
                                  "says what it left taking traffic and how to resume or roll it back"}),
    )
    add_config_option(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_port, default=0, help="port (default: a free one)")
    parser.add_argument("--allow-actions", action="store_true",
                        help="offer approve, promote, pause, resume, roll back and undo from the page (POST, "
                        "CSRF-checked, confirmed first)")
    parser.set_defaults(handler=run)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    # deferred: the session and aiohttp load when the dashboard runs, not on `conductor --help`
    from conductor.frontends.dashboard.served import Served
    from conductor.frontends.dashboard.server import Dashboard
    from conductor.session import Conductor

    try:
        ipaddress.ip_address(args.host.strip("[]"))
    except ValueError:
        if args.host != "localhost":
            raise UsageError(f"--host: {args.host!r} is not an IP address (or localhost)") from None
    conductor = Conductor.from_config(args.config)  # the config must load: a bad one exits 2 here
    conductor.close()
    dashboard = Dashboard(conductor.state_dir, lambda: Conductor.from_config(conductor.config_path),
                          allow_actions=args.allow_actions)
    served = Served(dashboard, args.host, args.port)

    async def main() -> None:
        try:
            await served.start_async()
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
        mode = "actions allowed" if args.allow_actions else "read-only"
        print(f"Conductor dashboard ({mode}) for {conductor.state_dir}:", flush=True)
        print(f"  {dashboard.url()}", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print("  listening beyond this machine: anyone with the URL can see (and with --allow-actions, act)",
                  file=sys.stderr, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await served.stop_async()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        cut = [a.description for a in dashboard.activity if a.exit_code is None and not a.error]
        if not dashboard.idle() and cut:  # the action's thread ends with this process: say what it left
            print(f"dashboard stopped in the middle of an action it ran ({'; '.join(cut)}): it was cut short "
                  "where the journal says", file=sys.stderr)
            print(in_flight_message(args.config), file=sys.stderr)
            return EXIT_INTERRUPTED
        print("dashboard stopped", file=sys.stderr)
    return EXIT_OK
