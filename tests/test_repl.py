"""The chat REPL: scripted in-process for the logic, and in a real pseudo-terminal for what only a
terminal shows (readline completion, history, Ctrl-C, Ctrl-D)."""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import io
import json
import os
import pty
import re
import select
import sqlite3
import struct
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from conductor.agent.questions import AnswerSink
from conductor.errors import ModelError
from conductor.frontends.repl import Io, Repl
from conductor.frontends.repl_input import Hints, completions
from conductor.locks import ServiceLocks
from conductor.session import Conductor
from tests.conftest import Workspace

CANARY: dict[str, Any] = {
    "orchestration": {"strategy": "canary", "services": ["api"], "healthCheckInterval": 10, "bakeTime": 60},
    "release": {"api": "v1.1.0"},
}


class Script:
    """Lines a person types, in order; then Ctrl-D. An exception in the list is raised instead."""

    def __init__(self, *lines: str | BaseException) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        line = self.lines.pop(0)
        if isinstance(line, BaseException):
            raise line
        return line


def repl(ws: Workspace, script: Script, **options: Any) -> tuple[Repl, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=200, no_color=True, soft_wrap=True)
    conductor = Conductor.from_config(ws.config_path)
    return Repl(conductor, Io(read_line=script, console=console, rich_markdown=False), **options), out


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    workspace.write_config(CANARY)
    return workspace


def test_a_canary_with_an_inline_approval_is_journaled_as_the_persons(ws: Workspace) -> None:
    script = Script("/orchestrate canary 10", "y", "n")
    shell, out = repl(ws, script)
    assert shell.run() == 0
    assert "Ramp api canary 10% → 25%? [y/N] " in script.prompts
    assert "Ramp api canary 25% → 50%? [y/N] " in script.prompts
    assert "| api | v1.0.0 | v1.1.0 | Awaiting approval (25% → 50%) |" in out.getvalue()
    approvals = [(e.actor, e.data["percent"], e.data["via"]) for e in ws.journal_events("approval_granted")]
    assert approvals == [("person:repl", 10, "/orchestrate canary 10"), ("person:repl", 25, "/orchestrate canary 25")]
    assert "Left at 25%." in out.getvalue()


def test_a_command_given_as_the_answer_is_a_no_and_runs_next(ws: Workspace) -> None:
    """Lines piped into the REPL, or a command typed ahead, meet a [y/N] question: the command is
    not a yes (nothing ramps) and is not swallowed either."""
    script = Script("/orchestrate canary 10", "/history", "/status")
    shell, out = repl(ws, script)
    assert shell.run() == 0
    text = out.getvalue()
    assert "(/history is not a yes: taken as no; it runs next)" in text
    assert "Left at 10%." in text and "## Release history" in text
    assert text.index("Left at 10%.") < text.index("## Release history")
    assert [e.data["percent"] for e in ws.journal_events("approval_granted")] == [10]
    assert script.prompts.count("Ramp api canary 10% → 25%? [y/N] ") == 1  # /history asked nothing more


def test_approve_runs_the_waiting_ramp_up_and_says_when_nothing_waits(ws: Workspace) -> None:
    shell, out = repl(ws, Script("/approve", "/orchestrate canary 10", "n", "/approve", "n"))
    shell.run()
    assert "Nothing is waiting for approval." in out.getvalue()
    assert [e.data["percent"] for e in ws.journal_events("approval_granted")] == [10, 25]


def test_ctrl_c_during_an_orchestration_offers_a_rollback(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Repl, "show_progress", interrupt)  # Ctrl-C while the canary is observed
    script = Script("/orchestrate canary 10", "y")
    shell, out = repl(ws, script)
    shell.run()
    assert "Interrupted. Roll back api now? [y/N] " in script.prompts
    assert "<conductor>ROLLBACK:api:manual</conductor>" in out.getvalue()
    assert [e.data["reason"] for e in ws.journal_events("rolled_back")] == ["manual"]


