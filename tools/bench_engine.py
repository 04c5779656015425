"""How fast the engine replays a release on the simulator, against the simulated time it covers.

    .venv/bin/python tools/bench_engine.py [--runs 5]

Prints, per strategy, the wall-clock time of a whole orchestration of three services (15-minute
bake, 10 s health interval), the simulated time it covered, their ratio, and journal events per
second. The baseline in the same run is the cost of an empty status command, so the figures show
what the orchestration itself costs, not Python's start-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from conductor.session import Conductor

CONFIG = {
    "orchestration": {"services": ["api", "web", "worker"], "healthCheckInterval": 10, "bakeTime": 900},
    "release": {"api": "v1.1.0", "web": "v1.1.0", "worker": "v1.1.0"},
}
COMMANDS = {
    "status": ["/orchestrate"],
    "blue-green": ["/orchestrate blue-green"],
    "canary --auto": ["/orchestrate canary"],
    "canary, 3 approvals": ["/orchestrate canary", "/orchestrate canary 25", "/orchestrate canary 50",
                            "/orchestrate canary 100"],
    "rolling": ["/orchestrate rolling"],
}


def run_once(name: str, commands: list[str]) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ".mothership" / "config.json"
        path.parent.mkdir()
        path.write_text(json.dumps(CONFIG))
        conductor = Conductor.from_config(path)
        started = time.perf_counter()
        for command in commands:
            conductor.run(command, auto=name == "canary --auto")
        elapsed = time.perf_counter() - started
        simulated = conductor.bundle.clock.now()
        events = len(conductor.journal.events()) if conductor.has_journal else 0
        conductor.close()
        return elapsed, simulated, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for name, commands in COMMANDS.items():
        samples = [run_once(name, commands) for _ in range(args.runs)]
        wall = statistics.median(s[0] for s in samples)
        rows.append((name, wall, samples[0][1], samples[0][2]))
    baseline = rows[0][1]
    print(f"{'scenario':<22}{'wall (median)':>15}{'vs status':>11}{'simulated':>12}{'sim/wall':>12}{'events/s':>11}")
    for name, wall, simulated, events in rows:
        speedup = f"{simulated / wall:,.0f}x" if simulated else "-"
        print(f"{name:<22}{wall * 1000:>12.1f} ms{wall / baseline:>10.1f}x{simulated:>11.0f}s"
              f"{speedup:>12}{events / wall:>11,.0f}")


if __name__ == "__main__":
    main()
