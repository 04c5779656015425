"""The built-in router as a process of its own: users' traffic does not depend on the control process.

``conductor up`` starts one of these per service (``python -m conductor.platforms.local.router_process``),
in its own session, and drives it over a unix socket in a private directory (see
:mod:`.dataplane`): set the slots' instances, set the split, read counters, drain, stop. The
process holds the last split and instances it was given, so when the control process is killed
it keeps serving exactly as before, and the next ``conductor up`` adopts it (it answers ``hello``
with its pid, port, split and instances) instead of opening the port again. It imports only what
the request path needs, so it starts in a fraction of a second.

The protocol is one JSON object per line each way; every request gets exactly one answer, either
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. SIGTERM (or ``stop``) drains: the
port closes, requests in flight finish (up to a timeout), then the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from conductor.errors import PlatformError
from conductor.platforms.base import SLOTS, Slot
from conductor.platforms.local.router import Router
from conductor.platforms.local.stats import ServiceStats, window_to_json

PROTOCOL = 1
EXIT_PORT_IN_USE = 3


def _slot(value: object) -> Slot:
    for known in SLOTS:
        if value == known:
            return known
    raise ValueError(f"slot must be blue or green, not {value!r}")


class ControlChannel:
    """Answers the control process's requests on the unix socket."""

    def __init__(self, router: Router, stop: asyncio.Event) -> None:
        self.router = router
        self.stop = stop
        self.stop_timeout = 5.0

    def hello(self) -> dict[str, Any]:
        router = self.router
        return {
            "protocol": PROTOCOL,
            "kind": "builtin",
            "pid": os.getpid(),
            "service": router.service,
            "port": router.port,
            "weights": router.weights,
            "backends": {slot: list(router.backends(slot)) for slot in SLOTS},
        }

    async def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        router = self.router
        if op == "hello":
            return self.hello()
        if op == "backends":
            router.set_backends(_slot(request["slot"]), [str(u) for u in request["urls"]])
            return {"backends": list(router.backends(_slot(request["slot"])))}
        if op == "weights":
            green = request["green"]
            if not isinstance(green, int) or isinstance(green, bool) or not 0 <= green <= 100:
                raise ValueError(f"green must be an integer percentage, not {green!r}")
            return {"weights": router.set_weights({"blue": 100 - green, "green": green})}
        if op == "window":
            window = router.stats.slots[_slot(request["slot"])].window(float(request["seconds"]))
            return {"window": window_to_json(window)}
        if op == "totals":
            return {"totals": router.stats.totals()}
        if op == "drain":
            return {"drained": await router.drain(_slot(request["slot"]), float(request["timeout"]))}
        if op == "drain_backend":
            return {"drained": await router.drain_backend(str(request["url"]), float(request["timeout"]))}
        if op == "stop":
            self.stop_timeout = float(request.get("timeout", 5.0))
            self.stop.set()
            return {"stopping": True}
        raise ValueError(f"unknown op {op!r}")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                try:
                    reply = {"ok": True, **(await self.answer(json.loads(line)))}
                except (KeyError, ValueError, TypeError) as exc:
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        writer.close()


async def serve(service: str, host: str, port: int, control: Path) -> int:
    stop = asyncio.Event()
    router = Router(service, ServiceStats(service), host, port)
    try:
        await router.start()
    except PlatformError as exc:
        print(f"conductor router: {exc}", file=sys.stderr, flush=True)
        return EXIT_PORT_IN_USE
    channel = ControlChannel(router, stop)
    with contextlib.suppress(FileNotFoundError):
        control.unlink()  # a socket file left by a router that was killed
    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(channel.handle, path=str(control))
    finally:
        os.umask(old_umask)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"conductor router: {service} listening on {host}:{router.port}, control {control}", flush=True)
    await stop.wait()
    print(f"conductor router: {service} draining (up to {channel.stop_timeout:g}s)", flush=True)
    await router.stop(channel.stop_timeout)
    server.close()
    with contextlib.suppress(FileNotFoundError):
        control.unlink()
    print(f"conductor router: {service} stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conductor.platforms.local.router_process")
    parser.add_argument("--service", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=Path, required=True, help="the unix socket to listen on for control")
    args = parser.parse_args(argv)
    coroutine = serve(args.service, args.host, args.port, args.control)
    try:
        import uvloop  # deferred: optional speed-up; the router runs on asyncio's own loop without it
    except ImportError:
        return asyncio.run(coroutine)
    return int(uvloop.run(coroutine))


if __name__ == "__main__":
    sys.exit(main())
