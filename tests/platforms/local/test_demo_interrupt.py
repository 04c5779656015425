"""The demo's Ctrl-C (or SIGTERM) stops everything, removes its temporary workspace and promises
no resume: there is nothing to resume in a workspace that is gone."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .conftest import wait_until
from .test_local_demo import demo_pids, demo_tmp, finish, start_demo

__all__ = ["demo_tmp"]  # the fixture, shared with the demo's own tests


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_interrupted_removes_its_workspace_and_promises_no_resume(demo_tmp: Path, sig: signal.Signals) -> None:
    popen, output = start_demo(demo_tmp)
    assert wait_until(lambda: "is up (2 instances each)" in output.read_text(), timeout=300), output.read_text()
    popen.send_signal(sig)
    code = finish(popen)
    out = output.read_text()
    assert code == 130, out
    assert "the temporary workspace was removed" in out and "nothing to resume" in out, out
    assert "run the same command to resume" not in out, out
    assert not list(demo_tmp.glob("conductor-demo-*")), out
    assert wait_until(lambda: not demo_pids(demo_tmp), timeout=30), out
