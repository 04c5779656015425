"""The chat REPL: where people type ``/orchestrate canary 10`` and answer approvals inline.

    $ conductor chat
    brain: offline policy brain (no ANTHROPIC_API_KEY set)
    conductor> /orchestrate canary 10
    … report …
    Ramp api canary 10% → 25%? [y/N] y

It is a thin front end: every command goes through :meth:`Conductor.run` with
``actor="person:repl"``, the same entry point as the CLI, so the grammar, the guards, the locks and
the journal are the ones the CLI uses. A "y" at an approval prompt runs ``/orchestrate canary 25``
for the person — the command *is* the approval, journaled as ``approval_granted`` by
``person:repl`` — so an approval is never something the brain can produce.

Ctrl-C during an orchestration stops it between actions (every action is journaled before it
returns) and asks whether to roll back or leave it as it is; Ctrl-D or ``/quit`` leaves. Another
REPL on the same repository sees the same journal and cannot act on a service this one holds
(the service locks say who holds it). Input and output are injected so tests drive it directly;
:func:`run_terminal` wires it to a real terminal (readline history and tab completion, rich).

Anything that is not a command is a question ("why did api roll back?") for ``ask`` — in
production :class:`conductor.agent.questions.QuestionAsker`, Claude with read-only tools. The
answer streams in as it is written (:class:`AnswerView`): plain text deltas when the output is
not a colour terminal, a live markdown view on one, then the final markdown; a tool turn in
between is one dim line ("(reading status)"). A question never acts: the REPL only runs what the
person types as a command, and every piece of model text is neutralised before it is shown, so
it cannot forge a ``<conductor>`` signal for a harness reading stdout.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from conductor.errors import ConductorError, ModelError
from conductor.journal.state import OrchestrationState
from conductor.output import verbatim
from conductor.signals import Signal, neutralize
from conductor.strategies.ramp import NextApproval, next_approval

if TYPE_CHECKING:
    from conductor.agent.questions import Ask
    from conductor.session import Conductor, Result

ACTOR = "person:repl"
PROMPT = "conductor> "
HISTORY_ENV = "CONDUCTOR_HISTORY"
COMMANDS = ("/orchestrate", "/status", "/approve", "/rollback", "/help", "/quit")
STRATEGIES = ("blue-green", "canary", "rolling", "rollback")
HELP = """\
/orchestrate                     deployment status
/orchestrate blue-green          blue-green deployment
/orchestrate canary [percent]    canary deployment (asks before each ramp-up)
/orchestrate rolling             rolling update
/orchestrate rollback [service]  roll back one service, or every one in flight
/status                          the same as /orchestrate
/approve                         approve the ramp-up the canary is waiting for
/rollback [service]              the same as /orchestrate rollback [service]
/help, /quit                     this text; leave (Ctrl-D works too)
anything else                    a question for Claude about the deployment (read-only)

