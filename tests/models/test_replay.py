"""Cassettes: record with the real SDK over a fake API, replay offline, fail clearly on drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from conductor.models.cassette import Cassette, CassetteMismatch, Replayer, first_difference
from tests.conftest import Workspace
from tests.models.cassettes import CANARY_CONFIG, FIXTURES, canary_to_approval
from tests.models.fake_api import FakeMessagesAPI, error, message, text, tool

KEY = "sk-ant-secret-value-123"


def journal(ws: Workspace) -> list[tuple[Any, ...]]:
    """Every event, with the brain's name taken out (the only thing replay changes on purpose)."""
    rows = []
    for e in ws.journal_events():
        data = json.loads(json.dumps(e.data).replace("replay", "anthropic"))
        rows.append((e.kind, e.service, e.actor.replace("replay", "anthropic"), e.at, data))
    return rows


def replay(ws: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           cassette: Path, *args: str) -> Any:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # replay needs no key
    monkeypatch.setenv("CONDUCTOR_CASSETTE", str(cassette))
    return ws.cli(capsys, "orchestrate", *args, "--model", "replay")


def second_workspace(tmp_path: Path, config: dict[str, Any]) -> Workspace:
    ws = Workspace(tmp_path / "replayed")
    ws.write_config(config)
    return ws


def test_record_then_replay_gives_an_identical_journal_across_runs(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = tmp_path / "canary.json"
    workspace.write_config(CANARY_CONFIG)
    fake = FakeMessagesAPI([
        *canary_to_approval()[:2],
        error(429, "rate_limit_error", "slow down"),  # recorded too, and replayed through the SDK's retry
        *canary_to_approval()[2:],
        message(tool("shift_traffic", service="api", percent=100)),
        message(tool("check_health", service="api")),
        message(tool("monitor", service="api", seconds=60)),
        message(tool("promote", service="api")),
    ])
    fake.install(monkeypatch, key=KEY)
    monkeypatch.setenv("CONDUCTOR_RECORD", str(cassette))
    recorded = [workspace.cli(capsys, "orchestrate", "canary", "10"),
                workspace.cli(capsys, "orchestrate", "canary", "100")]
    assert [r.code for r in recorded] == [0, 0]
    text_on_disk = cassette.read_text()
    assert KEY not in text_on_disk and "authorization" not in text_on_disk.lower()
    assert len(json.loads(text_on_disk)["interactions"]) == len(fake.requests) == 10

    monkeypatch.delenv("CONDUCTOR_RECORD")
    again = second_workspace(tmp_path, CANARY_CONFIG)
    replayed = [replay(again, capsys, monkeypatch, cassette, "canary", "10"),
                replay(again, capsys, monkeypatch, cassette, "canary", "100")]
    assert [r.code for r in replayed] == [0, 0]
    assert "replay brain: canary.json (10 recorded exchanges)" in replayed[0].out
    assert "<conductor>DEPLOYED:api</conductor>" in replayed[1].out
    assert journal(again) == journal(workspace)


def test_a_drifted_conversation_stops_with_the_first_difference(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted = json.loads(json.dumps(CANARY_CONFIG))
    # A faster canary: only the check_health figures differ from the recorded ones (a broken one
    # would not do: the watchdog rolls it back during the check, before the brain reads the result).
    drifted["platform"] = {"kind": "sim", "versions": {"api@v1.1.0": {"latencyMs": 60}}}
    drifted["model"] = {"fallbackToPolicy": False}
    workspace.write_config(drifted)
    result = replay(workspace, capsys, monkeypatch, FIXTURES / "canary_10_approval.json", "canary", "10")
    assert result.code == 1
    assert "replay: request #5 differs from canary_10_approval.json (exchange 5) at messages[" in result.out
    assert "re-record the cassette" in result.out


def test_the_committed_fixture_replays_offline(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If this fails after a deliberate prompt or tool change: `python -m tests.models.cassettes`."""
    workspace.write_config(CANARY_CONFIG)
    result = replay(workspace, capsys, monkeypatch, FIXTURES / "canary_10_approval.json", "canary", "10")
    assert result.code == 0, result.out
    assert "| api | v1.0.0 | v1.1.0 | Awaiting approval (10% → 25%) |" in result.out
    assert "error rate and p95 within baseline at 10%" in result.out  # the approval request's recommendation
    assert "_Brain: replay · 5 turns, 15,625 estimated tokens" not in result.out  # a live-shaped fixture: exact
    assert "_Brain: replay · 5 turns" in result.out


def test_replay_without_a_cassette_is_a_usage_error(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONDUCTOR_CASSETTE", raising=False)
    result = workspace.cli(capsys, "orchestrate", "canary", "10", "--model", "replay")
    assert result.code == 2 and "the replay brain needs a cassette" in result.err
    missing = replay(workspace, capsys, monkeypatch, workspace.root / "nope.json", "canary", "10")
    assert missing.code == 2 and "does not exist; record one with --record" in missing.err


def request(messages: list[dict[str, Any]]) -> httpx2.Request:
    body = {"model": "m", "max_tokens": 10, "system": [], "tools": [], "messages": messages}
    return httpx2.Request("POST", "http://replay.invalid/v1/messages", json=body)


def interaction(messages: list[dict[str, Any]], reply: Any) -> dict[str, Any]:
    from conductor.models.cassette import summarize

    return {"request": summarize(request(messages)), "response": {"status": 200, "headers": {}, "body": reply}}


def test_replayer_serves_in_order_and_reports_running_past_the_end(tmp_path: Path) -> None:
    hello = [{"role": "user", "content": "hello"}]
    replayer = Replayer(Cassette(tmp_path / "c.json", [interaction(hello, message(text("hi")))]))
    assert replayer.handle(request(hello)).json()["content"][0]["text"] == "hi"
    assert replayer.unused == 0
    with pytest.raises(CassetteMismatch, match=r"request #2 goes past the end of c.json \(1 recorded"):
        replayer.handle(request(hello))


def test_first_difference_points_at_the_exact_place() -> None:
    recorded = {"messages": [{"role": "user", "content": [{"type": "text", "text": "canary 10"}]}], "x": 1}
    now = {"messages": [{"role": "user", "content": [{"type": "text", "text": "canary 25"}]}], "x": 1}
    assert first_difference(recorded, now) == 'messages[0].content[0].text: recorded "canary 10", now "canary 25"'
    assert first_difference({"a": [1, 2]}, {"a": [1]}) == "a: recorded 2 items, now 1"
    assert first_difference({"a": 1}, {"a": 1, "b": 2}) == "b: recorded absent, now 2"
