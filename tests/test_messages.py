"""Wording people read: commands suggested in the words of the front end that shows them, a held
lock that names its holder, titles and plurals."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from conductor.errors import LockHeldError
from conductor.frontends.phrasing import for_cli, for_mcp
from conductor.locks import ServiceLocks, describe_holder
from conductor.report import _usage_line
from conductor.session import Conductor
from tests.conftest import Workspace

CANARY: dict[str, Any] = {
    "orchestration": {"strategy": "canary", "services": ["api"], "healthCheckInterval": 10, "bakeTime": 60},
    "release": {"api": "v1.1.0"},
}


def test_each_front_end_says_the_commands_its_own_way() -> None:
    advice = "Approve the ramp-up to 25%: `/orchestrate canary 25`; or `/orchestrate` for status"
    assert for_cli(advice) == ("Approve the ramp-up to 25%: `conductor orchestrate canary 25`; "
                               "or `conductor orchestrate` for status")
    assert for_mcp(advice) == ("Approve the ramp-up to 25%: the `orchestrate` tool with `canary 25`; "
                               "or the `orchestrate` tool (status) for status")
    assert for_cli("typed /orchestrate canary 10 earlier") == "typed /orchestrate canary 10 earlier"  # prose stays


def test_cli_reports_and_errors_suggest_cli_commands_the_repl_keeps_its_own(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(CANARY)
    first = workspace.cli(capsys, "orchestrate", "canary", "10")
    assert "1. Approve the ramp-up to 25%: `conductor orchestrate canary 25`" in first.out
    assert "`/orchestrate" not in first.out
    doc = workspace.cli(capsys, "orchestrate", "--json").json()
    assert doc["next_steps"][0] == "Approve the ramp-up to 25%: `conductor orchestrate canary 25`"
    assert doc["command"] == "/orchestrate"  # what was run stays as it was
    refused = workspace.cli(capsys, "orchestrate", "blue-green")
    assert refused.code == 2 and "continue it with `conductor orchestrate canary`" in refused.err
    result = Conductor.from_config(workspace.config_path).run("/orchestrate", actor="person:repl")
    assert "`/orchestrate canary 25`" in result.report  # the Python API and the REPL: the spec's grammar


def test_a_held_lock_names_its_holder(workspace: Workspace) -> None:
    with ServiceLocks(workspace.state_dir, ["api"]), pytest.raises(LockHeldError) as refused:
        ServiceLocks(workspace.state_dir, ["api"]).__enter__()
    message = str(refused.value)
    assert message.startswith("api is being orchestrated by another process (pid ")
    assert f" on {socket.gethostname()}, since 20" in message and " UTC" in message
    record = json.loads((workspace.state_dir / "locks" / "api.lock").read_text())
    assert set(record) == {"pid", "host", "since", "command"}
    assert describe_holder(b"4242") == "pid 4242"  # a lock file written by an older version
    assert describe_holder(b"") == "pid unknown"


def test_titles_and_plurals(workspace: Workspace) -> None:
    workspace.write_config(CANARY)
    conductor = Conductor.from_config(workspace.config_path)
    nothing = conductor.run("/orchestrate rollback")  # nothing in flight: the command names the strategy
    assert "### Strategy: Rollback" in nothing.report
    assert _usage_line({"turns": 1}, None) == "1 turn"
    assert _usage_line({"turns": 2}, None) == "2 turns"
