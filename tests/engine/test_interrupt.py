"""Ctrl-C during an orchestration says what is left taking traffic and how to watch it, resume it
or roll it back; it no longer only says "run the same command to resume"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conductor.journal.state import Phase
from conductor.session import Conductor
from tests.conftest import Workspace, release_config


def _phase(workspace: Workspace) -> Phase | None:
    if not (workspace.state_dir / "journal.db").exists():
        return None
    conductor = Conductor.from_config(workspace.config_path)
    try:
        flights = conductor.in_flight()
        return flights[0].services["api"].phase if flights else None
    finally:
        conductor.close()


@pytest.mark.parametrize(("as_json", "stop"), [(False, signal.SIGINT), (True, signal.SIGINT),
                                              (False, signal.SIGTERM)])
def test_ctrl_c_while_baking_names_what_takes_traffic_and_the_three_ways_on(
    workspace: Workspace, as_json: bool, stop: signal.Signals
) -> None:
    """SIGTERM (a cancelled CI job) says the same as Ctrl-C instead of dying silently."""
    config = release_config(bakeTime=600, services=["api"]) | {
        "release": {"api": "v1.1.0"},
        "platform": {"kind": "sim", "timeScale": 1},  # real time: the bake lasts 10 minutes
    }
    workspace.write_config(config)
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CONDUCTOR_DEBUG")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "conductor", "orchestrate", "blue-green", *(["--json"] if as_json else [])],
        cwd=workspace.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while _phase(workspace) is not Phase.BAKING:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "never reached the bake"
            time.sleep(0.1)
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "api: v1.1.0 takes 100% of traffic, v1.0.0 0%" in err, err
    assert "Nothing watches this release now" in err
    assert "conductor watch" in err and "conductor orchestrate rollback" in err
    assert "conductor orchestrate blue-green" in err  # resuming is one of the choices, not the only one
    assert "run the same command to resume" not in err
    if as_json:
        document = json.loads(out[out.index("{"):])
        assert (document["schema"], document["exit_code"]) == ("conductor.error/v1", 130)
    assert _phase(workspace) is Phase.BAKING  # nothing was changed by the interruption


def test_ctrl_c_with_nothing_in_flight_says_so(workspace: Workspace) -> None:
    import argparse

    from conductor.frontends.cli.interrupted import interruption_message

    workspace.write_config(release_config())
    args = argparse.Namespace(command="orchestrate", config=workspace.config_path)
    assert "no orchestration is in flight" in interruption_message(args)
    assert interruption_message(argparse.Namespace(command="install")) == "conductor: interrupted"
