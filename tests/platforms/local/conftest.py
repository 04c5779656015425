"""Fixtures for the local platform: real processes on loopback, always cleaned up.

Every instance a test starts carries ``CONDUCTOR_LOCAL_HOME=<its tmp dir>`` in its environment,
so the teardown can find and kill exactly the processes that test started (and assert there were
none left when the test says so), whatever state the test ended in.

Timing: CI is a busy 2-core machine, so nothing here assumes how fast anything runs. Tests wait for
a condition with a generous deadline (:func:`wait_until` returns as soon as it holds, so a generous
deadline costs nothing when things go well), never for a fixed time, and every deadline that only
guards against a hang (readiness, draining, client timeouts) is set far above what a loaded machine
needs. What a test asserts about correctness (no failed request, an exact split) never depends on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from conductor.config import ConductorConfig
from conductor.config_file import parse_config
from conductor.platforms.local.process import HOME_ENV, start_time
from conductor.platforms.local.runtime import LocalRuntime
from conductor.platforms.local.settings import LocalSettings
from conductor.platforms.registry import validate_platform_settings

REPO = Path(__file__).resolve().parents[3]
DEMO_APP = REPO / "conductor" / "bundled" / "demo_app.py"
READY_TIMEOUT = 60  # readiness of a healthy instance: far above what a busy machine needs, it returns when ready
CLIENT_TIMEOUT = 60.0  # per request: a slow answer on a loaded machine is not a failed request


def demo_command(*extra: str) -> list[str]:
    return [
        sys.executable,
        str(DEMO_APP),
        "--service",
        "{service}",
        "--version",
        "{version}",
        "--latency-ms",
        "1",
        *extra,
    ]


@dataclass
class Workspace:
    root: Path
    config_path: Path
    config: ConductorConfig
    settings: LocalSettings

    @property
    def state_dir(self) -> Path:
        return self.config_path.parent

    @property
    def home(self) -> Path:
        return self.state_dir / "local"

    def tagged_pids(self) -> set[int]:
        """Live processes started for this workspace (found by their environment tag)."""
        tag = f"{HOME_ENV}={self.home}".encode()
        return pids_with_environ(lambda variables: tag in variables)

    def instance_pids(self) -> set[int]:
        """Live instance processes of this workspace: tagged ones, less the data planes (routers, HAProxy)."""
        return {pid for pid in self.tagged_pids() if not is_data_plane(pid)}

    def data_plane_pids(self) -> set[int]:
        return {pid for pid in self.tagged_pids() if is_data_plane(pid)}

    def stop_control(self) -> None:
        """Stop a control process still running for this workspace (e.g. `up --detach` in a failed test)."""
        try:
            info = json.loads((self.home / "control.json").read_text())
        except (OSError, ValueError):
            return
        pid = int(info["pid"])
        if pid == os.getpid() or start_time(pid) != info.get("started"):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # it drains and stops its instances
        if not wait_until(lambda: start_time(pid) != info.get("started"), timeout=60):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def kill_all(self) -> None:
        self.stop_control()  # first, or it would restart the instances killed below
        for _ in range(3):
            for pid in self.tagged_pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if wait_until(lambda: not self.tagged_pids(), timeout=10):
                return


def is_data_plane(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"conductor.platforms.local.router_process" in argv or Path(argv[0].decode()).name == "haproxy"


def pids_with_environ(match: Callable[[list[bytes]], bool]) -> set[int]:
    """Live processes whose environment (a list of ``NAME=value`` byte strings) satisfies ``match``.

    Read straight from /proc, independently of the platform's own bookkeeping, so a test can see
    a process the platform lost track of.
    """
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if match(environ) and start_time(int(entry.name)) is not None:
            found.add(int(entry.name))
    return found


def write_workspace(
    root: Path, services: dict[str, Any], platform: dict[str, Any] | None = None, replicas: int = 2
) -> Workspace:
    raw = {
        "orchestration": {"services": list(services)},
        "services": {name: {"replicas": replicas} for name in services},
        "platform": {"kind": "local", "services": services, "stopTimeout": 2, "drainTimeout": 60, **(platform or {})},
    }
    state_dir = root / ".mothership"
    state_dir.mkdir(parents=True, exist_ok=True)
    config_path = state_dir / "config.json"
    config_path.write_text(json.dumps(raw, indent=1))
    config = parse_config(raw, source=str(config_path))
    settings = validate_platform_settings(config)
    assert isinstance(settings, LocalSettings)
    return Workspace(root, config_path, config, settings)


@pytest.fixture
def workspace_factory(tmp_path: Path) -> Iterator[Callable[..., Workspace]]:
    made: list[Workspace] = []

    def make(services: dict[str, Any] | None = None, **kwargs: Any) -> Workspace:
        services = services or {"api": {"command": demo_command(), "readinessTimeout": READY_TIMEOUT}}
        ws = write_workspace(tmp_path / f"ws{len(made)}", services, **kwargs)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.kill_all()


@pytest.fixture
def runtime_factory(workspace_factory: Callable[..., Workspace]) -> Iterator[Callable[..., LocalRuntime]]:
    started: list[LocalRuntime] = []

    def make(ws: Workspace | None = None, **kwargs: Any) -> LocalRuntime:
        ws = ws or workspace_factory(**kwargs)
        runtime = LocalRuntime(ws.config, ws.settings, ws.state_dir)
        started.append(runtime)
        runtime.start()
        return runtime

    yield make
    for runtime in started:
        runtime.shutdown()


@dataclass
class Load:
    """Steady keep-alive HTTP load from a few threads; counts answers per version and failures."""

    url: str
    threads: int = 4
    path: str = "/work"
    versions: Counter[str] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)  # per version, as the client saw them
    failures: list[str] = field(default_factory=list)
    done: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, limit: int | None) -> None:
        with httpx2.Client(timeout=CLIENT_TIMEOUT) as client:
            while not self._stop.is_set():
                with self._lock:
                    if limit is not None and self.done >= limit:
                        return
                    self.done += 1
                started = time.perf_counter()
                try:
                    response = client.post(self.url + self.path, content=b"payload", headers={"X-Demo-Id": "7"})
                    if response.status_code != 200:
                        outcome = f"HTTP {response.status_code}: {response.text[:200]}"
                    else:
                        outcome = "v:" + response.json()["version"]
                except httpx2.HTTPError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                elapsed_ms = (time.perf_counter() - started) * 1000.0
                with self._lock:
                    if outcome.startswith("v:"):
                        self.versions[outcome[2:]] += 1
                        self.latencies_ms.setdefault(outcome[2:], []).append(elapsed_ms)
                    else:
                        self.failures.append(outcome)

    def start(self, limit: int | None = None) -> Load:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, args=(limit,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> Load:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=CLIENT_TIMEOUT + 30)
        return self

    def wait(self, timeout: float = 600.0) -> Load:
        """Wait for a ``limit``ed load to send all its requests (a generous bound: it only guards a hang)."""
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not any(w.is_alive() for w in self._workers), f"load still running after {timeout:g}s"
        return self


@pytest.fixture
def load_factory() -> Iterator[Callable[..., Load]]:
    loads: list[Load] = []

    def make(port: int, **kwargs: Any) -> Load:
        load = Load(f"http://127.0.0.1:{port}", **kwargs)
        loads.append(load)
        return load

    yield make
    for load in loads:
        load.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def run_cli(ws: Workspace, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "conductor", *args, "--config", str(ws.config_path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ws.root,
    )
