"""The prompt-cache model behind scripted cassettes and the cost benchmark, the strict check on
scripted calls, and the malformed-call count of the scorecard."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from conductor.errors import UsageError
from conductor.frontends.evals.prompt_cache import PromptCache, prompt_tokens, tokens
from conductor.frontends.evals.runner import malformed_calls
from conductor.journal.store import Event

FIVE = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


def body(history: list[str], ttl: dict[str, str] | None = FIVE, prefix: dict[str, str] | None = HOUR) -> dict[str, Any]:
    """tools + system (breakpoint ``prefix``), then user turns; the breakpoint ``ttl`` on the last one."""
    messages: list[dict[str, Any]] = []
    for index, text in enumerate(history):
        block: dict[str, Any] = {"type": "text", "text": text}
        if ttl is not None and index == len(history) - 1:
            block["cache_control"] = ttl
        messages.append({"role": "user", "content": [block, {"type": "text", "text": "## Live state " + "s" * 200}]
                         if index == len(history) - 1 else [block]})
    system = {"type": "text", "text": "p" * 8000, **({"cache_control": prefix} if prefix else {})}
    return {"tools": [{"name": "t", "input_schema": {}}], "system": [system], "messages": messages}


def test_the_first_request_writes_the_next_reads_and_writes_only_what_is_new() -> None:
    cache = PromptCache()
    first = cache.usage(body(["a" * 400]), now=0.0)
    assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] > 2000
    assert first["cache_creation"]["ephemeral_1h_input_tokens"] > 2000  # the prefix asked for an hour
    second = cache.usage(body(["a" * 400, "b" * 400]), now=30.0)
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]  # the old breakpoint's prefix
    assert second["cache_creation_input_tokens"] == tokens({"role": "user", "type": "text", "text": "b" * 400})
    assert second["input_tokens"] == first["input_tokens"]  # the state block after the breakpoint


def test_a_five_minute_entry_expires_and_a_one_hour_one_survives_a_bake() -> None:
    short, long = PromptCache(), PromptCache()
    short.usage(body(["a" * 400], ttl=FIVE, prefix=FIVE), now=0.0)
    long.usage(body(["a" * 400], ttl=HOUR, prefix=HOUR), now=0.0)
    after_bake = 15 * 60.0
    assert short.usage(body(["a" * 400, "b"], ttl=FIVE, prefix=FIVE), now=after_bake)["cache_read_input_tokens"] == 0
    assert long.usage(body(["a" * 400, "b"], ttl=FIVE, prefix=HOUR), now=after_bake)["cache_read_input_tokens"] > 2000


def test_a_read_renews_the_entry() -> None:
    cache = PromptCache()
    cache.usage(body(["a"], prefix=FIVE), now=0.0)
    assert cache.usage(body(["a"], prefix=FIVE), now=240.0)["cache_read_input_tokens"] > 0
    assert cache.usage(body(["a"], prefix=FIVE), now=480.0)["cache_read_input_tokens"] > 0  # 8 min after the write


def test_without_breakpoints_everything_is_input_and_count_tokens_agrees() -> None:
    request = body(["a" * 400], ttl=None, prefix=None)
    usage = PromptCache().usage(request, now=0.0)
    assert usage["cache_read_input_tokens"] == usage["cache_creation_input_tokens"] == 0
    assert usage["input_tokens"] == prompt_tokens(request)


def event(kind: str, **data: Any) -> Event:
    return Event(seq=1, orchestration=1, at=0.0, wall="", kind=kind, service=None, actor="brain:replay", data=data)


def test_malformed_calls_are_counted_with_the_ones_strict_tool_use_would_still_let_through() -> None:
    events = [
        event("tool_call", tool="shift_traffic", arguments={"service": "api", "percent": 250}, decision="invalid"),
        event("tool_call", tool="shift_traffic", arguments={"service": "api", "percent": "ten"}, decision="invalid"),
        event("tool_call", tool="delete_cluster", arguments={"service": "api"}, decision="invalid"),
        event("tool_call", tool="deploy", arguments={"service": "api; rm", "version": "v1"}, decision="invalid"),
        event("tool_call", tool="deploy", arguments={"service": "api", "version": "v1"}, decision="allowed"),
    ]
    assert malformed_calls(events, ["api"]) == (4, 1)  # only 250%: well-typed, out of range


def test_a_scripted_call_a_strict_tool_could_not_produce_is_a_script_error() -> None:
    from conductor.frontends.evals.scripted import _check_strict

    strict = {"name": "shift_traffic", "strict": True, "input_schema": {
        "type": "object", "properties": {"service": {"type": "string", "enum": ["api"]},
                                         "percent": {"type": "integer"}},
        "required": ["service", "percent"], "additionalProperties": False}}

    request = SimpleNamespace(tools=[strict])
    _check_strict(request, {"name": "shift_traffic", "input": {"service": "api", "percent": 250}})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="strictTools"):
        _check_strict(request, {"name": "shift_traffic", "input": {"service": "api", "percent": "ten"}})  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="does not fit"):
        _check_strict(request, {"name": "delete_cluster", "input": {}})  # type: ignore[arg-type]
