"""The MCP server, driven by the mcp package's own client.

The contract scenarios (tools and annotations, check_health, a guard's refusal, a malformed call,
a full canary, HTTP) run `python -m conductor mcp` as a subprocess in a workspace with a simulated
platform, the way Claude Code or any MCP host starts it; the approval policies also run in process.
The client's elicitation callback plays the person: it records each question and answers it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
import jsonschema  # type: ignore[import-untyped]
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, TextContent

from conductor.errors import UsageError
from conductor.frontends.mcp.backend import McpBackend, NotApproved
from conductor.frontends.mcp.server import ApprovalMode, ServerSettings, build_server
from conductor.schema import Report, report_json_schema
from conductor.toolbox import TOOLS
from tests.conftest import Workspace

Scenario = Callable[[Client], Awaitable[None]]


class Person:
    """Answers the server's approval forms in turn: "yes", "no", "decline" or "cancel"."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.questions.append(params.message)
        answer = self.answers[min(len(self.questions), len(self.answers)) - 1] if self.answers else "yes"
        if answer in ("yes", "no"):
            return ElicitResult(action="accept", content={"approve": answer == "yes"})
        return ElicitResult(action="decline" if answer == "decline" else "cancel")


def serve(workspace: Workspace, scenario: Scenario, person: Person | None, *flags: str) -> None:
    """Start `conductor mcp` in the workspace and run ``scenario`` against it."""
    # The SDK's default environment for the child carries no ANTHROPIC_API_KEY: the policy brain.
    params = StdioServerParameters(command=sys.executable, args=["-m", "conductor", "mcp", *flags],
                                   cwd=str(workspace.root))

    async def main() -> None:
        with anyio.fail_after(60):
            async with Client(params, elicitation_callback=person) as client:
                await scenario(client)

    try:
        anyio.run(main)
    except BaseExceptionGroup as group:  # show the failing assertion, not the task groups around it
        raise _innermost(group) from None


def in_process(workspace: Workspace, scenario: Scenario, person: Person | None,
               approvals: ApprovalMode = "elicit") -> None:
    """The same server in this process (no stdio): for the approval policies, quickly."""
    server = build_server(ServerSettings(McpBackend(workspace.config_path), approvals=approvals))

    async def main() -> None:
        with anyio.fail_after(60):
            async with Client(server, elicitation_callback=person) as client:
                await scenario(client)

    try:
        anyio.run(main)
    except BaseExceptionGroup as group:
        raise _innermost(group) from None


def _innermost(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def test_lists_the_agents_tools_with_their_schemas_and_honest_annotations(workspace: Workspace) -> None:
    async def scenario(client: Client) -> None:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        verbs = {"promote_release", "abort_release", "pause_release", "resume_release", "undo_release",
                 "release_history"}
        assert set(tools) == {*TOOLS, "orchestrate", *verbs}
        assert [t.name for t in (await client.list_tools()).tools][-len(verbs):] == [  # a fixed order
            "promote_release", "abort_release", "pause_release", "resume_release", "undo_release", "release_history"]
        assert tools["release_history"].annotations.read_only_hint is True  # type: ignore[union-attr]
        for name, spec in TOOLS.items():
            tool, hints = tools[name], tools[name].annotations
            assert tool.input_schema == spec.json_schema()  # the very schema the brain sees
            assert hints is not None
            assert hints.read_only_hint is (not spec.mutating)
            assert hints.destructive_hint is spec.mutating
        for name in ("get_status", "check_health"):
            assert tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]
        for name in ("deploy", "shift_traffic", "promote", "rollback", "update_instances"):
            assert tools[name].annotations.destructive_hint is True  # type: ignore[union-attr]
        assert tools["rollback"].annotations.idempotent_hint is True  # type: ignore[union-attr]
        orchestrate = tools["orchestrate"]
        assert orchestrate.annotations is not None and orchestrate.annotations.destructive_hint is True
        assert orchestrate.output_schema == report_json_schema()
        assert set(orchestrate.input_schema["properties"]) == {"command", "dry_run"}
        prompts = (await client.list_prompts()).prompts
        assert [p.name for p in prompts] == ["orchestrate"]
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert uris == {"conductor://status", "conductor://journal/recent"}

    serve(workspace, scenario, Person("yes"))


