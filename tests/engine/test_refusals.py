"""A refused command says "refused", leaves nothing behind, and exits 4; `canary 100` on a fresh
release is not a silent one-step cutover."""

from __future__ import annotations

import pytest

from conductor.errors import EXIT_REFUSED, EXIT_USAGE
from conductor.schema import Report
from tests.conftest import Workspace, release_config


@pytest.mark.parametrize("how", ["config", "file"])
@pytest.mark.parametrize("words", [["canary", "10"], ["blue-green"], ["rolling"], ["canary", "10", "--dry-run"]])
def test_a_freeze_refuses_before_anything_happens_and_exits_4(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], how: str, words: list[str]
) -> None:
    config = release_config(freeze=True) if how == "config" else release_config()
    config["preDeploy"] = {"build": [["touch", str(workspace.root / "built")]]}
    workspace.write_config(config)
    if how == "file":
        (workspace.state_dir / "FREEZE").write_text("release train paused\n")
    before = workspace.state_files()
    result = workspace.cli(capsys, "orchestrate", *words, "--json")
    assert result.code == EXIT_REFUSED
    report = Report.model_validate(result.json())
    assert report.status == "refused"
    assert report.exit_code == EXIT_REFUSED
    assert report.orchestration is None  # nothing was started, so nothing is left Pending
    assert all(row.status == "Refused" for row in report.services)
    assert any("refused: deployments are frozen" in note for note in report.notes)
    assert "Lift the freeze" in report.next_steps[0]
    assert workspace.state_files() == before  # no journal, no lock file, no simulator state
    assert not (workspace.root / "built").exists()  # the build did not run

    status = workspace.cli(capsys, "orchestrate", "--json")
    assert status.code == 0 and status.json()["status"] == "idle"


def test_a_freeze_refuses_an_approval_and_keeps_the_canary_as_it_was(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(release_config())
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == 0
    approvals = len(workspace.journal_events("approval_granted"))
    (workspace.state_dir / "FREEZE").write_text("")
    result = workspace.cli(capsys, "orchestrate", "canary", "25")
    assert result.code == EXIT_REFUSED
    assert "refused: deployments are frozen" in result.out
    assert "`conductor orchestrate rollback` is always allowed" in result.out
    assert len(workspace.journal_events("approval_granted")) == approvals  # no approval waiting for a thaw
    assert workspace.cli(capsys, "orchestrate", "rollback").code == 3  # rollback is never refused


def test_the_refused_exit_code_is_in_the_readme_and_the_help() -> None:
    from pathlib import Path

    from conductor.frontends.cli import build_parser

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "| 4 | Refused by a freeze" in readme
    assert "4   refused (a freeze)" in build_parser().format_help()


def test_canary_100_on_a_fresh_release_is_refused_without_confirmation(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(release_config())
    before = workspace.state_files()
    result = workspace.cli(capsys, "orchestrate", "canary", "100")
    assert result.code == EXIT_USAGE
    assert "is not a canary" in result.err and "--full-cutover" in result.err and "blue-green" in result.err
    assert workspace.state_files() == before


def test_canary_100_with_full_cutover_starts_and_on_a_canary_in_flight_promotes(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(release_config())
    result = workspace.cli(capsys, "orchestrate", "canary", "100", "--full-cutover", "--json")
    assert result.json()["status"] != "refused" and result.json()["orchestration"] is not None
    approval = workspace.journal_events("approval_granted")[0]
    assert approval.actor == "person:cli"


def test_canary_100_on_a_canary_in_flight_needs_no_flag(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(release_config())
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == 0
    result = workspace.cli(capsys, "orchestrate", "canary", "100")
    assert result.code != EXIT_USAGE, result.err
