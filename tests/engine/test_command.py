"""The spec's grammar: accepted forms, and every bad form rejected with exit 2 and nothing changed."""

from __future__ import annotations

import pytest

from conductor.command import Command, parse_command
from conductor.errors import UsageError
from tests.conftest import Workspace

SERVICES = ["api", "web", "worker"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/orchestrate", Command("status")),
        ("/orchestrate blue-green", Command("blue-green")),
        ("/orchestrate canary", Command("canary")),
        ("/orchestrate canary 10", Command("canary", percent=10)),
        ("canary 100", Command("canary", percent=100)),
        ("/orchestrate rolling", Command("rolling")),
        ("/orchestrate rollback", Command("rollback")),
        ("/orchestrate rollback api", Command("rollback", service="api")),
    ],
)
def test_grammar_accepts_the_spec_forms(text: str, expected: Command) -> None:
    assert parse_command(text, SERVICES) == expected
    assert parse_command(expected.text, SERVICES) == expected


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["canary", "0"], "from 1 to 100, got 0"),
        (["canary", "101"], "from 1 to 100, got 101"),
        (["canary", "12.5"], "whole number"),
        (["canary", "ten"], "whole number"),
        (["rollback", "no-such-service"], "unknown service 'no-such-service'"),
        (["blue-green", "now"], "unexpected extra words: now"),
        (["canary", "10", "20"], "unexpected extra words: 20"),
        (["bluegreen"], 'did you mean "blue-green"'),
    ],
)
def test_bad_grammar_exits_2_and_changes_nothing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], words: list[str], message: str
) -> None:
    before = workspace.state_files()
    result = workspace.cli(capsys, "orchestrate", *words)
    assert result.code == 2
    assert message in result.err
    assert workspace.state_files() == before
    with pytest.raises(UsageError):
        parse_command(["/orchestrate", *words], SERVICES)


def test_json_errors_are_documents_too(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    result = workspace.cli(capsys, "orchestrate", "canary", "ten", "--json")
    assert result.code == 2
    document = result.json()
    assert document["schema"] == "conductor.error/v1" and document["exit_code"] == 2
    assert "whole number" in document["error"] and document["kind"] == "UsageError"