def test_guards_refuse_an_unapproved_ramp_and_malformed_calls_come_back_as_errors(workspace: Workspace) -> None:
    person = Person("yes")

    async def scenario(client: Client) -> None:
        idle = await client.call_tool("check_health", {"service": "api"})
        assert idle.is_error and "no orchestration is in flight" in text(idle)

        started = await client.call_tool("orchestrate", {"command": "canary 10"})
        assert not started.is_error, text(started)
        assert started.structured_content is not None
        assert started.structured_content["status"] == "awaiting_approval"

        seen: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total, message))

        health = await client.call_tool("check_health", {"service": "api"}, progress_callback=on_progress)
        assert not health.is_error, text(health)
        assert json.loads(text(health))["status"] == "ok"
        assert seen == [(10.0, 10.0, "observing api")]  # one healthCheckInterval, reported as it passed

        refused = await client.call_tool("shift_traffic", {"service": "api", "percent": 50})
        assert refused.is_error
        assert refused.structured_content == json.loads(text(refused))
        assert refused.structured_content["status"] == "refused"
        assert "50% needs a person's approval (approved so far: 10%)" in refused.structured_content["message"]

        malformed = await client.call_tool("shift_traffic", {"service": "api", "percent": "fifty", "force": True})
        assert malformed.is_error
        assert "invalid arguments for shift_traffic" in text(malformed)
        assert "percent" in text(malformed) and "force" in text(malformed)

        unknown = await client.call_tool("delete_cluster", {})
        assert unknown.is_error and "delete_cluster" in text(unknown)

        grammar = await client.call_tool("orchestrate", {"command": "canary 1000"})
        assert grammar.is_error and "percent must be from 1 to 100" in text(grammar)

    serve(workspace, scenario, person)
    assert len(person.questions) == 1 and "Start `/orchestrate canary 10`" in person.questions[0]
    calls = [e for e in workspace.journal_events("tool_call") if e.actor == "mcp-client"]
    decisions = [(e.data["tool"], e.data["decision"]) for e in calls]
    assert ("shift_traffic", "refused") in decisions and ("shift_traffic", "invalid") in decisions
    shifts = workspace.journal_events("traffic_shifted")
    assert max(e.data["weights"]["green"] for e in shifts) == 10  # the refused 50% never happened


def test_a_full_canary_through_orchestrate_is_approved_by_the_person_at_each_step(workspace: Workspace) -> None:
    person = Person("yes")
    reports: list[dict[str, Any]] = []

    async def scenario(client: Client) -> None:
        for command in ("canary 10", "canary 100"):
            result = await client.call_tool("orchestrate", {"command": command})
            assert not result.is_error, text(result)
            assert result.structured_content is not None
            reports.append(result.structured_content)
        assert "<conductor>DEPLOYED:api,web,worker</conductor>" in text(result)
        status = await client.read_resource("conductor://status")
        reports.append(json.loads(status.contents[0].text))  # type: ignore[union-attr]
        journal = await client.read_resource("conductor://journal/recent")
        kinds = [e["kind"] for e in json.loads(journal.contents[0].text)]  # type: ignore[union-attr]
        assert "orchestration_ended" in kinds and "signal" in kinds
        prompt = await client.get_prompt("orchestrate", {"command": "rollback api"})
        assert "`/orchestrate rollback api`" in prompt.messages[0].content.text  # type: ignore[union-attr]

    serve(workspace, scenario, person)
    assert [r["status"] for r in reports] == ["awaiting_approval", "complete", "complete"]
    assert reports[1]["signals"][0]["text"] == "<conductor>DEPLOYED:api,web,worker</conductor>"
    for report in reports:
        jsonschema.validate(report, report_json_schema())
        Report.model_validate(report)
    assert "from 10% to 100%" in person.questions[1]
    approvals = workspace.journal_events("approval_granted")
    assert [(e.actor, e.data["percent"]) for e in approvals] == [("person:mcp", 10), ("person:mcp", 100)]


