"""How fast the dashboard renders the page of a long release: ``python tools/bench_dashboard.py``.

Builds a real journal on the simulator: a canary of three services at 10% of 10 req/s, checked
every second, held inconclusive until ``maxStepDuration`` (about 10,000 events, nearly all health
checks, each with its two latency histograms), then times, median of ``--repeat`` runs:

- **cold**: a fresh read-only journal, the release's series read from nothing, the page rendered
  (what the first visit to the release costs);
- **warm**: the series advanced by what is new (nothing) and the page rendered (every later visit
  and every live update);
- **HTTP first / second visit**: ``GET /release/1`` over loopback from a fresh dashboard (which reads
  the newest release in the background as it starts), then again;
- **baseline**: what reading the same events the ordinary way costs (``Journal.events`` parsing
  every payload, then the state fold), with nothing rendered.

The build takes about half a minute (the journal's durable commits); ``--keep DIR`` keeps it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from conductor.frontends.dashboard import pages
from conductor.frontends.dashboard.served import Served
from conductor.frontends.dashboard.server import Dashboard
from conductor.journal.state import fold
from conductor.readonly_journal import ReadOnlyJournal
from conductor.release_history import ReleaseHistory
from conductor.session import Conductor


def build(root: Path, events: int) -> Path:
    state = root / ".mothership"
    state.mkdir(parents=True, exist_ok=True)
    config = {
        "orchestration": {"strategy": "canary", "services": ["api", "web", "worker"], "healthCheckInterval": 1,
                          "maxStepDuration": max(60, (events - 40) // 3),
                          "rollbackThreshold": {"errorRate": 5, "responseTime": 1000}},
        "platform": {"kind": "sim", "requestRate": 10},
        "release": {"api": "v1.1.0", "web": "v1.1.0", "worker": "v1.1.0"},
    }
    (state / "config.json").write_text(json.dumps(config))
    if not (state / "journal.db").exists():
        conductor = Conductor.from_config(state / "config.json")
        try:
            result = conductor.run("/orchestrate canary 10")
        finally:
            conductor.close()
        if result.exit_code != 0:
            raise SystemExit(f"the orchestration ended with exit {result.exit_code}:\n{result.report}")
    return state


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="about how many journal events (default 10000)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the journal in this directory")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    started = time.perf_counter()
    state = build(root, args.events)
    built = time.perf_counter() - started
    path = state / "journal.db"
    count = len(ReadOnlyJournal(path).events(1, kinds=("orchestration_started",))) and \
        ReadOnlyJournal(path).last_seq()

    def cold() -> str:
        history = ReleaseHistory(ReadOnlyJournal(path), 1)
        history.advance()
        return pages.release_page(history, pages.plain_link, mode="bench", stream=None)

    warm_history = ReleaseHistory(ReadOnlyJournal(path), 1)
    warm_history.advance()

    def warm() -> str:
        warm_history.advance()
        return pages.release_page(warm_history, pages.plain_link, mode="bench", stream=None)

    def baseline() -> object:
        return fold(ReadOnlyJournal(path).events(1))

    size = len(cold())
    figures = {"cold": timed(cold, args.repeat), "warm": timed(warm, args.repeat),
               "baseline": timed(baseline, max(3, args.repeat // 2))}
    http_cold: list[float] = []
    http_warm: list[float] = []
    for _ in range(max(3, args.repeat // 2)):
        dashboard = Dashboard(state, lambda: Conductor.from_config(state / "config.json"))
        served = Served(dashboard).start()
        try:
            for bucket in (http_cold, http_warm):
                conn = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=30)
                began = time.perf_counter()
                conn.request("GET", f"/release/1?token={dashboard.token}")
                response = conn.getresponse()
                response.read()
                bucket.append(time.perf_counter() - began)
                assert response.status == 200
                conn.close()
        finally:
            served.stop()
    print(f"journal: {count:,} events (built in {built:.1f}s) at {path}")
    print(f"page: {size / 1024:.0f} KiB of HTML (9 inline SVG charts, the latest 200 events)")
    print(f"render cold (read the release from nothing + render): {figures['cold'] * 1000:.0f} ms")
    print(f"render warm (advance by what is new + render):        {figures['warm'] * 1000:.0f} ms")
    print(f"HTTP GET first / second visit over loopback:          {statistics.median(http_cold) * 1000:.0f} ms / "
          f"{statistics.median(http_warm) * 1000:.0f} ms")
    print(f"baseline: Journal.events + fold, nothing rendered:    {figures['baseline'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
