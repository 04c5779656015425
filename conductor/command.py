"""The spec's command grammar, as one parser every front end shares (CLI, REPL, MCP, evals).

    /orchestrate                    deployment status
    /orchestrate blue-green         blue-green deployment
    /orchestrate canary [percent]   canary deployment, or approval of the next ramp-up
    /orchestrate canary [percent] [service]   ... of one service only (`canary 25 api`)
    /orchestrate rolling            rolling update (the spec's third strategy)
    /orchestrate rollback [service] roll back one service, or every one in flight

The leading ``/orchestrate`` is optional. Anything else is a :class:`UsageError` naming the
problem; parsing never touches state.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from conductor.errors import UsageError

Action = Literal["status", "blue-green", "canary", "rolling", "rollback"]
ACTIONS: tuple[Action, ...] = ("status", "blue-green", "canary", "rolling", "rollback")
GRAMMAR = (
    "usage: /orchestrate [blue-green | canary [percent] [service] | rolling | rollback [service]]\n"
    "  percent: a whole number from 1 to 100 (e.g. canary 10); service: approve for that service only"
)


@dataclass(frozen=True)
class Command:
    action: Action
    percent: int | None = None
    service: str | None = None

    @property
    def text(self) -> str:
        """The canonical spelling, e.g. ``/orchestrate canary 10``."""
        parts = ["/orchestrate"]
        if self.action != "status":
            parts.append(self.action)
        if self.percent is not None:
            parts.append(str(self.percent))
        if self.service is not None:
            parts.append(self.service)
        return " ".join(parts)



def parse_command(text: str | Sequence[str], services: Sequence[str] | None = None) -> Command:
    """Parse the grammar; ``services`` (from the config) validates ``rollback <service>``."""
    if isinstance(text, str):
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise UsageError(f"cannot parse {text!r}: {exc}\n{GRAMMAR}") from None
    else:
        words = list(text)
    if words and words[0] in ("/orchestrate", "orchestrate"):
        words = words[1:]
    if not words:
        return Command("status")
    action, args = words[0].lower(), words[1:]
    if action == "status" and not args:
        return Command("status")
    if action in ("blue-green", "rolling"):
        _no_extra(action, args)
        return Command(action)  # type: ignore[arg-type]
    if action == "canary":
        if not args:
            return Command("canary")
        percent = None
        if re.fullmatch(r"[0-9]+%?", args[0]) or services is None or args[0] not in services:
            percent, args = _percent(args[0]), args[1:]
        if not args:
            return Command("canary", percent=percent)
        _no_extra(action, args[1:] if not re.fullmatch(r"[0-9]+%?", args[0]) else args)
        return Command("canary", percent=percent, service=_service(action, args[0], services))
    if action == "rollback":
        if not args:
            return Command("rollback")
        _no_extra(action, args[1:])
        return Command("rollback", service=_service(action, args[0], services))
    close = difflib.get_close_matches(action, [a for a in ACTIONS if a != "status"], n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    raise UsageError(f"unknown strategy or action {action!r}{hint}\n{GRAMMAR}")


def _service(action: str, service: str, services: Sequence[str] | None) -> str:
    if services is not None and service not in services:
        close = difflib.get_close_matches(service, list(services), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise UsageError(
            f"{action}: unknown service {service!r}{hint}; configured services: {', '.join(services)}"
        )
    return service


def _percent(word: str) -> int:
    if not re.fullmatch(r"[0-9]+%?", word):
        raise UsageError(f"canary: percent must be a whole number from 1 to 100, got {word!r}\n{GRAMMAR}")
    value = int(word.rstrip("%"))
    if not 1 <= value <= 100:
        raise UsageError(f"canary: percent must be from 1 to 100, got {value}\n{GRAMMAR}")
    return value


def _no_extra(action: str, extra: Sequence[str]) -> None:
    if extra:
        raise UsageError(f"{action}: unexpected extra words: {' '.join(extra)}\n{GRAMMAR}")
