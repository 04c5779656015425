"""The day-to-day verbs over MCP (promote_release, abort_release, pause_release, resume_release,
undo_release, release_history), driven by the mcp package's own client against the server in
process. The client's elicitation callback plays the person: verbs that move traffic forward
run only after a yes to the exact question; abort and pause never ask."""

from __future__ import annotations

from mcp import Client

from conductor import Conductor
from tests.conftest import Workspace, release_config
from tests.test_mcp import Person, in_process, text


def test_promote_asks_the_person_then_moves_the_release(workspace: Workspace) -> None:
    person = Person("yes", "no", "yes")

    async def scenario(client: Client) -> None:
        nothing = await client.call_tool("promote_release", {})
        assert nothing.is_error and "nothing in flight to promote" in text(nothing)
        started = await client.call_tool("orchestrate", {"command": "canary 5"})
        assert not started.is_error, text(started)
        refused = await client.call_tool("promote_release", {"service": "api"})
        assert refused.is_error and "not approved by the person" in text(refused)
        step = await client.call_tool("promote_release", {"service": "api"})
        assert not step.is_error, text(step)
        rows = {r["service"]: r["new_version_percent"] for r in (step.structured_content or {})["services"]}
        assert rows == {"api": 25, "web": 5, "worker": 5}

    in_process(workspace, scenario, person)
    assert "of api (only) from 5% to 25%" in person.questions[2]
    approvals = [(e.actor, e.service, e.data["percent"]) for e in workspace.journal_events("approval_granted")]
    assert approvals == [("person:mcp", None, 5), ("person:mcp", "api", 25)]


def test_pause_and_abort_need_nobody_and_resume_needs_a_person(workspace: Workspace) -> None:
    person = Person("yes")

    async def scenario(client: Client) -> None:
        await client.call_tool("orchestrate", {"command": "canary 5"})
        asked = len(person.questions)
        paused = await client.call_tool("pause_release", {"reason": "a graph looks odd"})
        assert not paused.is_error and "paused orchestration #1" in text(paused)
        assert len(person.questions) == asked  # holding a release asks nobody
        resumed = await client.call_tool("resume_release", {})
        assert not resumed.is_error, text(resumed)
        assert len(person.questions) == asked + 1 and "Resume orchestration #1" in person.questions[-1]
        aborted = await client.call_tool("abort_release", {"reason": "wrong build"})
        assert not aborted.is_error and "<conductor>ROLLBACK:api:aborted by mcp-client: wrong build" in text(aborted)
        history = await client.call_tool("release_history", {})
        [record] = (history.structured_content or {})["releases"]
        assert record["aborted"] == {"actor": "mcp-client", "reason": "wrong build"}

    in_process(workspace, scenario, person)
    assert [e.actor for e in workspace.journal_events("release_paused")] == ["mcp-client"]
    assert [e.actor for e in workspace.journal_events("release_resumed")] == ["person:mcp"]


def test_undo_over_mcp_is_approved_like_a_release(workspace: Workspace) -> None:
    workspace.write_config(release_config(scaleDownDelay=600))
    person = Person("yes")

    async def scenario(client: Client) -> None:
        await client.call_tool("orchestrate", {"command": "blue-green"})
        dry = await client.call_tool("undo_release", {"service": "api", "dry_run": True})
        assert not dry.is_error and "dry run: nothing changed" in text(dry)
        asked = len(person.questions)
        undone = await client.call_tool("undo_release", {"service": "api"})
        assert not undone.is_error, text(undone)
        assert len(person.questions) == asked + 1
        assert "api → v1.0.0" in person.questions[-1] and "the flip is instant" in person.questions[-1]

    in_process(workspace, scenario, person)
    approvals = workspace.journal_events("approval_granted")
    assert [(e.actor, e.data["via"]) for e in approvals][-1] == ("person:mcp", "undo of #1")


def test_a_client_that_cannot_ask_cannot_promote_but_can_abort(workspace: Workspace) -> None:
    conductor = Conductor.from_config(workspace.config_path)
    try:
        conductor.run("canary 5", actor="person:cli")
    finally:
        conductor.close()

    async def scenario(client: Client) -> None:
        refused = await client.call_tool("promote_release", {"full": True})
        assert refused.is_error and "cannot ask you to confirm" in text(refused)
        assert "`conductor promote --full`" in text(refused)
        aborted = await client.call_tool("abort_release", {})
        assert not aborted.is_error and (aborted.structured_content or {})["exit_code"] == 3

    in_process(workspace, scenario, None)
    assert [e.data["percent"] for e in workspace.journal_events("approval_granted")] == [5]  # nothing approved
