"""Benchmark: what the local data plane costs, against calling an instance directly and against HAProxy.

    python tools/bench_router_overhead.py [--seconds 5]

Two instances of a minimal asyncio HTTP server (so the backend is never the bottleneck) run as
the blue and green slots of one service under `conductor up`, split 90/10, once with the
built-in router and once with HAProxy as the data plane (`platform.router: "haproxy"`, when
HAProxy is installed). Then, in the same run and on the same machine:

- latency with one keep-alive connection at a steady 500 requests/s (p50/p99: what one request
  pays at a realistic rate; a small paced client here, the same for every target), and
- maximum throughput with 64 connections on 2 wrk threads (Debian package `wrk`),

for: the instance directly; Conductor's built-in router; HAProxy driven by Conductor (its
config, its runtime API, its per-request log to Conductor's socket); and HAProxy on its own
(a hand-written config with the same 90/10 weights, no logging) in front of the same instances.
Ratios are against the direct call and against raw HAProxy, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import LocalWorkspace, WrkResult, local_config, percentile, print_table, wrk

from conductor.platforms.local.dataplane import haproxy_binary

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
    binary = haproxy_binary()[0]
    if binary is None:
        return None
    config = directory / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, blue=blue, green=green))
    process = subprocess.Popen([binary, "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return process


def paced_latency(port: int, rate: float, seconds: float) -> tuple[float, float, int]:
    """p50 and p99 (ms) of GETs on one keep-alive connection sent at ``rate`` per second, and failures."""
    period = 1.0 / rate
    latencies: list[float] = []
    failures = 0
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        next_at = time.perf_counter()
        end = next_at + seconds
        while next_at < end:
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            started = time.perf_counter()
            sock.sendall(request)
            answer = b""
            while not answer.endswith(b"ok\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise SystemExit(f"port {port} closed the connection")
                answer += chunk
            latencies.append((time.perf_counter() - started) * 1000.0)
            failures += 0 if answer.startswith(b"HTTP/1.1 200") else 1
            next_at += period
    return percentile(latencies, 0.50), percentile(latencies, 0.99), failures


def bench_service(router: str) -> dict[str, Any]:
    config = local_config(
        {
            "bench": {
                "command": [sys.executable, str(Path(__file__).resolve()), "--backend", "{port}"],
                "healthPath": "/",
                "readinessTimeout": 20,
            }
        },
        replicas=1,
    )
    config["platform"]["router"] = router
    return config


def canary(ws: LocalWorkspace) -> int:
    status = ws.up()
    ws.platform.deploy("bench", "green", "v2", replicas=1)
    ws.platform.set_weights("bench", {"blue": 90, "green": 10})
    return int(status["routers"]["bench"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", type=int, help=argparse.SUPPRESS)  # internal: run one backend
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s of the one-connection latency test")
    args = parser.parse_args()
    if args.backend:
        serve_backend(args.backend)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package `wrk`): apt-get install wrk")
    load_before = os.getloadavg()[0]  # other work on the machine, before this run adds its own
    have_haproxy = haproxy_binary()[0] is not None
    results: dict[str, tuple[tuple[float, float, int], WrkResult]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="conductor-haproxy-"))
    with (
        LocalWorkspace(bench_service("builtin")) as ws,
        LocalWorkspace(bench_service("haproxy" if have_haproxy else "builtin")) as ws_haproxy,
    ):
        router = canary(ws)
        ports = _instance_ports(ws)
        targets = [("instance directly", ports["blue"]), ("built-in router (90/10)", router)]
        raw: subprocess.Popen[bytes] | None = None
        if have_haproxy:
            targets.append(("HAProxy driven by Conductor (90/10)", canary(ws_haproxy)))
            raw_port = _free_port()
            raw = start_haproxy(raw_port, ports["blue"], ports["green"], tmp)
            targets.append(("raw HAProxy (90/10)", raw_port))
        try:
            for name, port in targets:
                url = f"http://127.0.0.1:{port}/"
                wrk(url, 4, 1, 1.0)  # warm up connections and pools
                single = paced_latency(port, args.rate, args.seconds)
                loaded = wrk(url, 64, 2, args.seconds)
                results[name] = (single, loaded)
        finally:
            if raw is not None:
                raw.send_signal(signal.SIGTERM)
                raw.wait(timeout=10)
            shutil.rmtree(tmp, ignore_errors=True)
    (base_p50, base_p99, _), base_loaded = results["instance directly"]
    raw_rps = results["raw HAProxy (90/10)"][1].rps if "raw HAProxy (90/10)" in results else None
    rows = []
    for name, ((p50, p99, failed), loaded) in results.items():
        rows.append(
            [
                name,
                p50,
                p99,
                p50 - base_p50,
                p99 - base_p99,
                loaded.rps,
                f"{loaded.rps / base_loaded.rps:.2f}x",
                f"{loaded.rps / raw_rps:.2f}x" if raw_rps else "n/a",
                loaded.p99_ms,
                failed + loaded.failures,
            ]
        )
    load = os.getloadavg()
    print_table(
        f"Data plane overhead ({os.cpu_count()} cores, load average {load_before:.2f} at the start and "
        f"{load[0]:.2f} at the end; "
        f"latency: 1 connection at {args.rate:g} req/s for {args.seconds:g} s; "
        f"throughput: wrk, 64 connections, {args.seconds:g} s)",
        [
            "target",
            "p50 ms",
            "p99 ms",
            "added p50 ms",
            "added p99 ms",
            "max req/s",
            "vs direct",
            "vs raw HAProxy",
            "p99 ms at max",
            "failed",
        ],
        rows,
    )
    if not have_haproxy:
        print("\nhaproxy is not installed (Debian package `haproxy`): no HAProxy rows")


def _instance_ports(ws: LocalWorkspace) -> dict[str, int]:
    state = json.loads((ws.state_dir / "local" / "state.json").read_text())
    slots = state["services"]["bench"]["slots"]
    return {slot: int(slots[slot]["instances"][0]["port"]) for slot in ("blue", "green")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
