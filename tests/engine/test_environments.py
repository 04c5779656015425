"""State belongs to the environment it was made for: two configs in one folder never share a
journal, locks or simulator state, and a collision is refused before anything is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conductor.paths import project_root, state_dir_for
from tests.conftest import Workspace, release_config


def _write(path: Path, **extra: object) -> Path:
    path.write_text(json.dumps(release_config() | extra), encoding="utf-8")
    return path


def test_prod_and_staging_side_by_side_keep_their_own_state(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = _write(workspace.state_dir / "prod.json")
    staging = _write(workspace.state_dir / "staging.json")
    assert workspace.cli(capsys, "orchestrate", "--config", str(prod), "canary", "5").code == 0

    seen = workspace.cli(capsys, "orchestrate", "--config", str(staging), "--json").json()
    assert seen["orchestration"] is None and seen["status"] == "idle"  # staging does not see prod's canary
    assert workspace.cli(capsys, "status", "--config", str(staging)).code == 0
    assert workspace.cli(capsys, "status", "--config", str(prod)).code == 5  # prod's canary awaits approval

    # `canary 25` on staging starts staging's own canary; prod's stays at 5%, unapproved
    assert workspace.cli(capsys, "orchestrate", "--config", str(staging), "canary", "10").code == 0
    prod_view = workspace.cli(capsys, "orchestrate", "--config", str(prod), "--json").json()
    assert {row["new_version_percent"] for row in prod_view["services"]} == {5}

    env = workspace.state_dir / "environments"
    assert (env / "prod" / "journal.db").is_file() and (env / "staging" / "journal.db").is_file()
    assert (env / "prod" / "sim" / "state.json").is_file() and (env / "staging" / "sim" / "state.json").is_file()
    assert not (workspace.state_dir / "journal.db").exists()  # the default environment was never used
    assert (env / "prod" / "OWNER").read_text().strip() == "../../prod.json"


def test_the_default_config_keeps_its_state_beside_it(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.write_config(release_config())
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == 0
    assert (workspace.state_dir / "journal.db").is_file()
    assert not (workspace.state_dir / "environments").exists()


def test_two_configs_claiming_one_environment_are_refused_loudly(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = _write(workspace.state_dir / "prod.json")
    other = _write(workspace.state_dir / "other.json", environment="prod")
    assert workspace.cli(capsys, "orchestrate", "--config", str(prod), "canary", "5").code == 0
    before = workspace.state_files()
    for words in (["canary", "25"], ["rollback"], []):
        result = workspace.cli(capsys, "orchestrate", "--config", str(other), *words)
        assert result.code == 2, result.err
        assert "belongs to" in result.err and str(prod.resolve()) in result.err
    assert workspace.cli(capsys, "status", "--config", str(other)).code == 2
    assert workspace.state_files() == before


def test_an_explicit_environment_name_and_a_moved_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = Workspace(tmp_path / "a")
    config = _write(workspace.state_dir / "config.json", environment="staging")
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == 0
    assert (workspace.state_dir / "environments" / "staging" / "journal.db").is_file()
    moved = tmp_path / "b"
    (tmp_path / "a").rename(moved)  # OWNER is relative: a clone or a move still matches
    again = Workspace(moved)
    assert again.cli(capsys, "status").code == 5
    assert config.name == "config.json"


def test_paths_helpers() -> None:
    from conductor.config_file import parse_config

    plain = parse_config(release_config())
    named = parse_config(release_config() | {"environment": "qa"})
    assert state_dir_for(Path("/r/.mothership/config.json"), plain) == Path("/r/.mothership")
    assert state_dir_for(Path("/r/.mothership/prod.json"), plain) == Path("/r/.mothership/environments/prod")
    assert state_dir_for(Path("/r/.mothership/config.json"), named) == Path("/r/.mothership/environments/qa")
    assert project_root(Path("/r/.mothership")) == Path("/r")
    assert project_root(Path("/r/.mothership/environments/qa")) == Path("/r")


def test_a_freeze_beside_the_configs_freezes_every_environment(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = _write(workspace.state_dir / "prod.json")
    (workspace.state_dir / "FREEZE").write_text("quarter close")
    result = workspace.cli(capsys, "orchestrate", "--config", str(prod), "canary", "5")
    assert result.code == 4 and "quarter close" in result.out


@pytest.mark.parametrize("where", ["repository", "state_dir"])
def test_a_relative_config_path_typed_in_its_own_folder(tmp_path: Path, where: str) -> None:
    """`--config prod.json` as a person types it (relative, cwd = the file's folder, or the repository
    with a relative `.mothership/prod.json`): the state directory still has its parents."""
    import subprocess
    import sys

    state = tmp_path / ".mothership"
    state.mkdir()
    _write(state / "prod.json")
    cwd, arg = (tmp_path, ".mothership/prod.json") if where == "repository" else (state, "prod.json")
    run = [sys.executable, "-m", "conductor", "orchestrate", "--config", arg]
    started = subprocess.run([*run, "canary", "5"], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stdout + started.stderr
    status = subprocess.run([*run, "--json"], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "awaiting_approval"
    assert (state / "environments" / "prod" / "journal.db").is_file()
