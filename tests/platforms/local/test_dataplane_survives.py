"""The data plane outlives the control process: kill -9 of it under load drops no request, and the
next start adopts the data plane (same process, same port, same split) instead of reopening the port.

The control process runs as a real subprocess (the same ``serve`` that ``conductor up`` runs), and a
real client keeps loading the service's port the whole time: while the control process is running,
after its SIGKILL, while the next one starts and adopts, and across a weight change made by the new
one. Parametrized over both data planes; the HAProxy one skips where haproxy is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from conductor.platforms.local.client import ControlClient, LocalPlatform
from conductor.platforms.local.dataplane import haproxy_binary
from conductor.platforms.local.process import start_time

from .conftest import READY_TIMEOUT, REPO, Load, Workspace, demo_command, run_cli, wait_until

SERVE = """
import sys, threading, signal
from pathlib import Path
from conductor.config_file import load_config
from conductor.platforms.registry import validate_platform_settings
from conductor.platforms.local.control import serve
config = load_config(Path(sys.argv[1]))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
settings = validate_platform_settings(config)
serve(config, settings, Path(sys.argv[1]).parent, stop, on_event=lambda e: print(e, flush=True))
"""

KINDS = [
    "builtin",
    pytest.param(
        "haproxy",
        marks=pytest.mark.skipif(haproxy_binary()[0] is None, reason="haproxy is not installed (Debian `haproxy`)"),
    ),
]


class Control:
    """A control process for one workspace, as a subprocess: start, SIGKILL, stop."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.process: subprocess.Popen[bytes] | None = None
        self.platform = LocalPlatform(ControlClient(ws.state_dir))

    def start(self, **env: str) -> dict[str, Any]:
        log = open(self.ws.root / "control.out", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(self.ws.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
        )
        process = self.process
        status: dict[str, Any] = {}

        def answering() -> bool:
            assert process.poll() is None, (self.ws.root / "control.out").read_text()[-3000:]
            try:
                status.update(self.platform.status())
            except Exception:
                return False
            return int(status["pid"]) == process.pid

        assert wait_until(answering, timeout=READY_TIMEOUT)
        return status

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.platform.close()


@pytest.fixture
def control_factory(workspace_factory: Callable[..., Workspace]) -> Iterator[Callable[[str], Control]]:
    made: list[Control] = []

    def make(kind: str) -> Control:
        services = {"api": {"command": demo_command(), "readinessTimeout": READY_TIMEOUT}}
        control = Control(workspace_factory(services=services, platform={"router": kind}, replicas=1))
        made.append(control)
        return control

    yield make
    for control in made:
        control.stop()


def data_plane_record(ws: Workspace) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((ws.home / "state.json").read_text())["services"]["api"]["dataPlane"]
    return record


@pytest.mark.parametrize("kind", KINDS)
def test_kill_9_of_the_control_process_under_load_drops_nothing_and_the_next_start_adopts(
    kind: str, control_factory: Callable[[str], Control]
) -> None:
    control = control_factory(kind)
    ws = control.ws
    status = control.start()
    port = int(status["routers"]["api"])
    control.platform.deploy("api", "green", "v2.0.0", replicas=1)
    control.platform.set_weights("api", {"blue": 80, "green": 20})
    plane = data_plane_record(ws)
    assert plane["kind"] == kind
    load = Load(f"http://127.0.0.1:{port}", threads=4).start()
    try:
        assert wait_until(lambda: load.done > 100)
        control.kill()
        down_at = load.done
        assert wait_until(lambda: load.done > down_at + 300), "no traffic flowed while the control process was down"
        assert load.failures == [], load.failures[:5]
        assert start_time(int(plane["pid"])) == plane["started"]  # the very data plane, still running
        elsewhere = tempfile.mkdtemp(prefix="cdr-", dir="/tmp")  # another shell: another runtime directory
        try:
            control.start(XDG_RUNTIME_DIR=elsewhere)  # adopts: the port was never closed
        finally:
            shutil.rmtree(elsewhere, ignore_errors=True)
        assert data_plane_record(ws)["pid"] == plane["pid"]
        assert control.platform.snapshot("api").weights == {"blue": 80, "green": 20}
        control.platform.set_weights("api", {"blue": 0, "green": 100})  # the new control process drives it
        flipped_at = load.versions["v1.0.0"]
        greens = load.versions["v2.0.0"]
        assert wait_until(lambda: load.versions["v2.0.0"] > greens + 200)
        time.sleep(0.2)
        assert load.versions["v1.0.0"] - flipped_at <= 8  # only requests already on their way
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    assert load.versions["v1.0.0"] > 0 and load.versions["v2.0.0"] > 0
    control.stop()
    assert wait_until(lambda: not ws.tagged_pids()), ws.tagged_pids()  # the data plane stops with `down`


@pytest.mark.parametrize("value", ["nginx", True, 1, None])
def test_platform_router_is_strictly_typed(tmp_path: Path, value: object) -> None:
    from conductor.errors import ConfigError

    from .conftest import write_workspace

    services = {"api": {"command": demo_command()}}
    with pytest.raises(ConfigError, match=r"platform\.router"):
        write_workspace(tmp_path, services, platform={"router": value})


@pytest.mark.parametrize("kind", KINDS)
def test_down_after_a_kill_9_or_a_clean_stop_leaves_no_process_and_no_socket_directory(
    kind: str, control_factory: Callable[[str], Control]
) -> None:
    # One socket directory per project ever started used to pile up in /tmp, with HAProxy's socket files in it.
    control = control_factory(kind)
    ws = control.ws
    control.start()
    plane = data_plane_record(ws)
    sockets = Path(plane.get("admin") or plane["control"]).parent
    assert sockets.is_dir()
    assert (
        f"control process: running (pid {control.process.pid if control.process else 0})"
        in run_cli(ws, "doctor").stdout
    )
    control.kill()  # the data plane keeps serving; `conductor down` stops it
    doctor = run_cli(ws, "doctor").stdout
    assert "control process: not running: the data plane keeps serving the last split" in doctor, doctor
    down = run_cli(ws, "down")
    assert down.returncode == 0 and "1 data plane(s)" in down.stdout, down.stdout + down.stderr
    assert wait_until(lambda: not ws.tagged_pids()), ws.tagged_pids()
    assert not sockets.exists(), list(sockets.iterdir())
    control.start()
    assert sockets.is_dir()
    control.stop()  # SIGTERM: what `conductor down` asks a running control process for
    assert wait_until(lambda: not ws.tagged_pids()), ws.tagged_pids()
    assert not sockets.exists(), list(sockets.iterdir())
    assert "control process: not running (start it with `conductor up`)" in run_cli(ws, "doctor").stdout


@pytest.mark.parametrize("kind", KINDS)
def test_down_after_a_kill_9_lets_a_request_in_flight_finish(
    kind: str, workspace_factory: Callable[..., Workspace]
) -> None:
    # HAProxy's SIGTERM is a hard stop that cut requests in flight; `down` soft-stops it (SIGUSR1) as `up` does.
    slow = {"api": {"command": demo_command("--latency-ms", "1500"), "readinessTimeout": READY_TIMEOUT}}
    control = Control(workspace_factory(services=slow, platform={"router": kind}, replicas=1))
    try:
        port = int(control.start()["routers"]["api"])
        control.kill()
        answer: dict[str, Any] = {}

        def one_slow_request() -> None:
            try:
                answer["status"] = httpx2.get(f"http://127.0.0.1:{port}/slow", timeout=60).status_code
            except httpx2.HTTPError as exc:
                answer["error"] = repr(exc)

        thread = threading.Thread(target=one_slow_request)
        thread.start()
        time.sleep(0.5)  # the request is at the instance now (it takes 1.5 s)
        down = run_cli(control.ws, "down")
        thread.join(timeout=60)
        assert down.returncode == 0, down.stdout + down.stderr
        assert answer == {"status": 200}
        assert wait_until(lambda: not control.ws.tagged_pids()), control.ws.tagged_pids()
    finally:
        control.stop()
