"""The machine-readable report, ``conductor.report/v1``: pydantic models and the JSON Schema file.

``conductor orchestrate --json`` prints one :class:`Report`; ``Result.data`` holds the same
dictionary in Python and the MCP ``orchestrate`` tool returns it as structured content. The
models here are the documentation of that document, and ``conductor/schemas/report.schema.json``
(package data, so an installed Conductor ships it) is generated from them (never edited by hand)::

    python -m conductor.schema              # rewrite conductor/schemas/report.schema.json
    python -m conductor.schema --check      # exit 1 if the file is stale (CI)

Versioning. Consumers must ignore keys they do not know, so *adding* a key keeps ``v1`` (the
published schema therefore allows additional properties). Renaming or removing a key, or changing
the meaning or type of one, is a new major version: ``conductor.report/v2``. The models
themselves forbid unknown keys, so ``tests/test_json_schema.py`` notices the moment the engine
emits a key this file does not document.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_ID = "conductor.report/v1"
# The one copy of the published schema: inside the package, so it ships with every install.
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "report.schema.json"

Percent = Annotated[int, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ServiceRow(_Strict):
    """One row of the Status table: where a service is and where it is going."""

    service: str = Field(description="Service name from orchestration.services.")
    current: str | None = Field(description="Version serving stable traffic (None: nothing deployed yet).")
    target: str | None = Field(description="Version being released (None: no release configured).")
    status: str = Field(description='Human label, e.g. "Canary 10%", "Awaiting approval (10% → 25%)".')
    phase: str = Field(description='Machine phase: Pending, Deploying, Canary, "Awaiting approval", Baking, '
                                   'Complete, "Rolled back", Failed, ...')
    new_version_percent: Percent = Field(description="Share of traffic on the new version.")
    rollback_reason: str | None = Field(description="Why the service was rolled back, if it was.")
    failure: str | None = Field(description="Why the platform failed the service, if it did.")


class HealthLine(_Strict):
    """One health observation of the new version, with the stable baseline it was compared to."""

    service: str
    metric: Literal["verdict", "latency", "error_rate", "active_connections", "data"] = Field(
        description='"verdict": the judge\'s answer with its evidence; "data": nothing to judge (metrics unavailable).'
    )
    value: int | float | None = Field(None, description="Latency in ms, error rate in %, or a connection count.")
    baseline: float | None = Field(None, description="The same metric on the stable version (None: no baseline).")
    ok: bool = Field(description="False when this metric breached its threshold or could not be judged.")
    text: str = Field(description="The line as the markdown report shows it.")
    verdict: Literal["regression", "non_inferior", "inconclusive", "unavailable"] | None = Field(
        None, description="On the verdict line: only non_inferior is healthy."
    )
    evidence: dict[str, Any] | None = Field(
        None, description="On the verdict line: the counts, each sequential test's null values and log e-values."
    )


class SignalDoc(_Strict):
    """A spec signal as an object; ``text`` is the exact ``<conductor>…</conductor>`` line."""

    kind: Literal["DEPLOYED", "ROLLBACK"]
    services: list[str] = Field(min_length=1)
    reason: str = Field(description='Empty for DEPLOYED; one line, no markup, for ROLLBACK.')
    text: str = Field(pattern=r"^<conductor>(DEPLOYED|ROLLBACK):[^<\r\n]+</conductor>$")


class Usage(_Strict):
    """What the brain spent on this orchestration (summed over every run that continued it)."""

    turns: int = Field(ge=0, description="Brain turns so far.")
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cache_read_input_tokens: int = Field(0, ge=0)
    cache_creation_input_tokens: int = Field(0, ge=0)


class Report(_Strict):
    """The report of one ``/orchestrate`` command (schema ``conductor.report/v1``)."""

    schema_: Literal["conductor.report/v1"] = Field(alias="schema", description="Document type and version.")
    command: str = Field(description="The command in canonical spelling, e.g. /orchestrate canary 10.")
    strategy: Literal["blue-green", "canary", "rolling", "status", "rollback"]
    orchestration: int | None = Field(description="Journal id of the orchestration shown (None: none yet).")
    status: Literal[
        "idle", "running", "awaiting_approval", "complete", "rolled_back", "failed", "stopped", "refused"
    ] = Field(description='"refused": a freeze refused the command before anything changed (exit 4).')
    services: list[ServiceRow]
    health: list[HealthLine]
    instances: list[str] = Field(default_factory=list, description=(
        'Rolling only: one line per instance as the spec draws it, e.g. "api instance 1: ████████████ '
        'v1.1.0 ✓"; empty for other strategies. Added within v1, so older documents may lack it.'))
    next_steps: list[str]
    signals: list[SignalDoc] = Field(description="Signals emitted by this command, in order.")
    notes: list[str] = Field(description="Plan steps, pauses, the brain's recommendation, warnings.")
    brain: str | None = Field(description='"policy", "anthropic", "replay", or None (status only).')
    usage: Usage
    exit_code: Literal[0, 1, 3, 4] = Field(description="0 done/paused/status, 1 error, 3 rolled back, 4 refused.")


def report_json_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of :class:`Report`.

    Generated from the models, then opened up: ``additionalProperties: false`` is removed so a
    consumer validating v1 keeps working when v1 gains a key.
    """
    schema = Report.model_json_schema(by_alias=True)
    _allow_additional(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:conductor:report:v1",
        "title": "Conductor report (conductor.report/v1)",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _allow_additional(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("additionalProperties") is False:
            del node["additionalProperties"]
        for value in node.values():
            _allow_additional(value)
    elif isinstance(node, list):
        for value in node:
            _allow_additional(value)


def render_schema() -> str:
    return json.dumps(report_json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render_schema()
    if "--check" in args:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.is_file() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is stale: run `python -m conductor.schema`", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
