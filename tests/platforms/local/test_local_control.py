"""The control process: `conductor up/down`, its token-protected API, and surviving a SIGKILL."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conductor.config_file import load_config
from conductor.errors import PlatformError
from conductor.frontends.cli import main as cli_main
from conductor.platforms.local.client import ControlClient, LocalPlatform
from conductor.platforms.local.process import start_time
from conductor.platforms.registry import build_platform

from .conftest import CLIENT_TIMEOUT, READY_TIMEOUT, REPO, Workspace, demo_command, run_cli, wait_until

STARTUP = 180.0  # for `conductor up` to answer: generous, since a busy machine starts Python slowly


class ControlProcess:
    """`python -m conductor up` in the foreground, as a child we can SIGKILL."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalPlatform:
        log = open(self.ws.root / "control.out", "ab")  # noqa: SIM115 - owned by the child
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "conductor", "up", "--config", str(self.ws.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.ws.root,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        platform = LocalPlatform(ControlClient(self.ws.state_dir))
        popen = self.popen

        def answering() -> bool:
            try:
                return int(platform.status()["pid"]) == popen.pid
            except PlatformError:
                assert popen.poll() is None, (self.ws.root / "control.out").read_text()
                return False

        assert wait_until(answering, timeout=STARTUP), (self.ws.root / "control.out").read_text()
        return platform

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=60)


@pytest.fixture
def control_factory() -> Iterator[Callable[[Workspace], ControlProcess]]:
    made: list[ControlProcess] = []

    def make(ws: Workspace) -> ControlProcess:
        made.append(ControlProcess(ws))
        return made[-1]

    yield make
    for control in made:
        if control.popen is not None and control.popen.poll() is None:
            control.popen.terminate()
            try:
                control.popen.wait(timeout=120)
            except subprocess.TimeoutExpired:
                control.kill()


def test_control_api_refuses_requests_without_the_token(
    workspace_factory: Callable[..., Workspace], control_factory: Callable[[Workspace], ControlProcess]
) -> None:
    ws = workspace_factory()
    platform = control_factory(ws).start()
    token_file = ws.home / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    port = platform.client.info()["port"]
    url = f"http://127.0.0.1:{port}/v1/status"
    http = httpx2.Client(timeout=CLIENT_TIMEOUT)
    assert http.get(url).status_code == 401
    assert http.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http.post(f"http://127.0.0.1:{port}/v1/shutdown").status_code == 401
    token = token_file.read_text().strip()
    assert http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    admin = platform.client.info()["adminPort"]
    metrics = http.get(f"http://127.0.0.1:{admin}/metrics")
    http.close()
    assert metrics.status_code == 200
    assert 'conductor_router_weight_percent{service="api",slot="blue"} 100.0' in metrics.text
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}  # valid exposition format
    assert {
        "conductor_router_requests",
        "conductor_router_errors",
        "conductor_router_active_connections",
        "conductor_router_request_duration_seconds",
    } <= set(families)
    assert families["conductor_router_requests"].type == "counter"
    assert families["conductor_router_request_duration_seconds"].type == "histogram"