def test_without_the_persons_yes_nothing_changes(workspace: Workspace) -> None:
    person = Person("no", "decline", "cancel")

    async def scenario(client: Client) -> None:
        for _ in person.answers:
            result = await client.call_tool("orchestrate", {"command": "blue-green"})
            assert result.is_error and "not approved by the person" in text(result), text(result)
        dry = await client.call_tool("orchestrate", {"command": "blue-green", "dry_run": True})
        assert not dry.is_error and "dry run: nothing changed" in text(dry)

    in_process(workspace, scenario, person)
    assert len(person.questions) == 3  # the dry run asked nobody
    assert workspace.journal_events() == []  # no start, no approval, no deploy: nothing at all


def test_a_client_that_cannot_ask_cannot_approve_but_can_roll_back(workspace: Workspace) -> None:
    async def scenario(client: Client) -> None:
        refused = await client.call_tool("orchestrate", {"command": "canary 10"})
        assert refused.is_error
        assert "cannot ask you to confirm" in text(refused)
        assert "conductor orchestrate canary 10" in text(refused)
        rollback = await client.call_tool("orchestrate", {"command": "rollback"})
        assert not rollback.is_error and "nothing to roll back" in text(rollback)

    in_process(workspace, scenario, None)
    assert not workspace.journal_events("approval_granted")


def test_trusting_the_clients_own_confirmation_is_an_explicit_choice(workspace: Workspace) -> None:
    async def scenario(client: Client) -> None:
        result = await client.call_tool("orchestrate", {"command": "canary 10"})
        assert not result.is_error, text(result)

    in_process(workspace, scenario, None, approvals="trust-client")
    approvals = workspace.journal_events("approval_granted")
    assert [(e.actor, e.data["percent"]) for e in approvals] == [("person:mcp-client", 10)]


