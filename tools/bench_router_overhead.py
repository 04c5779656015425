"""Benchmark: what the local router costs, against calling an instance directly and against HAProxy.

    python tools/bench_router_overhead.py [--seconds 5]

Two instances of a minimal asyncio HTTP server (so the backend is never the bottleneck) run as
the blue and green slots of one service under `conductor up`, split 90/10. wrk (Debian package
`wrk`) then measures, in the same run and on the same machine:

- latency with one connection (p50/p99: what one request pays), and
- maximum throughput with 64 connections on 2 wrk threads,

for: the instance directly; Conductor's router; and HAProxy (Debian package `haproxy`) with the
same 90/10 split, when installed. Ratios are against the direct call measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import LocalWorkspace, WrkResult, local_config, print_table, wrk

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"


class _Answer(asyncio.Protocol):
    """Answers every request on a keep-alive connection with a fixed 200 (GET, no body)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(RESPONSE)


def serve_backend(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Answer, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


HAPROXY_CONFIG = """global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always
    option forwardfor
frontend bench
    bind 127.0.0.1:{port}
    default_backend slots
backend slots
    balance roundrobin
    server blue 127.0.0.1:{blue} weight 90
    server green 127.0.0.1:{green} weight 10
"""


def start_haproxy(port: int, blue: int, green: int, directory: Path) -> subprocess.Popen[bytes] | None:
    if shutil.which("haproxy") is None:
        return None
    config = directory / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, blue=blue, green=green))
    process = subprocess.Popen(
        ["haproxy", "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", type=int, help=argparse.SUPPRESS)  # internal: run one backend
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.backend:
        serve_backend(args.backend)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package `wrk`): apt-get install wrk")
    service = {
        "command": [sys.executable, str(Path(__file__).resolve()), "--backend", "{port}"],
        "healthPath": "/",
        "readinessTimeout": 20,
    }
    with LocalWorkspace(local_config({"bench": service}, replicas=1)) as ws:
        status = ws.up()
        ws.platform.deploy("bench", "green", "v2", replicas=1)
        ws.platform.set_weights("bench", {"blue": 90, "green": 10})
        router = int(status["routers"]["bench"])
        ports = _instance_ports(ws)
        tmp = Path(tempfile.mkdtemp(prefix="conductor-haproxy-"))
        haproxy_port = _free_port()
        haproxy = start_haproxy(haproxy_port, ports["blue"], ports["green"], tmp)
        targets = [("instance directly", ports["blue"]), ("conductor router (90/10)", router)]
        if haproxy is not None:
            targets.append(("haproxy (90/10)", haproxy_port))
        results: dict[str, tuple[WrkResult, WrkResult]] = {}
        try:
            for name, port in targets:
                url = f"http://127.0.0.1:{port}/"
                wrk(url, 4, 1, 1.0)  # warm up connections and pools
                single = wrk(url, 1, 1, args.seconds)
                loaded = wrk(url, 64, 2, args.seconds)
                results[name] = (single, loaded)
        finally:
            if haproxy is not None:
                haproxy.send_signal(signal.SIGTERM)
                haproxy.wait(timeout=10)
            shutil.rmtree(tmp, ignore_errors=True)
    base_single, base_loaded = results["instance directly"]
    rows = []
    for name, (single, loaded) in results.items():
        rows.append(
            [
                name,
                single.p50_ms,
                single.p99_ms,
                single.p50_ms - base_single.p50_ms,
                single.p99_ms - base_single.p99_ms,
                loaded.rps,
                f"{loaded.rps / base_loaded.rps:.2f}x",
                loaded.p99_ms,
                single.failures + loaded.failures,
            ]
        )
    print_table(
        f"Router overhead ({os.cpu_count()} cores, wrk, {args.seconds:g} s per measurement; "
        "latency with 1 connection, throughput with 64 connections)",
        [
            "target",
            "p50 ms",
            "p99 ms",
            "added p50 ms",
            "added p99 ms",
            "max req/s",
            "vs direct",
            "p99 ms at max",
            "failed",
        ],
        rows,
    )
    if "haproxy (90/10)" in results:
        ours, theirs = results["conductor router (90/10)"], results["haproxy (90/10)"]
        print(
            f"\nconductor router vs haproxy: {ours[1].rps / theirs[1].rps:.2f}x the throughput, "
            f"{ours[0].p50_ms / theirs[0].p50_ms:.2f}x the p50 latency"
        )
    else:
        print("\nhaproxy is not installed (Debian package `haproxy`): no comparison row")


def _instance_ports(ws: LocalWorkspace) -> dict[str, int]:
    import json

    state = json.loads((ws.state_dir / "local" / "state.json").read_text())
    slots = state["services"]["bench"]["slots"]
    return {slot: int(slots[slot]["instances"][0]["port"]) for slot in ("blue", "green")}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
