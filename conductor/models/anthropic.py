"""The Claude brain: one Messages API call per turn, in the loop Conductor owns.

    client = make_client(api_key="sk-…", http_client=httpx2.Client(transport=fake))
    model = AnthropicModel(client, "claude-sonnet-5-5")
    turn = model.next_turn(request)          # Turn(text, tool_calls, stop_reason, usage, content)

Why not the SDK's tool runner: it executes tools itself (and its beta defaults to server-held
threads), so calls would bypass the guards and the journal and could not be replayed. Here the
model only *proposes*; :mod:`conductor.agent.loop` runs every call through the guards.

Everything the SDK needs from the outside is injected: the HTTP client (an ``httpx2.Client`` —
anthropic ≥ 2 rejects ``httpx`` objects — so tests, recording and replay all use the real
parsing path over a fake or recorded transport), the base URL (gateways), retries and timeout.
The SDK retries 429, 5xx and 529 itself; what still fails becomes one :class:`ModelError` whose
message names the cause, so the person reads "rate limited (429) …", not a traceback. No
sampling parameters are sent: this SDK has none (``temperature`` would raise TypeError).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, cast

import anthropic
import httpx2

from conductor.config import ConductorConfig
from conductor.errors import ModelError, UsageError
from conductor.models.base import ModelRequest, ToolCall, Turn, Usage
from conductor.models.cassette import Recorder
from conductor.models.policy import PolicyModel
from conductor.models.pricing import model_id
from conductor.models.registry import BrainChoice
from conductor.paths import project_root
from conductor.redact import register as register_secret
from conductor.redact import scrub

API_KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
RECORD_ENV = "CONDUCTOR_RECORD"


def make_client(
    api_key: str,
    *,
    base_url: str | None = None,
    http_client: httpx2.Client | None = None,
    max_retries: int = 2,
    timeout: float = 120.0,
) -> anthropic.Anthropic:
    """An SDK client with every collaborator explicit (no ambient profile or config lookup)."""
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        http_client=http_client,
        max_retries=max_retries,
        timeout=timeout,
    )


class AnthropicModel:
    """Claude behind the :class:`~conductor.models.base.Model` interface."""

    def __init__(self, client: anthropic.Anthropic, model: str, *, name: str = "anthropic",
                 estimated_usage: bool = False) -> None:
        self.name = name  # "anthropic", or "replay" when the client serves a cassette
        self.model = model
        self._client = client
        self.estimated_usage = estimated_usage

    @property
    def client(self) -> anthropic.Anthropic:
        """The SDK client (its key, gateway, retries and any recorder), for the REPL's questions."""
        return self._client

    def count_tokens(self, request: ModelRequest) -> int:
        """The request's input tokens, as the API counts them (no turn is generated)."""
        try:
            counted = self._client.messages.count_tokens(
                model=self.model,
                system=cast(Any, request.system),
                messages=cast(Any, request.messages),
                tools=cast(Any, request.tools),
                **_options(request),
            )
            return int(counted.input_tokens)
        except anthropic.AnthropicError as exc:
            raise ModelError(describe_error(exc, self.model, str(self._client.base_url))) from exc
        except (ValueError, AttributeError, TypeError) as exc:
            raise ModelError(f"Claude ({self.model}): count_tokens answered no token count "
                             f"({_short(str(exc))})") from exc

    def next_turn(self, request: ModelRequest) -> Turn:
        try:
            message = self._client.messages.create(
                model=self.model,
                max_tokens=request.max_tokens,
                system=cast(Any, request.system),
                messages=cast(Any, request.messages),
                tools=cast(Any, request.tools),
                **_options(request),
            )
        except anthropic.AnthropicError as exc:
            raise ModelError(describe_error(exc, self.model, str(self._client.base_url))) from exc
        except ValueError as exc:  # a 200 whose body is not JSON (a proxy's page, a cut connection)
            raise ModelError(f"Claude ({self.model}): the API's answer is not JSON ({_short(str(exc))})") from exc
        try:
            return turn_from_message(message, estimated=self.estimated_usage)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            # JSON, but not a Message (no ``content``, a gateway's own document): a model failure,
            # so the policy brain can take over, never an "unexpected error".
            raise ModelError(f"Claude ({self.model}): the API's answer is not a Message "
                             f"({type(exc).__name__}: {_short(str(exc))})") from exc


def _options(request: ModelRequest) -> dict[str, Any]:
    """``thinking`` and ``output_config`` when the loop set them (the SDK omits what is absent)."""
    options: dict[str, Any] = {}
    if request.thinking is not None:
        options["thinking"] = request.thinking
    if request.output_config is not None:
        options["output_config"] = request.output_config
    return options