def test_sigkill_of_the_control_process_then_up_restores_everything_without_orphans(
    workspace_factory: Callable[..., Workspace], control_factory: Callable[[Workspace], ControlProcess]
) -> None:
    app = {"command": demo_command(), "readinessTimeout": READY_TIMEOUT}
    ws = workspace_factory(services={"api": app, "web": app})
    first = control_factory(ws)
    platform = first.start()
    platform.deploy("api", "green", "v1.1.0", replicas=2)
    assert platform.set_weights("api", {"blue": 70, "green": 30}) == {"blue": 70, "green": 30}
    instances = ws.instance_pids()
    assert len(instances) == 6  # api: 2 blue + 2 green; web: 2 blue
    planes = ws.data_plane_pids()
    assert len(planes) == 2  # one router process per service
    router_port = platform.client.info()["routers"]["api"]

    first.kill()  # SIGKILL: no cleanup at all
    assert ws.instance_pids() == instances  # the instances outlive it...
    assert ws.data_plane_pids() == planes  # ...and so do the routers, still serving
    victim = min(instances)
    os.kill(victim, signal.SIGKILL)  # ...and one of them dies while nobody watches
    assert wait_until(lambda: start_time(victim) is None)

    second = control_factory(ws)
    platform = second.start()
    snapshot = platform.snapshot("api")
    assert snapshot.weights == {"blue": 70, "green": 30}
    assert snapshot.slots["blue"].version == "v1.0.0" and snapshot.slots["green"].version == "v1.1.0"
    assert snapshot.slots["blue"].ready and snapshot.slots["green"].ready
    assert platform.snapshot("web").weights == {"blue": 100, "green": 0}
    assert platform.snapshot("web").slots["blue"].ready
    now = ws.instance_pids()
    assert len(now) == 6 and len(now & instances) == 5  # five adopted, one replaced, none duplicated
    assert ws.data_plane_pids() == planes  # both routers adopted
    assert platform.client.info()["routers"]["api"] == router_port
    with httpx2.Client(timeout=CLIENT_TIMEOUT) as client:
        versions = [client.get(f"http://127.0.0.1:{router_port}/").json()["version"] for _ in range(100)]
    assert versions.count("v1.1.0") == 30

    result = run_cli(ws, "down")
    assert result.returncode == 0, result.stderr
    assert second.popen is not None and second.popen.wait(timeout=STARTUP) == 0
    assert ws.tagged_pids() == set()


