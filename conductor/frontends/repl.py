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
:func:`run_terminal` wires it to a real terminal: prompt_toolkit reads (a history of commands
only, completion that knows the state, a bottom toolbar with each service's live phase; see
:mod:`conductor.frontends.repl_input`) and rich writes.

Lines take the CLI's options (``/orchestrate canary 10 --auto``, ``--dry-run``, ``--release``).
``/status`` only shows; ``/rollback`` asks nothing after; leaving with a release in flight that no
process watches says so, since the watchdog ran only inside this REPL's commands.

Anything that is not a command is a question ("why did api roll back?") for ``ask`` — in
production :class:`conductor.agent.questions.QuestionAsker`, Claude with read-only tools. The
answer streams in as it is written (:class:`AnswerView`): plain text deltas when the output is
not a colour terminal, a live markdown view on one, then the final markdown; a tool turn in
between is one dim line ("(reading status)"). A question never acts: the REPL only runs what the
person types as a command, and every piece of model text is neutralised before it is shown, so
it cannot forge a ``<conductor>`` signal for a harness reading stdout.
"""

from __future__ import annotations

import difflib
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from conductor.errors import ConductorError, ModelError, UsageError
from conductor.frontends.phrasing import for_repl
from conductor.frontends.release_tables import history_markdown, services_markdown
from conductor.frontends.repl_input import (
    COMMANDS,
    Hints,
    Io,
    Line,
    hints_for,
    history_path,
    parse_line,
    prompt_reader,
    release_overrides,
    terminal_console,
    toolbar_text,
)
from conductor.journal.queries import InFlightView
from conductor.journal.state import OrchestrationState
from conductor.output import verbatim
from conductor.signals import Signal, neutralize
from conductor.strategies.ramp import NextApproval, next_approval

if TYPE_CHECKING:
    from conductor.agent.questions import Ask
    from conductor.session import Conductor, Result

ACTOR = "person:repl"
PROMPT = "conductor> "
HELP = """\
/orchestrate                     deployment status
/orchestrate blue-green          blue-green deployment
/orchestrate canary [percent] [service]
                                 canary deployment (asks before each ramp-up); with a service:
                                 approve that service only
/orchestrate rolling             rolling update
/orchestrate rollback [service]  roll back one service, or every one in flight
  options, as in the CLI: --auto, --dry-run, --release SERVICE=VERSION, --retry
