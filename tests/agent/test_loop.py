"""The agent loop with the Claude brain over a fake Messages API, end to end through the CLI.

Each test scripts the model's replies; the engine (guards, sim platform, journal, watchdog,
report) is real. What is asserted is what a person or an auditor would check: the report, the
journal, and exactly what was sent back to the model.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.models.fake_api import FakeMessagesAPI, error, message, text, tool

USAGE = {"input_tokens": 200, "output_tokens": 50, "cache_read_input_tokens": 3000,
         "cache_creation_input_tokens": 0}


def one_service(**model: Any) -> dict[str, Any]:
    return {
        "orchestration": {"strategy": "canary", "services": ["api"], "healthCheckInterval": 10, "bakeTime": 60},
        "release": {"api": "v1.1.0"},
        "model": model,
    }


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMessagesAPI:
    api = FakeMessagesAPI()
    api.install(monkeypatch)
    return api


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    workspace.write_config(one_service())
    return workspace


def to_approval() -> list[Any]:
    """The model's turns for `canary 10` up to the approval request."""
    return [
        message(text("Checking the current state."), tool("get_status"), usage=USAGE),
        message(tool("deploy", service="api", version="v1.1.0"), usage=USAGE),
        message(tool("shift_traffic", service="api", percent=10), usage=USAGE),
        message(tool("check_health", service="api"), usage=USAGE),
        message(tool("request_approval", service="api", percent=25, recommendation="healthy at 10%"), usage=USAGE),
        message(text("Canary healthy at 10%: recommend ramping to 25%."), usage=USAGE),
    ]


def tool_calls(ws: Workspace) -> list[tuple[str, str, str]]:
    return [(e.data["tool"], e.data["decision"], e.data["status"]) for e in ws.journal_events("tool_call")]


