"""A scripted Messages API at the wire, for the real SDK client over ``httpx2.MockTransport``.

Each ``POST /v1/messages`` gets the next reply of the script: a Messages API JSON body (build
it with :func:`message`, :func:`text`, :func:`tool`), an ``httpx2.Response`` (errors, see
:func:`error`), an exception to raise from the transport (timeouts), or a function of the
request body returning one of those. Every request body and header set is kept for asserts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from conductor.config import ConductorConfig

Reply = dict[str, Any] | httpx2.Response | Exception | Callable[[dict[str, Any]], Any]


class ScriptExhausted(AssertionError):
    pass


class FakeMessagesAPI:
    def __init__(self, replies: list[Reply] | None = None) -> None:
        self.replies: list[Reply] = list(replies or [])
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.transport = httpx2.MockTransport(self.handle)

    def add(self, *replies: Reply) -> FakeMessagesAPI:
        self.replies.extend(replies)
        return self

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if not self.replies:
            raise ScriptExhausted(f"no scripted reply for request #{len(self.requests)}")
        reply = self.replies.pop(0)
        if callable(reply) and not isinstance(reply, httpx2.Response | Exception):
            reply = reply(body)
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx2.Response):
            return reply
        return httpx2.Response(200, json=reply, headers={"request-id": f"req_{len(self.requests):03d}"})

    def install(self, monkeypatch: pytest.MonkeyPatch, key: str = "sk-ant-test-key") -> None:
        """Make the registry's anthropic brain talk to this fake (and have a key to do so)."""
        from conductor.models import anthropic as brain

        real = brain.build_brain

        def build(config: ConductorConfig, state_dir: Path) -> Any:
            return real(config, state_dir, transport=self.transport)

        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        monkeypatch.setattr(brain, "build_brain", build)

    def tool_results(self, request_index: int = -1) -> list[dict[str, Any]]:
        """The tool_result blocks of a request's newest user message."""
        content = self.requests[request_index]["messages"][-1]["content"]
        return [b for b in content if b.get("type") == "tool_result"]


_ids = iter(range(1, 1_000_000))


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(name: str, id: str | None = None, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):04d}", "name": name, "input": arguments}


def message(
    *content: dict[str, Any],
    stop_reason: str | None = None,
    usage: dict[str, int] | None = None,
    model: str = "claude-sonnet-5-5",
) -> dict[str, Any]:
    if stop_reason is None:
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
    return {
        "id": f"msg_{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 120, "output_tokens": 40,
                           "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 0},
    }


def error(status: int, kind: str, detail: str, **headers: str) -> httpx2.Response:
    """An API error body as the API sends it; retried ones back off 1 ms, not seconds."""
    headers = {"retry-after-ms": "1", "request-id": f"req_err_{status}", **headers}
    return httpx2.Response(status, json={"type": "error", "error": {"type": kind, "message": detail}},
                           headers=headers)
