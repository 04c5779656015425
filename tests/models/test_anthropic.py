"""The Claude brain against a fake Messages API at the wire: parsing, requests, errors, config.

The SDK client is real; only the transport is fake (``httpx2.MockTransport``, or respx), so the
SDK's own parsing, retries and error mapping are what these tests exercise.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
import respx

from conductor.config import ConductorConfig
from conductor.config_file import parse_config
from conductor.errors import ModelError, UsageError
from conductor.models import anthropic as brain
from conductor.models.base import AgentContext, ModelRequest
from conductor.models.policy import PolicyModel
from conductor.models.pricing import DEFAULT_MODEL
from tests.conftest import Workspace, release_config
from tests.models.fake_api import FakeMessagesAPI, error, message, text, tool

CONFIG = {"orchestration": {"services": ["api"]}, "release": {"api": "v1.1.0"}}


def config(**model: Any) -> ConductorConfig:
    return parse_config({**CONFIG, "model": model})


def request(max_tokens: int = 1024) -> ModelRequest:
    return ModelRequest(
        system=[{"type": "text", "text": "You are Conductor.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "/orchestrate canary 10"}]}],
        tools=[{"name": "get_status", "description": "status", "input_schema": {"type": "object"},
                "cache_control": {"type": "ephemeral"}}],
        context=AgentContext(state=None, config=config(), now=0.0),  # type: ignore[arg-type]
        max_tokens=max_tokens,
    )


def model_over(fake: FakeMessagesAPI, max_retries: int = 2, **options: Any) -> brain.AnthropicModel:
    client = brain.make_client("sk-ant-test-key", http_client=httpx2.Client(transport=fake.transport),
                               max_retries=max_retries, **options)
    return brain.AnthropicModel(client, "claude-sonnet-5-5")


def test_a_turn_with_text_and_parallel_tool_calls_is_parsed_with_usage() -> None:
    fake = FakeMessagesAPI([message(
        text("Deploying both canaries."),
        tool("deploy", id="toolu_a", service="api", version="v1.1.0"),
        tool("deploy", id="toolu_b", service="web", version="v1.1.0"),
        usage={"input_tokens": 50, "output_tokens": 30, "cache_read_input_tokens": 2000,
               "cache_creation_input_tokens": 400},
    )])
    turn = model_over(fake).next_turn(request())
    assert turn.stop_reason == "tool_use"
    assert turn.text == "Deploying both canaries."
    assert [(c.id, c.name, c.arguments) for c in turn.tool_calls] == [
        ("toolu_a", "deploy", {"service": "api", "version": "v1.1.0"}),
        ("toolu_b", "deploy", {"service": "web", "version": "v1.1.0"}),
    ]
    assert turn.usage.to_dict() == {"input_tokens": 50, "output_tokens": 30, "cache_read_input_tokens": 2000,
                                    "cache_creation_input_tokens": 400}
    assert [b["type"] for b in turn.content] == ["text", "tool_use", "tool_use"]


def test_the_request_caches_tools_and_system_and_sends_no_sampling_parameters() -> None:
    fake = FakeMessagesAPI([message(text("ok"))])
    model_over(fake).next_turn(request(max_tokens=2048))
    body, headers = fake.requests[0], fake.headers[0]
    assert body["model"] == "claude-sonnet-5-5" and body["max_tokens"] == 2048
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert not {"temperature", "top_p", "top_k"} & set(body)
    assert headers["authorization"] == "Bearer sk-ant-test-key"


def test_this_sdk_has_no_temperature_parameter() -> None:
    """Why the brain sends none: passing one is a TypeError before any request is made."""
    client = brain.make_client("k", http_client=httpx2.Client(transport=FakeMessagesAPI().transport))
    with pytest.raises(TypeError):
        create: Any = client.messages.create
        create(model=DEFAULT_MODEL, max_tokens=10, messages=[], temperature=0)


@pytest.mark.parametrize("stop_reason", ["end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn",
                                         "refusal", "model_context_window_exceeded"])
def test_every_stop_reason_reaches_the_loop(stop_reason: str) -> None:
    fake = FakeMessagesAPI([message(text("…"), stop_reason=stop_reason)])
    assert model_over(fake).next_turn(request()).stop_reason == stop_reason


def test_a_rate_limit_is_retried_by_the_sdk_then_succeeds() -> None:
    fake = FakeMessagesAPI([error(429, "rate_limit_error", "slow down"), message(text("done"))])
    turn = model_over(fake).next_turn(request())
    assert turn.text == "done" and len(fake.requests) == 2


def test_persistent_overload_fails_after_the_retries_with_the_cause() -> None:
    fake = FakeMessagesAPI([error(529, "overloaded_error", "Overloaded")] * 3)
    with pytest.raises(ModelError, match=r"overloaded \(529\) even after retries: overloaded_error: Overloaded"):
        model_over(fake).next_turn(request())
    assert len(fake.requests) == 3  # the first try and two retries


def test_a_rejected_key_fails_at_once_and_names_the_variable() -> None:
    fake = FakeMessagesAPI([error(401, "authentication_error", "invalid x-api-key")])
    with pytest.raises(ModelError, match=r"API key was rejected.*ANTHROPIC_API_KEY") as caught:
        model_over(fake).next_turn(request())
    assert "req_err_401" in str(caught.value)
    assert len(fake.requests) == 1


def test_an_unknown_model_says_how_to_choose_another() -> None:
    fake = FakeMessagesAPI([error(404, "not_found_error", "model: claude-nope")])
    with pytest.raises(ModelError, match=r"not found.*CONDUCTOR_MODEL"):
        model_over(fake).next_turn(request())


def test_a_timeout_is_one_clear_sentence() -> None:
    fake = FakeMessagesAPI([httpx2.ReadTimeout("read timed out")])
    with pytest.raises(ModelError, match=r"no answer from .* before the timeout"):
        model_over(fake, max_retries=0).next_turn(request())


def test_no_network_names_the_address_it_could_not_reach() -> None:
    fake = FakeMessagesAPI([httpx2.ConnectError("Name or service not known")])
    client = brain.make_client("k", base_url="https://gateway.internal", max_retries=0,
                               http_client=httpx2.Client(transport=fake.transport))
    with pytest.raises(ModelError, match=r"cannot reach https://gateway.internal.*Name or service not known"):
        brain.AnthropicModel(client, DEFAULT_MODEL).next_turn(request())


def test_without_a_key_the_policy_brain_runs_and_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    choice = brain.build_brain(config(), tmp_path / ".mothership")
    assert isinstance(choice.model, PolicyModel)
    assert "ANTHROPIC_API_KEY" in choice.note and "policy" in choice.note


def test_without_a_key_and_no_fallback_it_is_a_usage_error_before_anything_starts(
        monkeypatch: pytest.MonkeyPatch, workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UsageError, match=r"model\.fallbackToPolicy is false"):
        brain.build_brain(config(fallbackToPolicy=False), workspace.state_dir)
    settings = release_config()
    settings["model"] = {"fallbackToPolicy": False}
    workspace.write_config(settings)
    result = workspace.cli(capsys, "orchestrate", "canary", "10", "--model", "anthropic")
    assert result.code == 2 and "--model policy" in result.err
    assert not (workspace.state_dir / "journal.db").exists()  # nothing started, nothing journaled


def test_model_name_and_gateway_come_from_env_over_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeMessagesAPI([message(text("hi"))])
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("CONDUCTOR_MODEL", "claude-opus-5-5")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    choice = brain.build_brain(config(name="claude-haiku-5-5", baseUrl="https://llm-gw.corp/anthropic"),
                               tmp_path, transport=fake.transport)
    assert isinstance(choice.model, brain.AnthropicModel)
    assert choice.model.model == "claude-opus-5-5"
    assert "https://llm-gw.corp/anthropic" in choice.note
    choice.model.next_turn(request())
    assert fake.requests[0]["model"] == "claude-opus-5-5"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://other-gw.corp")
    monkeypatch.delenv("CONDUCTOR_MODEL")
    second = brain.build_brain(config(name="claude-haiku-5-5"), tmp_path, transport=fake.transport)
    assert isinstance(second.model, brain.AnthropicModel)
    assert second.model.model == "claude-haiku-5-5" and "https://other-gw.corp" in second.note


def test_the_default_model_is_current_and_not_deprecated() -> None:
    from anthropic._data.deprecated_models import DEPRECATED_MODELS

    assert DEFAULT_MODEL not in DEPRECATED_MODELS
    known: Any = anthropic.types.model_param.ModelParam
    assert DEFAULT_MODEL in typing.get_args(typing.get_args(known)[0])


def test_respx_intercepts_the_default_client_at_the_wire(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No injected transport at all: the registry's client, with httpx aliased to httpx2 for respx."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    choice = brain.build_brain(config(baseUrl="https://api.example.test"), tmp_path)
    with respx.mock(base_url="https://api.example.test", assert_all_called=True) as router:
        route = router.post("/v1/messages").respond(200, json=message(tool("get_status")))
        turn = choice.model.next_turn(request())
    assert [c.name for c in turn.tool_calls] == ["get_status"]
    assert json.loads(route.calls[0].request.content)["messages"][0]["role"] == "user"
