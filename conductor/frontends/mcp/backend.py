"""What the MCP server does, without MCP: typed tool calls, whole commands, status and journal.

The transport layer (:mod:`conductor.frontends.mcp.server`) only translates; every decision lives here so
it reads like the CLI it mirrors and can be tested without a client:

- A typed call (``shift_traffic``, ``rollback``, ...) runs through
  :func:`conductor.dispatch.execute` as ``mcp-client`` — the same validation, guards,
  handler, per-action lock and journal as the agent's own calls — against the orchestration in
  flight, holding the service locks a CLI run holds. ``mcp-client`` is not a person, so its calls
  can never count as an approval.
- Rollback, like the CLI's, waits for nobody's run: neither this server's nor another process's
  (only for the action in progress, through the executor's per-action lock).
- A whole command (``orchestrate canary 25``) runs through :meth:`Conductor.run`, the CLI's path.
  A strategy command *is* an approval (``canary 25`` approves 25%), so :meth:`McpBackend.orchestrate`
  runs one only after ``decide`` — the server's approval policy — names the person who approved
  the exact question shown to them; status, rollback and dry runs need nobody's approval.

Each call opens its own :class:`Conductor` (fresh config, journal connection and platform) and
closes it, so a long-lived server never acts on a stale config and other processes (the CLI,
``conductor watch``) see every fact it journals at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

from conductor.command import Command, parse_command
from conductor.config_file import load_config
from conductor.dispatch import execute
from conductor.errors import ConductorError, LockHeldError, UsageError
from conductor.journal.state import OrchestrationState
from conductor.locks import ServiceLocks
from conductor.session import Conductor, Result
from conductor.strategies.ramp import next_approval
from conductor.toolbox import TOOLS
from conductor.tools.runtime import ProgressSink
from conductor.tools.schemas import ToolResult
from conductor.verbs import promote_words

ACTOR = "mcp-client"
"""Who the journal says made a typed call or a command that needs no approval: a program."""

ACTING_WAIT = 2.0  # seconds a call waits for another call of this server to finish
UNLOCKED_TOOLS = ("get_status", "rollback")  # reads, and the rollback that must never wait

NOTHING_IN_FLIGHT = (
    "no orchestration is in flight, so there is nothing for {tool} to act on. Start one with the "
    "orchestrate tool (`canary 10`, `blue-green` or `rolling`): the person is asked to approve it"
)

Decide = Callable[[str], str]
"""Given the approval question a command raises, return the approving actor ("person:…") or raise
:class:`NotApproved`. Called while the backend lock is held, so the question cannot go stale."""


class NotApproved(ConductorError):
    """A strategy command was not approved by a person; nothing was changed."""


class McpBackend:
    """One repository's Conductor, for a long-lived MCP server::

        backend = McpBackend(Path(".mothership/config.json"))
        backend.call_tool("rollback", {"service": "api", "reason": "p95 regression"})
        backend.orchestrate("canary 25", dry_run=False, decide=ask_a_person)
    """

    def __init__(self, config_path: Path, model: str | None = None, busy_wait: float = ACTING_WAIT) -> None:
        self.config_path = config_path.resolve()
        self.model = model
        self.busy_wait = busy_wait
        # One action at a time from this server: two Conductors of one process would otherwise
        # contend for the same flock and report each other as "another process".
        self._acting = threading.Lock()

    @contextmanager
    def _conductor(self, acting: bool) -> Iterator[Conductor]:
        # Never queue behind a long run (a 15-minute bake): say it is busy, as the CLI's service
        # lock does for a second terminal, so a client is never left hanging.
        if acting and not self._acting.acquire(timeout=self.busy_wait):
            raise LockHeldError("this MCP server is already running a command (an orchestration or a "
                                "wait); try again when it returns. get_status and conductor://status answer "
                                "meanwhile")
        try:
            conductor = Conductor.from_config(self.config_path, model=self.model)
            try:
                yield conductor
            finally:
                conductor.close()
        finally:
            if acting:
                self._acting.release()

    # -- typed tools ---------------------------------------------------------------------------

    def call_tool(self, tool: str, arguments: dict[str, Any], progress: ProgressSink | None = None) -> ToolResult:
        """Run one typed tool against the orchestration in flight, guarded and journaled;
        ``progress`` hears about waits (check_health, monitor) as they pass."""
        if tool not in TOOLS:
            return ToolResult("error", f"unknown tool {tool!r}; available: {', '.join(TOOLS)}")
        driving = tool not in UNLOCKED_TOOLS
        try:
            return self._call_tool(tool, arguments, driving, progress)
        except LockHeldError as exc:
            return ToolResult("refused", str(exc), {"guard": "service_lock"})

    def _call_tool(
        self, tool: str, arguments: dict[str, Any], driving: bool, progress: ProgressSink | None
    ) -> ToolResult:
        with self._conductor(acting=driving) as conductor:
            state = _pick(conductor.in_flight(), arguments.get("service"))
            if state is None:
                if tool == "get_status":
                    rows = conductor.run("status").services
                    return ToolResult("ok", "no orchestration is in flight", {"services": rows})
                return ToolResult("error", NOTHING_IN_FLIGHT.format(tool=tool))
            with ServiceLocks(conductor.state_dir, list(state.services)) if driving else nullcontext():
                sinks = {"on_progress": progress} if progress is not None else {}
                return execute(conductor.runtime(state.id, **sinks), tool, arguments, ACTOR)

    # -- whole commands ------------------------------------------------------------------------

    def parse(self, command: str) -> Command:
        """The spec grammar, checked against the configured services; raises UsageError."""
        config = load_config(self.config_path)
        return parse_command(command, config.orchestration.services)

    def approval_question(self, command: str, dry_run: bool = False) -> str | None:
        """What a person approves by running ``command``, in words; None if it approves nothing.

        Status, rollback and dry runs change no approval. A strategy command starts an
        orchestration (its first traffic step is approved by the command) or continues the one in
        flight (``canary 25`` approves 25%), so the question spells out exactly that.
        """
        with self._conductor(acting=False) as conductor:
            return _question(conductor, self.parse(command), dry_run)

    def orchestrate(
        self, command: str, dry_run: bool, decide: Decide, progress: ProgressSink | None = None
    ) -> Result:
        """Run ``command`` as the CLI would; strategy commands only once ``decide`` approved them."""
        parsed = self.parse(command)
        driving = parsed.action not in ("status", "rollback")  # a rollback waits for nobody's run
        with self._conductor(acting=driving) as conductor:
            question = _question(conductor, parsed, dry_run)
            actor = ACTOR if question is None else decide(question)
            return conductor.run(command, dry_run=dry_run, actor=actor, on_progress=progress)

    # -- the day-to-day verbs (conductor/verbs.py) ----------------------------------------------

    def verb_question(self, verb: str, service: str | None = None, full: bool = False,
                      to_revision: int | None = None, dry_run: bool = False) -> str | None:
        """What a person approves by running ``verb`` now, in words (None: it approves nothing).
        ``promote`` is the seed command it stands for; ``resume`` lets a paused release move on;
        ``undo`` deploys the versions it names. Raises what the verb would raise."""
        with self._conductor(acting=False) as conductor:
            return _verb_question(conductor, verb, service, full, to_revision, dry_run)

    def run_verb(self, verb: str, decide: Decide, progress: ProgressSink | None = None, *,
                 service: str | None = None, full: bool = False, to_revision: int | None = None,
                 dry_run: bool = False, reason: str = "") -> Result:
        """Run one verb as the CLI would. Those that move traffic forward (promote, resume,
        undo) run only once ``decide`` named the person who approved the exact question; abort
        and pause never wait for a person (they only hold or take traffic back) and, like a
        rollback, abort waits for no run of this server."""
        if verb not in VERBS:
            raise UsageError(f"unknown verb {verb!r}; verbs: {', '.join(VERBS)}")
        with self._conductor(acting=verb not in ("abort", "pause")) as conductor:
            if verb == "abort":
                return conductor.abort(service, reason=reason, dry_run=dry_run, actor=ACTOR)
            if verb == "pause":
                return conductor.pause(reason=reason, actor=ACTOR)
            question = _verb_question(conductor, verb, service, full, to_revision, dry_run)
            actor = ACTOR if question is None else decide(question)
            if verb == "promote":
                return conductor.promote(service, full=full, actor=actor, on_progress=progress)
            if verb == "resume":
                return conductor.resume(actor=actor, on_progress=progress)
            return conductor.undo(service, to_revision=to_revision, dry_run=dry_run, actor=actor,
                                  on_progress=progress)

    def history(self, service: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        with self._conductor(acting=False) as conductor:
            return [record.to_dict() for record in conductor.history(service, limit=limit)]

    # -- resources -----------------------------------------------------------------------------

    def status_document(self) -> dict[str, Any]:
        """The ``conductor.report/v1`` document of ``/orchestrate`` (status)."""
        with self._conductor(acting=False) as conductor:
            return conductor.run("status").data

    def recent_events(self, orchestration: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` journal events of one orchestration (default: the latest one)."""
        with self._conductor(acting=False) as conductor:
            journal = conductor.journal
            if orchestration is None:
                ids = [oid for oid, *_ in journal.orchestrations()]
                if not ids:
                    return []
                orchestration = ids[-1]
            return [asdict(event) for event in journal.events(orchestration)[-limit:]]


