"""A brain that ends its turn with a runbook step due is told so (twice, journaled), then the run
ends with exit 7 naming the policy brain; a pause for a person, a refusal and a stated
inability are not early. Claude over the fake Messages API, the engine real."""

from __future__ import annotations

from typing import Any

import pytest

from conductor.errors import EXIT_BRAIN_STOPPED
from tests.agent.test_loop import one_service, to_approval
from tests.conftest import Workspace
from tests.models.fake_api import FakeMessagesAPI, message, text, tool


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMessagesAPI:
    api = FakeMessagesAPI()
    api.install(monkeypatch)
    return api


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    workspace.write_config(one_service())
    return workspace


def newest_text(request: dict[str, Any]) -> str:
    return " ".join(b.get("text", "") for b in request["messages"][-1]["content"] if b.get("type") == "text")


def test_a_brain_that_only_talks_is_nudged_twice_then_stops_with_exit_7(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(text("I'll take a look.")), message(text("Sure.")), message(text("Okay.")))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == EXIT_BRAIN_STOPPED == 7, result.out + result.err
    assert "the brain stopped early" in result.out
    assert "--model policy" in result.out
    next_steps = result.out.split("### Next Steps", 1)[1].strip().splitlines()
    assert next_steps[0] == ("1. Finish it with the offline policy brain: "
                             "`conductor orchestrate canary --model policy`"), next_steps
    nudges = ws.journal_events("brain_nudged")
    assert [(e.data["nudge"], e.data["due"]) for e in nudges] == [(1, "deploy"), (2, "deploy")]
    assert all(e.actor == "conductor:loop" for e in nudges)
    assert len(ws.journal_events("brain_turn")) == 3
    assert "neither finished nor waiting for a person" in newest_text(fake.requests[1])
    assert "Reminder 2 of 2" in newest_text(fake.requests[2])
    assert ws.journal_events("tool_call") == []  # nothing was touched


def test_a_nudged_brain_that_carries_on_reaches_the_approval_pause(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(text("Looks fine, stopping here.")), *to_approval())
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 0, result.out + result.err
    assert "Awaiting approval (10% → 25%)" in result.out
    assert len(ws.journal_events("brain_nudged")) == 1


def test_ending_the_turn_at_the_approval_pause_is_not_early(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(*to_approval())
    assert ws.cli(capsys, "orchestrate", "canary", "10").code == 0
    assert ws.journal_events("brain_nudged") == []


def test_stopping_after_a_refused_call_is_not_early(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(tool("shift_traffic", service="api", percent=100)),  # refused: not deployed, ramp rules
             message(text("The guards refused the shift; a person should look.")))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert ws.journal_events("brain_nudged") == []
    assert result.code != EXIT_BRAIN_STOPPED


def test_a_stated_inability_ends_the_run_as_an_error_without_nudges(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(text("CANNOT CONTINUE: the release notes say this version must not ship.")))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 1, result.out
    assert ws.journal_events("brain_nudged") == []
    assert "must not ship" in result.out