/status                          the status (asks nothing)
/approve                         approve the ramp-up the canary is waiting for
/rollback [service]              the same as /orchestrate rollback [service]
/promote [service] [--full]      the approval `canary` of the next step (--full: `canary 100`)
/abort [service] [--reason T]    roll back and mark the release aborted
/pause [--reason T], /resume     hold an --auto ramp where it is; carry on
/undo [service] [--to-revision N]
                                 a completed release back to the version before it (or release N's)
/history [service], /list        past releases (who approved what, the outcome); services now
/help, /quit                     this text; leave (Ctrl-D works too)
anything else                    a question for Claude about the deployment (read-only)

Tab completes commands, options, the next steps and the services in flight; ↑ recalls commands
(never the answers to questions). The bar at the bottom shows each service's phase, live.
Ctrl-C during an orchestration asks whether to roll back or leave it under the watchdog."""

# A health check journaled within this many intervals means a process is watching the release.
_WATCHED_INTERVALS = 2.5


class Repl:
    def __init__(self, conductor: Conductor, io: Io, *, brain_note: str = "", ask: Ask | None = None) -> None:
        self.conductor = conductor
        self.io = io
        self.brain_note = brain_note
        self.ask = ask
        self._live: Live | None = None
        self._last_command_ended: datetime | None = None  # our own inline watchdog stopped then
        self._typed_ahead: list[str] = []  # a command given where a yes/no was asked: run next

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> int:
        self.say(f"Conductor chat in {self.conductor.root} — /help for commands, /quit to leave")
        if self.brain_note:
            self.say(f"brain: {self.brain_note}", style="dim")
        while True:
            try:
                line = self._typed_ahead.pop(0) if self._typed_ahead else self.io.read_line(PROMPT)
            except EOFError:
                self.say("")
                self.leaving()
                return 0
            except KeyboardInterrupt:
                self.say("(Ctrl-D or /quit to leave)", style="dim")
                continue
            if not self.handle(line.strip()):
                self.leaving()
                return 0

    def handle(self, text: str) -> bool:
        """Run one line; False means leave."""
        if not text:
            return True
        if not text.startswith("/"):
            self.question(text)
            return True
        try:
            line = parse_line(text)
        except UsageError as exc:
            self.error(str(exc))
            return True
        if line.command in ("/quit", "/exit"):
            return False
        try:
            self.command(line)
        except UsageError as exc:
            self.error(str(exc))
        return True

    def command(self, line: Line) -> None:
        try:
            self._command(line)
        finally:
            self._last_command_ended = datetime.now(UTC)

    def _command(self, line: Line) -> None:
        word, words = line.command, " ".join(line.words)
        if word == "/help":
            self.say(HELP)
        elif word == "/status" or (word == "/orchestrate" and not line.words):
            self.status()
        elif word == "/orchestrate":
            self.orchestrate(f"/orchestrate {words}", line)
        elif word == "/rollback":
            self.execute(f"/orchestrate rollback {words}".strip(), line)
        elif word == "/approve":
            self.approve(ask_first=False)
        elif word in VERBS:
            self.verb(line)
        else:
            close = difflib.get_close_matches(word, [*COMMANDS, "/exit"], n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            self.error(f"unknown command {word}; {hint}/help lists them")

    # -- commands --------------------------------------------------------------------------------

    def status(self) -> None:
        """The status, and what an approval would do, without asking for it."""
        self.execute("/orchestrate", Line("/status"))
        waiting = self.waiting()
        if waiting is not None:
            self.say(f"`/approve` ramps {_moving(*waiting)} up to {waiting[1].percent}%.", style="dim")

    def orchestrate(self, text: str, line: Line | None = None) -> Result | None:
        """Run a strategy command, show the report, then offer the approval the canary waits for
        (a rollback offers nothing: it was the person's decision about this release)."""
        result = self.execute(text, line)
        rollback = text.split()[1:2] == ["rollback"]
        if result is not None and not rollback and result.data.get("status") == "awaiting_approval" \
                and not (line and line.flag("--dry-run")):
            self.approve(ask_first=True)
        return result

    def execute(self, text: str, line: Line | None = None) -> Result | None:
        line = line or Line("/orchestrate")
        try:
            result = self.conductor.run(
                text, actor=ACTOR, on_signal=self.show_signal, on_progress=self.show_progress,
                auto=line.flag("--auto"), dry_run=line.flag("--dry-run"), retry=line.flag("--retry"),
                release=release_overrides(line.options.get("--release", [])),
            )
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

    def verb(self, line: Line) -> None:
        """The day-to-day verbs: the same methods the CLI and MCP call, as ``person:repl``."""
        name = VERBS[line.command]
        method = getattr(self.conductor, name, None)
        if method is None:
            self.error(f"{line.command} is not available in this version of Conductor")
            return
        service = line.words[0] if line.words else None
        if len(line.words) > 1:
            raise UsageError(f"{line.command} takes at most one service, got {' '.join(line.words)!r}")
        if name in ("history", "releases"):
            self.listing(name, service, line)
            return
        kwargs: dict[str, Any] = {"actor": ACTOR}
        if name in ("promote", "resume", "undo"):
            kwargs.update(on_signal=self.show_signal, on_progress=self.show_progress)
        if name == "abort":
            kwargs.update(on_signal=self.show_signal)
        if name in ("promote", "abort", "undo"):
            kwargs["service"] = service
        elif service is not None:
            raise UsageError(f"{line.command} takes no service")
        if name == "promote":
            kwargs["full"] = line.flag("--full")
        if name in ("abort", "pause") and line.options.get("--reason"):
            kwargs["reason"] = line.options["--reason"]
        if name in ("abort", "undo"):
            kwargs["dry_run"] = line.flag("--dry-run")
        if name == "undo" and line.options.get("--to-revision") is not None:
            kwargs["to_revision"] = _revision(line.options["--to-revision"])
        try:
            result = method(**kwargs)
        except KeyboardInterrupt:
            self._end_progress()
            self.interrupted()
            return
        except ConductorError as exc:
            self._end_progress()
            self.error(str(exc))
            return
        self.show_report(result)
        if name in ("promote", "resume") and result.data.get("status") == "awaiting_approval":
            self.approve(ask_first=True)

    def listing(self, name: str, service: str | None, line: Line) -> None:
        if name == "history":
            limit = line.options.get("--limit")
            table = history_markdown(self.conductor.history(service, limit=_revision(limit) if limit else None))
        else:
            if service is not None:
                raise UsageError("/list takes no service")
            table = services_markdown(self.conductor.releases())
        self.show_markdown(for_repl(table))  # the CLI's tables, with `/orchestrate canary 10` in them

    def approve(self, *, ask_first: bool) -> None:
        """Approve the next ramp-up of the canary in flight; the command run is the approval."""
        waiting = self.waiting()
        if waiting is None:
            self.say("Nothing is waiting for approval.")
            return
        _, approval = waiting
        names = _moving(*waiting)
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

    def leaving(self) -> None:
        """Leaving with a release in flight that no process watches: say so (the watchdog ran
        inside this REPL's commands; between them, nothing rolls a bad version back)."""
        try:
            unwatched = unwatched_services(self.conductor, since=self._last_command_ended)
        except ConductorError:
            return
        if unwatched:
            self.say(f"{'; '.join(unwatched)}: in flight and nothing is watching it (no process checked its health "
                     "since this REPL's last command, or lately). `conductor watch` keeps the watchdog on it; "
                     "`conductor view` shows it; `conductor orchestrate rollback` returns all traffic to stable.",
                     style="yellow")

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
            answer = self.io.answer(f"{question} [y/N] ")
        except (EOFError, KeyboardInterrupt):
            self.say("")
            return False
        answer = answer.strip()
        if answer.startswith("/"):
            # A command where a yes/no was asked (typed ahead, or lines piped in): it is no answer,
            # so the question is a no, and the command is not lost: it runs next.
            self.say(f"({answer.split()[0]} is not a yes: taken as no; it runs next)", style="dim")
            self._typed_ahead.append(answer)
            return False
        return answer.lower() in ("y", "yes")

    def say(self, text: str, style: str | None = None) -> None:
        self.io.console.print(Text(text, style=style or ""))

    def error(self, message: str) -> None:
        self.io.console.print(Text(f"✗ {for_repl(message)}", style="bold red"))

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
        report = for_repl(result.report)  # `/history`, not `conductor history`
        for signal in result.signals:  # already shown, highlighted, as they happened
            report = report.replace(signal.format() + "\n", "")
        self.show_markdown(report.rstrip() + "\n")

    def show_markdown(self, text: str) -> None:
        if self.io.rich_markdown:
            self.io.console.print(Markdown(text))
        else:
            self.io.console.print(text, markup=False, highlight=False, end="" if text.endswith("\n") else "\n")


VERBS = {"/promote": "promote", "/abort": "abort", "/pause": "pause", "/resume": "resume", "/undo": "undo",
         "/history": "history", "/list": "releases"}


def _revision(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"expected a positive number, got {text!r}")
    return value


def _moving(state: OrchestrationState, approval: NextApproval) -> str:
    """The services an approval moves: one promoted alone (`canary 25 api`) may already be at the
    percentage the others are asked for, and is not asked about again."""
    moving = [n for n in approval.waiting if state.services[n].candidate_percent < approval.percent]
    return ", ".join(moving or approval.waiting)


def unwatched_services(conductor: Conductor, since: datetime | None = None) -> list[str]:
    """Services of releases in flight on which no process journaled a health check lately, nor
    after ``since`` (when this REPL's last command, whose watchdog ran inline, ended): wall-clock
    time, since the simulator's virtual time says nothing about who is running."""
    if not conductor.has_journal:
        return []
    window = _WATCHED_INTERVALS * conductor.config.orchestration.health_check_interval + 5.0
    now = datetime.now(UTC)
    lonely = []
    for state in conductor.in_flight():
        checks = conductor.journal.events(state.id, after=max(0, state.last_seq - 2000), kinds=("health_checked",))
        last = max((datetime.fromisoformat(e.wall) for e in checks), default=None)
        if last is not None and (now - last).total_seconds() <= window and (since is None or last > since):
            continue
        for svc in state.services.values():
            if not svc.terminal:
                lonely.append(f"{svc.name} {svc.status_label} (orchestration #{state.id})")
    return lonely


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


def terminal_io(conductor: Conductor) -> Io:
    """A real terminal: prompt_toolkit reads (history, completion, the toolbar), rich writes.
    Piped stdin gets plain ``input()`` (no terminal to draw on)."""
    console, live = terminal_console()
    if not sys.stdin.isatty():
        return Io(read_line=input, console=console, rich_markdown=live, live=live)
    toolbar = _Toolbar(conductor)
    prompts = prompt_reader(toolbar.hints, toolbar.text, history_path())
    return Io(read_line=prompts.command, read_answer=prompts.answer, console=console, rich_markdown=live, live=live)


class _Toolbar:
    """The state completion and the bottom toolbar show, read incrementally from the journal
    (at most once a second: the toolbar redraws every second while the prompt waits)."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor
        self._view: InFlightView | None = None
        self._flights: list[OrchestrationState] = []
        self._read_at = 0.0

    def flights(self) -> list[OrchestrationState]:
        if time.monotonic() - self._read_at >= 0.5:
            self._read_at = time.monotonic()
            try:
                if self._view is None and self.conductor.has_journal:
                    self._view = InFlightView(self.conductor.journal)
                self._flights = self._view.refresh() if self._view is not None else []
            except ConductorError:
                self._flights = []
        return self._flights

    def hints(self) -> Hints:
        orchestration = self.conductor.config.orchestration
        return hints_for(orchestration.services, orchestration.canary_steps, self.flights())

    def text(self) -> str:
        return toolbar_text(self.flights())


def run_terminal(conductor: Conductor, ask: Ask | None = None, brain_note: str = "") -> int:
    """Open the REPL on this terminal until the person leaves; returns the exit code."""
    return Repl(conductor, terminal_io(conductor), brain_note=brain_note, ask=ask).run()


__all__ = ["AnswerView", "Io", "Repl", "health_table", "run_terminal", "terminal_io", "unwatched_services"]
