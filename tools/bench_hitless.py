"""Benchmark: traffic changes under load drop nothing — flips, canary steps, and a kill -9 of `conductor up`.

    python tools/bench_hitless.py [--rate 600] [--interval 0.3] [--router builtin haproxy]

A service of the bundled demo app (2 instances per slot, ~1 ms of work per request) runs under
`conductor up` with both slots deployed, once per data plane (the built-in router, and HAProxy
driven by Conductor when `haproxy` is installed). An open-loop load of ``--rate`` requests/s
(aiohttp, keep-alive connections) goes through the service's port for four phases: steady state
(no change), 20 blue-green flips (100/0 <-> 0/100), 20 canary weight changes (5% ... 75%), one
change every ``--interval`` seconds through the control API as `conductor orchestrate` makes
them, and a SIGKILL of the control process followed by a new `conductor up` that adopts the data
plane. The table gives, per data plane and phase, failed requests (goal: 0) and the latency
percentiles, with p99 as a ratio of the same data plane's steady-state p99 in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import aiohttp
from bench_common import DEMO_APP, LocalWorkspace, local_config, percentile, print_table

from conductor.platforms.local.dataplane import haproxy_binary


@dataclass
class Recorder:
    rate: float
    url: str
    samples: list[tuple[float, float, bool]] = field(default_factory=list)  # (start, ms, ok)
    stop: threading.Event = field(default_factory=threading.Event)

    async def _user(self, session: aiohttp.ClientSession, period: float, offset: float) -> None:
        next_at = time.monotonic() + offset
        while not self.stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += period
            started = time.monotonic()
            ok = False
            try:
                async with session.get(self.url) as response:
                    await response.read()
                    ok = response.status < 500
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            self.samples.append((started, (time.monotonic() - started) * 1000.0, ok))

    async def _run(self, users: int) -> None:
        connector = aiohttp.TCPConnector(limit=users)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
            period = users / self.rate
            await asyncio.gather(*(self._user(session, period, period * i / users) for i in range(users)))

    def start(self, users: int = 32) -> threading.Thread:
        thread = threading.Thread(target=asyncio.run, args=(self._run(users),), daemon=True)
        thread.start()
        return thread


def run_phases(router: str, args: argparse.Namespace) -> list[list[object]]:
    service = {
        "command": [sys.executable, str(DEMO_APP), "--version", "{version}", "--latency-ms", "1"],
        "readinessTimeout": 20,
    }
    config = local_config({"bench": service}, replicas=2)
    config["platform"]["router"] = router
    with LocalWorkspace(config) as ws:
        status = ws.up()
        ws.platform.deploy("bench", "green", "v2", replicas=2)
        recorder = Recorder(args.rate, f"http://127.0.0.1:{status['routers']['bench']}/")
        thread = recorder.start()
        time.sleep(1.0)  # warm-up, not counted
        phases: dict[str, tuple[float, float]] = {}
        begin = time.monotonic()
        time.sleep(args.steady)
        phases["steady state"] = (begin, time.monotonic())
        begin = time.monotonic()
        for flip in range(20):
            green = 100 if flip % 2 == 0 else 0
            ws.platform.set_weights("bench", {"blue": 100 - green, "green": green})
            time.sleep(args.interval)
        phases["20 blue-green flips"] = (begin, time.monotonic())
        begin = time.monotonic()
        for change in range(20):
            green = (5, 10, 25, 50, 75)[change % 5]
            ws.platform.set_weights("bench", {"blue": 100 - green, "green": green})
            time.sleep(args.interval)
        phases["20 canary weight changes"] = (begin, time.monotonic())
        begin = time.monotonic()
        assert ws.control is not None
        ws.control.send_signal(signal.SIGKILL)  # no cleanup at all: the data plane must carry on alone
        ws.control.wait(timeout=30)
        time.sleep(2.0)
        ws.up()  # adopts the data plane and the instances
        ws.platform.set_weights("bench", {"blue": 50, "green": 50})  # driven by the new control process
        time.sleep(1.0)
        phases["kill -9 of the control process, 2 s down, up again"] = (begin, time.monotonic())
        recorder.stop.set()
        thread.join(timeout=15)
    rows: list[list[object]] = []
    steady_p99 = 0.0
    for name, (start, end) in phases.items():
        window = [s for s in recorder.samples if start <= s[0] < end]
        latencies = [s[1] for s in window if s[2]]
        failed = sum(1 for s in window if not s[2])
        p99 = percentile(latencies, 0.99)
        steady_p99 = steady_p99 or p99
        rows.append(
            [
                router,
                name,
                len(window),
                f"{len(window) / (end - start):.0f}",
                failed,
                percentile(latencies, 0.50),
                percentile(latencies, 0.95),
                p99,
                f"{p99 / steady_p99:.2f}x",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=600.0, help="requests per second (default 600)")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between two changes")
    parser.add_argument("--steady", type=float, default=6.0, help="seconds of steady state")
    parser.add_argument(
        "--router", nargs="+", choices=["builtin", "haproxy"], help="data planes (default: both if haproxy is there)"
    )
    args = parser.parse_args()
    routers = args.router or (["builtin", "haproxy"] if haproxy_binary()[0] else ["builtin"])
    if "haproxy" in routers and haproxy_binary()[0] is None:
        raise SystemExit("haproxy is not installed (Debian package `haproxy`): apt-get install haproxy")
    load_before = os.getloadavg()[0]  # other work on the machine, before this run adds its own
    rows = [row for router in routers for row in run_phases(router, args)]
    load = os.getloadavg()
    print_table(
        f"Hitless switching at {args.rate:g} requests/s offered (one change every {args.interval:g} s; "
        f"{os.cpu_count()} cores, load average {load_before:.2f} at the start and {load[0]:.2f} at the end)",
        ["data plane", "phase", "requests", "req/s", "failed", "p50 ms", "p95 ms", "p99 ms", "p99 vs steady"],
        rows,
    )


if __name__ == "__main__":
    main()
