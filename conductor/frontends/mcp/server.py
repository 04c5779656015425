"""Conductor as a Model Context Protocol server: ``conductor mcp`` (stdio) or ``--http`` (loopback).

What a client sees
    tools      the agent's typed tools (get_status, check_health, deploy, shift_traffic, ...)
               with the very input schemas the brain sees, plus ``orchestrate`` — a whole
               ``/orchestrate`` command through Conductor's own loop, returning the report, its
               signals and the ``conductor.report/v1`` document as structured content — and the
               day-to-day verbs (``promote_release``, ``abort_release``, ``pause_release``,
               ``resume_release``, ``undo_release``, ``release_history``; see conductor/verbs.py)
    prompt     ``orchestrate`` — the spec's slash command for clients that list prompts
    resources  ``conductor://status`` and ``conductor://journal/recent`` (JSON), and
               ``conductor://journal/{orchestration}``

Annotations are derived from :data:`conductor.toolbox.TOOLS`, never written by hand:
read-only tools say ``read_only_hint``; tools that change traffic or deployments say
``destructive_hint`` (and ``idempotent_hint`` when calling twice is harmless, like rollback).

Why an MCP client can do nothing the CLI could not
    Typed calls run through the guarded executor as ``mcp-client`` (see
    :mod:`conductor.frontends.mcp.backend`); a guard's refusal comes back as a tool error whose text is
    the reason, exactly what the brain would read. Whatever a client auto-approves, the guards
    still decide.

Approvals (the one thing a tool argument must never grant)
    A strategy command is an approval (``canary 25`` approves 25%), and a tool call's arguments
    are written by the client's *model*. So ``orchestrate`` runs a strategy command only after
    a *person* approved the exact step, in one of two ways:

    ``elicit`` (default)  the server asks through MCP elicitation — a form the client shows its
                          user ("Ramp up canary #3 of api from 10% to 25%?"). Accepted, it is
                          journaled as ``person:mcp`` (an ``approval_granted`` event like the
                          CLI's). Declined or cancelled: nothing changes. A client that cannot
                          show forms cannot approve; the person uses the CLI or the slash command.
                          The form is the client's to show: a client (or a hook) that answers
                          forms by itself must not be used to deploy.
    ``trust-client``      ``conductor mcp --trust-client-approval``: the operator states that
                          this client shows every ``orchestrate`` call to its user for
                          confirmation (e.g. Claude Code with the tool left out of its allow
                          list). The call itself is then the approval, journaled as
                          ``person:mcp-client``. Never use it with a client that auto-approves.

    The question is computed again just before running, under the server's lock; if the answer
    would now approve something else (a watchdog rolled back meanwhile), nothing runs.

Concurrency
    One command or wait at a time per server; a second call gets a refusal at once instead of
    queueing behind a 15-minute bake. Reads (get_status, the resources) always answer, and a
    rollback, as in the CLI, waits only for the action in progress, never for a whole run. Service
    locks are the CLI's, so a client and a terminal never drive the same service at once.

HTTP
    ``--http`` serves loopback only and requires ``Authorization: Bearer <token>``: on a shared
    machine, loopback alone would let any local user connect and answer the approval forms.
"""

# No `from __future__ import annotations` here: the SDK reads the orchestrate tool's annotations
# at runtime, and they name resolvers that are local to _orchestrate_tool.
import contextlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio.from_thread
from mcp.server import MCPServer
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, Elicit, Resolve
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from conductor import toolbox
from conductor.errors import EXIT_ERROR, ConductorError
from conductor.frontends.mcp.backend import McpBackend, NotApproved
from conductor.frontends.phrasing import for_mcp
from conductor.output import safe_data, safe_text
from conductor.schema import report_json_schema
from conductor.tools.runtime import ProgressSink
from conductor.tools.schemas import ToolResult

ApprovalMode = Literal["elicit", "trust-client"]
PERSON_VIA_FORM = "person:mcp"
PERSON_VIA_CLIENT = "person:mcp-client"

INSTRUCTIONS = """Conductor runs blue-green, canary and rolling deployments for this repository.
Hand whole jobs to the `orchestrate` tool with the /orchestrate grammar: an empty command
(status), `blue-green`, `canary [percent] [service]`, `rolling`, `rollback [service]`. Show its report to the
user verbatim, including every <conductor>…</conductor> signal line. The day-to-day verbs are tools too:
promote_release, abort_release, pause_release, resume_release, undo_release, release_history.
Approvals come from the user, never from you: Conductor asks them itself before anything takes
traffic. The typed tools act on the orchestration in flight and every call is guarded; a refusal
explains why and what a person can do."""


