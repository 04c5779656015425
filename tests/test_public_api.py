"""The public Python API: the names in ``conductor.__all__`` are a promise, so they are pinned here,
and the documented Python example (README, or docs/harnesses.md before it is merged) runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import conductor
from conductor import Conductor, Model, ModelRequest, Result, Signal, Turn, parse_command
from conductor.journal.store import Journal
from conductor.models.policy import PolicyModel
from tests.conftest import Workspace

PUBLIC = [
    "EXIT_ERROR", "EXIT_IN_PROGRESS", "EXIT_OK", "EXIT_PAUSED", "EXIT_REFUSED", "EXIT_ROLLED_BACK", "EXIT_USAGE",
    "Command", "Conductor", "ConductorError", "ConfigError", "JournalError", "LockHeldError",
    "MetricsError", "ModelError", "NotReadyError", "PlatformError", "Report", "Result", "Signal",
    "UsageError", "__version__", "init_config", "parse_command", "parse_signals",
    # the seams a Python user can hand in, and the values that cross them
    "Platform", "ServiceSnapshot", "SlotState", "InstanceState", "MetricsProvider", "MetricsSample", "Clock",
    "Model", "ModelRequest", "Turn", "ToolCall", "Usage",
]
ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "docs" / "harnesses.md"]  # the example lives in one of them


def test_exported_members_are_pinned() -> None:
    assert sorted(conductor.__all__) == sorted(PUBLIC)
    for name in conductor.__all__:
        assert getattr(conductor, name) is not None, name


def test_errors_are_one_tree() -> None:
    errors = [getattr(conductor, n) for n in PUBLIC if n.endswith("Error") and n != "ConductorError"]
    assert all(issubclass(e, conductor.ConductorError) for e in errors)


def test_importing_conductor_does_not_load_the_engine() -> None:
    code = "import sys, conductor; conductor.parse_signals(''); print('conductor.session' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_run_returns_what_the_cli_prints(workspace: Workspace) -> None:
    instance = Conductor.from_config(workspace.config_path)
    try:
        paused = instance.run("/orchestrate canary 10", actor="person:test")
        done = instance.run(["canary", "100"], actor="person:test")
    finally:
        instance.close()
    assert isinstance(done, Result)
    assert paused.exit_code == 0 and paused.signals == [] and paused.data["status"] == "awaiting_approval"
    assert done.signals == [Signal("DEPLOYED", ("api", "web", "worker"))]
    assert [row["status"] for row in done.services] == ["Complete"] * 3
    assert "## Deployment Orchestration" in done.report and done.signals[0].format() in done.report
    approvers = {e.actor for e in workspace.journal_events("approval_granted")}
    assert approvers == {"person:test"}
    assert parse_command("canary 10") == conductor.Command("canary", percent=10)


def test_the_documented_python_example_runs(tmp_path: Path) -> None:
    examples = [block for doc in DOCS if doc.is_file()
                for block in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
                if "Conductor.from_config" in block and "demo-repo" in block]
    assert examples, "the README (or docs/harnesses.md) lost its runnable Python example"
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CONDUCTOR_MODEL")}
    proc = subprocess.run([sys.executable, "-c", examples[0]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "0 awaiting_approval" in proc.stdout
    assert "DEPLOYED ('api', 'web')" in proc.stdout
    assert "api v1.1.0 Complete" in proc.stdout


def test_the_seams_are_the_protocols_the_engine_runs_on() -> None:
    from conductor.clock import Clock
    from conductor.metrics.base import MetricsProvider
    from conductor.models.base import Model as EngineModel
    from conductor.platforms.base import Platform

    assert (conductor.Platform, conductor.MetricsProvider, conductor.Clock, conductor.Model) == (
        Platform, MetricsProvider, Clock, EngineModel)


class CountingBrain:
    """A brain handed in by a Python user: the offline policy, counting its turns."""

    name = "counting"

    def __init__(self) -> None:
        self.policy = PolicyModel()
        self.turns = 0

    def next_turn(self, request: ModelRequest) -> Turn:
        self.turns += 1
        return self.policy.next_turn(request)


def test_collaborators_handed_in_are_used_and_left_to_their_owner(workspace: Workspace, tmp_path: Path) -> None:
    brain: Model = CountingBrain()
    journal = Journal(tmp_path / "own-journal.db")
    backend = Conductor.from_config(workspace.config_path)  # the simulator, opened by the caller
    sim = backend.bundle
    instance = Conductor.from_config(workspace.config_path, platform=sim.platform, metrics=sim.metrics,
                                     clock=sim.clock, brain=brain, journal=journal)
    try:
        result = instance.run("/orchestrate canary 10", actor="person:test")
    finally:
        instance.close()
    assert result.data["status"] == "awaiting_approval"
    assert isinstance(brain, CountingBrain) and brain.turns > 0
    assert "counting brain (handed in)" in result.data["notes"]
    assert journal.events(result.data["orchestration"])  # written to the journal handed in, still open
    assert not (instance.state_dir / "journal.db").exists()
    assert sim.platform.snapshot("api").weights["green"] == 10  # the same platform object moved traffic
    journal.close()
    backend.close()

