"""Shared pieces of the local platform's benchmarks: a throwaway workspace, `conductor up`, tables.

Every benchmark sends traffic to loopback only, is bounded in time, and stops everything it
started (the control process, and through it every instance) even when interrupted.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from conductor.errors import PlatformError  # noqa: E402
from conductor.platforms.local.client import ControlClient, LocalPlatform  # noqa: E402

DEMO_APP = REPO / "conductor" / "bundled" / "demo_app.py"


class LocalWorkspace:
    """A temporary project with a local-platform config, and its control process."""

    def __init__(self, config: dict[str, Any], keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="conductor-bench-"))
        self.state_dir = self.root / ".mothership"
        self.state_dir.mkdir()
        self.config_path = self.state_dir / "config.json"
        self.config_path.write_text(json.dumps(config, indent=1))
        self.keep = keep
        self.control: subprocess.Popen[bytes] | None = None
        self.platform = LocalPlatform(ControlClient(self.state_dir))

    def up(self, timeout: float = 60.0) -> dict[str, Any]:
        log = open(self.root / "control.out", "ab")  # noqa: SIM115 - handed to the child
        self.control = subprocess.Popen(
            [sys.executable, "-m", "conductor", "up", "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.control.poll() is not None:
                raise SystemExit((self.root / "control.out").read_text())
            try:
                status = self.platform.status()
                if int(status["pid"]) == self.control.pid:
                    return status
            except PlatformError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"control process not ready after {timeout}s")

    def down(self) -> None:
        self.platform.close()
        if self.control is not None and self.control.poll() is None:
            self.control.send_signal(signal.SIGTERM)
            try:
                self.control.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.control.pid, signal.SIGKILL)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


def local_config(services: dict[str, Any], replicas: int = 1, **orchestration: Any) -> dict[str, Any]:
    return {
        "orchestration": {"services": list(services), **orchestration},
        "services": {name: {"replicas": replicas} for name in services},
        "platform": {"kind": "local", "services": services, "drainTimeout": 5, "stopTimeout": 3},
    }


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    print(f"\n{title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int


def wrk(url: str, connections: int, threads: int, seconds: float) -> WrkResult:
    """Run wrk (Debian package `wrk`) against a loopback URL and parse its summary."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == label:
                return _duration_ms(parts[1])
        return math.nan

    rps = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec:"))
    failures = 0
    for line in out.splitlines():
        if "Non-2xx or 3xx responses:" in line:
            failures += int(line.split(":")[1])
        if "Socket errors:" in line:
            failures += sum(int(p.split()[-1]) for p in line.split(":", 1)[1].split(","))
    return WrkResult(rps, latency("50%"), latency("99%"), failures)


def _duration_ms(text: str) -> float:
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)
