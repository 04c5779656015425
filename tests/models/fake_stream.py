"""Streamed Messages API replies (server-sent events) for :class:`tests.models.fake_api.FakeMessagesAPI`.

``stream(message(text("Hi"), tool("get_status")))`` turns a Messages API JSON body into the SSE
events the API sends for it — ``message_start``, per block ``content_block_start`` / deltas /
``content_block_stop``, ``message_delta`` with the stop reason, ``message_stop``, a ``ping`` —
with text split into word deltas and tool input sent as partial JSON, so the SDK's real stream
accumulation is what runs. The body is a generator: each event is produced only when the SDK
reads it, and ``pulled`` (when given) records that moment, so a test can prove text reached the
screen before the rest of the reply existed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx2

Event = tuple[str, dict[str, Any]]


def events(reply: dict[str, Any]) -> list[Event]:
    usage = dict(reply["usage"])
    start = {**reply, "content": [], "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
    out: list[Event] = [("message_start", {"type": "message_start", "message": start}), ("ping", {"type": "ping"})]
    for index, block in enumerate(reply["content"]):
        if block["type"] == "text":
            out.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                "content_block": {"type": "text", "text": ""}}))
            for piece in re.findall(r"\S+\s*|\s+", block["text"]):
                out.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "text_delta", "text": piece}}))
        elif block["type"] == "tool_use":
            out.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            arguments = json.dumps(block["input"])
            for part in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2:]):
                out.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "input_json_delta", "partial_json": part}}))
        else:
            raise ValueError(f"fake_stream: no stream form for a {block['type']} block")
        out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": reply["stop_reason"], "stop_sequence": None},
                                  "usage": {"output_tokens": usage["output_tokens"]}}))
    out.append(("message_stop", {"type": "message_stop"}))
    return out


def stream(reply: dict[str, Any], pulled: list[Any] | None = None, *, cut_after: int | None = None,
           error: tuple[str, str] | None = None) -> httpx2.Response:
    """A 200 SSE response for ``reply``. ``error=(type, message)`` replaces everything after the
    first ``cut_after`` events (default: after ``message_start``) with an ``error`` event."""
    sequence = events(reply)
    if error is not None:
        keep = 1 if cut_after is None else cut_after
        sequence = [*sequence[:keep], ("error", {"type": "error", "error": {"type": error[0], "message": error[1]}})]

    def body() -> Iterator[bytes]:
        for number, (name, data) in enumerate(sequence):
            if pulled is not None:
                pulled.append(("pulled", number, name))
            yield f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    return httpx2.Response(200, headers={"content-type": "text/event-stream", "request-id": "req_stream"},
                           content=body())