@dataclass(frozen=True)
class ServerSettings:
    backend: McpBackend
    approvals: ApprovalMode = "elicit"


class PersonApproval(BaseModel):
    """The form an MCP client shows its user before a strategy command runs."""

    approve: bool = Field(description="Yes: I approve this deployment step.")


class NoQuestion(BaseModel):
    """Why no form was shown (the tool body decides what that means)."""

    why: Literal["not_needed", "trusted_client", "cannot_ask", "invalid"]


class Planned(BaseModel):
    """The approval question of a command at the moment the person is asked (None: approves
    nothing), or the error that command would raise."""

    question: str | None
    error: str | None = None


def build_server(settings: ServerSettings) -> MCPServer:
    """The MCP server for one repository; run it with ``.run("stdio")``."""
    backend = settings.backend
    orchestrate = Tool.from_function(
        _orchestrate_tool(settings),
        name="orchestrate",
        title="Run an /orchestrate command",
        description=(
            "Run one /orchestrate command through Conductor's own guarded loop and return its report "
            "(markdown with its signals) and the conductor.report/v1 document. command: empty (status), "
            "`blue-green`, `canary [percent]`, `rolling`, `rollback [service]`. Strategy commands are "
            "approvals, so the user is asked to confirm them; dry_run shows the plan and changes nothing."
        ),
        annotations=ToolAnnotations(title="Run an /orchestrate command", read_only_hint=False,
                                    destructive_hint=True, idempotent_hint=False, open_world_hint=False),
    )
    # Advertise the report's schema (published, additive within v1) so clients can rely on it.
    orchestrate.fn_metadata.output_schema = report_json_schema()
    server = MCPServer(
        "conductor",
        title="Conductor",
        instructions=INSTRUCTIONS,
        tools=[*(_typed_tool(backend, spec) for spec in toolbox.TOOLS.values()), orchestrate,
               *_verb_tools(settings)],
        log_level="WARNING",
    )

    @server.prompt(name="orchestrate", title="/orchestrate",
                   description="Deploy, ramp up, roll back or show status with Conductor "
                               "(blue-green | canary [percent] | rolling | rollback [service]).")
    def orchestrate_prompt(command: str = "") -> str:
        try:
            parsed = backend.parse(command)
        except ConductorError as exc:  # the grammar error, to the person who typed it
            raise MCPError(code=INVALID_PARAMS, message=safe_text(str(exc))) from None
        return (
            f"Run `{parsed.text}` with Conductor: call the `orchestrate` tool with command "
            f"{json.dumps(command.strip())}. Conductor will ask me to confirm anything that moves traffic. "
            "Show me its report exactly as returned, including every <conductor>…</conductor> line, then "
            "give its recommendation and the command I can type next in at most two sentences. "
            "Do not approve, ramp up or promote anything on my behalf."
        )

    @server.resource("conductor://status", name="status", title="Deployment status",
                     description="The status report (conductor.report/v1) of every configured service.",
                     mime_type="application/json")
    def status_resource() -> str:
        return json.dumps(backend.status_document(), indent=2, default=str)

    @server.resource("conductor://journal/recent", name="journal", title="Recent journal",
                     description="The last 100 journal events of the latest orchestration: every tool "
                                 "call, guard decision, approval, health check and signal.",
                     mime_type="application/json")
    def journal_resource() -> str:
        return json.dumps(backend.recent_events(), indent=2, default=str)

    @server.resource("conductor://journal/{orchestration}", name="journal-of", title="Journal of one orchestration",
                     description="The last 100 journal events of orchestration {orchestration}.",
                     mime_type="application/json")
    def journal_of(orchestration: str) -> str:
        if not orchestration.isdigit():
            raise ResourceNotFoundError(f"orchestration ids are numbers, not {orchestration!r}")
        return json.dumps(backend.recent_events(int(orchestration)), indent=2, default=str)

    return server


# -- the typed tools ---------------------------------------------------------------------------