Tab completes commands, strategies and services; ↑ recalls earlier commands.
Ctrl-C during an orchestration asks whether to roll back or leave it under the watchdog."""


@dataclass
class Io:
    """Where the REPL reads and writes: a terminal in production, scripts in tests."""

    read_line: Callable[[str], str]  # raises EOFError on Ctrl-D, KeyboardInterrupt on Ctrl-C
    console: Console
    rich_markdown: bool  # False with NO_COLOR or a non-terminal stdout: the exact markdown text
    live: bool = False  # a terminal: progress bars redraw in place (piped output gets none)


class Repl:
    def __init__(self, conductor: Conductor, io: Io, *, brain_note: str = "", ask: Ask | None = None) -> None:
        self.conductor = conductor
        self.io = io
        self.brain_note = brain_note
        self.ask = ask
        self._live: Live | None = None

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> int:
        self.say(f"Conductor chat in {self.conductor.root} — /help for commands, /quit to leave")
        if self.brain_note:
            self.say(f"brain: {self.brain_note}", style="dim")
        while True:
            try:
                line = self.io.read_line(PROMPT)
            except EOFError:
                self.say("")
                return 0
            except KeyboardInterrupt:
                self.say("(Ctrl-D or /quit to leave)", style="dim")
                continue
            if not self.handle(line.strip()):
                return 0

    def handle(self, line: str) -> bool:
        """Run one line; False means leave."""
        if not line:
            return True
        word, _, rest = line.partition(" ")
        if word in ("/quit", "/exit"):
            return False
        if word == "/help":
            self.say(HELP)
        elif word in ("/orchestrate", "/status"):
            self.orchestrate(line if word == "/orchestrate" else "/orchestrate")
        elif word == "/rollback":
            self.orchestrate(f"/orchestrate rollback {rest}".strip())
        elif word == "/approve":
            self.approve(ask_first=False)
        elif word.startswith("/"):
            self.error(f"unknown command {word}; /help lists them")
        else:
            self.question(line)
        return True

    # -- commands --------------------------------------------------------------------------------

    def orchestrate(self, text: str) -> Result | None:
        """Run ``text``, show the report, then offer the approval the canary waits for."""
        result = self.execute(text)
        if result is not None and result.data.get("status") == "awaiting_approval":
            self.approve(ask_first=True)
        return result

    def execute(self, text: str) -> Result | None:
        try:
            result = self.conductor.run(text, actor=ACTOR, on_signal=self.show_signal,
                                        on_progress=self.show_progress)
        except KeyboardInterrupt:
            self._end_progress()
            self.interrupted()
            return None
        except ConductorError as exc:
            self._end_progress()
            self.error(str(exc))
            return None
        self.show_report(result)
        return result

    def approve(self, *, ask_first: bool) -> None:
        """Approve the next ramp-up of the canary in flight; the command run is the approval."""
        waiting = self.waiting()
        if waiting is None:
            self.say("Nothing is waiting for approval.")
            return
        _, approval = waiting
        names = ", ".join(approval.waiting)
        if ask_first and not self.confirm(f"Ramp {names} canary {approval.current}% → {approval.percent}%?"):
            self.say(f"Left at {approval.current}%. `/approve` ramps up later, `/rollback` returns all traffic to "
                     "stable; `conductor watch` keeps the watchdog on the canary meanwhile.", style="dim")
            return
        self.orchestrate(f"/orchestrate canary {approval.percent}")

    def waiting(self) -> tuple[OrchestrationState, NextApproval] | None:
        """The first orchestration in flight paused for a person, and what approving it means."""
        for state in self.conductor.in_flight():
            approval = next_approval(state, self.conductor.config.orchestration.canary_steps)
            if approval.waiting:
                return state, approval
        return None

    def interrupted(self) -> None:
        """Ctrl-C mid-run: every finished action is journaled; ask what to do with the rest."""
        self.say("")
        flights = self.conductor.in_flight()
        if not flights:
            self.say("Interrupted; nothing is in flight.")
            return
        live = ", ".join(s for o in flights for s in o.services)
        if self.confirm(f"Interrupted. Roll back {live} now?"):
            self.execute("/orchestrate rollback")
        else:
            strategy = flights[0].strategy
            self.say(f"Left as it is. `/orchestrate {strategy}` resumes; `conductor watch` keeps the watchdog "
                     "on whatever takes traffic.", style="yellow")

    def question(self, text: str) -> None:
        """Free text: Claude answers it with read-only tools, streamed here as it is written."""
        if self.ask is None:
            self.say("Questions go to Claude, which needs ANTHROPIC_API_KEY. Commands start with / "
                     "(/help lists them).", style="dim")
            return
        view = AnswerView(self)
        try:
            answer = self.ask(text, view)
        except ModelError as exc:
            view.end_turn()
            self.error(str(exc))
            return
        except KeyboardInterrupt:
            view.end_turn()
            self.say("(question cancelled)", style="dim")
            return
        view.finish(answer)

    # -- output ----------------------------------------------------------------------------------

    def confirm(self, question: str) -> bool:
        try:
            answer = self.io.read_line(f"{question} [y/N] ")
        except (EOFError, KeyboardInterrupt):
            self.say("")
            return False
        return answer.strip().lower() in ("y", "yes")

    def say(self, text: str, style: str | None = None) -> None:
        self.io.console.print(Text(text, style=style or ""))

    def error(self, message: str) -> None:
        self.io.console.print(Text(f"✗ {message}", style="bold red"))

    def show_signal(self, signal: Signal) -> None:
        self._end_progress()
        style = "bold green" if signal.kind == "DEPLOYED" else "bold red"
        with verbatim():  # the one kind of line that may read as a signal (see conductor.output)
            self.io.console.print(Text(signal.format(), style=style))

    def show_progress(self, label: str, done: float, total: float) -> None:
        """On a terminal: a live table of every service's health against stable, under a progress
        bar for the wait in progress (an observation interval, a bake). Piped output gets none."""
        if not self.io.live:
            return
        width = 24
        filled = int(width * min(done / total, 1.0)) if total else width
        title = f"{label}: [{'█' * filled}{'░' * (width - filled)}] {done:.0f}/{total:.0f}s"
        table = health_table(self.conductor.in_flight(), title)
        if self._live is None:
            self._live = Live(table, console=self.io.console, transient=True, auto_refresh=False)
            self._live.start()
        self._live.update(table, refresh=True)

    def _end_progress(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def show_report(self, result: Result) -> None:
        self._end_progress()
        report = result.report
        for signal in result.signals:  # already shown, highlighted, as they happened
            report = report.replace(signal.format() + "\n", "")
        self.show_markdown(report.rstrip() + "\n")

    def show_markdown(self, text: str) -> None:
        if self.io.rich_markdown:
            self.io.console.print(Markdown(text))
        else:
            self.io.console.print(text, markup=False, highlight=False, end="" if text.endswith("\n") else "\n")


class AnswerView:
    """An answer on screen while it is being written (the ``sink`` an ``ask`` streams into).

    Why streamed: an answer that needs two tool turns takes seconds; text appearing as it is
    written says the REPL is alive and lets the person read along. How it looks depends on the
    output, like the reports: with plain output (``NO_COLOR``, a pipe) each delta is printed as it
    arrives and *is* the final markdown text, so nothing is printed twice; on a colour terminal a
    transient live view re-renders the markdown so far and the finished turn is printed as rich
    markdown once it is complete. Every delta is neutralised (``<`` → ``‹``, one character at a
    time, so splitting it across deltas changes nothing).
    """

    def __init__(self, repl: Repl) -> None:
        self.repl = repl
        self.buffer = ""  # the current turn's text, neutralised
        self.streamed = False  # some text of the final turn reached the screen as it arrived
        self._live: Live | None = None

    def text(self, delta: str) -> None:
        delta = neutralize(delta)
        if not delta:
            return
        self.buffer += delta
        self.streamed = True
        io = self.repl.io
        if not io.rich_markdown:
            io.console.print(delta, markup=False, highlight=False, end="")
            io.console.file.flush()
        elif io.live:
            if self._live is None:
                self._live = Live(console=io.console, transient=True, auto_refresh=False)
                self._live.start()
            self._live.update(Markdown(self.buffer), refresh=True)

    def tool(self, note: str) -> None:
        """A turn ended in tool use: keep what it said, then one dim line saying what it reads."""
        self.end_turn()
        self.repl.say(note, style="dim")

    def end_turn(self) -> None:
        """Close the turn on screen: plain output gets its newline, a terminal its rendered markdown."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self.buffer:
            io = self.repl.io
            if io.rich_markdown:
                io.console.print(Markdown(self.buffer))
            elif not self.buffer.endswith("\n"):
                io.console.print("", markup=False)
        self.buffer, self.streamed = "", False

    def finish(self, answer: str) -> None:
        """The final answer: already on screen when the last turn streamed it; shown whole when it
        did not (an ``ask`` that does not stream, or a closing note such as "no answer after …")."""
        shown = "".join(self.buffer.split()) if self.streamed else ""
        self.end_turn()
        answer = neutralize(answer).strip()
        if "".join(answer.split()) != shown:  # blocks are joined by newlines, deltas are not
            self.repl.show_markdown(answer + "\n")


