"""`conductor demo`, the README's first command, end to end (about 20 s)."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO


def test_demo_deploys_then_rolls_back_and_leaves_nothing_running() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "conductor", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "brain: offline policy (no ANTHROPIC_API_KEY set)" in out
    assert "<conductor>DEPLOYED:api,web,worker</conductor>" in out
    assert "<conductor>ROLLBACK:api:error rate" in out
    assert "## Deployment Orchestration" in out and "### Strategy: Canary" in out
    assert "shutdown: clean, no process left" in out