class _Passthrough(ArgModelBase):
    """Hand the raw arguments to the guarded executor, which validates them with the tool's own
    pydantic model and journals invalid calls like any other; the MCP layer must not reject or
    coerce them first with a schema of its own."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def annotations_for(spec: toolbox.Tool) -> ToolAnnotations:
    """Honest hints from the tool's own spec: what changes the world says so."""
    return ToolAnnotations(
        title=spec.name.replace("_", " ").capitalize(),
        read_only_hint=not spec.mutating,
        destructive_hint=spec.mutating,
        idempotent_hint=spec.idempotent if spec.mutating else None,
        open_world_hint=False,
    )


def _typed_tool(backend: McpBackend, spec: toolbox.Tool) -> Tool:
    def call(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        return _as_call_result(backend.call_tool(spec.name, arguments, _progress(ctx)))

    note = (" Acts on the orchestration in flight; guards may refuse, with the reason."
            if spec.mutating else "")
    if spec.waits:
        note = " Lets time pass; meanwhile the watchdog still guards traffic and may roll back."
    annotations = annotations_for(spec)
    return Tool(
        fn=call,
        name=spec.name,
        title=annotations.title,
        description=spec.description + note,
        parameters=spec.json_schema(),
        fn_metadata=FuncMetadata(arg_model=_Passthrough),
        is_async=False,
        context_kwarg="ctx",
        annotations=annotations,
    )


def _progress(ctx: Context) -> ProgressSink:
    """Waits (health intervals, the bake) as MCP progress notifications, so a client sees a long
    call advance instead of timing out; sent only when the client asked for progress."""

    def report(label: str, done: float, total: float) -> None:
        with contextlib.suppress(Exception):  # progress is a courtesy; it must never fail a deployment
            anyio.from_thread.run(ctx.report_progress, done, total, label)

    return report


def _as_call_result(result: ToolResult) -> CallToolResult:
    """Refusals and errors are tool errors (``is_error``) whose text carries the reason. The
    message and data may quote the platform or an API: made safe like every output."""
    data = safe_data(result.to_dict())
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(data, sort_keys=True, default=str))],
        structured_content=data,
        is_error=result.is_error,
    )


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=safe_text(message))], is_error=True)


# -- orchestrate: whole commands, approved by a person -------------------------------------------


def _orchestrate_tool(settings: ServerSettings) -> Any:
    """The ``orchestrate`` tool: two resolvers run before its body (once per call, shared), so the
    body knows the exact question the person saw and what they answered."""
    backend = settings.backend

    def plan(command: str, dry_run: bool) -> Planned:
        try:
            return Planned(question=backend.approval_question(command, dry_run))
        except ConductorError as exc:
            return Planned(question=None, error=safe_text(str(exc)))

    def ask_the_person(planned: Annotated[Planned, Resolve(plan)], ctx: Context) -> Elicit[PersonApproval] | NoQuestion:
        return _ask(settings, planned, ctx)

    def orchestrate(
        planned: Annotated[Planned, Resolve(plan)],
        answer: Annotated[ElicitationResult[PersonApproval], Resolve(ask_the_person)],
        ctx: Context,
        command: str = "",
        dry_run: bool = False,
    ) -> CallToolResult:
        typed = " ".join(w for w in command.split() if w not in ("/orchestrate", "orchestrate"))
        decide = _decider(planned, answer, f"`{command}`", _CANNOT_ASK.format(command=typed, question="{question}"))
        try:
            result = backend.orchestrate(command, dry_run, decide, _progress(ctx))
        except ConductorError as exc:
            return _error(f"conductor: {exc}")
        return _report_result(result)

    return orchestrate


def _ask(settings: ServerSettings, planned: Planned, ctx: Context) -> Elicit[PersonApproval] | NoQuestion:
    """The form shown to the person, or why none is (the same for every approving tool)."""
    if planned.error is not None:
        return NoQuestion(why="invalid")  # the body reports the error; nobody is asked
    if planned.question is None:
        return NoQuestion(why="not_needed")
    if settings.approvals == "trust-client":
        return NoQuestion(why="trusted_client")
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return NoQuestion(why="cannot_ask")
    return Elicit(f"Conductor asks for your approval. {planned.question}. Approve?", PersonApproval)