def test_ctrl_c_can_leave_the_canary_running_under_the_watchdog(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Repl, "show_progress", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    shell, out = repl(ws, Script("/orchestrate canary 10", "n"))
    shell.run()
    assert "Left as it is. `/orchestrate canary` resumes" in out.getvalue()
    assert ws.journal_events("rolled_back") == []
    assert ws.journal_events("traffic_shifted")[-1].data["weights"]["green"] == 10


def test_bad_commands_say_what_is_wrong_and_change_nothing(ws: Workspace) -> None:
    shell, out = repl(ws, Script("/orchestrate canary 10", "n"))
    shell.run()
    before = ws.state_files()
    shell, out = repl(ws, Script("/orchestrate canary 500", "/orchestrate sideways", "/deploy", "/rollback nope"))
    assert shell.run() == 0
    text = out.getvalue()
    assert "✗ " in text and "percent" in text and "'sideways'" in text
    assert "✗ unknown command /deploy; /help lists them" in text
    shell, out = repl(ws, Script("/orchestrat canary 10"))
    shell.run()
    assert "✗ unknown command /orchestrat; did you mean /orchestrate? /help lists them" in out.getvalue()
    assert "nope" in text
    assert ws.state_files() == before


def test_a_service_held_by_another_session_is_refused_clearly(ws: Workspace) -> None:
    with ServiceLocks(ws.state_dir, ["api"]):  # what a second REPL or CLI holds while it acts
        shell, out = repl(ws, Script("/orchestrate canary 10", "/status"))
        shell.run()
    assert "✗ api is being orchestrated by another process" in out.getvalue()
    assert ws.journal_events("traffic_shifted") == []


def test_free_text_goes_to_the_brain_when_there_is_one(ws: Workspace) -> None:
    asked: list[str] = []

    def ask(question: str, sink: AnswerSink) -> str:  # an ask that does not stream: shown whole
        asked.append(question)
        if "fail" in question:
            raise ModelError("Claude (m): rate limited (429) even after retries: slow down")
        return "api rolled back because its **error rate** was 28% > 5%. <conductor>DEPLOYED:api</conductor>"

    shell, out = repl(ws, Script("why did api roll back?", "please fail"), ask=ask)
    shell.run()
    assert asked == ["why did api roll back?", "please fail"]
    assert "api rolled back because its **error rate** was 28% > 5%. ‹conductor>DEPLOYED:api‹/conductor>" \
        in out.getvalue()
    assert "<conductor>" not in out.getvalue()
    assert "✗ Claude (m): rate limited (429)" in out.getvalue()


def test_free_text_without_a_key_explains_itself(ws: Workspace) -> None:
    shell, out = repl(ws, Script("what now?"))
    shell.run()
    assert "Questions go to Claude, which needs ANTHROPIC_API_KEY" in out.getvalue()


def claude_asks(ws: Workspace, monkeypatch: pytest.MonkeyPatch, *replies: Any) -> tuple[Conductor, Any, Any]:
    """A canary waiting at 10%, and the chat's question answerer over a fake Messages API."""
    from conductor.frontends.cli.chat import make_ask
    from conductor.models.registry import choose_brain
    from tests.models.fake_api import FakeMessagesAPI

    fake = FakeMessagesAPI(list(replies))
    fake.install(monkeypatch)
    conductor = Conductor.from_config(ws.config_path, model="policy")
    conductor.run("/orchestrate canary 10", actor="person:repl")
    ask = make_ask(conductor, choose_brain("anthropic", conductor.config, conductor.state_dir).model)
    assert ask is not None
    return conductor, ask, fake


ANSWER = ("api waits at **10%** for your approval. Type `/approve` to ramp it to 25%, or "
          "`/orchestrate rollback api`. <conductor>DEPLOYED:api</conductor>")


def test_a_question_streams_plain_text_with_a_note_for_each_tool_turn(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.models.fake_api import message, text, tool
    from tests.models.fake_stream import stream

    conductor, ask, fake = claude_asks(ws, monkeypatch, stream(message(text("Let me look."), tool("get_status"))),
                                       stream(message(tool("recent_events", limit=5))),
                                       stream(message(text(ANSWER))))
    out = io.StringIO()
    console = Console(file=out, width=200, no_color=True, soft_wrap=True)
    shell = Repl(conductor, Io(read_line=Script("what is api waiting for?"), console=console, rich_markdown=False),
                 ask=ask)
    shell.run()
    screen = out.getvalue()
    expected = ANSWER.replace("<", "‹")
    assert f"Let me look.\n(reading status)\n(reading the journal)\n{expected}\n" in screen
    assert screen.count("api waits at") == 1  # streamed once, not printed again at the end
    assert "<conductor>" not in screen
    assert [t["name"] for t in fake.requests[0]["tools"]] == ["get_status", "recent_events"]
    reads = [e.data["tool"] for e in ws.journal_events("tool_call") if e.actor == "brain:anthropic"]
    assert reads == ["get_status"]  # recent_events reads the journal directly; nothing else ran
    assert ws.journal_events("approval_granted")[-1].data["percent"] == 10  # a question approves nothing


def test_on_a_terminal_the_answer_streams_then_stays_as_markdown(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.models.fake_api import message, text, tool
    from tests.models.fake_stream import stream

    conductor, ask, _ = claude_asks(ws, monkeypatch, stream(message(tool("get_status"))),
                                    stream(message(text(ANSWER))))
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, no_color=True)
    shell = Repl(conductor, Io(read_line=Script("what now?"), console=console, rich_markdown=True, live=True),
                 ask=ask)
    shell.run()
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", out.getvalue())
    assert "(reading status)" in screen
    assert "api waits at 10% for your approval." in screen  # rendered: no ** left
    assert "**10%**" not in screen and "<conductor>" not in screen


def test_a_closing_note_that_did_not_stream_is_shown_and_a_cancel_keeps_what_arrived(ws: Workspace) -> None:
    def ask(question: str, sink: AnswerSink) -> str:
        sink.text("Still ")
        sink.text("thinking")
        if "cancel" in question:
            raise KeyboardInterrupt
        return "(no answer after 6 turns; ask a narrower question)"

    shell, out = repl(ws, Script("why?", "cancel"), ask=ask)
    shell.run()
    assert "Still thinking\n(no answer after 6 turns; ask a narrower question)\n" in out.getvalue()
    assert "Still thinking\n(question cancelled)\n" in out.getvalue()


def test_the_policy_brain_answers_no_questions(ws: Workspace) -> None:
    from conductor.frontends.cli.chat import make_ask
    from conductor.models.policy import PolicyModel

    assert make_ask(Conductor.from_config(ws.config_path), PolicyModel()) is None


def test_completion_offers_commands_strategies_steps_and_services() -> None:
    idle = Hints(("api", "web"), (5, 25, 50, 100))
    assert completions("/orch", idle) == ["/orchestrate "]
    assert completions("/orchestrate c", idle) == ["canary "]
    assert completions("/orchestrate canary ", idle) == ["5 ", "25 ", "50 "]  # 100 first would be refused
    assert completions("/orchestrate rollback w", idle) == ["web "]
    assert completions("/rollback ", idle) == ["api ", "web "]
    assert completions("/orchestrate canary 25 ", idle) == []
    assert completions("/orchestrate canary 10 --a", idle) == ["--auto "]


def test_completion_knows_the_canary_in_flight() -> None:
    at_25 = Hints(("api", "web", "worker"), (50, 5, 25, 100), current=25, in_flight=("api", "web"))
    assert completions("/orchestrate canary ", at_25) == ["50 ", "100 "]  # above 25%, in numeric order
    assert completions("/rollback ", at_25) == ["api ", "web "]  # the services in flight
    assert completions("/orchestrate canary 50 ", at_25) == ["api ", "web "]  # per-service approval
    assert completions("/promote ", at_25) == ["api ", "web "]
    assert completions("/promote --", at_25) == ["--full "]


# -- a real pseudo-terminal -----------------------------------------------------------------------


# Generous: each wait ends as soon as its text appears, so only a loaded machine gets near it (a
# start of `python -m conductor chat` on two busy cores has taken over 20 s).
TIMEOUT = 90.0


class Terminal:
    """``conductor chat`` in a pseudo-terminal: type into it, wait for what it prints."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: a session leader whose controlling terminal is the pty
            os.chdir(root)
            os.execve(sys.executable, [sys.executable, "-m", "conductor", "chat"], env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # rows, columns
        self.pid, self.fd, self.seen, self.cursor = pid, fd, "", 0
        self.raw = ""  # everything written, escape codes included
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Wait for ``pattern`` after the previous match (like pexpect), so a prompt is the new one."""
        deadline = time.monotonic() + timeout
        while (found := re.compile(pattern).search(self.seen, self.cursor)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; the terminal shows:\n{self.seen[-2000:]}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    chunk = self._decoder.decode(os.read(self.fd, 65536))
                except OSError:  # the child exited
                    chunk = ""
                for _ in range(chunk.count("\x1b[6n")):  # answer "where is the cursor?" as a terminal does
                    os.write(self.fd, b"\x1b[1;1R")
                self.raw += chunk
                self.seen += _visible(chunk)
        self.cursor = found.end()
        return self.seen

    def exit_code(self, timeout: float = TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, 9)
        raise AssertionError("the REPL did not exit")


def _visible(chunk: str) -> str:
    """What a person would read: prompt_toolkit writes a space as "cursor right" (CSI n C); every
    other control sequence (colours are off, cursor moves, modes) and carriage returns dropped."""
    chunk = re.sub(r"\x1b\[(\d*)C", lambda m: " " * int(m.group(1) or 1), chunk)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\x07|\r", "", chunk)


@pytest.fixture
def terminal(ws: Workspace, tmp_path: Path) -> Iterator[Callable[[], Terminal]]:
    """Start ``conductor chat`` in a pseudo-terminal; a REPL a failed test left running is killed."""
    started: list[Terminal] = []

    def start() -> Terminal:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CONDUCTOR_"))}
        env.update({"CONDUCTOR_HISTORY": str(tmp_path / "history"), "NO_COLOR": "1", "TERM": "xterm",
                    "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        started.append(Terminal(ws.root, env))
        return started[-1]

    yield start
    for term in started:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            if os.waitpid(term.pid, os.WNOHANG) == (0, 0):
                os.kill(term.pid, 9)
                os.waitpid(term.pid, 0)


def test_in_a_terminal_completion_approval_history_and_ctrl_d(
    ws: Workspace, tmp_path: Path, terminal: Callable[[], Terminal]
) -> None:
    term = terminal()
    term.expect("brain: offline policy brain")
    term.expect("conductor> ")
    term.expect("nothing in flight · /help for commands")  # the bottom toolbar
    term.type("/orch\t")
    term.expect("/orchestrate ")
    term.type("can\t")  # completion runs between keystrokes: wait for it, as a person would
    term.expect("canary ")
    term.type("10\r")
    term.expect(r"Ramp api canary 10% → 25%\? \[y/N\] ")
    term.type("y\r")
    term.expect(r"Ramp api canary 25% → 50%\? \[y/N\] ")
    term.type("n\r")
    term.expect("Left at 25%")
    term.expect("conductor> ")
    term.expect(r"Awaiting approval \(25% → 50%\)")  # the toolbar, live (redrawn where it changed)
    term.type("\x04")  # Ctrl-D
    assert term.exit_code() == 0
    entries = [line[1:] for line in (tmp_path / "history").read_text().splitlines() if line.startswith("+")]
    assert entries == ["/orchestrate canary 10"]  # the answers y and n are not commands
    assert set(re.findall(r"\x1b\[[0-9;]*m", term.raw)) <= {"\x1b[0m", "\x1b[m"}  # NO_COLOR: no style at all
    assert [e.actor for e in ws.journal_events("approval_granted")] == ["person:repl"] * 2


def test_in_a_terminal_ctrl_c_mid_bake_rolls_back(ws: Workspace, terminal: Callable[[], Terminal]) -> None:
    config = json.loads(json.dumps(CANARY))
    config["orchestration"].update({"strategy": "blue-green", "bakeTime": 3600})
    config["platform"] = {"kind": "sim", "timeScale": 0.01}  # a 10 s interval takes 0.1 s
    ws.write_config(config)
    term = terminal()
    term.expect("conductor> ")
    term.type("/orchestrate blue-green\r")
    term.expect("baking api")
    term.type("\x03")  # Ctrl-C
    term.expect(r"Interrupted. Roll back api now\? \[y/N\] ")
    term.type("y\r")
    term.expect("ROLLBACK:api:manual")
    term.expect("conductor> ")
    term.type("/quit\r")
    assert term.exit_code() == 0
    assert ws.journal_events("rolled_back")[0].data["reason"] == "manual"


def test_on_a_terminal_a_live_health_table_follows_each_wait(ws: Workspace) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, no_color=True)
    conductor = Conductor.from_config(ws.config_path)
    shell = Repl(conductor, Io(read_line=Script("/orchestrate canary 10", "n"), console=console,
                              rich_markdown=True, live=True))
    shell.run()
    screen = out.getvalue()
    assert "observing api: [████████████████████████] 10/10s" in screen
    assert "Error rate (stable)" in screen and "not observed" in screen
    assert "Awaiting approval (10% → 25%)" in screen  # the rich report after the table went away


# -- the state-aware REPL ---------------------------------------------------------------------------


def test_status_shows_without_asking_and_a_rollback_asks_nothing_after(ws: Workspace) -> None:
    three = json.loads(json.dumps(CANARY))
    three["orchestration"]["services"] = ["api", "web"]
    three["release"]["web"] = "v1.1.0"
    ws.write_config(three)
    script = Script("/orchestrate canary 10", "n", "/status", "/orchestrate", "/rollback api")
    shell, out = repl(ws, script)
    shell.run()
    questions = [p for p in script.prompts if p.endswith("[y/N] ")]
    assert questions == ["Ramp api, web canary 10% → 25%? [y/N] "]  # once, after the canary: not after
    assert "`/approve` ramps api, web up to 25%." in out.getvalue()  # status says what an approval does
    assert "<conductor>ROLLBACK:api:manual</conductor>" in out.getvalue()
    assert [e.service for e in ws.journal_events("rolled_back")] == ["api"]


def test_the_clis_flags_work_in_the_repl_and_a_typo_gets_the_closest(ws: Workspace) -> None:
    script = Script("/orchestrate canary 10 --autp", "/orchestrate canary 10 --dry-run",
                    "/orchestrate canary 10 --release api=v1.2.0 --auto", "/orchestrate --release")
    shell, out = repl(ws, script)
    shell.run()
    text = out.getvalue()
    assert "✗ unknown option --autp for /orchestrate; did you mean --auto?" in text
    assert "dry run: nothing changed" in text
    assert "✗ --release needs a value (e.g. --release api=v1.2.0)" in text
    shell, out = repl(ws, Script("/orchestrate canary 100 --full-cutover"))
    shell.run()  # a one-step cutover is deliberate enough to be typed on a command line, not in a chat
    assert "✗ a one-step cutover to 100% is confirmed on a command line only: `conductor orchestrate canary 100 " \
        "--full-cutover` in a terminal" in out.getvalue()
    assert not [p for p in script.prompts if p.endswith("[y/N] ")]  # --auto ramps without asking
    assert "<conductor>DEPLOYED:api</conductor>" in text
    assert ws.journal_events("completed")[0].data["version"] == "v1.2.0"


def test_leaving_with_a_release_in_flight_that_nothing_watches_says_so(ws: Workspace) -> None:
    from conductor.watchdog import watch_round

    shell, out = repl(ws, Script("/orchestrate canary 10", "n", "/quit"))
    shell.run()  # the watchdog ran inside the command only: nothing watches the canary now
    assert "api Awaiting approval (10% → 25%) (orchestration #1): in flight and nothing is watching it" \
        in out.getvalue()
    assert "`conductor watch` keeps the watchdog on it" in out.getvalue()
    watcher = Conductor.from_config(ws.config_path)
    watch_round(watcher)  # what `conductor watch` does every interval, from another process
    watcher.close()
    shell, out = repl(ws, Script("/quit"))
    shell.run()
    assert "nothing is watching it" not in out.getvalue()
    with sqlite3.connect(ws.state_dir / "journal.db") as db:  # that watcher's last check was long ago
        db.execute("UPDATE events SET wall = '2020-01-01T00:00:00.000+00:00'")
    shell, out = repl(ws, Script("/quit"))
    shell.run()
    assert "nothing is watching it" in out.getvalue()


def test_the_verbs_in_the_repl(ws: Workspace) -> None:
    script = Script("/orchestrate canary 10", "n", "/pause --reason 'a dashboard looks odd'", "/resume", "n",
                    "/promote", "n", "/history", "/list", "/abort api --reason 'p95 drifts'",
                    "/undo api --to-revision x", "/undo api")
    shell, out = repl(ws, script)
    shell.run()
    text = out.getvalue()
    approvals = [(e.actor, e.data["percent"]) for e in ws.journal_events("approval_granted")]
    assert approvals[:2] == [("person:repl", 10), ("person:repl", 25)]  # /promote = `canary 25`
    assert "<conductor>ROLLBACK:api:" in text
    assert "✗ expected a whole number, got 'x'" in text
    assert "(see `/history`)" in text and "`conductor history`" not in text  # the REPL's own words
    assert "| 1 | " in text and "| canary | api v1.0.0 → v1.1.0 (Awaiting approval) | in flight |" in text  # /history
    assert "person:repl 10% at " in text  # who approved what, as `conductor history` shows it
    assert "| api | v1.0.0 | blue | #1 in flight | canary #1: " in text  # /list: the CLI's table
    paused, resumed, aborted = (ws.journal_events(k) for k in ("release_paused", "release_resumed", "release_aborted"))
    assert [(e.actor, e.data.get("reason")) for e in paused] == [("person:repl", "a dashboard looks odd")]
    assert [e.actor for e in resumed] == ["person:repl"]
    assert [(e.actor, e.data.get("reason")) for e in aborted] == [("person:repl", "p95 drifts")]


def test_after_one_service_is_promoted_the_question_names_the_services_it_moves(ws: Workspace) -> None:
    two = json.loads(json.dumps(CANARY))
    two["orchestration"]["services"] = ["api", "web"]
    two["release"]["web"] = "v1.1.0"
    ws.write_config(two)
    script = Script("/orchestrate canary 10", "n", "/promote api", "n", "/status", "/help", "/abort --reason 'done'",
                    "/history")
    shell, out = repl(ws, script)
    shell.run()
    questions = [p for p in script.prompts if p.endswith("[y/N] ")]
    assert questions == ["Ramp api, web canary 10% → 25%? [y/N] ", "Ramp web canary 10% → 25%? [y/N] "]
    text = out.getvalue()
    assert "`/approve` ramps web up to 25%." in text  # api is at 25% already
    assert "‹" not in text.split("/promote [service] [--full]")[1].split("\n")[0]  # /help's own text is plain
    assert "aborted by person:repl: done" in text  # /history says who aborted it and why


def test_the_toolbar_shows_each_services_live_phase(ws: Workspace) -> None:
    from conductor.frontends.repl_input import hints_for, toolbar_text

    conductor = Conductor.from_config(ws.config_path)
    assert toolbar_text([]) == " nothing in flight · /help for commands · Tab completes"
    conductor.run("/orchestrate canary 10")
    flights = conductor.in_flight()
    assert toolbar_text(flights) == " api Awaiting approval (10% → 25%) (non-inferior)"
    assert hints_for(["api"], [5, 25, 50, 100], flights) == Hints(("api",), (5, 25, 50, 100), 10, ("api",))


def test_prompt_toolkit_keeps_commands_in_history_and_answers_out_of_it(ws: Workspace, tmp_path: Path) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from conductor.frontends.repl_input import hints_for, prompt_reader

    conductor = Conductor.from_config(ws.config_path)
    history = tmp_path / "history"
    with create_pipe_input() as keys:
        prompts = prompt_reader(
            lambda: hints_for(["api"], [5, 25, 50, 100], conductor.in_flight()), lambda: "", history,
            input=keys, output=DummyOutput())
        out = io.StringIO()
        console = Console(file=out, width=200, no_color=True, soft_wrap=True)
        shell = Repl(conductor, Io(read_line=prompts.command, read_answer=prompts.answer, console=console,
                                   rich_markdown=False))
        keys.send_text("/orchestrate canary 10\r")
        keys.send_text("y\r")
        keys.send_text("n\r")
        keys.send_text("/orchestrate canary 50\r")
        keys.send_text("n\r")
        keys.send_text("\x04")
        assert shell.run() == 0
    entries = [line[1:] for line in history.read_text().splitlines() if line.startswith("+")]
    assert entries == ["/orchestrate canary 10", "/orchestrate canary 50"]  # no y, no n
    assert [e.data["percent"] for e in ws.journal_events("approval_granted")] == [10, 25, 50]


def test_the_completer_reads_the_state_when_tab_is_pressed(ws: Workspace) -> None:
    from prompt_toolkit.document import Document

    from conductor.frontends.repl_input import hints_for, prompt_reader

    conductor = Conductor.from_config(ws.config_path)
    conductor.run("/orchestrate canary 10")
    prompts = prompt_reader(lambda: hints_for(["api"], [5, 25, 50, 100], conductor.in_flight()), lambda: "", None)
    offered = [c.text for c in prompts.completer.get_completions(Document("/orchestrate canary "), None)]
    assert offered == ["25 ", "50 ", "100 "]
