"""`--json` output against its published schema (conductor/schemas/report.schema.json, conductor.report/v1).

Real output of every kind of command is validated twice: by ``jsonschema`` against the file a
consumer would use, and by the strict pydantic models, which also fail when the engine emits a
key the schema does not document yet (regenerate with ``python -m conductor.schema``).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from conductor.schema import SCHEMA_PATH, Report, render_schema, report_json_schema
from tests.conftest import Workspace, release_config


def test_the_schema_file_is_generated_from_the_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), "run `python -m conductor.schema`"
    jsonschema.Draft202012Validator.check_schema(report_json_schema())


def json_runs(workspace: Workspace, capsys: pytest.CaptureFixture[str], *commands: str) -> list[dict[str, Any]]:
    documents = []
    for command in commands:
        result = workspace.cli(capsys, "orchestrate", *command.split(), "--json")
        assert result.err == "" or result.code != 2, result.err
        document = result.json()
        assert document["exit_code"] == result.code
        documents.append(document)
    return documents


def assert_valid(documents: list[dict[str, Any]]) -> None:
    schema = report_json_schema()
    for document in documents:
        jsonschema.validate(document, schema)
        Report.model_validate(document)  # strict: an undocumented key fails here


def test_status_canary_pause_approval_and_completion(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    documents = json_runs(workspace, capsys, "", "canary 10 --dry-run", "canary 10", "", "canary 100")
    assert_valid(documents)
    idle, dry, paused, status, done = documents
    assert idle["status"] == "idle" and idle["orchestration"] is None and idle["brain"] is None
    assert dry["notes"][0] == "dry run: nothing changed"
    assert paused["status"] == "awaiting_approval" and paused["usage"]["turns"] > 0
    assert status["strategy"] == "canary" and status["status"] == "awaiting_approval"
    assert done["signals"] == [{"kind": "DEPLOYED", "services": ["api", "web", "worker"], "reason": "",
                                "text": "<conductor>DEPLOYED:api,web,worker</conductor>"}]
    assert any(line["baseline"] is not None for line in done["health"] if line["metric"] == "error_rate")


def test_blue_green_and_rolling(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    (blue_green,) = json_runs(workspace, capsys, "blue-green")
    config = release_config()
    config["release"] = {"api": "v1.2.0"}
    workspace.write_config(config)
    (rolling,) = json_runs(workspace, capsys, "rolling")
    assert_valid([blue_green, rolling])
    assert blue_green["status"] == rolling["status"] == "complete"


def test_rollbacks_by_the_watchdog_and_by_request(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    config = release_config()
    config["platform"] = {"kind": "sim", "versions": {"api@v1.1.0": {"errorRate": 25}}}
    workspace.write_config(config)
    (watchdog,) = json_runs(workspace, capsys, "canary 10")
    assert watchdog["exit_code"] == 3 and watchdog["status"] == "rolled_back"
    assert watchdog["signals"][0]["kind"] == "ROLLBACK" and "above the 5% limit" in watchdog["signals"][0]["reason"]
    workspace.write_config(release_config())
    paused, manual, nothing = json_runs(workspace, capsys, "canary 10 --retry", "rollback web", "rollback web")
    assert manual["signals"][0]["text"] == "<conductor>ROLLBACK:web:manual</conductor>"
    assert nothing["strategy"] in ("canary", "rollback")
    assert_valid([watchdog, paused, manual, nothing])


def test_documents_round_trip_through_the_models(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    (document,) = json_runs(workspace, capsys, "canary 10")
    report = Report.model_validate(document)
    assert report.schema_ == "conductor.report/v1"
    assert json.loads(report.model_dump_json(by_alias=True, exclude_unset=True)) == document