def turn_from_message(message: Any, *, estimated: bool = False) -> Turn:
    """A Messages API ``Message`` as a Turn; ``content`` keeps every block the API must see again
    (thinking blocks are tied to the conversation and have to be sent back unchanged)."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    content: list[dict[str, Any]] = []
    if not isinstance(getattr(message, "content", None), list) or getattr(message, "usage", None) is None:
        raise ValueError(f"no content list or usage in {type(message).__name__}")
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
            content.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            arguments = block.input if isinstance(block.input, dict) else {"input": block.input}
            calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
            content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
        else:
            content.append(block.to_dict(mode="json"))
    usage = message.usage
    split = getattr(usage, "cache_creation", None)
    return Turn(
        text="\n".join(t for t in texts if t).strip(),
        tool_calls=calls,
        stop_reason=str(message.stop_reason or "end_turn"),
        usage=Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_creation_1h_input_tokens=(getattr(split, "ephemeral_1h_input_tokens", 0) or 0) if split else 0,
            estimated=estimated,
        ),
        content=content,
    )


def describe_error(exc: BaseException, model: str, base_url: str) -> str:
    """One sentence with the cause, for the report and the REPL (the SDK has already retried).

    The API's own words (or a proxy's HTML page) are shortened to one line and scrubbed of
    secrets here; the output layer (:mod:`conductor.output`) neutralises any markup they carry.
    """
    if isinstance(exc, anthropic.APIStatusError):
        detail = _short(_api_message(exc))
        request_id = exc.response.headers.get("request-id")
        suffix = f" (request-id {request_id})" if request_id else ""
        status = exc.status_code
        if isinstance(exc, anthropic.AuthenticationError):
            cause = f"the API key was rejected (401: {detail}); check {API_KEY_ENV}"
        elif isinstance(exc, anthropic.PermissionDeniedError):
            cause = f"the API key may not use {model} (403: {detail})"
        elif isinstance(exc, anthropic.NotFoundError):
            cause = f"model {model!r} was not found (404: {detail}); set model.name or CONDUCTOR_MODEL"
        elif isinstance(exc, anthropic.RateLimitError):
            cause = f"rate limited (429) even after retries: {detail}"
        elif status == 529:
            cause = f"the API is overloaded (529) even after retries: {detail}"
        elif status >= 500:
            cause = f"the API failed ({status}) even after retries: {detail}"
        else:
            cause = f"the API rejected the request ({status}: {detail})"
        return f"Claude ({model}): {cause}{suffix}"
    if isinstance(exc, anthropic.APITimeoutError):
        return f"Claude ({model}): no answer from {base_url} before the timeout, even after retries"
    if isinstance(exc, anthropic.APIConnectionError):
        underlying = exc.__cause__
        reason = f": {_short(str(underlying))}" if underlying is not None and str(underlying) else ""
        return f"Claude ({model}): cannot reach {base_url}{reason}"
    return f"Claude ({model}): {_short(str(exc))}"


def _short(text: str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters, tags of an HTML page dropped, secrets scrubbed."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>|<!--.*?-->", " ", text)
    text = re.sub(r"(?s)<[a-zA-Z/!][^>]*>", " ", text)  # an HTML error page: keep its words only
    text = " ".join(scrub(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _api_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            kind = error.get("type")
            return f"{kind}: {error['message']}" if kind else str(error["message"])
    return exc.message


def build_brain(
    config: ConductorConfig, state_dir: Path, *, transport: httpx2.BaseTransport | None = None
) -> BrainChoice:
    """The registry's hook: Claude when a key is set; otherwise the policy brain, saying why.

    ``transport`` replaces the network (tests pass a fake Messages API; the registry passes none).
    """
    api_key = os.environ.get(API_KEY_ENV)
    register_secret(api_key)  # a model may echo its key, a 401 may quote it: never printed or journaled
    if not api_key:
        if not config.model.fallback_to_policy:  # the person said: Claude or nothing, never the policy instead
            raise UsageError(f"the anthropic brain needs {API_KEY_ENV}, which is not set, and "
                             "model.fallbackToPolicy is false: set the key, or run with --model policy")
        return BrainChoice(PolicyModel(), f"offline policy brain: the anthropic brain needs {API_KEY_ENV}, "
                                          "which is not set")
    settings = config.model
    base_url = os.environ.get(BASE_URL_ENV) or settings.base_url
    record = record_path(config, state_dir)
    http_client: httpx2.Client | None = None
    if record is not None:
        http_client = Recorder(record, secrets=[api_key]).client(timeout=settings.timeout, transport=transport)
    elif transport is not None:
        http_client = httpx2.Client(timeout=settings.timeout, transport=transport)
    client = make_client(api_key, base_url=base_url, http_client=http_client,
                         max_retries=settings.max_retries, timeout=settings.timeout)
    model = AnthropicModel(client, model_id(settings))
    note = f"Claude brain: {model.model}" + (f" via {base_url}" if base_url else "")
    if record is not None:
        note += f"; recording to {record}"
    return BrainChoice(model, note)


def record_path(config: ConductorConfig, state_dir: Path) -> Path | None:
    """``CONDUCTOR_RECORD`` (relative to the working directory) or ``model.record`` (relative to
    the repository root, the folder holding ``.mothership``)."""
    if os.environ.get(RECORD_ENV):
        return Path(os.environ[RECORD_ENV]).resolve()
    if config.model.record:
        path = Path(config.model.record)
        return path if path.is_absolute() else project_root(state_dir) / path
    return None
