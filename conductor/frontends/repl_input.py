"""What the chat REPL reads, and how: its words (flags, completion), and the terminal (prompt_toolkit).

Pure parts, tested from values alone:

    split_flags(words, command)   the CLI's flags in a REPL line (``/orchestrate canary 10 --auto``);
                                  an unknown one suggests the closest (``--autp`` → ``--auto``)
    completions(line, hints)      what Tab offers, knowing the state: the canary steps above the
                                  current percentage in numeric order, the services in flight
    toolbar_text(flights)         the bottom toolbar: each service's live phase

The terminal part (:func:`terminal_io`) builds two prompt_toolkit sessions on one terminal: the
command prompt, with a file history, completion and the toolbar, and a bare one for the answers
to approval questions, so a ``y`` never lands in ↑ history (recalling ``y`` and pressing Enter at
the next question would approve a ramp-up nobody meant).
"""

from __future__ import annotations

import difflib
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from conductor.errors import UsageError
from conductor.frontends import terminal
from conductor.journal.state import OrchestrationState

if TYPE_CHECKING:
    from prompt_toolkit.input import Input
    from prompt_toolkit.output import Output

HISTORY_ENV = "CONDUCTOR_HISTORY"
COMMANDS = ("/orchestrate", "/status", "/approve", "/rollback", "/promote", "/abort", "/pause", "/resume", "/undo",
            "/history", "/list", "/help", "/quit")
STRATEGIES = ("blue-green", "canary", "rolling", "rollback")

# The CLI's options, by the command that takes them (True: takes a value).
OPTIONS: dict[str, bool] = {"--auto": False, "--dry-run": False, "--release": True, "--retry": False,
                            "--full": False, "--reason": True, "--to-revision": True,
                            "--limit": True}
ALLOWED: dict[str, tuple[str, ...]] = {
    "/orchestrate": ("--auto", "--dry-run", "--release", "--retry"),
    "/rollback": ("--dry-run",),
    "/promote": ("--full",),
    "/abort": ("--reason", "--dry-run"),
    "/pause": ("--reason",),
    "/undo": ("--to-revision", "--dry-run"),
    "/history": ("--limit",),
}


@dataclass(frozen=True)
class Line:
    """A REPL line: the command word, its positional words, its options."""

    command: str
    words: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        return bool(self.options.get(name))