def test_http_serves_on_loopback_to_token_holders_only(workspace: Workspace) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    env = {**os.environ, "CONDUCTOR_MCP_TOKEN": "test-token"}
    server = subprocess.Popen([sys.executable, "-m", "conductor", "mcp", "--http", "--port", str(port)],
                              cwd=workspace.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                anonymous = httpx2.post(url, json={}, timeout=2)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "conductor mcp --http did not start"
                time.sleep(0.1)
        assert anonymous.status_code == 401

        async def main() -> None:
            http = httpx2.AsyncClient(headers={"Authorization": "Bearer test-token"})
            async with http, Client(streamable_http_client(url, http_client=http)) as client:
                status = await client.call_tool("orchestrate", {"command": ""})
                assert not status.is_error and status.structured_content is not None
                assert status.structured_content["status"] == "idle"

        anyio.run(main)
    finally:
        server.terminate()
        server.wait(timeout=10)


# -- the backend without a transport: quick checks of what the server decides ---------------------


def test_the_approval_question_says_exactly_what_would_be_approved(workspace: Workspace) -> None:
    backend = McpBackend(workspace.config_path)
    assert backend.approval_question("") is None
    assert backend.approval_question("rollback api") is None
    assert backend.approval_question("canary 10", dry_run=True) is None
    start = backend.approval_question("canary 10")
    assert start is not None and start.startswith("Start `/orchestrate canary 10`: api: deploy v1.1.0 beside v1.0.0")
    backend.orchestrate("canary 10", False, lambda question: "person:test")
    assert backend.approval_question("canary") == (
        "Ramp up canary #1 of api, web, worker from 10% to 25% of traffic on the new version (`/orchestrate canary`)"
    )
    with pytest.raises(UsageError, match="in flight"):
        backend.approval_question("blue-green")  # raised before anyone is asked


def test_a_refusing_decision_changes_nothing_and_a_busy_server_says_so(workspace: Workspace) -> None:
    backend = McpBackend(workspace.config_path, busy_wait=0.05)

    def no(question: str) -> str:
        raise NotApproved(f"not approved by the person ({question})")

    with pytest.raises(NotApproved):
        backend.orchestrate("blue-green", False, no)
    assert workspace.journal_events() == []
    backend._acting.acquire()  # another call of this server is running (a long bake, say)
    try:
        busy = backend.call_tool("shift_traffic", {"service": "api", "percent": 25})
        assert busy.status == "refused" and "already running a command" in busy.message
        assert backend.call_tool("get_status", {}).status == "ok"  # reads never wait
        rollback = backend.call_tool("rollback", {"service": "api"})  # nor does a rollback
        assert rollback.message.startswith("no orchestration is in flight")
        assert "nothing to roll back" in backend.orchestrate("rollback", False, lambda q: "nobody").report
    finally:
        backend._acting.release()
    assert backend.call_tool("deploy", {"service": ["api"]}).message.startswith("no orchestration is in flight")


def test_prompt_and_resource_errors_reach_the_client(workspace: Workspace) -> None:
    server = build_server(ServerSettings(McpBackend(workspace.config_path)))

    async def main() -> None:
        async with Client(server) as client:  # in process: the same handlers, no subprocess
            with pytest.raises(MCPError, match="percent must be a whole number"):
                await client.get_prompt("orchestrate", {"command": "canary lots"})
            with pytest.raises(MCPError, match="orchestration ids are numbers"):
                await client.read_resource("conductor://journal/latest")
            empty = await client.read_resource("conductor://journal/recent")
            assert json.loads(empty.contents[0].text) == []  # type: ignore[union-attr]

    anyio.run(main)


def test_http_is_for_loopback_only(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    result = workspace.cli(capsys, "mcp", "--http", "--host", "0.0.0.0")
    assert result.code == 2 and "loopback only" in result.err


def _stdin_then_eof(workspace: Workspace, *calls: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    """``conductor mcp`` given the handshake and ``calls`` on stdin, which then ends at once (a
    client that sent its request and went away): the answers it wrote, by id."""
    lines = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "gone", "version": "1"}}},
             {"jsonrpc": "2.0", "method": "notifications/initialized"}, *calls]
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run([sys.executable, "-m", "conductor", "mcp"], cwd=workspace.root, env=env, timeout=60,
                          input="".join(json.dumps(line) + "\n" for line in lines), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {m.get("id"): m for m in map(json.loads, done.stdout.splitlines()) if "id" in m}


@pytest.mark.parametrize("call", [
    {"name": "orchestrate", "arguments": {"command": "rollback"}},
    {"name": "orchestrate", "arguments": {"command": "/orchestrate rollback api"}},
    {"name": "abort_release", "arguments": {"reason": "client went away"}},
    {"name": "rollback", "arguments": {"service": "api"}},
], ids=["orchestrate-rollback", "orchestrate-rollback-service", "abort_release", "typed-rollback"])
def test_a_rollback_is_carried_out_when_the_clients_input_ends_right_after_it(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], call: dict[str, Any]
) -> None:
    """The SDK cancels what is in flight at the end of stdin; a rollback must not be among it, nor
    be cancelled by the client (`notifications/cancelled` for it is dropped)."""
    workspace.write_config({"orchestration": {"strategy": "canary", "services": ["api"], "healthCheckInterval": 10,
                                              "bakeTime": 60}, "release": {"api": "v1.1.0"}})
    assert workspace.cli(capsys, "orchestrate", "canary", "10").code == 0  # awaiting approval at 10%
    answers = _stdin_then_eof(workspace, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call},
                              {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}})
    assert "result" in answers[3], answers[3]  # not "Connection closed"
    assert [e.service for e in workspace.journal_events("rolled_back")] == ["api"]


def test_a_ramp_cut_off_by_the_end_of_input_changes_nothing(workspace: Workspace,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Only restoring calls outlive the connection: an approval from a client already gone is
    dropped (it could not have answered the form)."""
    workspace.write_config({"orchestration": {"strategy": "canary", "services": ["api"], "healthCheckInterval": 10,
                                              "bakeTime": 60}, "release": {"api": "v1.1.0"}})
    assert workspace.cli(capsys, "orchestrate", "canary", "10").code == 0
    _stdin_then_eof(workspace, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                "params": {"name": "orchestrate", "arguments": {"command": "canary 25"}}})
    assert [e.data["percent"] for e in workspace.journal_events("approval_granted")] == [10]
    assert not workspace.journal_events("rolled_back")
