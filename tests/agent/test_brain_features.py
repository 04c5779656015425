"""What every request carries (strict tools, thinking, effort, cache lifetimes) and what each turn
is journaled as costing, over the fake Messages API; plus the strict-schema helpers themselves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conductor.agent.messages import conforms, strict_schema
from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState
from conductor.models.pricing import prices_for
from conductor.toolbox import TOOLS
from tests.agent.test_loop import one_service, to_approval
from tests.conftest import Workspace
from tests.models.fake_api import FakeMessagesAPI, message, text, tool


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeMessagesAPI:
    api = FakeMessagesAPI()
    api.install(monkeypatch)
    return api


def test_tools_go_out_strict_with_the_services_as_an_enum_and_no_bounds(
    workspace: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(one_service())
    fake.add(*to_approval())
    workspace.cli(capsys, "orchestrate", "canary", "10")
    tools = {t["name"]: t for t in fake.requests[0]["tools"]}
    assert all(t["strict"] is True for t in tools.values())
    shift = tools["shift_traffic"]["input_schema"]
    assert shift["additionalProperties"] is False and shift["required"] == ["service", "percent"]
    assert shift["properties"]["service"] == {"type": "string", "enum": ["api"]}
    assert shift["properties"]["percent"] == {"type": "integer", "description": "≥ 1; ≤ 100"}
    assert "minimum" not in json.dumps(fake.requests[0]["tools"]) and "pattern" not in json.dumps(tools["deploy"])


def test_strict_tools_can_be_turned_off(
    workspace: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(one_service(strictTools=False))
    fake.add(*to_approval())
    workspace.cli(capsys, "orchestrate", "canary", "10")
    shift = next(t for t in fake.requests[0]["tools"] if t["name"] == "shift_traffic")
    assert "strict" not in shift and shift["input_schema"]["properties"]["percent"]["maximum"] == 100


def test_a_well_typed_but_out_of_range_call_is_still_refused_under_strict(
    workspace: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    """Strict mode carries no numeric bounds: 250% fits the grammar, the dispatcher refuses it."""
    workspace.write_config(one_service())
    fake.add(message(tool("shift_traffic", service="api", percent=250)), message(text("Refused; stopping.")))
    workspace.cli(capsys, "orchestrate", "canary", "10")
    result = fake.tool_results(1)[0]
    assert result["is_error"] is True and "invalid arguments for shift_traffic" in result["content"]


def test_thinking_and_effort_go_out_on_every_request_and_count_tokens_alike(
    workspace: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(one_service(thinking={"type": "enabled", "budgetTokens": 2048}, effort="low",
                                       tokenBudget=2000))
    big = {"input_tokens": 500, "output_tokens": 100}
    fake.add(message(tool("deploy", service="api", version="v1.1.0"), usage=big), {"input_tokens": 5000})
    workspace.cli(capsys, "orchestrate", "canary", "10")
    turn, count = fake.requests
    for body in (turn, count):
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        assert body["output_config"] == {"effort": "low"}


def test_the_defaults_suit_a_deployment_agent(
    workspace: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(one_service())
    fake.add(*to_approval())
    workspace.cli(capsys, "orchestrate", "canary", "10")
    assert fake.requests[0]["thinking"] == {"type": "adaptive"}
    assert fake.requests[0]["output_config"] == {"effort": "medium"}


def test_caching_off_sends_no_breakpoint(
    workspace: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(one_service(promptCache="off"))
    fake.add(*to_approval())
    workspace.cli(capsys, "orchestrate", "canary", "10")
    assert all("cache_control" not in json.dumps(body) for body in fake.requests)
    assert {e.data["cache_ttl"] for e in workspace.journal_events("brain_turn")} == {None}


def test_a_long_bake_asks_for_the_one_hour_cache_and_each_turn_is_priced_by_its_lifetime(
    workspace: Workspace, fake: FakeMessagesAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    config = one_service()
    config["orchestration"] |= {"strategy": "blue-green", "bakeTime": 900}
    workspace.write_config(config)
    hour: Any = {"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 4000,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 4000}}
    fake.add(message(tool("deploy", service="api", version="v1.1.0")),
             message(tool("shift_traffic", service="api", percent=100)),
             message(tool("check_health", service="api")),
             message(tool("monitor", service="api", seconds=890), usage=hour),  # the rest of the 15-minute bake
             message(tool("promote", service="api")))
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert "<conductor>DEPLOYED:api</conductor>" in result.out, result.out
    turns = workspace.journal_events("brain_turn")
    assert [t.data["cache_ttl"] for t in turns] == ["5m", "5m", "5m", "1h", "5m"]
    hour, five = {"type": "ephemeral", "ttl": "1h"}, {"type": "ephemeral"}
    assert fake.requests[3]["system"][0]["cache_control"] == hour
    moving = [[b["cache_control"] for m in r["messages"] for b in m["content"] if "cache_control" in b]
              for r in fake.requests]
    assert moving == [[five], [five], [five], [hour], [five]]  # 1 hour only before the bake
    assert turns[3].data["cache_write_1h"] == 4000
    prices = prices_for("claude-sonnet-5-5")
    assert prices is not None
    expected = (100 * prices.input + 50 * prices.output + 4000 * 2 * prices.input) / 1e6  # 1h writes: 2x input
    assert turns[3].data["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert turns[3].data["usage_estimated"] is False


def test_strict_schema_moves_bounds_to_the_description_and_conforms_checks_the_grammar() -> None:
    schema = strict_schema(TOOLS["rollback"].json_schema(), ["api", "web"])
    assert schema["properties"]["service"] == {"type": "string", "enum": ["api", "web"]}
    assert schema["properties"]["reason"]["description"] == "at least 1 characters; at most 200 characters; " \
                                                             "default 'manual'"
    assert conforms(schema, {"service": "web"}) and conforms(schema, {"service": "api", "reason": "x"})
    assert not conforms(schema, {"service": "db"})  # not a configured service
    assert not conforms(schema, {"service": "api", "force": True})  # closed object
    assert not conforms(schema, {})  # required
    shift = strict_schema(TOOLS["shift_traffic"].json_schema(), ["api"])
    assert conforms(shift, {"service": "api", "percent": 250})  # bounds are not in the grammar
    assert not conforms(shift, {"service": "api", "percent": "ten"}) and not conforms(shift, {"service": "api",
                                                                                               "percent": True})


def test_every_tool_has_a_strict_schema() -> None:
    for tool_ in TOOLS.values():
        schema = strict_schema(tool_.json_schema(), ["api"])
        assert schema["additionalProperties"] is False
        assert not {"minimum", "maximum", "pattern", "minLength", "maxLength"} & {
            key for spec in schema["properties"].values() for key in spec}


@pytest.mark.parametrize(("thinking", "problem"), [
    ({"type": "enabled"}, "needs budgetTokens"),
    ({"type": "enabled", "budgetTokens": 8000}, "must be less than model.maxTokens"),
    ({"type": "adaptive", "budgetTokens": 2048}, "applies to thinking \"enabled\" only"),
    ({"type": "enabled", "budgetTokens": 512}, "greater than or equal to 1024"),
    ({"type": "sometimes"}, "model.thinking.type"),
])
def test_bad_thinking_settings_are_clear_config_errors(thinking: dict[str, Any], problem: str) -> None:
    from conductor.config import parse_core_config
    from conductor.errors import ConfigError

    with pytest.raises(ConfigError, match=problem):
        parse_core_config({**one_service(), "model": {"thinking": thinking}})


def test_prompt_cache_and_effort_are_strictly_typed() -> None:
    from conductor.config import parse_core_config
    from conductor.errors import ConfigError

    for bad in ({"promptCache": "2h"}, {"effort": "hi"}, {"strictTools": "yes"}):
        with pytest.raises(ConfigError):
            parse_core_config({**one_service(), "model": bad})
    assert isinstance(parse_core_config(one_service(effort=None)), ConductorConfig)


@pytest.mark.parametrize(("model", "message"), [
    ({"effort": 3}, "model.effort: must be one of 'low', 'medium', 'high', 'xhigh', 'max', got 3"),
    ({"promptCache": 5}, "model.promptCache: must be one of 'auto', '5m', '1h', 'off', got 5"),
    ({"thinking": "disabled"}, 'model.thinking: must be a JSON object such as {"type": "adaptive"}, '
                               '{"type": "disabled"} or {"type": "enabled", "budgetTokens": 2048}, got the string'),
    ({"name": ""}, 'model.name: "" is not a model id'),
    ({"effort": "MEDIUM"}, "model.effort: must be one of 'low', 'medium', 'high', 'xhigh', 'max', got the string "
                           "\"MEDIUM\"; did you mean 'medium'?"),
])
def test_a_wrongly_typed_model_setting_says_what_it_takes(model: dict[str, Any], message: str) -> None:
    from conductor.config import parse_core_config
    from conductor.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        parse_core_config({**one_service(), "model": model}, "config.json")
    assert f"config.json: {message}" in str(raised.value)


def test_the_cache_plan_follows_the_runbook() -> None:
    from conductor.agent.waits import CachePlan, plan_cache

    config = ConductorConfig.model_validate(one_service())
    state = OrchestrationState(id=1, command="canary 10", strategy="canary")  # no service: nothing to do
    assert plan_cache("auto", state, config, 0.0) == CachePlan("1h", "5m")  # approvals ahead: the prefix lasts
    assert CachePlan("1h", "5m").label == "5m" and CachePlan(None, None).label is None
    quick = ConductorConfig.model_validate({**one_service(), "orchestration": {
        **one_service()["orchestration"], "requireApproval": False, "maxStepDuration": 120}})
    assert plan_cache("auto", state, quick, 0.0) == CachePlan("5m", "5m")
    assert plan_cache("1h", state, config, 0.0) == CachePlan("1h", "1h")
    assert plan_cache("off", state, config, 0.0) == CachePlan(None, None)


def test_the_model_reads_tool_results_compact_without_raw_series() -> None:
    from conductor.agent.messages import result_text
    from conductor.tools.schemas import ToolResult

    buckets = [[22.265496712115805, 2]] * 40
    text = result_text(ToolResult("ok", "api is healthy", {"baseline": {"latency_buckets": buckets,
                                                                         "error_rate": 0.5113253843286281,
                                                                         "tests": [{"name": "latency"}]}}))
    data = json.loads(text)
    assert data["data"]["baseline"] == {"latency_buckets": "(40 values, omitted)", "error_rate": 0.5113,
                                        "tests": [{"name": "latency"}]}
    assert data["message"] == "api is healthy" and "\": " not in text


def test_a_health_check_reaches_the_model_without_what_the_state_block_and_the_journal_carry() -> None:
    """The judge's e-values, the state table's columns and a reason the message repeats stay out of
    the model's copy of a ``check_health`` result; the verdict, each test's outcome and the time
    still needed stay in. A result without a service's health (``get_status``) keeps its columns."""
    from conductor.agent.messages import result_text
    from conductor.tools.schemas import ToolResult

    reason = "inconclusive after 20022 requests over 10s (error_rate undecided): no trend yet at this traffic"
    evidence = {"verdict": "inconclusive", "needed_seconds": 480.0, "false_alarm_rate": 0.01,
                "candidate": {"errors": 111, "requests": 20022},
                "tests": [{"name": "error_rate", "outcome": "inconclusive", "log_e_regression": -4.468},
                          {"name": "latency", "outcome": "non_inferior", "log_e_non_inferior": 30.63}]}
    health = {"verdict": "inconclusive", "reason": reason, "error_rate": 0.5544, "evidence": evidence}
    data = {"service": "api", "phase": "Canary", "stable_version": "v1", "target_version": "v2",
            "new_version_percent": 10, "approved_percent": 10, "replicas": 2, "instances_updated": 0,
            "observed_since_last_change": True, "health": health}
    sent = json.loads(result_text(ToolResult("ok", f"api: inconclusive: {reason}", data)))["data"]
    assert sent == {"service": "api", "observed_since_last_change": True, "health": {
        "verdict": "inconclusive", "error_rate": 0.5544, "evidence": {
            "verdict": "inconclusive", "needed_seconds": 480.0,
            "tests": {"error_rate": "inconclusive", "latency": "non_inferior"}}}}
    other = json.loads(result_text(ToolResult("ok", "something else", data)))["data"]
    assert other["health"]["reason"] == reason and "phase" not in other
    status = {"services": [data], "now": 3.0}
    assert json.loads(result_text(ToolResult("ok", "status", status)))["data"]["services"][0]["phase"] == "Canary"
