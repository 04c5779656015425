"""The spec's signals, ``<conductor>DEPLOYED:api,web</conductor>`` and
``<conductor>ROLLBACK:api:error rate 7.9% > 5%</conductor>``: formatting and strict parsing.

Signals are emitted by the tool layer when the fact happens, never taken from model text. The
reason is one line with no markup, so a harness can parse it without surprises. ``parse_signals``
finds signals inside any text (tolerant of what surrounds them, strict about the format).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from conductor.redact import scrub

_SIGNAL = re.compile(r"<conductor>(DEPLOYED|ROLLBACK):([^<\r\n]*)</conductor>")
_SERVICE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Signal:
    kind: Literal["DEPLOYED", "ROLLBACK"]
    services: tuple[str, ...]
    reason: str = ""

    def format(self) -> str:
        if self.kind == "DEPLOYED":
            return f"<conductor>DEPLOYED:{','.join(self.services)}</conductor>"
        return f"<conductor>ROLLBACK:{self.services[0]}:{clean_reason(self.reason)}</conductor>"

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "services": list(self.services), "reason": self.reason, "text": self.format()}


def deployed(services: list[str]) -> Signal:
    return Signal("DEPLOYED", tuple(services))


def rollback(service: str, reason: str) -> Signal:
    return Signal("ROLLBACK", (service,), clean_reason(reason))


def clean_reason(reason: str) -> str:
    """One line, no markup, no secret: ``<`` (which could open a tag) and control characters
    become spaces. ``>`` stays, because reasons read "error rate 7.9% > 5%"."""
    text = re.sub(r"[<\x00-\x1f\x7f]+", " ", _ENTITY_LT.sub(" ", scrub(reason)))
    return re.sub(r"\s+", " ", text).strip()[:300] or "unspecified"


# ``&lt;`` and its numeric forms: an HTML error page (a proxy in front of an API) or a markdown
# renderer decodes them back into ``<``.
_ENTITY_LT = re.compile(r"(?i)&(lt|#0*60|#x0*3c);?")


def neutralize(text: str) -> str:
    """Text from outside made unable to carry a signal: ``<`` (and ``&lt;``) becomes ``‹``.

    Signals come from the tool layer only; a model that writes ``<conductor>DEPLOYED:…`` in its
    recommendation, or an API error page quoting one, must not be believed by a harness that
    parses stdout. Per character, so text streamed in pieces is neutralised piece by piece.
    :mod:`conductor.output` applies it (with secret scrubbing) to everything printed.
    """
    return _ENTITY_LT.sub("‹", text).replace("<", "‹")


def deliver(sink: Callable[..., Any], *args: Any) -> BaseException | None:
    """Call an output sink (stdout, a webhook, the REPL, an MCP notification, a progress bar) so
    that its failure can never interrupt the caller: a closed pipe or a dead terminal must not
    stop a rollback halfway. Returns the exception the sink raised, or None."""
    try:
        sink(*args)
    except Exception as exc:  # whatever a sink raises, the action goes on
        return exc
    return None


def shielded(sink: Callable[..., Any]) -> Callable[..., None]:
    """``sink`` wrapped with :func:`deliver` (idempotent: a shielded sink is not wrapped again)."""
    if getattr(sink, "__conductor_shielded__", False):
        return sink

    def call(*args: Any) -> None:
        deliver(sink, *args)

    call.__conductor_shielded__ = True  # type: ignore[attr-defined]
    call.__wrapped__ = sink  # type: ignore[attr-defined]
    return call


def parse_signals(text: str) -> list[Signal]:
    """Every well-formed signal in ``text``, in order; malformed ones are ignored.

    Tolerant of what surrounds a signal (markdown, log prefixes, several on one line, CRLF) and
    strict inside it: the kind is upper case, services are valid service names separated by
    bare commas, a rollback names one service and a non-empty one-line reason (kept without
    surrounding spaces, so ``parse_signals(s.format()) == [s]`` for any signal Conductor emits).

        >>> parse_signals("log: <conductor>ROLLBACK:api:error rate 7.9% > 5%</conductor>")
        [Signal(kind='ROLLBACK', services=('api',), reason='error rate 7.9% > 5%')]
    """
    found: list[Signal] = []
    for match in _SIGNAL.finditer(text):
        kind, body = match.group(1), match.group(2)
        if kind == "DEPLOYED":
            services = tuple(body.split(","))
            if body and all(_SERVICE.match(s) for s in services):
                found.append(Signal("DEPLOYED", services))
        else:
            service, sep, reason = body.partition(":")
            if sep and _SERVICE.match(service) and reason.strip():
                found.append(Signal("ROLLBACK", (service,), reason.strip()))
    return found
