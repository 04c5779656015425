"""`conductor demo`, the README's first command, end to end (about 20 s), and stopped midway.

Each run gets its own TMPDIR, so the instances of its workspace (tagged with the workspace's
state directory, see conftest) can be found afterwards, asserted gone, and killed if a test failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conductor.platforms.local.process import HOME_ENV

from .conftest import REPO, pids_with_environ, wait_until

DEMO_TIMEOUT = 600  # the demo takes ~20 s on an idle machine; this only guards against a hang


def demo_pids(tmp: Path) -> set[int]:
    """Live instances of any demo workspace created under ``tmp``."""
    prefix = f"{HOME_ENV}={tmp}/".encode()
    return pids_with_environ(lambda variables: any(var.startswith(prefix) for var in variables))


@pytest.fixture
def demo_tmp(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for pid in demo_pids(tmp_path):  # only after a failure: the tests assert there are none
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def start_demo(tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    out = tmp / "demo.out"
    popen = subprocess.Popen(
        [sys.executable, "-m", "conductor", "demo", "--no-live"],
        stdout=open(out, "w"),  # noqa: SIM115 - owned by the child
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp)},
        cwd=REPO,
    )
    return popen, out


def finish(popen: subprocess.Popen[str]) -> int:
    try:
        return popen.wait(timeout=DEMO_TIMEOUT)
    except subprocess.TimeoutExpired:
        popen.send_signal(signal.SIGINT)  # let it stop its instances before giving up on it
        try:
            popen.wait(timeout=120)
        except subprocess.TimeoutExpired:
            popen.kill()
        raise


def test_demo_deploys_then_rolls_back_and_leaves_nothing_running(demo_tmp: Path) -> None:
    popen, output = start_demo(demo_tmp)
    code = finish(popen)
    out = output.read_text()
    assert code == 0, out
    assert "brain: offline policy (no ANTHROPIC_API_KEY set)" in out, out
    assert "<conductor>DEPLOYED:api,web,worker</conductor>" in out, out
    # The bad release is both: whichever the judge is sure of first names the rollback.
    assert "<conductor>ROLLBACK:api:error rate" in out or "<conductor>ROLLBACK:api:p95 latency" in out, out
    assert "## Deployment Orchestration" in out and "### Strategy: Canary" in out, out
    assert "shutdown: clean, no process left" in out, out
    assert demo_pids(demo_tmp) == set()


@pytest.mark.parametrize(
    ("sig", "when"),
    [
        (signal.SIGINT, "its instances are starting"),
        (signal.SIGTERM, "its load is running"),
    ],
)
def test_demo_stopped_midway_leaves_nothing_running(demo_tmp: Path, sig: signal.Signals, when: str) -> None:
    popen, output = start_demo(demo_tmp)
    if when == "its instances are starting":
        assert wait_until(lambda: bool(demo_pids(demo_tmp)), timeout=120, interval=0.01), output.read_text()
    else:
        assert wait_until(lambda: "is up (2 instances each)" in output.read_text(), timeout=300), output.read_text()
    popen.send_signal(sig)
    code = finish(popen)
    assert code == 130, output.read_text()  # interrupted, like Ctrl-C
    assert wait_until(lambda: not demo_pids(demo_tmp), timeout=30), output.read_text()
