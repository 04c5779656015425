"""What the orchestration loop (:mod:`conductor.agent.loop`) and the question loop
(:mod:`conductor.agent.questions`) both send to the Messages API: tools in its form, and the
prompt-cache breakpoints that make a static prefix (system prompt, tool list) cost once.

Strict tool use (``strict: true`` on a definition) makes the API constrain the model's tool
name and input to the definition's JSON schema, so a malformed call cannot be produced at all.
Strict mode takes a subset of JSON Schema: every object closed (``additionalProperties:
false``), no numeric bounds (``minimum``/``maximum``…), no string lengths or non-trivial
patterns. :func:`strict_schema` therefore sends each input model's schema with those bounds
moved into the property's description (the model still reads them) and the service name as an
``enum`` of the configured services (stronger than its pattern). The dispatcher still validates
every call against the full pydantic model, so a percent of 250 — well-typed, out of range — is
refused as before: strict removes the malformed calls, the guards keep the wrong ones out.
:func:`conforms` checks a call against the strict schema, which the evals use to count how many
malformed calls strict mode would have left (``conductor eval`` prints it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from conductor.toolbox import Tool
from conductor.tools.schemas import ToolResult

CACHE = {"type": "ephemeral"}
CacheTTL = Literal["5m", "1h"]

# Keywords strict mode does not take; their meaning goes into the description instead.
_UNSUPPORTED = {"minimum": "≥ {}", "maximum": "≤ {}", "exclusiveMinimum": "> {}", "exclusiveMaximum": "< {}",
                "minLength": "at least {} characters", "maxLength": "at most {} characters",
                "pattern": "matching {}", "default": "default {!r}"}
_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                            "boolean": (bool,), "object": (dict,), "array": (list,)}


def cache_control(ttl: CacheTTL | None = None) -> dict[str, str]:
    """A breakpoint's ``cache_control``: the default 5-minute lifetime, or ``"1h"``."""
    return {**CACHE, "ttl": ttl} if ttl == "1h" else dict(CACHE)


def tool_definition(tool: Tool) -> dict[str, Any]:
    """A tool as the model sees it: the very pydantic schema the dispatcher validates against."""
    return {"name": tool.name, "description": tool.description, "input_schema": tool.json_schema()}


def strict_definition(tool: Tool, services: Sequence[str]) -> dict[str, Any]:
    """The tool with ``strict: true`` and a schema inside strict mode's subset (module docstring)."""
    return {"name": tool.name, "description": tool.description,
            "input_schema": strict_schema(tool.json_schema(), services), "strict": True}


def strict_schema(schema: dict[str, Any], services: Sequence[str]) -> dict[str, Any]:
    """``schema`` (an object of scalar properties, as every tool input is) made strict-compatible."""
    if schema.get("type") != "object" or any(k in schema for k in ("$defs", "$ref", "anyOf", "allOf")):
        raise ValueError("a strict tool input is a flat object of scalar properties")
    properties: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        spec = dict(spec)
        notes = [template.format(spec.pop(key)) for key, template in _UNSUPPORTED.items() if key in spec]
        if name == "service" and spec.get("type") == "string" and services:
            notes = [n for n in notes if not n.startswith("matching")]
            spec["enum"] = list(services)
        spec.pop("title", None)
        if notes:
            spec["description"] = "; ".join(filter(None, [spec.get("description", ""), *notes]))
        properties[name] = spec
    return {"type": "object", "properties": properties, "required": list(schema.get("required", [])),
            "additionalProperties": False}


def conforms(schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` fits a strict schema of :func:`strict_schema`'s subset (types, enums,
    required and closed objects): what a grammar-constrained model can produce."""
    kind = schema.get("type")
    if kind is not None:
        types = _JSON_TYPES.get(str(kind), ())
        if not isinstance(value, types) or (kind in ("integer", "number") and isinstance(value, bool)):
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if kind == "object":
        assert isinstance(value, dict)
        properties = schema.get("properties", {})
        if any(key not in value for key in schema.get("required", [])):
            return False
        if schema.get("additionalProperties") is False and any(key not in properties for key in value):
            return False
        return all(conforms(properties[key], item) for key, item in value.items() if key in properties)
    return True


SERIES_KEPT = 8  # a list of numbers (pairs) longer than this is a raw series: the model gets its length


def result_text(result: ToolResult) -> str:
    """A tool result as the model reads it: compact JSON, numbers to 4 significant digits, raw
    series (a latency histogram's buckets) replaced by their length. The journal keeps every
    figure; the model needs the verdicts, reasons and summary statistics, and each token of a
    tool result is paid for again as a cache write, so a 50-bucket histogram is not sent."""
    return json.dumps(_for_model(_without_state_columns(result.to_dict())), sort_keys=True, separators=(",", ":"),
                      default=str, ensure_ascii=False)


STATE_COLUMNS = ("phase", "stable_version", "target_version", "new_version_percent", "approved_percent",
                 "instances_updated", "replicas")


def _without_state_columns(result: dict[str, Any]) -> dict[str, Any]:
    """A single service's result without the columns of the live-state table, which the same user
    message carries right after the tool results (``prompts/state.md.j2``), rendered from the
    journal after the call. Sending them twice cost about 60 tokens a service on every
    ``check_health``; ``get_status`` lists several services and keeps everything."""
    data = result.get("data")
    if not isinstance(data, dict) or not {"service", "phase", "health"} <= data.keys():
        return result
    kept = {k: v for k, v in data.items() if k not in STATE_COLUMNS}
    health = kept.get("health")
    if isinstance(health, dict) and str(health.get("reason", "")) in str(result.get("message", "")):
        kept["health"] = {k: v for k, v in health.items() if k != "reason"}  # the message says it already
    return {**result, "data": kept}


def _for_model(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _evidence_for_model(v) if k == "evidence" else _for_model(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        numeric = all(isinstance(v, int | float) or (isinstance(v, list | tuple) and all(
            isinstance(x, int | float) for x in v)) for v in value)
        if numeric and len(value) > SERIES_KEPT:
            return f"({len(value)} values, omitted)"
        return [_for_model(v) for v in value]
    return value


EVIDENCE_KEPT = ("verdict", "needed_seconds")


def _evidence_for_model(evidence: Any) -> Any:
    """The judge's evidence as the model needs it: the verdict, how long until it can decide, and
    each sequential test's outcome as ``{name: outcome}``. The e-values, null rates and raw counts
    are what a person audits (the journal, the report and the dashboard keep them); they were
    three quarters of every ``check_health`` result and the model does not act on them."""
    if not isinstance(evidence, dict) or not isinstance(evidence.get("tests"), list):
        return _for_model(evidence)
    kept = {key: _for_model(evidence[key]) for key in EVIDENCE_KEPT if key in evidence}
    kept["tests"] = {str(t.get("name")): _for_model(t.get("outcome")) for t in evidence["tests"]
                     if isinstance(t, dict)}
    return kept


def cached(definitions: Iterable[dict[str, Any]], ttl: CacheTTL | None = None) -> list[dict[str, Any]]:
    """The tool list with the cache breakpoint on its last entry, which caches the whole list."""
    tools = list(definitions)
    tools[-1]["cache_control"] = cache_control(ttl)
    return tools