def health_table(flights: Sequence[OrchestrationState], title: str) -> Table:
    table = Table(title=title, title_justify="left", box=None, padding=(0, 2))
    for column in ("Service", "New version", "Error rate (stable)", "Latency (stable)", "Verdict"):
        table.add_column(column)
    for state in flights:
        for svc in state.services.values():
            h = svc.health
            if svc.terminal:
                table.add_row(svc.name, svc.phase.value, "", "", "")
                continue
            if h is None:
                table.add_row(svc.name, f"{svc.candidate_percent}%", "—", "—", "not observed")
                continue
            errors = f"{_num(h.error_rate, '.2f')}% ({_num(h.baseline_error_rate, '.2f')}%)"
            latency = f"{h.percentile} {_num(h.latency_ms, '.0f')}ms ({_num(h.baseline_latency_ms, '.0f')}ms)"
            style = "green" if h.healthy else "red" if h.breaches else "yellow"
            table.add_row(svc.name, f"{svc.candidate_percent}%", errors, latency, Text(h.verdict.value, style=style))
    return table


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


# -- completion ----------------------------------------------------------------------------------


def completions(line: str, services: Sequence[str], steps: Sequence[int]) -> list[str]:
    """What may follow ``line`` (the text before the cursor): commands, strategies, percentages
    and service names, each with a trailing space once complete."""
    words = line.split(" ")
    partial, before = words[-1], [w for w in words[:-1] if w]
    if not before:
        options: Sequence[str] = COMMANDS
    elif before == ["/orchestrate"]:
        options = STRATEGIES
    elif before == ["/orchestrate", "canary"]:
        options = [str(s) for s in steps]
    elif before in (["/orchestrate", "rollback"], ["/rollback"]):
        options = services
    else:
        options = ()
    return [f"{o} " for o in options if o.startswith(partial)]