def test_up_detach_then_down(workspace_factory: Callable[..., Workspace]) -> None:
    # v-broken exits before it is ready (a bad flag): a deploy that fails at once, whatever the machine's speed
    app = {"command": demo_command(), "readinessTimeout": READY_TIMEOUT, "versions": {"v-broken": {"args": ["--bad"]}}}
    ws = workspace_factory(services={"api": app})
    up = run_cli(ws, "up", "--detach")
    assert up.returncode == 0, up.stderr + up.stdout
    assert "local platform up" in up.stdout and "routers: api http://127.0.0.1:" in up.stdout
    assert len(ws.instance_pids()) == 2 and len(ws.data_plane_pids()) == 1
    again = run_cli(ws, "up", "--detach")
    assert again.returncode == 0 and "already running" in again.stdout
    foreground = run_cli(ws, "up")  # a second terminal's `up`: refused, nothing changed (exit 2, not a failure)
    assert foreground.returncode == 2 and "already running" in foreground.stderr, foreground.stdout
    bundle = build_platform(load_config(ws.config_path), ws.state_dir)  # what `orchestrate` gets
    assert bundle.platform.snapshot("api").slots["blue"].ready
    assert bundle.metrics.sample("api", "blue", 10).available
    from conductor.errors import NotReadyError

    with pytest.raises(NotReadyError, match="exited with code 2 before becoming ready"):  # keeps its class
        bundle.platform.deploy("api", "green", "v-broken", replicas=1)
    assert bundle.platform.snapshot("api").weights == {"blue": 100, "green": 0}
    bundle.platform.close()
    down = run_cli(ws, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert ws.tagged_pids() == set()
    gone = build_platform(load_config(ws.config_path), ws.state_dir)
    with pytest.raises(PlatformError, match="not running"):
        gone.platform.snapshot("api")
    assert not gone.metrics.sample("api", "blue", 10).available


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["/nonexistent/bin/server"], "'/nonexistent/bin/server' does not exist"),
        (["no-such-program-xyz", "--port", "{port}"], "'no-such-program-xyz' is not an executable on PATH"),
        (["./missing-relative-script"], "command './missing-relative-script' not found"),
    ],
)
def test_bad_argv_is_a_clear_error_with_exit_code_2(
    workspace_factory: Callable[..., Workspace],
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    expected: str,
) -> None:
    ws = workspace_factory()
    ws.config_path.write_text(
        ws.config_path.read_text().replace('"' + demo_command()[0] + '"', ", ".join(f'"{part}"' for part in command), 1)
    )
    code = cli_main(["up", "--config", str(ws.config_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert ws.tagged_pids() == set()


def test_up_with_a_router_port_in_use_fails_clearly(workspace_factory: Callable[..., Workspace]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ws = workspace_factory(services={"api": {"command": demo_command(), "routerPort": port}})
        result = run_cli(ws, "up")
    assert result.returncode == 1
    assert f"router port {port} on 127.0.0.1 is already in use" in result.stderr
    assert ws.tagged_pids() == set()


def test_sigkill_during_a_deploy_then_up_or_down_leaves_no_unrecorded_instance(
    workspace_factory: Callable[..., Workspace], control_factory: Callable[[Workspace], ControlProcess]
) -> None:
    """An instance still starting when the control process dies is in no record: it is found by its tag."""
    import contextlib
    import threading

    app = {
        "command": demo_command(),
        "readinessTimeout": READY_TIMEOUT,
        "versions": {"v-slow": {"args": ["--ready-delay", "3600"]}},  # still starting when the control dies
    }
    ws = workspace_factory(services={"api": app})

    def killed_while_deploying(control: ControlProcess) -> None:
        platform = control.start()
        running = ws.instance_pids()

        def deploy() -> None:
            with contextlib.suppress(PlatformError):  # the control process dies while it waits
                platform.deploy("api", "green", "v-slow", replicas=1)

        threading.Thread(target=deploy, daemon=True).start()
        assert wait_until(lambda: len(ws.instance_pids() - running) == 1)  # spawned, waiting to be ready
        control.kill()

    killed_while_deploying(control_factory(ws))
    platform = control_factory(ws).start()  # adopts the two recorded instances, stops the stray one
    assert len(ws.instance_pids()) == 2
    assert platform.snapshot("api").slots["green"].instances == ()
    platform.close()
    assert run_cli(ws, "down").returncode == 0 and ws.tagged_pids() == set()

    killed_while_deploying(control_factory(ws))
    down = run_cli(ws, "down")  # nobody runs `up` again: `down` stops all three
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped 3 leftover instance(s) and 1 data plane(s)" in down.stdout, down.stdout
    assert ws.tagged_pids() == set()


def test_down_during_a_deploy_leaves_nothing_running(
    workspace_factory: Callable[..., Workspace], control_factory: Callable[[Workspace], ControlProcess], tmp_path: Path
) -> None:
    import contextlib
    import threading

    ready = tmp_path / "ready"
    app = {
        "command": demo_command(),
        "readinessTimeout": READY_TIMEOUT,
        "versions": {"v-slow": {"args": ["--ready-file", str(ready)]}},  # ready once the file exists
    }
    ws = workspace_factory(services={"api": app})
    platform = control_factory(ws).start()
    running = ws.tagged_pids()

    def deploy() -> None:
        with contextlib.suppress(PlatformError):  # `down` wins: the deploy fails
            platform.deploy("api", "green", "v-slow", replicas=1)

    threading.Thread(target=deploy, daemon=True).start()
    assert wait_until(lambda: len(ws.tagged_pids() - running) == 1)  # spawned, waiting to be ready
    downs: list[subprocess.CompletedProcess[str]] = []
    stopping = threading.Thread(target=lambda: downs.append(run_cli(ws, "down")))
    stopping.start()
    assert wait_until(lambda: not running & ws.tagged_pids())  # the known instances are stopped...
    ready.touch()  # ...then the new one becomes ready: it must not outlive the control process
    stopping.join(timeout=STARTUP)
    assert downs and downs[0].returncode == 0, downs
    assert wait_until(lambda: ws.tagged_pids() == set(), timeout=30)
