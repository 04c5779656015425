"""Shared fixtures: a workspace with a .mothership/config.json, and ways to run the CLI.

No test reaches the network or needs an API key: ANTHROPIC_API_KEY is removed so the default
brain is the offline policy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conductor.frontends.cli import main

SPEC_CONFIG: dict[str, Any] = {
    "orchestration": {
        "strategy": "blue-green",
        "services": ["api", "web", "worker"],
        "healthCheckInterval": 10,
        "rollbackThreshold": {"errorRate": 5, "responseTime": 1000},
    }
}


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("CONDUCTOR_MODEL", raising=False)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Workspace:
    """A repository root holding .mothership/config.json."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_dir = root / ".mothership"
        self.state_dir.mkdir(parents=True, exist_ok=True)

    @property
    def config_path(self) -> Path:
        return self.state_dir / "config.json"

    def write_config(self, config: dict[str, Any]) -> None:
        self.config_path.write_text(json.dumps(config, indent=2))

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
        """Run the CLI in-process from the workspace root."""
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            capsys.readouterr()
            code = main(list(args))
        finally:
            os.chdir(cwd)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    def subprocess(self, *args: str, timeout: float = 60) -> CliResult:
        """Run the CLI as a separate process (what a second terminal would do)."""
        env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
        proc = subprocess.run(
            [sys.executable, "-m", "conductor", *args],
            cwd=self.root, capture_output=True, text=True, timeout=timeout, env=env, check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def journal_events(self, kind: str | None = None) -> list[Any]:
        from conductor.journal.store import Journal

        journal = Journal(self.state_dir / "journal.db")
        try:
            return journal.events(kinds=(kind,) if kind else ())
        finally:
            journal.close()

    def state_files(self) -> dict[str, bytes]:
        """Every file under .mothership except the config: to prove nothing changed."""
        return {
            str(p.relative_to(self.state_dir)): p.read_bytes()
            for p in sorted(self.state_dir.rglob("*"))
            if p.is_file() and p.name != "config.json"
        }


def release_config(**orchestration: Any) -> dict[str, Any]:
    """The spec's config plus a release and fast timings for tests."""
    config: dict[str, Any] = json.loads(json.dumps(SPEC_CONFIG))
    config["orchestration"].update({"bakeTime": 60, **orchestration})
    config["release"] = {"api": "v1.1.0", "web": "v1.1.0", "worker": "v1.1.0"}
    return config


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(tmp_path / "repo")
    ws.write_config(release_config())
    yield ws