def _decider(planned: Planned, answer: Any, what: str, cannot_ask: str) -> Callable[[str], str]:
    """The backend's ``decide``: the approving person, if the person approved exactly the question
    asked now (``cannot_ask`` is the refusal for a client without forms; ``{question}`` in it is
    filled in)."""
    given = answer.data if isinstance(answer, AcceptedElicitation) else None

    def decide(question: str) -> str:
        if question != planned.question:
            raise NotApproved(f"what {what} would approve changed while you were being asked "
                              f"(now: {question}); nothing was changed. Run it again to be asked anew.")
        if isinstance(given, NoQuestion) and given.why == "trusted_client":
            return PERSON_VIA_CLIENT
        if isinstance(given, PersonApproval) and given.approve:
            return PERSON_VIA_FORM
        if isinstance(given, NoQuestion) and given.why == "cannot_ask":
            raise NotApproved(cannot_ask.replace("{question}", question))
        raise NotApproved(f"not approved by the person ({question}); nothing was changed")

    return decide


def _report_result(result: Any) -> CallToolResult:
    """The report, its suggested commands in this front end's words (the `orchestrate` tool with
    `canary 25`, :mod:`conductor.frontends.phrasing`); the structured document stays the engine's."""
    return CallToolResult(
        content=[TextContent(type="text", text=for_mcp(result.report))],
        structured_content=result.data,
        is_error=result.exit_code == EXIT_ERROR,
    )


# -- the day-to-day verbs: promote_release, abort_release, ... -----------------------------------
#
# Named <verb>_release because the agent's own tool `promote` (retire the old version after the bake)
# is already listed with another meaning. promote, resume and undo move traffic forward, so, like
# `orchestrate`, they run only once a person approved the exact question; abort and pause only hold
# or take traffic back and never wait for anyone.

_VERB_HINT = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False,
                             open_world_hint=False)


def _verb_tools(settings: ServerSettings) -> list[Tool]:
    backend = settings.backend

    def cannot_ask(cli: str) -> str:
        return (f"`{cli}` is an approval ({{question}}), and this MCP client cannot ask you to confirm it (it does "
                f"not support elicitation forms). Run `{cli}` yourself in a terminal, or ask the operator for "
                "`conductor mcp --trust-client-approval` if this client shows you every tool call first.")

    def planned(verb: str, **options: Any) -> Planned:
        try:
            return Planned(question=backend.verb_question(verb, **options))
        except ConductorError as exc:
            return Planned(question=None, error=safe_text(str(exc)))

    def run(verb: str, plan: Planned, answer: Any, cli: str, ctx: Context, **options: Any) -> CallToolResult:
        if plan.error is not None:
            return _error(f"conductor: {plan.error}")
        decide = _decider(plan, answer, f"`{cli}`", cannot_ask(cli))
        try:
            return _report_result(backend.run_verb(verb, decide, _progress(ctx), **options))
        except ConductorError as exc:
            return _error(f"conductor: {exc}")

    def plan_promote(service: str, full: bool) -> Planned:
        return planned("promote", service=service or None, full=full)

    def ask_promote(plan: Annotated[Planned, Resolve(plan_promote)],
                    ctx: Context) -> Elicit[PersonApproval] | NoQuestion:
        return _ask(settings, plan, ctx)

    def promote_release(plan: Annotated[Planned, Resolve(plan_promote)],
                        answer: Annotated[ElicitationResult[PersonApproval], Resolve(ask_promote)],
                        ctx: Context, service: str = "", full: bool = False) -> CallToolResult:
        cli = "conductor promote" + (f" {service}" if service else "") + (" --full" if full else "")
        return run("promote", plan, answer, cli, ctx, service=service or None, full=full)

    def plan_resume() -> Planned:
        return planned("resume")

    def ask_resume(plan: Annotated[Planned, Resolve(plan_resume)], ctx: Context) -> Elicit[PersonApproval] | NoQuestion:
        return _ask(settings, plan, ctx)

    def resume_release(plan: Annotated[Planned, Resolve(plan_resume)],
                       answer: Annotated[ElicitationResult[PersonApproval], Resolve(ask_resume)],
                       ctx: Context) -> CallToolResult:
        return run("resume", plan, answer, "conductor resume", ctx)

    def plan_undo(service: str, to_revision: int | None, dry_run: bool) -> Planned:
        return planned("undo", service=service or None, to_revision=to_revision, dry_run=dry_run)

    def ask_undo(plan: Annotated[Planned, Resolve(plan_undo)], ctx: Context) -> Elicit[PersonApproval] | NoQuestion:
        return _ask(settings, plan, ctx)

    def undo_release(plan: Annotated[Planned, Resolve(plan_undo)],
                     answer: Annotated[ElicitationResult[PersonApproval], Resolve(ask_undo)],
                     ctx: Context, service: str = "", to_revision: int | None = None,
                     dry_run: bool = False) -> CallToolResult:
        cli = ("conductor undo" + (f" {service}" if service else "")
               + (f" --to-revision {to_revision}" if to_revision is not None else ""))
        return run("undo", plan, answer, cli, ctx, service=service or None, to_revision=to_revision,
                   dry_run=dry_run)

    def abort_release(service: str = "", reason: str = "", dry_run: bool = False) -> CallToolResult:
        try:
            return _report_result(backend.run_verb("abort", _no_decision, service=service or None, reason=reason,
                                                   dry_run=dry_run))
        except ConductorError as exc:
            return _error(f"conductor: {exc}")

    def pause_release(reason: str = "") -> CallToolResult:
        try:
            return _report_result(backend.run_verb("pause", _no_decision, reason=reason))
        except ConductorError as exc:
            return _error(f"conductor: {exc}")

    def release_history(service: str = "", limit: int = 20) -> CallToolResult:
        try:
            records = backend.history(service or None, limit=limit)
        except ConductorError as exc:
            return _error(f"conductor: {exc}")
        data = safe_data({"schema": "conductor.history/v1", "releases": records})
        return CallToolResult(content=[TextContent(type="text", text=json.dumps(data, default=str))],
                              structured_content=data, is_error=False)

    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
    table: list[tuple[Any, str, str, ToolAnnotations]] = [
        (promote_release, "Promote the release in flight",
         "Approve the next canary step of the release in flight and carry it there (= `/orchestrate canary`); "
         "service: that service only; full: straight to 100% (= `canary 100`) once the judge cleared the step "
         "in flight, the bake still run. On blue-green/rolling: the switch. Resumes a paused release. The user "
         "is asked to confirm.", _VERB_HINT),
        (abort_release, "Abort the release in flight",
         "Roll back the release in flight (the one holding service, all of it) and keep it marked aborted, "
         "with reason. Never refused, never waits for a run.", _VERB_HINT),
        (pause_release, "Pause the release in flight",
         "Hold every release in flight where it is: no deploy, no more traffic, no promotion until a person "
         "resumes or promotes it. The watchdog and rollback go on.", _VERB_HINT),
        (resume_release, "Resume a paused release",
         "Lift a pause and carry the release on under the approvals it already has. The user is asked to "
         "confirm.", _VERB_HINT),
        (undo_release, "Undo a completed release",
         "Take back a completed release: a blue-green to the previous version (to_revision: the versions "
         "release #N completed), instant while the old color is still warm, judged and baked either way. "
         "dry_run shows the plan. The user is asked to confirm.", _VERB_HINT),
        (release_history, "Release history",
         "The releases, newest first: changes, who approved what and when, outcome, aborts and undos "
         "(conductor.history/v1).", read_only),
    ]
    tools = []
    for fn, title, description, hints in table:
        tools.append(Tool.from_function(fn, name=fn.__name__, title=title, description=description,
                                        annotations=hints.model_copy(update={"title": title})))
    return tools


