"""Cassettes: record a run's Messages API traffic once, replay it forever, offline.

A cassette is a JSON file (stable key order, so diffs review well)::

    {"format": "conductor.cassette/v1",
     "interactions": [{"request":  {"method", "path", "model", "max_tokens", "system_sha256",
                                    "tools_sha256", "tool_names", "messages"},
                       "response": {"status", "headers", "body"}}, ...]}

Why at the HTTP layer: the replay brain is the *real* SDK client over an ``httpx2`` transport
that serves the recorded responses, so replay runs the real parsing, retry and error paths, and
an eval built on a cassette tests what production runs.

What is written: the request *summary* (the conversation in full, the system prompt and tools as
digests, since they are large and rarely change) and the raw response. Request headers are
never written (they carry ``Authorization: Bearer …`` / ``x-api-key``); response headers are
kept from an allowlist, and any secret passed to the recorder is redacted wherever it appears.

Replay matches each request with the first unused recorded one that is identical, so retries
(a 429 then a 200 for the same request) and cassettes spanning several runs (``canary 10``,
then the approval ``canary 25`` in another process) replay in order. When nothing matches, the
conversation has diverged: replay stops with the first difference against the next expected
request, e.g. ``messages[2].content[0].content: recorded '…', now '…'``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from conductor.errors import UsageError

FORMAT = "conductor.cassette/v1"
KEPT_RESPONSE_HEADERS = ("content-type", "request-id", "retry-after", "retry-after-ms", "x-should-retry")
NEVER_WRITTEN = ("authorization", "x-api-key", "cookie", "set-cookie", "proxy-authorization")


class CassetteMismatch(anthropic.AnthropicError):
    """The run asked for something the recording does not hold.

    An ``AnthropicError`` on purpose: the SDK re-raises its own errors from a transport as they
    are, without retrying them, so a divergence fails at once with this message.
    """


def summarize(request: httpx2.Request) -> dict[str, Any]:
    """The comparable part of a Messages API request: what the model was asked, never who asked."""
    try:
        body: Any = json.loads(request.content or b"{}")
    except json.JSONDecodeError:
        body = {"raw": request.content.decode(errors="replace")}
    if not isinstance(body, dict):
        body = {"raw": body}
    tools = body.get("tools") or []
    return {
        "method": request.method,
        "path": request.url.path,
        "model": body.get("model"),
        "max_tokens": body.get("max_tokens"),
        "system_sha256": _digest(body.get("system")),
        "tools_sha256": _digest(tools),
        "tool_names": [t.get("name") for t in tools if isinstance(t, dict)],
        "messages": body.get("messages", []),
        **{k: v for k, v in body.items() if k not in ("model", "max_tokens", "system", "tools", "messages")},
    }


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class Cassette:
    """The interactions of one file; ``save`` rewrites it atomically after each new one."""

    def __init__(self, path: Path, interactions: list[dict[str, Any]] | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.path = path
        self.interactions = interactions or []
        self.meta = meta or {}

    @classmethod
    def load(cls, path: Path) -> Cassette:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"cassette {path} does not exist; record one with --record {path}") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"cassette {path} is unreadable: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UsageError(f"cassette {path} is not a {FORMAT} file")
        meta = data.get("meta")
        return cls(path, list(data.get("interactions", [])), meta if isinstance(meta, dict) else None)

    @property
    def origin(self) -> str:
        """``recorded`` (a live model), ``scripted`` or ``policy-recorded``; unlabelled counts as recorded."""
        return str(self.meta.get("origin", "recorded"))

    @property
    def model(self) -> str | None:
        return next((i["request"].get("model") for i in self.interactions if i["request"].get("model")), None)

    def save(self, secrets: Iterable[str] = ()) -> None:
        document: dict[str, Any] = {"format": FORMAT, "interactions": self.interactions}
        if self.meta:
            document["meta"] = self.meta
        text = json.dumps(document,
                          indent=1, sort_keys=True, ensure_ascii=False)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "[REDACTED]")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


class Recorder:
    """Appends every exchange of an ``httpx2.Client`` to a cassette (kept if it already exists,
    so the runs of one scenario — start, approvals — share a file; delete it to start over)."""

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        self.cassette = Cassette.load(path) if path.exists() else Cassette(path)
        self._secrets = [s for s in secrets if s]

    def client(self, **options: Any) -> httpx2.Client:
        return httpx2.Client(event_hooks={"response": [self.on_response]}, **options)

    def on_response(self, response: httpx2.Response) -> None:
        response.read()
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = response.text
        headers = {k.lower(): v for k, v in response.headers.items()
                   if k.lower() in KEPT_RESPONSE_HEADERS and k.lower() not in NEVER_WRITTEN}
        exchange = {
            "request": summarize(response.request),
            "response": {"status": response.status_code, "headers": headers, "body": body},
        }
        # Re-read under a lock: several recorders (each run's brain, the REPL's questions) may
        # append to one cassette, and none may lose what another wrote.
        path = self.cassette.path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            current = Cassette.load(path) if path.exists() else Cassette(path)
            current.interactions.append(exchange)
            current.save(self._secrets)
            self.cassette = current
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class Replayer:
    """An ``httpx2`` transport handler serving a cassette; see the module docstring."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self._used: set[int] = set()
        self._expected = 0  # the recorded request the conversation should ask next

    @property
    def unused(self) -> int:
        return len(self.cassette.interactions) - len(self._used)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        asked = summarize(request)
        interactions = self.cassette.interactions
        for index, interaction in enumerate(interactions):
            if index not in self._used and interaction["request"] == asked:
                self._used.add(index)
                self._expected = index + 1
                return _response(interaction["response"])
        number = len(self._used) + 1
        if self._expected >= len(interactions):
            raise CassetteMismatch(
                f"replay: request #{number} goes past the end of {self.cassette.path.name} "
                f"({len(interactions)} recorded exchanges); the run diverged — re-record the cassette"
            )
        where = first_difference(interactions[self._expected]["request"], asked)
        raise CassetteMismatch(
            f"replay: request #{number} differs from {self.cassette.path.name} "
            f"(exchange {self._expected + 1}) at {where}; the run diverged — re-record the cassette"
        )