def parse_line(text: str) -> Line:
    """Split ``text`` like a shell (quotes keep ``--reason "bad p95"`` one word) and take the
    options the command accepts; UsageError for an unknown option or a missing value."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"cannot read that line: {exc}") from None
    if not words:
        return Line("")
    command, rest = words[0], words[1:]
    positional, options = split_flags(rest, command)
    return Line(command, tuple(positional), options)


def split_flags(words: Sequence[str], command: str) -> tuple[list[str], dict[str, Any]]:
    allowed = ALLOWED.get(command, ())
    positional: list[str] = []
    options: dict[str, Any] = {}
    items = list(words)
    while items:
        word = items.pop(0)
        if not word.startswith("--"):
            positional.append(word)
            continue
        name, eq, value = word.partition("=")
        if name == "--full-cutover":  # deliberate enough to be typed on a command line, not a chat
            raise UsageError("a one-step cutover to 100% is confirmed on a command line only: "
                             "`conductor orchestrate canary 100 --full-cutover` in a terminal; here, a small first "
                             "step (`/orchestrate canary 10`) or `/orchestrate blue-green`")
        if name not in allowed:
            raise UsageError(unknown_option(name, allowed, command))
        if OPTIONS[name]:
            if not eq:
                if not items or items[0].startswith("--"):
                    raise UsageError(f"{name} needs a value (e.g. {_example(name)})")
                value = items.pop(0)
            if name == "--release":
                options.setdefault(name, []).append(value)
            else:
                options[name] = value
        elif eq:
            raise UsageError(f"{name} takes no value")
        else:
            options[name] = True
    return positional, options


def unknown_option(name: str, allowed: Sequence[str], command: str) -> str:
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown option {name} for {command}; did you mean {close[0]}?"
    if allowed:
        return f"unknown option {name} for {command}; it takes {', '.join(allowed)}"
    return f"{command} takes no options"


def _example(name: str) -> str:
    return {"--release": "--release api=v1.2.0", "--reason": '--reason "p95 too high"',
            "--to-revision": "--to-revision 3", "--limit": "--limit 10"}.get(name, name)


def release_overrides(values: Sequence[str]) -> dict[str, str]:
    release: dict[str, str] = {}
    for pair in values:
        service, sep, version = pair.partition("=")
        if not sep or not service or not version:
            raise UsageError(f"--release expects SERVICE=VERSION, got {pair!r}")
        release[service] = version
    return release


# -- completion ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hints:
    """What completion knows of the state, read when Tab is pressed."""

    services: tuple[str, ...]  # configured
    steps: tuple[int, ...]  # orchestration.canarySteps
    current: int | None = None  # the canary in flight's percentage; None: no canary in flight
    in_flight: tuple[str, ...] = ()  # services of a release in flight, not yet done


def hints_for(services: Sequence[str], steps: Sequence[int], flights: Sequence[OrchestrationState]) -> Hints:
    live = [s for o in flights for s in o.services.values() if not s.terminal]
    canary = [s.candidate_percent for o in flights if o.strategy == "canary" for s in o.services.values()
              if not s.terminal]
    return Hints(tuple(services), tuple(steps), min(canary) if canary else None, tuple(s.name for s in live))


def completions(line: str, hints: Hints) -> list[str]:
    """What may follow ``line`` (the text before the cursor), each with a trailing space."""
    words = line.split(" ")
    partial, before = words[-1], [w for w in words[:-1] if w]
    options: Sequence[str]
    if not before:
        options = COMMANDS
    elif partial.startswith("-"):
        options = ALLOWED.get(before[0], ())
    elif before == ["/orchestrate"]:
        options = STRATEGIES
    elif before == ["/orchestrate", "canary"]:
        if hints.current is None:  # a fresh canary: any first step but a one-step cutover
            options = [str(s) for s in sorted(hints.steps) if s < 100]
        else:  # approving: the steps above where it is, in numeric order
            options = [str(s) for s in sorted({*hints.steps, 100}) if s > hints.current]
    elif len(before) == 3 and before[:2] == ["/orchestrate", "canary"] and hints.current is not None:
        options = hints.in_flight  # per-service approval: `canary 25 api`
    elif before in (["/orchestrate", "rollback"], ["/rollback"], ["/abort"], ["/promote"]):
        options = hints.in_flight or (() if before == ["/promote"] else hints.services)
    elif before in (["/undo"], ["/history"]):
        options = hints.services
    else:
        options = ()
    return [f"{o} " for o in options if o.startswith(partial)]


def toolbar_text(flights: Sequence[OrchestrationState]) -> str:
    """`` api Canary 10% (non-inferior) │ web Baking `` — or what to type when nothing is in flight."""
    parts = []
    for state in flights:
        for svc in state.services.values():
            judged = svc.health is not None and not svc.terminal and svc.observed_since_shift  # not a past step's
            verdict = f" ({svc.health.verdict.value.replace('_', '-')})" if judged and svc.health else ""
            parts.append(f"{svc.name} {svc.status_label}{verdict}")
    paused = [f"#{state.id} paused by {state.paused.actor}" for state in flights if state.paused is not None]
    if paused:
        parts.append(", ".join(paused) + " (/resume)")
    if not parts:
        return " nothing in flight · /help for commands · Tab completes"
    return " " + " │ ".join(parts)


# -- the terminal --------------------------------------------------------------------------------


@dataclass
class Io:
    """Where the REPL reads and writes: a terminal in production, scripts in tests."""

    read_line: Callable[[str], str]  # a command; raises EOFError on Ctrl-D, KeyboardInterrupt on Ctrl-C
    console: Console
    rich_markdown: bool  # False with a non-terminal stdout: the exact markdown text
    live: bool = False  # a terminal: progress redraws in place (piped output gets none)
    read_answer: Callable[[str], str] | None = None  # an answer to a question: never in history

    def answer(self, prompt: str) -> str:
        return (self.read_answer or self.read_line)(prompt)


@dataclass(frozen=True)
class Prompts:
    command: Callable[[str], str]  # with history, completion and the toolbar
    answer: Callable[[str], str]  # bare: nothing is remembered
    completer: Any  # prompt_toolkit's Completer: what Tab offers


def history_path() -> Path:
    return Path(os.environ.get(HISTORY_ENV) or Path.home() / ".local" / "state" / "conductor" / "history")


def prompt_reader(
    hints: Callable[[], Hints],
    toolbar: Callable[[], str],
    history: Path | None,
    input: Input | None = None,
    output: Output | None = None,
) -> Prompts:
    """Read commands and answers on one terminal, with prompt_toolkit."""
    # deferred: prompt_toolkit is needed only by an interactive REPL, not by `conductor --help` or piped runs
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.document import Document
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory
    from prompt_toolkit.styles import Style

    class StateCompleter(Completer):
        def get_completions(self, document: Document, complete_event: Any) -> Any:
            before = document.text_before_cursor
            partial = before.split(" ")[-1]
            for option in completions(before, hints()):
                yield Completion(option, start_position=-len(partial), display=option.strip())

    kept: History = InMemoryHistory()
    if history is not None:
        try:
            history.parent.mkdir(parents=True, exist_ok=True)
            history.touch(exist_ok=True)
            kept = FileHistory(str(history))
        except OSError:  # a read-only home: history for this session only
            kept = InMemoryHistory()
    # NO_COLOR: prompt_toolkit drops colours itself; the toolbar's reverse video goes too.
    plain = Style.from_dict({"bottom-toolbar": "noreverse"}) if terminal.no_color() else None
    commands: PromptSession[str] = PromptSession(
        history=kept, completer=StateCompleter(), complete_while_typing=False,
        bottom_toolbar=lambda: toolbar(), refresh_interval=1.0, input=input, output=output, style=plain,
    )
    answers: PromptSession[str] = PromptSession(history=InMemoryHistory(), input=input, output=output)

    return Prompts(commands.prompt, answers.prompt, commands.completer)


def terminal_console() -> tuple[Console, bool]:
    """The console and whether it is live (a terminal). ``NO_COLOR``: no style at all, layout kept."""
    live = sys.stdout.isatty()
    return terminal.console(soft_wrap=not live), live
