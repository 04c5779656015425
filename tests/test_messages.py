"""Wording people read: commands suggested in the words of the front end that shows them, a held
lock that names its holder, titles and plurals."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from conductor.errors import LockHeldError
from conductor.frontends.phrasing import for_cli, for_mcp, for_repl
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
    verbs = "see `conductor history`, then `conductor undo api --to-revision 3`; `conductor watch` meanwhile"
    assert for_repl(verbs) == "see `/history`, then `/undo api --to-revision 3`; `conductor watch` meanwhile"
    assert for_mcp(verbs) == "see the `release_history` tool, then the `undo_release` tool; `conductor watch` meanwhile"
    assert for_cli(verbs) == verbs
    dry = "Run it: the same command without `--dry-run`"
    assert for_mcp(dry) == "Run it: the same command with `dry_run` false" and for_repl(dry) == for_cli(dry) == dry
    stopped = "`conductor abort` (or `conductor orchestrate rollback`) takes it back"  # a verb's refusal
    assert for_mcp(stopped) == "the `abort_release` tool (or the `orchestrate` tool with `rollback`) takes it back"
    assert for_repl(stopped) == "`/abort` (or `/orchestrate rollback`) takes it back"


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


def _on_a_terminal(ws: Workspace, *args: str, no_color: bool) -> str:
    """What `conductor ARGS` writes to a pseudo-terminal (the escape codes included)."""
    import os
    import pty
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "NO_COLOR"))}
    env.update({"TERM": "xterm-256color", "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    if no_color:
        env["NO_COLOR"] = "1"
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ws.root)
        os.execve(sys.executable, [sys.executable, "-m", "conductor", *args], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return out.decode(errors="replace")


def test_no_color_means_no_style_from_any_command(workspace: Workspace) -> None:
    import re

    workspace.write_config(CANARY)
    Conductor.from_config(workspace.config_path).run("/orchestrate canary 10")
    styled = re.compile(r"\x1b\[[0-9;]*m")
    assert styled.search(_on_a_terminal(workspace, "orchestrate", no_color=False))  # rich styles a terminal
    for args in (("orchestrate",), ("view", "--once")):
        screen = _on_a_terminal(workspace, *args, no_color=True)
        assert "Awaiting approval" in screen, screen
        assert [code for code in styled.findall(screen) if code not in ("\x1b[0m", "\x1b[m")] == [], args


def test_config_errors_say_the_rule_in_words_and_suggest_the_kind(workspace: Workspace) -> None:
    from conductor.config_file import parse_config
    from conductor.errors import ConfigError

    with pytest.raises(ConfigError) as bad_name:
        parse_config({"orchestration": {"services": ["API_1"]}}, "c.json")
    assert str(bad_name.value) == (
        'c.json: orchestration.services[0]: "API_1" is not a valid service name: 1 to 63 characters, lowercase '
        "letters, digits and '-', starting and ending with a letter or digit (e.g. api, checkout-v2; it names "
        "hosts and Kubernetes objects)")
    assert "[a-z0-9]" not in str(bad_name.value)  # no raw regex
    with pytest.raises(ConfigError) as bad_kind:
        parse_config({"orchestration": {"services": ["api"]}, "platform": {"kind": "kubernetis"}}, "c.json")
    assert str(bad_kind.value) == ("c.json: platform.kind: must be one of 'kubernetes', 'local', 'sim', "
                                   "got the string \"kubernetis\"; did you mean 'kubernetes'?")
    with pytest.raises(ConfigError) as far_kind:
        parse_config({"orchestration": {"services": ["api"]}, "platform": {"kind": "nomad"}}, "c.json")
    assert "did you mean" not in str(far_kind.value)
    with pytest.raises(ConfigError) as bad_version:
        parse_config({"orchestration": {"services": ["api"]}, "release": {"api": "-1"}}, "c.json")
    assert 'release.api: "-1" is not a valid version' in str(bad_version.value)


def test_mcp_reports_name_the_tool(workspace: Workspace) -> None:
    from conductor.frontends.mcp.server import _report_result

    workspace.write_config(CANARY)
    result = Conductor.from_config(workspace.config_path).run("/orchestrate canary 10", actor="person:mcp")
    shown = _report_result(result)
    text = shown.content[0].text  # type: ignore[union-attr]
    assert "Approve the ramp-up to 25%: the `orchestrate` tool with `canary 25`" in text
    assert shown.structured_content is not None
    assert shown.structured_content["next_steps"][0].endswith("`/orchestrate canary 25`")  # the engine's words


def test_an_action_lock_held_too_long_names_its_holder(workspace: Workspace) -> None:
    from conductor.locks import action_lock

    held = action_lock(workspace.state_dir, "api")
    with held, pytest.raises(LockHeldError) as refused, action_lock(workspace.state_dir, "api", timeout=0.05):
        pass
    assert str(refused.value).startswith("api: another action held it for over 0.05s (pid ")
    assert f" on {socket.gethostname()}, since 20" in str(refused.value)


def test_a_canary_still_being_judged_is_not_advised_to_continue(workspace: Workspace) -> None:
    """From a second terminal, a canary mid-step (inconclusive, or blind while the platform is
    down) is advised to wait for the verdict, then approve; never "Continue" while nothing can ramp."""
    from conductor.journal.state import OrchestrationState, Phase, ServiceState
    from conductor.metrics.analysis import HealthAssessment, HealthVerdict
    from conductor.report import _next_steps

    workspace.write_config(CANARY)
    conductor = Conductor.from_config(workspace.config_path)
    api = ServiceState(name="api", stable_version="v1.0.0", target_version="v1.1.0", phase=Phase.CANARY,
                       weights={"blue": 90, "green": 10}, deployed_version="v1.1.0", last_shift_at=0.0,
                       approved_percent=10, health_window_start=0.0)
    state = OrchestrationState(id=1, command="/orchestrate canary 10", strategy="canary", first_percent=10,
                               services={"api": api})
    for verdict in (HealthVerdict.INCONCLUSIVE, HealthVerdict.UNAVAILABLE):
        api.health = HealthAssessment(verdict=verdict, reason="not decided")
        first = _next_steps(conductor, state)[0]
        assert first.startswith("Wait: api at 10% is still being judged"), first
        assert first.endswith("once it is non-inferior, approve the ramp-up to 25%: `/orchestrate canary 25`")
    api.health = HealthAssessment(verdict=HealthVerdict.NON_INFERIOR, reason="fine")
    assert _next_steps(conductor, state)[0] == "Continue: `/orchestrate canary 25`"