def _no_decision(question: str) -> str:
    raise NotApproved(f"abort and pause never need an approval; asked {question!r}")  # pragma: no cover


# -- streamable HTTP on loopback ------------------------------------------------------------------


def serve_http(server: MCPServer, host: str, port: int, token: str) -> None:
    """Serve ``server`` at ``http://host:port/mcp`` to clients that send ``Bearer <token>``.

    Loopback is not enough on a shared machine: any local user could connect, and the client
    that connects is the one that answers the approval form. The token makes the caller someone
    the operator handed it to.
    """
    import uvicorn

    app = server.streamable_http_app(host=host)
    expected = f"Bearer {token}".encode()

    async def require_token(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": b"conductor: missing or wrong bearer token\n"})
                return
        await app(scope, receive, send)

    uvicorn.Server(uvicorn.Config(require_token, host=host, port=port, log_level="warning")).run()


_CANNOT_ASK = (
    "`{command}` is an approval ({question}), and this MCP client cannot ask you to confirm it "
    "(it does not support elicitation forms), so Conductor will not take it from a tool call. "
    "Approve it yourself from a terminal with `conductor orchestrate {command}` (or `/orchestrate {command}` "
    "in Claude Code). If this client shows you every tool call before running it, the operator can "
    "start the server with `conductor mcp --trust-client-approval` instead."
)

__all__ = ["PERSON_VIA_CLIENT", "PERSON_VIA_FORM", "ApprovalMode", "ServerSettings", "annotations_for",
           "build_server", "serve_http"]
