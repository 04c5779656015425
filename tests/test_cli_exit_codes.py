"""Exit codes a CI pipeline can rely on: one table (README and every --help agree), usage errors
instead of tracebacks, a document for every --json ending, and a read-only state directory that
can still be read."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conductor.frontends.cli import SUBCOMMANDS, build_parser, exit_codes
from tests.conftest import Workspace, release_config

ROOT = Path(__file__).resolve().parent.parent


def _readme_codes() -> set[int]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    return {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}


def test_the_readme_table_lists_exactly_the_codes_conductor_defines() -> None:
    assert _readme_codes() == set(exit_codes.MEANINGS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_command_help_ends_with_its_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert "exit codes:" in help_text
    listed = {int(code) for code in re.findall(r"^  (\d+) ", help_text.split("exit codes:", 1)[1], re.MULTILINE)}
    assert {0, 2} <= listed <= set(exit_codes.MEANINGS), listed


def _run(workspace: Workspace, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CONDUCTOR_DEBUG")}
    return subprocess.run([sys.executable, "-m", "conductor", *args], cwd=workspace.root, capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_mcp_with_an_impossible_port_is_a_usage_error(workspace: Workspace, port: str) -> None:
    workspace.write_config(release_config())
    done = _run(workspace, "mcp", "--http", "--port", port)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "--port" in done.stderr


def test_mcp_on_a_busy_port_is_a_usage_error_not_rolled_back(workspace: Workspace) -> None:
    workspace.write_config(release_config())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _run(workspace, "mcp", "--http", "--port", str(taken.getsockname()[1]))
    assert done.returncode == 2, done.stderr
    assert "Address already in use" in done.stderr and "Traceback" not in done.stderr


def test_json_gets_a_document_for_an_argparse_error_and_an_unexpected_error(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.write_config(release_config())
    done = _run(workspace, "status", "--json", "--wait", "--timeout", "soon")
    assert done.returncode == 2
    assert json.loads(done.stdout)["schema"] == "conductor.error/v1"

    from conductor.session import Conductor

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Conductor, "run", broken)
    result = workspace.cli(capsys, "orchestrate", "--json")
    assert result.code == 1
    document = result.json()
    assert (document["schema"], document["kind"], document["exit_code"]) == ("conductor.error/v1", "UnexpectedError", 1)
    assert "disk on fire" in document["error"]


def _as_nobody() -> list[str] | None:
    """A command prefix that runs as an unprivileged user (root ignores file permissions)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can traverse (pytest's own tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="conductor-readonly-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_read_only_state_directory_still_shows_status_and_dry_run_writes_nothing(shared_tmp: Path) -> None:
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("no way to drop privileges here")
    tmp_path = shared_tmp
    root = tmp_path / "repo"
    workspace = Workspace(root)
    workspace.write_config(release_config())
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CONDUCTOR_DEBUG")}
    env["PYTHONPATH"] = str(ROOT)
    started = subprocess.run([sys.executable, "-m", "conductor", "orchestrate", "canary", "5"], cwd=root,
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert started.returncode == 0, started.stdout + started.stderr
    for path in [tmp_path, *root.rglob("*"), root]:  # readable by everyone, writable by nobody else
        path.chmod(0o755 if path.is_dir() else 0o644)
    before = workspace.state_files()

    def as_reader(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*prefix, sys.executable, "-m", "conductor", *args], cwd=root, capture_output=True,
                              text=True, env={**env, "HOME": str(tmp_path)}, timeout=120, check=False)

    status = as_reader("orchestrate", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "awaiting_approval"
    gate = as_reader("status", "--json")
    assert gate.returncode == 5, gate.stderr
    dry = as_reader("orchestrate", "canary", "25", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    change = as_reader("orchestrate", "canary", "25", "--json")
    assert change.returncode == 1 and json.loads(change.stdout)["schema"] == "conductor.error/v1"
    assert "unexpected" not in change.stderr, change.stderr
    assert workspace.state_files() == before


def test_dry_run_of_a_fresh_release_writes_nothing(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.write_config(release_config())
    for words in (["canary", "10"], ["blue-green"], ["rolling"], []):
        result = workspace.cli(capsys, "orchestrate", *words, *(["--dry-run"] if words else []))
        assert result.code == 0, result.err
    assert workspace.state_files() == {}
