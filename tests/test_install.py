"""`conductor install claude-code`: what it writes, that it is idempotent and keeps edits, and that
the command line inside the slash command really runs Conductor against a simulated config."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from conductor.frontends.install import COMMAND_BODY, COMMAND_PATH, MCP_ENTRY, is_pristine, render_command, stamp
from tests.conftest import Workspace, release_config

INLINE = re.compile(r"^!`(?P<command>[^`]+)`$", re.MULTILINE)


def split_frontmatter(text: str) -> tuple[dict[str, object], str]:
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def test_writes_a_claude_code_command_with_the_documented_frontmatter(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = workspace.cli(capsys, "install", "claude-code")
    assert result.code == 0 and "created .claude/commands/orchestrate.md" in result.out
    frontmatter, body = split_frontmatter((workspace.root / COMMAND_PATH).read_text())
    assert frontmatter == {
        "description": "Deploy with Conductor - blue-green, canary, rolling, rollback, or status",
        "argument-hint": "[blue-green | canary [percent] | rolling | rollback [service]]",
        "allowed-tools": "Bash(conductor orchestrate *)",
        "disable-model-invocation": True,
    }
    assert INLINE.findall(body) == ["conductor orchestrate --exit-zero $ARGUMENTS"]
    assert "$ARGUMENTS" in body.split("!`")[0]  # the model is told what the person typed
    assert "Approvals belong to the person" in body


def test_the_inline_command_runs_conductor_and_shows_report_and_signals(workspace: Workspace) -> None:
    command = INLINE.search(render_command())
    assert command is not None
    workspace.write_config(release_config(requireApproval=False))

    def slash(arguments: str) -> subprocess.CompletedProcess[str]:
        # What Claude Code does for `/orchestrate <arguments>`: substitute, run in the project's shell.
        line = command.group("command").replace("$ARGUMENTS", arguments)
        line = line.replace("conductor ", f"{sys.executable} -m conductor ", 1)
        return subprocess.run(line, shell=True, cwd=workspace.root, capture_output=True, text=True,
                              timeout=60, check=False)

    status = slash("")
    assert status.returncode == 0 and "| api | v1.0.0 | v1.1.0 | Pending |" in status.stdout
    deploy = slash("canary 10")
    assert deploy.returncode == 0, deploy.stderr
    assert deploy.stdout.startswith("<conductor>DEPLOYED:api,web,worker</conductor>\n")
    assert "### Strategy: Canary" in deploy.stdout and "| api | v1.1.0 | v1.1.0 | Complete |" in deploy.stdout
    approvers = {e.actor for e in workspace.journal_events("approval_granted")}
    assert approvers == {"person:cli"}  # typed by the person, run by the harness: the person's approval


def test_installing_twice_changes_nothing(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.cli(capsys, "install", "claude-code", "--mcp")
    files = {p: p.read_bytes() for p in workspace.root.rglob("*") if p.is_file() and ".mothership" not in p.parts}
    again = workspace.cli(capsys, "install", "claude-code", "--mcp")
    assert again.code == 0
    assert again.out.splitlines() == ["unchanged .claude/commands/orchestrate.md", "unchanged .mcp.json"]
    assert {p: p.read_bytes() for p in files} == files


def test_an_edited_command_is_kept_unless_forced(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.cli(capsys, "install", "claude-code")
    path = workspace.root / COMMAND_PATH
    edited = path.read_text().replace("at most two sentences", "one sentence")
    path.write_text(edited)
    assert not is_pristine(edited)
    refused = workspace.cli(capsys, "install", "claude-code")
    assert refused.code == 2 and "pass --force" in refused.err and "nothing was written" in refused.err
    assert path.read_text() == edited
    shown = workspace.cli(capsys, "install", "claude-code", "--print")
    assert shown.code == 0 and "(refused:" in shown.out and path.read_text() == edited
    forced = workspace.cli(capsys, "install", "claude-code", "--force")
    assert forced.code == 0 and path.read_text() == render_command()


def test_an_older_untouched_command_is_upgraded(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    path = workspace.root / COMMAND_PATH
    path.parent.mkdir(parents=True)
    path.write_text("---\ndescription: hand-written\n---\nrun it\n")
    assert workspace.cli(capsys, "install", "claude-code").code == 2  # no stamp: a person wrote it
    older = stamp(COMMAND_BODY.replace("at most two sentences", "a sentence"))  # an earlier release's file
    assert is_pristine(older) and older != render_command()
    path.write_text(older)
    result = workspace.cli(capsys, "install", "claude-code")
    assert result.code == 0 and "updated .claude/commands/orchestrate.md" in result.out
    assert path.read_text() == render_command()


def test_print_shows_everything_and_writes_nothing(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    result = workspace.cli(capsys, "install", "claude-code", "--print", "--mcp")
    assert result.code == 0
    assert f"==> {workspace.root.resolve() / COMMAND_PATH} (create)" in result.out
    assert render_command() in result.out and '"conductor": {' in result.out
    assert not (workspace.root / ".claude").exists() and not (workspace.root / ".mcp.json").exists()


def test_mcp_registration_keeps_other_servers(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    mcp_json = workspace.root / ".mcp.json"
    mcp_json.write_text(json.dumps({"mcpServers": {"docs": {"command": "docs-server"}}}))
    assert workspace.cli(capsys, "install", "claude-code", "--mcp").code == 0
    servers = json.loads(mcp_json.read_text())["mcpServers"]
    assert servers == {"docs": {"command": "docs-server"}, "conductor": MCP_ENTRY}
    servers["conductor"] = {"command": "/opt/conductor/bin/conductor", "args": ["mcp"]}
    mcp_json.write_text(json.dumps({"mcpServers": servers}))
    kept = workspace.cli(capsys, "install", "claude-code", "--mcp")
    assert kept.code == 2 and 'different "conductor" server' in kept.err
    mcp_json.write_text("{not json")
    assert "not valid JSON" in workspace.cli(capsys, "install", "claude-code", "--mcp").err


def test_installs_at_the_repository_root_from_a_subdirectory(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = workspace.root / "services" / "api"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    from conductor.frontends.cli import main

    assert main(["install", "claude-code"]) == 0
    assert (workspace.root / COMMAND_PATH).is_file() and not (sub / ".claude").exists()
    capsys.readouterr()


def test_the_generated_command_file_is_stable() -> None:
    text = render_command()
    assert is_pristine(text)
    assert text == render_command()
    assert Path(COMMAND_PATH).as_posix() == ".claude/commands/orchestrate.md"