def test_a_full_canary_with_claude_pauses_for_approval_then_promotes(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(*to_approval())
    first = ws.cli(capsys, "orchestrate", "canary", "10")
    assert first.code == 0, first.err
    assert "| api | v1.0.0 | v1.1.0 | Awaiting approval (10% → 25%) |" in first.out
    assert "- healthy at 10%" in first.out  # the approval request's recommendation: no closing turn paid for
    assert ("_Brain: anthropic · 5 turns, 16,250 tokens, cache hit 94%, est. $0.006; this run, per turn (est. $ "
            "input/output/cache read/cache write tokens, * written for 1h): "
            + " · ".join(["$0.0012 200/50/3,000/0"] * 5) + " · exit 0_") in first.out
    assert len(fake.requests) == 5 and len(fake.replies) == 1  # the scripted closing text was never asked for
    fake.replies.clear()
    turns = ws.journal_events("brain_turn")
    assert [e.data["usage"] for e in turns] == [USAGE] * 5
    assert all(e.actor == "brain:anthropic" for e in turns)

    fake.add(
        message(tool("shift_traffic", service="api", percent=100)),
        message(tool("check_health", service="api")),
        message(tool("monitor", service="api", seconds=60)),
        message(tool("promote", service="api")),
    )
    second = ws.cli(capsys, "orchestrate", "canary", "100")
    assert second.code == 0, second.err
    assert "<conductor>DEPLOYED:api</conductor>" in second.out
    assert "| api | v1.1.0 | v1.1.0 | Complete |" in second.out, second.out
    assert len(fake.requests) == 9  # promote finished the orchestration: no turn after it
    assert all(decision == "allowed" for _, decision, _ in tool_calls(ws))
    approvals = ws.journal_events("approval_granted")
    assert {e.actor for e in approvals} == {"person:cli"}  # only people approve


def test_every_request_carries_the_cached_prefix_and_the_live_state(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(*to_approval())
    ws.cli(capsys, "orchestrate", "canary", "10")
    first, third = fake.requests[0], fake.requests[2]
    # The static prefix lives an hour (approvals are minutes apart and every run shares it); the moving
    # breakpoint follows the runbook's next wait.
    hour, five = {"type": "ephemeral", "ttl": "1h"}, {"type": "ephemeral"}
    assert [r["system"][0]["cache_control"] for r in fake.requests] == [hour] * 5
    assert [r["tools"][-1]["cache_control"] for r in fake.requests] == [hour] * 5
    assert "You are **Conductor**" in first["system"][0]["text"]
    assert [t["name"] for t in first["tools"]][-1] == "rollback"
    for index, body in enumerate(fake.requests):
        last = body["messages"][-1]["content"]
        assert last[-1]["text"].startswith("## Live state")  # the state rides on the newest message only
        breakpoints = [b for m in body["messages"] for b in m["content"] if "cache_control" in b]
        # the moving breakpoint before it; an hour before the 5th: the runbook's next step is a long monitor
        assert last[-2]["cache_control"] == (five if index < 4 else hour) and len(breakpoints) == 1
    assert "| api | v1.0.0 | v1.1.0 | Deployed | 0% | 10% | 10% |" in third["messages"][-1]["content"][-1]["text"]
    assert not any("Live state" in json.dumps(m) for m in third["messages"][:-1])


def test_parallel_tool_calls_each_get_their_result_in_order(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(
        message(tool("get_status", id="toolu_s"), tool("deploy", id="toolu_d", service="api", version="v1.1.0")),
        message(text("Deployed; stopping here.")),
    )
    ws.cli(capsys, "orchestrate", "canary", "10")
    results = fake.tool_results(1)
    assert [r["tool_use_id"] for r in results] == ["toolu_s", "toolu_d"]
    assert [json.loads(r["content"])["status"] for r in results] == ["ok", "ok"]
    assert not any(r.get("is_error") for r in results)


def test_a_guard_refusal_comes_back_as_an_error_result_the_model_recovers_from(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(
        message(tool("shift_traffic", service="api", percent=10)),  # not deployed yet: refused
        message(tool("deploy", service="api", version="v1.1.0")),
        message(tool("shift_traffic", service="api", percent=10)),
        message(tool("check_health", service="api")),
        message(tool("request_approval", service="api", percent=25, recommendation="healthy at 10%")),
        message(text("Canary at 10%.")),
    )
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 0
    refused = fake.tool_results(1)[0]
    assert refused["is_error"] is True
    assert "deploy v1.1.0" in json.loads(refused["content"])["message"]
    assert tool_calls(ws)[:3] == [("shift_traffic", "refused", "refused"), ("deploy", "allowed", "ok"),
                                  ("shift_traffic", "allowed", "ok")]


@pytest.mark.parametrize(("call", "expected"), [
    (tool("shift_traffic", service="api", percent="lots"), "invalid arguments for shift_traffic: percent"),
    (tool("delete_cluster", service="api"), "unknown tool 'delete_cluster'"),
])
def test_malformed_input_and_unknown_tools_are_errors_not_crashes(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str], call: dict[str, Any], expected: str
) -> None:
    fake.add(message(call), message(text("Giving up.")))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 0
    failed = fake.tool_results(1)[0]
    assert failed["is_error"] is True and expected in json.loads(failed["content"])["message"]


def test_a_rate_limit_mid_run_is_retried_and_the_run_goes_on(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(tool("deploy", service="api", version="v1.1.0")),
             error(429, "rate_limit_error", "slow down"),
             *to_approval()[2:])
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 0 and "Awaiting approval (10% → 25%)" in result.out
    assert len(ws.journal_events("brain_turn")) == 4


def test_persistent_overload_leaves_traffic_watched_and_the_policy_takes_over(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(tool("deploy", service="api", version="v1.1.0")),
             message(tool("shift_traffic", service="api", percent=10)),
             *[error(529, "overloaded_error", "Overloaded")] * 3)
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert "the anthropic brain failed (Claude (claude-sonnet-5-5): the API is overloaded (529)" in result.out
    assert "the offline policy brain took over" in result.out
    assert "| api | v1.0.0 | v1.1.0 | Awaiting approval (10% → 25%) |" in result.out
    actors = [e.actor for e in ws.journal_events("tool_call")]
    assert actors[:2] == ["brain:anthropic"] * 2 and set(actors[2:]) == {"brain:policy"}


def test_without_fallback_a_failed_brain_stops_with_one_message_and_traffic_stays_guarded(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.write_config(one_service(fallbackToPolicy=False))
    fake.add(message(tool("deploy", service="api", version="v1.1.0")),
             message(tool("shift_traffic", service="api", percent=10)),
             error(401, "authentication_error", "invalid x-api-key"))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 1
    assert "the API key was rejected" in result.out
    assert "nothing watches what takes traffic once this command exits" in result.out
    assert "| api | v1.0.0 | v1.1.0 | Canary 10% |" in result.out  # consistent: 10% under the watchdog


def test_a_refusal_stops_the_run_and_says_so(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(text("I can't help with that."), stop_reason="refusal"))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert "stopped: the model refused to continue" in result.out
    assert tool_calls(ws) == []


def test_a_tool_call_cut_by_max_tokens_never_runs_and_the_turn_is_retried_larger(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(text("Deploying"), tool("deploy", service="api"), stop_reason="max_tokens"),
             message(tool("deploy", service="api", version="v1.1.0")),
             message(text("CANNOT CONTINUE: deployed, stopping for this test.")))
    ws.cli(capsys, "orchestrate", "canary", "10")
    assert [r["max_tokens"] for r in fake.requests] == [4096, 8192, 8192]
    assert fake.requests[1]["messages"] == fake.requests[0]["messages"]  # the cut turn was dropped
    assert tool_calls(ws) == [("deploy", "allowed", "ok")]


def test_max_tokens_at_the_ceiling_stops_safely(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.write_config(one_service(maxTokens=64000))
    fake.add(message(tool("deploy", service="api"), stop_reason="max_tokens"))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert "did not fit in 64000 tokens" in result.out and tool_calls(ws) == []


def test_the_turn_budget_running_out_stops_with_traffic_consistent(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.write_config(one_service(maxTurns=3))
    fake.add(message(tool("deploy", service="api", version="v1.1.0")),
             message(tool("shift_traffic", service="api", percent=10)),
             message(tool("get_status")))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert "stopped: the brain used all of model.maxTurns" in result.out
    assert "| api | v1.0.0 | v1.1.0 | Canary 10% |" in result.out
    assert len(fake.requests) == 3


def test_the_token_budget_is_per_orchestration_across_runs(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.write_config(one_service(tokenBudget=1000))
    big = {"input_tokens": 400, "output_tokens": 200}
    fake.add(message(tool("deploy", service="api", version="v1.1.0"), usage=big),
             {"input_tokens": 100},  # count_tokens (600 of 1,000 spent): 100 + 200 fits
             message(tool("shift_traffic", service="api", percent=10), usage=big))
    first = ws.cli(capsys, "orchestrate", "canary", "10")
    assert "stopped: the brain used its model.tokenBudget" in first.out
    second = ws.cli(capsys, "orchestrate", "canary", "25")  # an approval does not reset the budget
    assert "stopped: the brain used its model.tokenBudget" in second.out
    assert len(fake.requests) == 3
    assert "max_tokens" not in fake.requests[1] and fake.requests[1]["tools"] == fake.requests[2]["tools"]


def test_count_tokens_stops_the_budget_before_the_turn_that_would_exceed_it(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.write_config(one_service(tokenBudget=3000))
    big = {"input_tokens": 800, "output_tokens": 400}  # 1,200 spent: two more such turns would reach 3,600
    fake.add(message(tool("deploy", service="api", version="v1.1.0"), usage=big),
             {"input_tokens": 1500})  # count_tokens: 1,500 + 400 out > the 1,800 left
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert "stopped before the next turn: count_tokens weighs its prompt at 1,500 tokens" in result.out
    assert result.code == 1  # in flight, neither done nor paused for a person
    assert len(fake.requests) == 2 and "max_tokens" not in fake.requests[1]  # the count: no turn generated
    assert len(ws.journal_events("brain_turn")) == 1  # the turn that would have exceeded it never ran


def test_count_tokens_lets_a_turn_that_fits_go_ahead(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    ws.write_config(one_service(tokenBudget=3000))
    big = {"input_tokens": 800, "output_tokens": 400}
    fake.add(message(tool("deploy", service="api", version="v1.1.0"), usage=big),
             {"input_tokens": 900},  # fits: 900 + 400 < 1,800 left
             message(text("CANNOT CONTINUE: stopping for this test."), usage={"input_tokens": 10, "output_tokens": 10}))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert len(ws.journal_events("brain_turn")) == 2 and "count_tokens" not in result.out


def test_pause_turn_sends_the_paused_turn_back_to_be_continued(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.add(message(text("Let me think"), stop_reason="pause_turn"), message(text("Nothing to do.")))
    ws.cli(capsys, "orchestrate", "canary", "10")
    continued = fake.requests[1]["messages"]
    assert continued[-1] == {"role": "assistant", "content": [{"type": "text", "text": "Let me think"}]}
    assert continued[-2]["content"][-1]["text"].startswith("## Live state")


@pytest.mark.parametrize(("stop_reason", "note", "code"), [
    # cut off with the release neither done nor paused: the brain stopped short (README: exit 1)
    ("model_context_window_exceeded", "outgrew the model's context window", 1),
    ("stop_sequence", "CANNOT CONTINUE: done here.", 1),  # like end_turn: a stated inability is exit 1
])
def test_other_stop_reasons_end_the_run_cleanly(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str], stop_reason: str, note: str, code: int
) -> None:
    fake.add(message(text("CANNOT CONTINUE: done here."), stop_reason=stop_reason))
    result = ws.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == code and note in result.out and len(fake.requests) == 1


def test_a_slow_model_call_does_not_leave_the_canary_unwatched(ws: Workspace) -> None:
    """A call that takes a whole interval of platform time (retries, a long answer) is followed by a
    watchdog observation before the next action."""
    from conductor.models.base import ModelRequest, ToolCall, Turn
    from conductor.session import Conductor

    script: list[tuple[str, dict[str, Any]]] = [
        ("deploy", {"service": "api", "version": "v1.1.0"}), ("shift_traffic", {"service": "api", "percent": 10})]

    class SlowBrain:
        name = "slow"

        def next_turn(self, request: ModelRequest) -> Turn:
            if script:
                tool_name, arguments = script.pop(0)
                return Turn("", [ToolCall(f"t{len(script)}", tool_name, arguments)], "tool_use")
            conductor.bundle.clock.sleep(15)  # the API took 15 s to answer
            return Turn("CANNOT CONTINUE: done", [], "end_turn")

    conductor = Conductor.from_config(ws.config_path, brain=SlowBrain())
    conductor.run("/orchestrate canary 10")
    conductor.close()
    checks = ws.journal_events("health_checked")
    assert [e.actor for e in checks] == ["watchdog"]


def test_thinking_blocks_go_back_to_the_model_unchanged(
    ws: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    """Thinking blocks are tied to the conversation: the next request must carry them as received."""
    thinking = {"type": "thinking", "thinking": "Deploy first, then shift.", "signature": "sig-abc"}
    fake.add(message(thinking, tool("deploy", service="api", version="v1.1.0")), message(text("Deployed.")))
    ws.cli(capsys, "orchestrate", "canary", "10")
    assistant = fake.requests[1]["messages"][1]
    assert assistant["role"] == "assistant" and assistant["content"][0] == thinking
