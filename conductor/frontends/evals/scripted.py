"""Scripted cassettes: a brain's turns written by hand, recorded through the real SDK path.

No machine here reaches the Anthropic API, so the shipped cassettes are *scripted*: a
``script.json`` lists, per run of the agent loop (each command that drives the brain), what the
model answers — a turn with text and tool calls, an API error, or "whatever the offline policy
would do". Recording runs the scenario with :class:`ScriptedBrain`, which puts each answer on
the wire of a real ``anthropic`` client whose transport is the cassette :class:`Recorder`; so the
cassette holds exactly the requests Conductor builds and the responses the script chose, and
replaying it exercises the same parsing, retry and error paths as a live model.

    {"model": "claude-sonnet-5-5",
     "runs": [[{"say": "Checking first.", "call": [{"name": "get_status", "input": {}}]},
               {"call": [{"name": "shift_traffic", "input": {"service": "api", "percent": 100}}]},
               {"error": 529, "times": 3},
               {"policy": "rest"}]]}

Entries: ``say``/``call`` (one assistant turn; ``stopReason`` overrides; ``think`` puts a
signed thinking block first, which the loop must send back unchanged), ``error`` (``times``
HTTP errors in a row; ``model.maxRetries`` + 1 of them fail the turn), ``policy`` (``true``:
one turn of the policy brain; ``"rest"``: the policy brain for the rest of the run).

Usage is modelled, not measured: :class:`~conductor.frontends.evals.prompt_cache.PromptCache`
reads and writes cache entries by the breakpoints and lifetimes each request asks for, on the
scenario's clock, with ~4 characters a token; ``count_tokens`` answers the same estimate. The
replay brain labels such usage "estimated" (the cassette's ``meta.origin`` is not ``recorded``).

A tool sent with ``strict: true`` constrains a real model's input to its schema, so a scripted
call that does not fit it is a script error (a live API could not produce it): a scenario that
tests malformed calls sets ``"model": {"strictTools": false}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from conductor.agent.messages import conforms
from conductor.config import ConductorConfig
from conductor.errors import UsageError
from conductor.frontends.evals.prompt_cache import PromptCache, prompt_tokens, tokens
from conductor.models.base import ModelRequest, Turn
from conductor.models.policy import PolicyModel
from conductor.models.registry import BrainChoice

SCRIPTED_KEY = "scripted-recording-no-key"


@dataclass
class Script:
    model: str
    runs: list[list[dict[str, Any]]]
    next_run: int = 0
    cache: PromptCache = field(default_factory=PromptCache)  # shared by the runs: one API key's cache

    @classmethod
    def load(cls, path: Path) -> Script:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"{path}: unreadable script: {exc}") from None
        return cls(model=data.get("model", "claude-sonnet-5-5"), runs=[list(r) for r in data["runs"]])

    def take_run(self) -> list[dict[str, Any]]:
        if self.next_run >= len(self.runs):
            raise UsageError(f"the script has {len(self.runs)} runs but the scenario drives the brain more often")
        run = self.runs[self.next_run]
        self.next_run += 1
        return list(run)


@dataclass
class ScriptedBrain:
    """One run of the script, answering through a recorded real client (name ``replay``: the
    conversation must be exactly what the replay brain will see)."""

    entries: list[dict[str, Any]]
    cassette: Path
    model_id: str
    max_retries: int
    name: str = "replay"
    cache: PromptCache = field(default_factory=PromptCache)
    _queue: list[Any] = field(default_factory=list)
    _policy: PolicyModel = field(default_factory=PolicyModel)
    _turn: int = 0
    _ids: int = 0
    _now: float = 0.0

    @property
    def model(self) -> str:
        return self.model_id

    def _claude(self) -> Any:
        import httpx2

        # deferred: the anthropic SDK is heavy: only recording a live model loads it
        from conductor.models.anthropic import AnthropicModel, make_client
        from conductor.models.cassette import Recorder

        recorder = Recorder(self.cassette)
        transport = httpx2.MockTransport(self._serve)
        client = make_client(SCRIPTED_KEY, base_url="http://scripted.invalid",
                             http_client=recorder.client(transport=transport), max_retries=self.max_retries)
        return AnthropicModel(client, self.model_id, name=self.name, estimated_usage=True)

    def count_tokens(self, request: ModelRequest) -> int:
        count: int = self._claude().count_tokens(request)
        return count

    def next_turn(self, request: ModelRequest) -> Turn:
        self._now = request.context.now
        self._plan(request)
        try:
            turn: Turn = self._claude().next_turn(request)
            return turn
        finally:
            self._queue.clear()
            self._turn += 1

    def _serve(self, request: Any) -> Any:
        import httpx2

        headers = {"request-id": f"req_scripted_{self._turn:03d}", "retry-after-ms": "1"}
        body = json.loads(request.content or b"{}")
        if request.url.path.endswith("/count_tokens"):
            return httpx2.Response(200, json={"input_tokens": prompt_tokens(body)}, headers=headers)
        if not self._queue:
            raise AssertionError("the scripted brain was asked more often than planned")
        status, answer = self._queue.pop(0)
        if status == 200:
            answer = dict(answer, usage={**self.cache.usage(body, self._now), **answer["usage"]})
        return httpx2.Response(status, json=answer, headers=headers)

    def _plan(self, request: ModelRequest) -> None:
        """Queue the HTTP answers for this turn: errors first, then the turn (if retries reach it)."""
        errors = 0
        while self.entries and "error" in self.entries[0]:
            entry = self.entries.pop(0)
            for _ in range(int(entry.get("times", 1))):
                kind = "overloaded_error" if entry["error"] == 529 else "api_error"
                body = {"type": "error", "error": {"type": kind, "message": entry.get("message", "Overloaded")}}
                self._queue.append((int(entry["error"]), body))
                errors += 1
        if errors > self.max_retries:
            return  # the SDK gives up before reaching a turn: ModelError, then the policy fallback
        self._queue.append((200, self._message(request)))

    def _message(self, request: ModelRequest) -> dict[str, Any]:
        if not self.entries:
            raise UsageError("the script ran out of turns for this run; end it with a turn without calls "
                             'or {"policy": "rest"}')
        entry = self.entries[0]
        if entry.get("policy") == "rest":
            turn = self._policy.next_turn(request)
            content, stop = turn.content, turn.stop_reason
        else:
            self.entries.pop(0)
            if entry.get("policy") is True:
                turn = self._policy.next_turn(request)
                content, stop = turn.content, turn.stop_reason
            else:
                content = [{"type": "text", "text": entry["say"]}] if entry.get("say") else []
                if entry.get("think"):
                    signature = hashlib.sha256(str(entry["think"]).encode()).hexdigest()[:32]
                    content.insert(0, {"type": "thinking", "thinking": entry["think"],
                                       "signature": f"scripted-{signature}"})
                for call in entry.get("call", []):
                    _check_strict(request, call)
                    self._ids += 1
                    content.append({"type": "tool_use", "id": f"toolu_s{self._turn:02d}{self._ids:03d}",
                                    "name": call["name"], "input": call.get("input", {})})
                stop = entry.get("stopReason") or ("tool_use" if entry.get("call") else "end_turn")
        return {"id": f"msg_scripted_{self._turn:03d}", "type": "message", "role": "assistant",
                "model": self.model_id, "content": content, "stop_reason": stop, "stop_sequence": None,
                "usage": {"output_tokens": tokens(content) + 12}}  # the input side: PromptCache, at send


def _check_strict(request: ModelRequest, call: dict[str, Any]) -> None:
    """A scripted call must be one a strict tool's grammar can produce (module docstring)."""
    tools = {t.get("name"): t for t in request.tools}
    if not any(t.get("strict") for t in request.tools):
        return
    tool = tools.get(call["name"])
    if tool is None or (tool.get("strict") and not conforms(tool["input_schema"], call.get("input", {}))):
        raise UsageError(f"scripted call {call['name']}({json.dumps(call.get('input', {}))}) does not fit the strict "
                         'tool definitions, so no live model could make it; set "model": {"strictTools": false} '
                         "in the scenario to test malformed calls")


@contextmanager
def scripted_brains(script: Script, cassette: Path) -> Iterator[None]:
    """While active, every brain a run chooses is the next run of ``script``, recorded to ``cassette``."""

    def choose(requested: str | None, config: ConductorConfig, state_dir: Path) -> BrainChoice:
        if requested == "policy":  # a step run on the offline brain on purpose: nothing to record
            return BrainChoice(PolicyModel(), "offline policy brain")
        brain = ScriptedBrain(script.take_run(), cassette, script.model, config.model.max_retries,
                              cache=script.cache)
        return BrainChoice(brain, f"scripted brain recording to {cassette.name}")

    with mock.patch("conductor.session.choose_brain", choose):
        yield