def _response(recorded: dict[str, Any]) -> httpx2.Response:
    headers = dict(recorded.get("headers") or {})
    if int(recorded["status"]) >= 400:
        headers.pop("retry-after", None)
        headers["retry-after-ms"] = "1"  # a recorded back-off is not worth waiting for again
    body = recorded.get("body")
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx2.Response(int(recorded["status"]), headers=headers, content=content)


def first_difference(recorded: Any, now: Any, path: str = "") -> str:
    """Where two JSON values first differ, as ``path: recorded X, now Y`` (values shortened)."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        for key in [*recorded, *(k for k in now if k not in recorded)]:
            where = f"{path}.{key}" if path and not path.endswith("→") else f"{path}{key}"
            if key in now and key in recorded:
                if recorded[key] != now[key]:
                    return first_difference(recorded[key], now[key], where)
            else:
                return f"{where}: recorded {_short(recorded, key)}, now {_short(now, key)}"
    elif isinstance(recorded, list) and isinstance(now, list):
        for index, (a, b) in enumerate(zip(recorded, now, strict=False)):
            if a != b:
                return first_difference(a, b, f"{path}[{index}]")
        if len(recorded) != len(now):
            return f"{path}: recorded {len(recorded)} items, now {len(now)}"
    elif isinstance(recorded, str) and isinstance(now, str):
        inner = _json_pair(recorded, now)
        if inner is not None:  # a tool result is JSON text: point inside it
            return first_difference(*inner, f"{path}→")
        start = max(0, next((i for i, (a, b) in enumerate(zip(recorded, now, strict=False)) if a != b),
                            min(len(recorded), len(now))) - 30)
        if start:
            return (f"{path} (from character {start}): recorded {_short('…' + recorded[start:])}, "
                    f"now {_short('…' + now[start:])}")
    return f"{path or '(request)'}: recorded {_short(recorded)}, now {_short(now)}"


def _json_pair(recorded: str, now: str) -> tuple[Any, Any] | None:
    try:
        pair = json.loads(recorded), json.loads(now)
    except json.JSONDecodeError:
        return None
    return pair if all(isinstance(v, dict | list) for v in pair) else None


def _short(value: Any, key: Any = None, limit: int = 120) -> str:
    """``value`` (or ``value[key]``, "absent" when missing) as short JSON."""
    if key is not None:
        if key not in value:
            return "absent"
        value = value[key]
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
