"""Questions at the REPL, answered by Claude with read-only tools, streamed — against a fake
Messages API at the wire (the real SDK client and its stream parser over ``httpx2.MockTransport``)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from conductor.agent.questions import MAX_TURNS, QuestionAsker
from conductor.errors import ModelError
from conductor.models.anthropic import make_client
from conductor.session import Conductor
from tests.conftest import Workspace
from tests.models.fake_api import FakeMessagesAPI, error, message, text, tool
from tests.models.fake_stream import stream

CANARY: dict[str, Any] = {
    "orchestration": {"strategy": "canary", "services": ["api"], "healthCheckInterval": 10, "bakeTime": 60},
    "release": {"api": "v1.1.0"},
}


class Sink:
    """Records what an answer streams, in order, next to what the fake body produced."""

    def __init__(self, log: list[Any] | None = None) -> None:
        self.log = log if log is not None else []

    def text(self, delta: str) -> None:
        self.log.append(("text", delta))

    def tool(self, note: str) -> None:
        self.log.append(("tool", note))

    @property
    def said(self) -> str:
        return "".join(entry[1] for entry in self.log if entry[0] == "text")

    @property
    def notes(self) -> list[str]:
        return [entry[1] for entry in self.log if entry[0] == "tool"]


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    workspace.write_config(CANARY)
    return workspace


def asker(ws: Workspace, fake: FakeMessagesAPI, *, started: bool = True, **options: Any) -> QuestionAsker:
    conductor = Conductor.from_config(ws.config_path, model="policy")
    if started:
        conductor.run("/orchestrate canary 10", actor="person:repl")  # waits for approval at 10%
    client = make_client("sk-ant-test-key", http_client=httpx2.Client(transport=fake.transport), max_retries=1)
    return QuestionAsker(conductor, client, "claude-sonnet-5-5", **options)


def results(fake: FakeMessagesAPI, index: int) -> list[dict[str, Any]]:
    found = fake.tool_results(index)
    for block in found:
        block["parsed"] = json.loads(block["content"])
    return found


def test_a_question_reads_the_status_through_the_executor_and_streams_the_answer(ws: Workspace) -> None:
    fake = FakeMessagesAPI([
        stream(message(text("Let me look."), tool("get_status", id="toolu_s"))),
        stream(message(text("api waits at **10%** for your approval; `/approve` ramps it to 25%."))),
    ])
    sink = Sink()
    answer = asker(ws, fake).ask("what is api waiting for?", sink)
    assert answer.text == "api waits at **10%** for your approval; `/approve` ramps it to 25%."
    assert (answer.turns, answer.stop) == (2, "end_turn")
    assert answer.usage["cache_read_input_tokens"] == 6000
    assert sink.log[0] == ("text", "Let ") and ("tool", "(reading status)") in sink.log
    assert sink.said == "Let me look.api waits at **10%** for your approval; `/approve` ramps it to 25%."
    first = fake.requests[0]
    assert first["stream"] is True and "tool_choice" not in first
    assert [t["name"] for t in first["tools"]] == ["get_status", "recent_events"]  # nothing that acts or waits
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert not {"temperature", "top_p", "top_k"} & set(first)
    assert first["messages"][0]["content"][0]["text"].endswith("Question: what is api waiting for?")
    [status] = results(fake, 1)
    assert status["tool_use_id"] == "toolu_s" and "is_error" not in status
    assert status["parsed"]["data"]["services"][0]["phase"] == "Awaiting approval"
    assert fake.requests[1]["messages"][1]["content"][1] == {"type": "tool_use", "id": "toolu_s",
                                                             "name": "get_status", "input": {}}
    calls = [e for e in ws.journal_events("tool_call") if e.actor == "brain:anthropic"]
    assert [(e.data["tool"], e.data["decision"]) for e in calls] == [("get_status", "allowed")]


def test_text_reaches_the_sink_before_the_rest_of_the_reply_exists(ws: Workspace) -> None:
    log: list[Any] = []
    fake = FakeMessagesAPI([stream(message(text("one two three")), log)])
    asker(ws, fake).ask("?", Sink(log))
    first_text = log.index(("text", "one "))
    assert ("pulled", 4, "content_block_delta") in log[first_text:]  # "two " was produced afterwards
    assert ("pulled", 8, "message_stop") in log[first_text:]


def test_an_action_is_refused_with_the_command_to_type_and_never_runs(ws: Workspace) -> None:
    fake = FakeMessagesAPI([
        stream(message(tool("rollback", id="toolu_r", service="api", reason="asked"),
                       tool("get_status", id="toolu_s"),
                       tool("shift_traffic", id="toolu_t", service="api", percent=50))),
        stream(message(text("Type `/orchestrate rollback api` to roll it back."))),
    ])
    sink = Sink()
    answer = asker(ws, fake).ask("roll api back please", sink)
    assert answer.text == "Type `/orchestrate rollback api` to roll it back."
    rollback, status, shift = results(fake, 1)
    assert [b["tool_use_id"] for b in (rollback, status, shift)] == ["toolu_r", "toolu_s", "toolu_t"]
    assert rollback["is_error"] is True and shift["is_error"] is True and "is_error" not in status
    assert "answering a question never acts" in rollback["parsed"]["message"]
    assert "`/orchestrate rollback api`" in rollback["parsed"]["message"]
    assert "`/orchestrate canary 50`" in shift["parsed"]["message"]
    assert sink.notes == ["(declined rollback: questions never act, reading status, "
                          "declined shift_traffic: questions never act)"]
    assert ws.journal_events("rolled_back") == []
    assert ws.journal_events("traffic_shifted")[-1].data["weights"]["green"] == 10
    assert {e.data["tool"] for e in ws.journal_events("tool_call") if e.actor == "brain:anthropic"} == {"get_status"}


def test_waiting_and_unknown_tools_get_clear_errors(ws: Workspace) -> None:
    fake = FakeMessagesAPI([
        stream(message(tool("check_health", service="api"), tool("request_approval", service="api", percent=25),
                       tool("get_weather"), tool("get_status", verbose=True))),
        stream(message(text("ok"))),
    ])
    questions = asker(ws, fake)
    asked = len(ws.journal_events("approval_requested"))
    questions.ask("?", Sink())
    health, approval, unknown, invalid = (b["parsed"]["message"] for b in results(fake, 1))
    assert "waits out a health-check interval" in health
    assert "pauses the orchestration" in approval and "`/approve`" in approval
    assert len(ws.journal_events("approval_requested")) == asked
    assert unknown.startswith("unknown tool 'get_weather'") and "get_status, recent_events" in unknown
    assert invalid.startswith("invalid arguments for get_status")  # the executor's own validation


def test_recent_events_summarises_the_latest_orchestration_when_none_is_in_flight(ws: Workspace) -> None:
    fake = FakeMessagesAPI([
        stream(message(tool("recent_events", limit=3), tool("recent_events", limit=0))),
        stream(message(text("api was rolled back by you."))),
    ])
    questions = asker(ws, fake)
    engine = questions.conductor
    assert isinstance(engine, Conductor)  # the asker sees only the Project protocol; the test holds the engine
    engine.run("/orchestrate rollback api", actor="person:repl")
    questions.ask("why did api roll back?", Sink())
    events, invalid = results(fake, 1)
    lines = events["parsed"]["data"]["events"]
    assert len(lines) == 3 and events["parsed"]["message"].startswith("the last 3 of ")
    assert "(rolled_back)" in events["parsed"]["message"]
    assert " #1 tool_call api by person:repl: " in lines[-1]
    assert '"tool": "rollback"' in lines[-1] and "ROLLBACK:api:manual" in lines[0]
    assert invalid["is_error"] is True and "limit must be an integer from 1 to 100" in invalid["parsed"]["message"]


def test_before_any_orchestration_the_tools_say_so_and_nothing_is_created(ws: Workspace) -> None:
    fake = FakeMessagesAPI([
        stream(message(tool("get_status"), tool("recent_events"))),
        stream(message(text("Nothing has run yet."))),
    ])
    answer = asker(ws, fake, started=False).ask("status?", Sink())
    assert answer.text == "Nothing has run yet."
    for block in results(fake, 1):
        assert block["is_error"] is True and "no orchestration has run in this repository yet" in block["content"]
    assert ws.state_files() == {}  # a question does not even create the journal


def test_the_last_turn_must_answer_in_words(ws: Workspace) -> None:
    fake = FakeMessagesAPI([stream(message(tool("get_status"))) for _ in range(MAX_TURNS)])
    answer = asker(ws, fake).ask("?", Sink())
    assert len(fake.requests) == MAX_TURNS
    assert [r.get("tool_choice") for r in fake.requests] == [None] * (MAX_TURNS - 1) + [{"type": "none"}]
    assert answer.stop == "max_turns"
    assert answer.text == f"(no answer after {MAX_TURNS} turns of reading; ask a narrower question)"


@pytest.mark.parametrize(("stop_reason", "ending"), [
    ("max_tokens", "(the answer was cut short: it did not fit in the token limit)"),
    ("refusal", "(Claude declined to answer this question)"),
    ("model_context_window_exceeded", "(the conversation outgrew the model's context window)"),
    ("stop_sequence", ""),
])
def test_every_final_stop_reason_is_said(ws: Workspace, stop_reason: str, ending: str) -> None:
    fake = FakeMessagesAPI([stream(message(text("Partly"), stop_reason=stop_reason))])
    sink = Sink()
    answer = asker(ws, fake).ask("?", sink)
    assert answer.stop == stop_reason
    assert answer.text == ("Partly\n\n" + ending if ending else "Partly")
    assert sink.said == answer.text  # the note streams after the text it qualifies


def test_a_tool_call_cut_by_max_tokens_never_runs(ws: Workspace) -> None:
    fake = FakeMessagesAPI([stream(message(tool("rollback", service="api"), stop_reason="max_tokens"))])
    answer = asker(ws, fake).ask("?", Sink())
    assert answer.text == "(the answer was cut short while reading; ask a narrower question)"
    assert ws.journal_events("rolled_back") == []


def test_a_paused_turn_is_sent_back_unchanged(ws: Workspace) -> None:
    fake = FakeMessagesAPI([stream(message(text("Thinking"), stop_reason="pause_turn")),
                            stream(message(text("Done.")))])
    assert asker(ws, fake).ask("?", Sink()).text == "Done."
    assert fake.requests[1]["messages"][-1] == {"role": "assistant", "content": [{"type": "text", "text": "Thinking"}]}


def test_a_turn_still_paused_at_the_limit_says_there_is_no_answer(ws: Workspace) -> None:
    fake = FakeMessagesAPI([stream(message(text("Thinking"), stop_reason="pause_turn")) for _ in range(2)])
    answer = asker(ws, fake, max_turns=2).ask("?", Sink())
    assert (answer.stop, answer.text) == ("max_turns", "(no answer after 2 turns; ask a narrower question)")


def test_persistent_overload_is_one_clear_error_after_the_sdks_retries(ws: Workspace) -> None:
    fake = FakeMessagesAPI([error(529, "overloaded_error", "Overloaded")] * 2)
    with pytest.raises(ModelError, match=r"overloaded \(529\) even after retries"):
        asker(ws, fake).ask("?", Sink())
    assert len(fake.requests) == 2


def test_an_error_inside_the_stream_is_one_clear_error(ws: Workspace) -> None:
    fake = FakeMessagesAPI([stream(message(text("half an answer")), cut_after=5,
                                   error=("overloaded_error", "Overloaded"))])
    sink = Sink()
    with pytest.raises(ModelError, match=r"Claude \(claude-sonnet-5-5\).*Overloaded"):
        asker(ws, fake).ask("?", sink)
    assert sink.said == "half an "  # what arrived was shown; the REPL then prints the error


def test_the_actor_follows_the_brain(ws: Workspace) -> None:
    fake = FakeMessagesAPI([stream(message(tool("get_status"))), stream(message(text("ok")))])
    asker(ws, fake, actor="brain:replay").ask("?", Sink())
    assert [e.actor for e in ws.journal_events("tool_call")][-1] == "brain:replay"
