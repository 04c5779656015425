"""Does a watch round cost more as the journal's history grows? (It must not.)

    .venv/bin/python tools/bench_watch_round.py [--sizes 1,10,100] [--rounds 20] [--modes patrol,refold]

For each size (MB) it builds a simulator workspace with a canary paused at 10% (in flight, so
every round observes it), then pads the journal to that size with history of the two kinds a
long-running ``conductor watch --follow`` accumulates: finished orchestrations (half of the
padding) and the paused canary's own health checks, written every round for weeks (the other
half). Then it times ``--rounds`` rounds of the watchdog, each a health-check interval of
simulated time apart, the way ``conductor watch`` runs them:

- ``patrol``: :class:`conductor.watchdog.Patrol`, what ``conductor watch`` uses: the in-flight
  view and each runtime advance by new events only;
- ``refold``: :func:`conductor.watchdog.watch_round` with a fresh in-flight query each round
  (what every round did before: it re-read and re-folded the in-flight history).

It prints the median and 90th-percentile round per size, and the ratio of the largest size's
median to the smallest's (goal for ``patrol``: within 2x). Timings include the journal's and
the simulator's fsyncs; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conductor.session import Conductor  # noqa: E402
from conductor.watchdog import Patrol, Watchdog, watch_round  # noqa: E402

CONFIG = {
    "orchestration": {"strategy": "canary", "services": ["api", "web"], "healthCheckInterval": 10,
                      "bakeTime": 60, "rollbackThreshold": {"errorRate": 5, "responseTime": 1000}},
    "platform": {"kind": "sim", "seed": 5, "timeScale": 0},
    "release": {"api": "v1.1.0", "web": "v1.1.0"},
}


def _workspace(root: Path) -> Path:
    """A canary paused at 10% (in flight, so every round observes it)."""
    state_dir = root / ".mothership"
    state_dir.mkdir(parents=True)
    config_path = state_dir / "config.json"
    config_path.write_text(json.dumps(CONFIG))
    conductor = Conductor.from_config(config_path)
    try:
        result = conductor.run("/orchestrate canary 10")
        assert result.data["status"] == "awaiting_approval", result.report
    finally:
        conductor.close()
    return config_path


def _pad(journal_path: Path, megabytes: float) -> int:
    """Grow the journal to ``megabytes`` with copies of real events; return the events added.

    Finished orchestrations are copies of the paused canary's events closed by an
    ``orchestration_ended``; the watching is copies of its latest health check."""
    target = megabytes * 1024 * 1024
    conn = sqlite3.connect(journal_path, isolation_level=None)
    try:
        live = conn.execute("SELECT MAX(id) FROM orchestrations").fetchone()[0]
        history = conn.execute("SELECT at, wall, kind, service, actor, data FROM events WHERE orchestration = ? "
                               "ORDER BY seq", (live,)).fetchall()
        history.append((0.0, "2026-01-01", "orchestration_ended", None, "person:cli",
                        json.dumps({"outcome": "rolled_back", "reason": "api: manual"})))
        check = conn.execute("SELECT at, wall, kind, service, actor, data FROM events WHERE orchestration = ? "
                             "AND kind = 'health_checked' ORDER BY seq DESC LIMIT 1", (live,)).fetchone()
        one_history = sum(len(row[5]) + 100 for row in history)  # bytes, with the row's other columns
        one_check = len(check[5]) + 100
        added = 0
        while (missing := target - journal_path.stat().st_size) > 0:
            # Half of what is missing as finished orchestrations, half as health checks, in steps.
            step = max(missing / 4, one_history + one_check)
            conn.execute("BEGIN")
            for _ in range(max(1, round(step / 2 / one_history))):
                oid = conn.execute("INSERT INTO orchestrations(command, strategy, created_wall) "
                                   "VALUES ('/orchestrate canary', 'canary', '2026-01-01')").lastrowid
                conn.executemany("INSERT INTO events(orchestration, at, wall, kind, service, actor, data) "
                                 "VALUES (?,?,?,?,?,?,?)", [(oid, *row) for row in history])
                added += len(history)
            checks = max(1, round(step / 2 / one_check))
            conn.executemany("INSERT INTO events(orchestration, at, wall, kind, service, actor, data) "
                             "VALUES (?,?,?,?,?,?,?)", [(live, *check)] * checks)  # weeks of watching
            added += checks
            conn.execute("COMMIT")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return added


def _time_rounds(config_path: Path, rounds: int, mode: str) -> list[float]:
    conductor = Conductor.from_config(config_path)
    try:
        clock = conductor.bundle.clock
        interval = conductor.config.orchestration.health_check_interval
        patrol = Patrol(conductor)
        dogs: dict[int, Watchdog] = {}

        def one() -> None:
            clock.sleep(interval)
            if mode == "patrol":
                patrol.round()
            else:
                watch_round(conductor, None, dogs)

        one()  # the first round folds what is in flight once: a start-up cost, not a round's
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            one()
            times.append(time.perf_counter() - started)
        return times
    finally:
        conductor.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100", help="journal sizes in MB, comma-separated")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--modes", default="patrol,refold")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    with tempfile.TemporaryDirectory(prefix="conductor-bench-watch-") as tmp:
        template = Path(tmp) / "template"
        _workspace(template)
        print(f"{'journal':>9} {'events':>8} " + " ".join(f"{m + ' median':>14} {m + ' p90':>11}" for m in modes))
        medians: dict[str, list[float]] = {m: [] for m in modes}
        for size in sizes:
            root = Path(tmp) / f"size-{size:g}"
            shutil.copytree(template, root)
            config_path = root / ".mothership" / "config.json"
            _pad(root / ".mothership" / "journal.db", size)
            mb = (root / ".mothership" / "journal.db").stat().st_size / 1024 / 1024
            with sqlite3.connect(root / ".mothership" / "journal.db") as conn:
                count = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            cells = []
            for mode in modes:
                shutil.copy(root / ".mothership" / "journal.db", root / f"journal.{mode}.db")
            for mode in modes:
                shutil.copy(root / f"journal.{mode}.db", root / ".mothership" / "journal.db")
                times = _time_rounds(config_path, args.rounds, mode)
                median = statistics.median(times)
                p90 = sorted(times)[int(0.9 * (len(times) - 1))]
                medians[mode].append(median)
                cells.append(f"{median * 1000:>11.1f} ms {p90 * 1000:>8.1f} ms")
            print(f"{mb:>6.1f} MB {count:>8} " + " ".join(cells), flush=True)
        for mode in modes:
            ratio = medians[mode][-1] / medians[mode][0]
            print(f"{mode}: round at {sizes[-1]:g} MB / round at {sizes[0]:g} MB = {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