def _pick(flights: list[OrchestrationState], service: object) -> OrchestrationState | None:
    """The orchestration holding ``service`` (else the oldest in flight, whose guards will say
    why the service is not theirs to touch, or the executor why the arguments are invalid)."""
    for state in flights:
        if isinstance(service, str) and service in state.services:
            return state
    return flights[0] if flights else None


VERBS = ("promote", "abort", "pause", "resume", "undo")


def _verb_question(conductor: Conductor, verb: str, service: str | None, full: bool, to_revision: int | None,
                   dry_run: bool) -> str | None:
    if dry_run or verb in ("abort", "pause"):
        return None
    flights = conductor.in_flight()
    if verb == "promote":
        words = promote_words(flights, service, full)
        return _question(conductor, parse_command(words, conductor.config.orchestration.services), False)
    if verb == "resume":
        held = next(((s, s.paused) for s in flights if s.paused is not None), None)
        if held is None:
            return None  # nothing to lift: resume changes nothing
        state, note = held
        return (f"Resume orchestration #{state.id} ({state.strategy} of {', '.join(state.services)}), paused by "
                f"{note.actor}: it carries on under the approvals it already has")
    preview = conductor.undo(service, to_revision=to_revision, dry_run=True)
    steps = [n for n in preview.data["notes"] if n != "dry run: nothing changed"]
    return "Undo: " + "; ".join(steps or ["nothing to deploy"])


def _question(conductor: Conductor, command: Command, dry_run: bool) -> str | None:
    if dry_run or command.action in ("status", "rollback"):
        return None
    # A dry run raises exactly what the real run would (nothing released, another strategy in
    # flight), so a person is never asked to approve a command that cannot run.
    preview = conductor.run(command.text, dry_run=True)
    flights = conductor.in_flight()
    if not flights:
        steps = [n for n in preview.data["notes"] if n != "dry run: nothing changed"]
        return f"Start `{command.text}`: " + "; ".join(steps or ["nothing to deploy"])
    state = flights[0]
    services = ", ".join(state.services)
    if state.strategy != "canary":
        return f"Resume orchestration #{state.id} ({state.strategy} of {services}) with `{command.text}`"
    approval = next_approval(state, conductor.config.orchestration.canary_steps, command.percent, command.service)
    if command.service is not None:
        services = f"{command.service} (only)"
    return (f"Ramp up canary #{state.id} of {services} from {approval.current}% to {approval.percent}% of traffic "
            f"on the new version (`{command.text}`)")


__all__ = ["ACTOR", "VERBS", "Decide", "McpBackend", "NotApproved"]
