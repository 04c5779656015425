"""Benchmark: time to safety — from a canary's first failed request to all traffic back on stable.

    python tools/bench_time_to_safety.py [--intervals 10 2] [--trials 3] [--rate 200]

A service of the bundled demo app runs under `conductor up` (which hosts the watchdog) with
``--rate`` requests/s of load through its router. Each trial runs `/orchestrate canary 10` of a new
version with the offline policy brain; once 10% of traffic is on it, that version starts failing
every request (its ``--fail-file`` appears), at a point that moves across the interval between two
health checks from one trial to the next, so the table shows the spread, not one lucky phase.
We measure, from the load's side, the first failed request, and from the control API (polled
every 10 ms) the moment the canary's weight is back to 0; and count the failed requests users
saw. Goal: under one ``healthCheckInterval`` plus 1 s. ``failureLimit`` is 1, so one failed
check is enough, as the goal requires.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from bench_common import DEMO_APP, LocalWorkspace, local_config, print_table

from conductor.platforms.base import Slot
from conductor.platforms.local.loadgen import SteadyLoad


def trial(ws: LocalWorkspace, router: int, version: str, interval: float, rate: float, phase: float) -> list[object]:
    from conductor.session import Conductor

    load = SteadyLoad({"api": f"http://127.0.0.1:{router}/"}, rate=rate, workers=4).start()
    conductor = Conductor.from_config(ws.config_path, model="policy")
    outcome: dict[str, object] = {}
    runner = threading.Thread(
        target=lambda: outcome.setdefault("result", conductor.run("/orchestrate canary 10", release={"api": version}))
    )
    runner.start()
    deadline = time.monotonic() + 60
    while ws.platform.snapshot("api").weights.get("green", 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    canary_slot: Slot = "green"
    weights = ws.platform.snapshot("api").weights
    if weights.get("green", 0) == 0 or weights.get("green") == 100:
        load.stop()
        runner.join()
        raise SystemExit(f"the canary never reached 10%: weights {weights}")
    time.sleep(interval * (1.0 + phase))  # where between two health checks the failure starts
    (ws.root / f"{version}.fail").touch()
    failing_since = time.monotonic()
    while ws.platform.snapshot("api").weights.get(canary_slot, 0) > 0 and time.monotonic() < failing_since + 120:
        time.sleep(0.01)
    safe_at = time.monotonic()
    time.sleep(0.5)  # requests in flight at the flip finish
    load.stop()
    runner.join(timeout=120)
    conductor.close()
    counts = load.counts["api"]
    first = counts.first_failure_at or failing_since
    seconds = safe_at - first
    goal = interval + 1.0
    return [
        f"{interval:g} s",
        version,
        rate,
        f"{seconds:.2f}",
        counts.failed,
        counts.ok,
        f"{goal:g} s",
        "yes" if seconds < goal else "NO",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intervals", type=float, nargs="+", default=[10.0, 2.0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    rows: list[list[object]] = []
    for interval in args.intervals:
        with LocalWorkspace({}) as ws:
            fail_file = str(ws.root / "{version}.fail")
            service = {
                "command": [
                    sys.executable,
                    str(DEMO_APP),
                    "--version",
                    "{version}",
                    "--latency-ms",
                    "2",
                    "--fail-file",
                    fail_file,
                ],
                "readinessTimeout": 20,
            }
            config = local_config(
                {"api": service},
                replicas=2,
                strategy="canary",
                healthCheckInterval=interval,
                failureLimit=1,
                canarySteps=[10, 100],
                requireApproval=True,
                bakeTime=interval,
            )
            Path(ws.config_path).write_text(__import__("json").dumps(config, indent=1))
            status = ws.up()
            router = int(status["routers"]["api"])
            for number in range(1, args.trials + 1):
                phase = (number - 0.5) / args.trials  # spread the failure's start over the interval
                rows.append(trial(ws, router, f"v-bad-{number}", interval, args.rate, phase))
                print(" | ".join(str(c) for c in rows[-1]), flush=True)
    print_table(
        "Time to safety: first failed request -> 100% of traffic back on stable (10% canary failing every "
        "request; watchdog hosted by `conductor up`, failureLimit 1)",
        ["healthCheckInterval", "canary", "req/s", "time to safety s", "failed requests", "ok requests", "goal", "met"],
        rows,
    )


if __name__ == "__main__":
    main()
