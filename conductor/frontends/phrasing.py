"""Suggested commands in the words of the front end that shows them.

The engine writes its advice in the spec's grammar — "Approve the ramp-up to 25%:
`/orchestrate canary 25`" — because that is the one language every front end shares. A person
reading it should be able to type it where they are, so each front end rewrites the commands it
shows (only those in backticks: a quoted command, never prose):

    CLI    `conductor orchestrate canary 25`
    REPL   `/orchestrate canary 25` (its own grammar: unchanged)
    MCP    the `orchestrate` tool with `canary 25`

The day-to-day verbs' messages name the CLI's commands (`conductor history`); the REPL says its
own (`/history`), MCP its tools (`release_history`). The journal keeps the spec's form
(``approval_granted.via``), whatever was shown.
"""

from __future__ import annotations

import re
from typing import Any

_QUOTED = re.compile(r"`/orchestrate((?: [^`]*)?)`")
_CLI_QUOTED = re.compile(r"`conductor (orchestrate|promote|abort|pause|resume|undo|history|list)((?: [^`]*)?)`")
_TOOLS = {"promote": "promote_release", "abort": "abort_release", "pause": "pause_release",
          "resume": "resume_release", "undo": "undo_release", "history": "release_history"}


def for_cli(text: str) -> str:
    """`/orchestrate canary 25` → `conductor orchestrate canary 25`."""
    return _QUOTED.sub(lambda m: f"`conductor orchestrate{m.group(1)}`", text)


def for_repl(text: str) -> str:
    """`conductor history` → `/history`, `conductor orchestrate canary 25` → `/orchestrate canary 25`
    (commands the REPL has; `conductor watch`, `conductor view` stay: they run beside it)."""
    def own(match: re.Match[str]) -> str:
        if "--full-cutover" in match.group(2) or "--model" in match.group(2):  # typed in a terminal only
            return match.group(0)
        return f"`/{match.group(1)}{match.group(2)}`"

    return _CLI_QUOTED.sub(own, text)


def for_mcp(text: str) -> str:
    """`/orchestrate canary 25` (or `conductor orchestrate canary 25`) → the `orchestrate` tool
    with `canary 25` (empty: status); `conductor history` → the `release_history` tool."""
    def orchestrate(words: str) -> str:
        return f"the `orchestrate` tool with `{words}`" if words else "the `orchestrate` tool (status)"

    def tool(match: re.Match[str]) -> str:
        return orchestrate(match.group(1).strip())

    def verb(match: re.Match[str]) -> str:
        if match.group(1) == "orchestrate":  # `conductor orchestrate rollback` in a verb's message
            return orchestrate(match.group(2).strip())
        name = _TOOLS.get(match.group(1))
        return f"the `{name}` tool" if name else match.group(0)

    # A dry run is an argument of the tool, not a command-line flag.
    text = text.replace("without `--dry-run`", "with `dry_run` false")
    return _CLI_QUOTED.sub(verb, _QUOTED.sub(tool, text))


def report_for_cli(data: dict[str, Any]) -> dict[str, Any]:
    """The report document with its advice in CLI words (next steps and notes; the command typed
    and everything journaled stay as they are)."""
    rewritten = dict(data)
    for key in ("next_steps", "notes"):
        if isinstance(data.get(key), list):
            rewritten[key] = [for_cli(s) if isinstance(s, str) else s for s in data[key]]
    return rewritten
