"""`conductor up`: started twice at once, and what it says when it cannot start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from unittest import mock

import pytest

from conductor.errors import ConfigError
from conductor.frontends.cli import main as cli_main
from conductor.platforms.local import dataplane
from conductor.platforms.local.runtime import LocalRuntime

from .conftest import REPO, Workspace, demo_command, run_cli


def _up_detach(ws: Workspace) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "conductor", "up", "--detach", "--config", str(ws.config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=ws.root,
    )


def test_two_up_detach_at_once_both_succeed_with_one_control_process(
    workspace_factory: Callable[..., Workspace],
) -> None:
    # Both detach; one child wins the control lock, the other's exits: that one is "already running", not a failure.
    ws = workspace_factory(services={"api": {"command": demo_command()}})
    first, second = _up_detach(ws), _up_detach(ws)
    results = [(p.wait(timeout=300), *p.communicate()) for p in (first, second)]
    for code, out, err in results:
        assert code == 0, out + err
        assert "local platform up" in out and "exited with code" not in err
    assert sum("already running" in out for _, out, _ in results) == 1
    assert len(ws.data_plane_pids()) == 1 and len(ws.instance_pids()) == 2
    down = run_cli(ws, "down")
    assert down.returncode == 0, down.stderr
    assert ws.tagged_pids() == set()


def test_a_failed_detached_start_shows_its_own_log_lines_only(workspace_factory: Callable[..., Workspace]) -> None:
    ws = workspace_factory(services={"api": {"command": demo_command()}})
    log = ws.state_dir / "logs" / "control.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("07:00:00 api: a line from an earlier run\n")
    config = ws.config_path.read_text()
    ws.config_path.write_text(config.replace('"--latency-ms"', '"--no-such-flag"', 1))  # instances exit at once
    up = run_cli(ws, "up", "--detach")
    assert up.returncode == 1, up.stdout + up.stderr
    assert "the control process exited with code 1" in up.stderr
    assert "an earlier run" not in up.stderr
    assert ws.tagged_pids() == set()


def test_router_haproxy_without_haproxy_installed_is_exit_2_before_anything_starts(
    workspace_factory: Callable[..., Workspace],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = workspace_factory(services={"api": {"command": demo_command()}})
    config = json.loads(ws.config_path.read_text())
    config["platform"]["router"] = "haproxy"
    ws.config_path.write_text(json.dumps(config))
    monkeypatch.setenv("PATH", str(ws.root))  # nothing on it
    monkeypatch.setattr(dataplane, "SBIN_DIRS", ())
    for detach in ([], ["--detach"]):  # --detach used to start a control process that died with a traceback
        assert cli_main(["up", *detach, "--config", str(ws.config_path)]) == 2
        err = capsys.readouterr().err
        assert 'platform.router is "haproxy" but haproxy is not on PATH (Debian package `haproxy`)' in err, err
    assert not (ws.state_dir / "logs" / "control.log").exists()  # no control process was started
    assert ws.tagged_pids() == set()


def test_a_runtime_that_fails_to_start_closes_its_event_loop(workspace_factory: Callable[..., Workspace]) -> None:
    # In-process: the foreground `up` path, where an unclosed loop logged a traceback at interpreter exit.
    ws = workspace_factory(services={"api": {"command": demo_command()}})
    settings = ws.settings.model_copy(update={"router": "haproxy"})
    runtime = LocalRuntime(ws.config, settings, ws.state_dir)
    with (
        mock.patch("shutil.which", return_value=None),
        mock.patch.object(dataplane, "SBIN_DIRS", ()),
        pytest.raises(ConfigError, match="not on PATH"),
    ):
        runtime.start()
    runtime.shutdown()
    assert runtime.loop.is_closed()