def _setup_readline(conductor: Conductor) -> None:
    try:
        import readline
    except ImportError:  # no readline on this platform: plain input() still works
        return
    history = Path(os.environ.get(HISTORY_ENV) or Path.home() / ".local" / "state" / "conductor" / "history")
    with contextlib.suppress(OSError):
        history.parent.mkdir(parents=True, exist_ok=True)
        if history.exists():
            readline.read_history_file(history)
    readline.set_history_length(1000)
    import atexit

    atexit.register(_save_history, readline, history)
    services = list(conductor.config.orchestration.services)
    steps = list(conductor.config.orchestration.canary_steps)
    matches: list[str] = []

    def complete(text: str, index: int) -> str | None:
        nonlocal matches
        if index == 0:
            buffer = readline.get_line_buffer()[: readline.get_endidx()]
            matches = completions(buffer, services, steps)
        return matches[index] if index < len(matches) else None

    readline.set_completer_delims(" ")
    readline.set_completer(complete)
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")


def _save_history(readline: Any, history: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only home must not spoil leaving
        readline.write_history_file(history)


def terminal_io() -> Io:
    """A real terminal: rich on a colour terminal, the exact markdown text with NO_COLOR or when piped."""
    live = sys.stdout.isatty()
    plain = bool(os.environ.get("NO_COLOR")) or not live
    console = Console(highlight=False, no_color=plain, soft_wrap=not live)
    return Io(read_line=input, console=console, rich_markdown=not plain, live=live)


def run_terminal(conductor: Conductor, ask: Ask | None = None, brain_note: str = "") -> int:
    """Open the REPL on this terminal until the person leaves; returns the exit code."""
    if sys.stdin.isatty():
        _setup_readline(conductor)
    return Repl(conductor, terminal_io(), brain_note=brain_note, ask=ask).run()
