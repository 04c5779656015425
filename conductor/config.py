"""`.mothership/config.json`: the user's contract, as pydantic models.

The spec's file loads unchanged; every other key is optional, camelCase like the spec, with the
default documented on its field. A bad file raises :class:`ConfigError` naming the file, the JSON
path and the problem (with the closest valid key for a typo), and nothing is touched.

Platform settings (``platform``) are validated by the model the chosen backend registers in
:mod:`conductor.platforms.registry`, so adding a backend never edits this file.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from conductor.errors import ConfigError

CONFIG_DIR = ".mothership"
CONFIG_FILE = "config.json"
SERVICE_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$"

# Identifiers that reach a platform (process arguments, Kubernetes names and labels), a metrics query
# or a signal have a documented character set (README "Identifiers"). Pydantic matches these with
# an end anchor that does not accept a trailing newline; Python code must use ``fullmatch`` (``re``'s
# ``$`` matches before a final "\n"), which :func:`is_service_name` and :func:`is_version` do.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
VERSION_TARGET_PATTERN = (  # "*", "v1.2.0" or "api@v1.2.0" (a bare service name is a version-shaped word)
    r"^(\*|[A-Za-z0-9][A-Za-z0-9._+-]{0,127}|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?@[A-Za-z0-9][A-Za-z0-9._+-]{0,127})$"
)
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$"

ServiceName = Annotated[str, Field(pattern=SERVICE_NAME_PATTERN)]
Version = Annotated[str, Field(pattern=VERSION_PATTERN)]
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN)]
VersionTarget = Annotated[str, Field(pattern=VERSION_TARGET_PATTERN)]
EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN)]


def is_service_name(text: str) -> bool:
    return re.fullmatch(SERVICE_NAME_PATTERN, text) is not None


def is_version(text: str) -> bool:
    return re.fullmatch(VERSION_PATTERN, text) is not None
Argv = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo must never be silently ignored); camelCase aliases.

    Types are strict: a JSON string is never coerced into a boolean or a number (``"no"`` would
    otherwise turn ``requireApproval`` off, ``"false"`` would be read as false, ``"10"`` as 10),
    nor a boolean or ``100.0`` into an integer. Every model of the config and of the platform
    settings derives from this class, so a new field is strict without anyone remembering it.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


class RollbackThreshold(StrictModel):
    error_rate: float = Field(5.0, alias="errorRate", ge=0, le=100, description="Max failed requests, %.")
    response_time: float = Field(1000.0, alias="responseTime", gt=0, le=600_000, description="Max latency, ms.")
    latency_percentile: Literal["p50", "p95", "p99"] = Field(
        "p95", alias="latencyPercentile", description="Which percentile responseTime is compared with."
    )


class BaselineTolerance(StrictModel):
    """The previous per-window judge's tolerances: accepted so older files load; the sequential
    judge's are under ``judge``."""

    error_rate_delta: float = Field(
        2.0, alias="errorRateDelta", ge=0, le=100, description="Percentage points above stable's error rate."
    )
    response_time_ratio: float = Field(
        1.5, alias="responseTimeRatio", ge=1,
        description="Multiple of stable's latency (plus 20 ms slack); the previous threshold judge's.",
    )


class JudgeConfig(StrictModel):
    """The sequential judge (conductor/metrics/judge.py): how sure, and how much worse is worse."""

    false_alarm_rate: float = Field(
        0.01, alias="falseAlarmRate", gt=0, le=0.2,
        description="Chance of blaming a release that is not worse, however often health is checked.",
    )
    error_rate_tolerance: float = Field(
        0.2, alias="errorRateTolerance", ge=0, le=10, description="Relative: 0.2 = worse than stable by more than 20%."
    )
    error_rate_floor: float = Field(
        0.05, alias="errorRateFloor", ge=0, le=100, description="Percentage points added to the error tolerance."
    )
    latency_tolerance: float = Field(
        0.1, alias="latencyTolerance", ge=0, le=10, description="Relative, at rollbackThreshold.latencyPercentile."
    )


class Orchestration(StrictModel):
    strategy: Literal["blue-green", "canary", "rolling"] = "blue-green"
    services: list[ServiceName] = Field(min_length=1)
    health_check_interval: float = Field(10.0, alias="healthCheckInterval", gt=0, le=3600)
    rollback_threshold: RollbackThreshold = Field(default_factory=RollbackThreshold, alias="rollbackThreshold")
    canary_steps: list[int] = Field(default_factory=lambda: [5, 25, 50, 100], alias="canarySteps")
    bake_time: float = Field(900.0, alias="bakeTime", ge=0, le=86_400, description="Seconds at 100% before retiring.")
    scale_down_delay: float = Field(
        0.0, alias="scaleDownDelay", ge=0, le=86_400,
        description="Seconds the previous color keeps running, without traffic, after a blue-green or canary "
        "completes, so `conductor undo` flips back without a deploy; 0 retires it at promotion.",
    )
    failure_limit: int = Field(
        2, alias="failureLimit", ge=1, le=100,
        description="Accepted for older files; the sequential judge rolls back at its first regression verdict.",
    )
    no_data_limit: int = Field(
        6, alias="noDataLimit", ge=1, le=1000, description="Consecutive checks without usable data before rollback."
    )
    require_approval: bool = Field(True, alias="requireApproval")
    min_requests: int = Field(20, alias="minRequests", ge=1, description="Requests a check needs to judge.")
    baseline: BaselineTolerance = Field(default_factory=BaselineTolerance)
    rolling_batch_size: int = Field(1, alias="rollingBatchSize", ge=1)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    max_step_duration: float = Field(
        1800.0, alias="maxStepDuration", gt=0, le=86_400,
        description="Seconds a canary step may stay inconclusive before it pauses for a person.",
    )
    freeze: bool = Field(False, description="Refuse every mutating action except rollback.")

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: list[str]) -> list[str]:
        duplicates = sorted({s for s in services if services.count(s) > 1})
        if duplicates:
            raise ValueError(f"duplicate service(s): {', '.join(duplicates)}")
        return services

    @field_validator("canary_steps")
    @classmethod
    def _valid_steps(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("needs at least one step")
        if any(not 1 <= s <= 100 for s in steps):
            raise ValueError("every step must be an integer percentage from 1 to 100")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("steps must increase strictly")
        if steps[-1] != 100:
            raise ValueError("the last step must be 100")
        return steps


class SmokeCheck(StrictModel):
    path: str = Field(pattern=r"^/", description="Requested on the new slot directly, before any traffic.")
    expect_status: int = Field(200, alias="expectStatus", ge=100, le=599)


class ServiceSpec(StrictModel):
    replicas: int = Field(2, ge=1, le=1000)
    depends_on: list[ServiceName] = Field(default_factory=list, alias="dependsOn")
    smoke: list[SmokeCheck] = Field(default_factory=list)


class PreDeploy(StrictModel):
    """Commands from this file only (argv lists, never a shell string, never from the model)."""

    checks: list[Argv] = Field(default_factory=list)
    build: list[Argv] = Field(default_factory=list)
    timeout: float = Field(600.0, gt=0)


class Notify(StrictModel):
    webhooks: list[Annotated[str, Field(pattern=r"^https?://")]] = Field(default_factory=list)
    timeout: float = Field(5.0, gt=0, le=60)


class Thinking(StrictModel):
    """``model.thinking``, sent as the Messages API ``thinking`` parameter. Thinking blocks are
    sent back unmodified (with their signatures) in the conversation, as the API requires."""

    type: Literal["adaptive", "enabled", "disabled"] = "adaptive"
    budget_tokens: int | None = Field(None, alias="budgetTokens", ge=1024, le=63_000)

    def param(self) -> dict[str, object]:
        if self.type == "enabled":
            return {"type": "enabled", "budget_tokens": self.budget_tokens}
        return {"type": self.type}


class ModelSettings(StrictModel):
    provider: Literal["policy", "anthropic", "replay"] | None = Field(
        None, description="None: anthropic when ANTHROPIC_API_KEY is set, else policy."
    )
    name: str | None = Field(
        None, pattern=MODEL_ID_PATTERN, description="Claude model id; env CONDUCTOR_MODEL overrides."
    )
    base_url: str | None = Field(None, alias="baseUrl")
    max_turns: int = Field(40, alias="maxTurns", ge=1, le=1000)
    token_budget: int = Field(400_000, alias="tokenBudget", ge=1000)
    max_tokens: int = Field(4096, alias="maxTokens", ge=256, le=64_000)
    fallback_to_policy: bool = Field(True, alias="fallbackToPolicy")
    cassette: str | None = Field(None, description="Replay/record file for --model replay.")
    record: str | None = Field(
        None, description="Write every Messages API exchange of the anthropic brain to this cassette."
    )
    timeout: float = Field(120.0, gt=0, le=3600, description="Seconds per Messages API request.")
    max_retries: int = Field(2, alias="maxRetries", ge=0, le=10, description="SDK retries on 429/5xx/529.")
    prices: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="USD per million tokens: input, output, cacheRead, cacheWrite (5-minute), cacheWrite1h.",
    )
    thinking: Thinking = Field(
        default_factory=lambda: Thinking(type="adaptive"),
        description="Extended thinking: adaptive (the model thinks when a choice needs it), enabled (with "
        "budgetTokens) or disabled.",
    )
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = Field(
        "medium", description="output_config.effort; None leaves it to the model's default."
    )
    strict_tools: bool = Field(
        True, alias="strictTools",
        description="strict: true on every tool definition (inputs constrained to the tool's grammar).",
    )
    prompt_cache: Literal["auto", "5m", "1h", "off"] = Field(
        "auto", alias="promptCache",
        description="Cache lifetime: auto picks 1h before a long wait (bake, long monitor, approval), else 5m.",
    )

    @model_validator(mode="after")
    def _thinking_fits(self) -> ModelSettings:
        budget = self.thinking.budget_tokens
        if self.thinking.type == "enabled":
            if budget is None:
                raise ConfigPathError(("model", "thinking", "budgetTokens"), 'thinking "enabled" needs budgetTokens')
            if budget >= self.max_tokens:
                raise ConfigPathError(("model", "thinking", "budgetTokens"),
                                      f"budgetTokens ({budget}) must be less than model.maxTokens ({self.max_tokens})")
        elif budget is not None:
            raise ConfigPathError(("model", "thinking", "budgetTokens"),
                                  f'budgetTokens applies to thinking "enabled" only, not "{self.thinking.type}"')
        return self

    @field_validator("prices")
    @classmethod
    def _known_price_keys(cls, prices: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(prices) - {"input", "output", "cacheRead", "cacheWrite", "cacheWrite1h"})
        if unknown:
            raise ValueError(f"unknown price key(s) {', '.join(unknown)}; valid: input, output, cacheRead, cacheWrite, "
                             "cacheWrite1h")
        return prices


class PlatformRef(BaseModel):
    """Only ``kind`` is read here; the backend's own model validates the rest."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    kind: str = "sim"


class ConductorConfig(StrictModel):
    environment: DnsLabel | None = Field(
        None,
        description="Name of the environment this file deploys to; its state (journal, locks, platform) lives in "
        "<config dir>/environments/<name>/. Default: the file's name for any file but config.json.",
    )
    orchestration: Orchestration
    release: dict[ServiceName, Version] = Field(default_factory=dict)
    platform: PlatformRef = Field(default_factory=PlatformRef)
    services: dict[ServiceName, ServiceSpec] = Field(default_factory=dict)
    pre_deploy: PreDeploy = Field(default_factory=PreDeploy, alias="preDeploy")
    notify: Notify = Field(default_factory=Notify)
    model: ModelSettings = Field(default_factory=ModelSettings)

    @model_validator(mode="after")
    def _cross_checks(self) -> ConductorConfig:
        known = set(self.orchestration.services)
        for name in self.release:
            if name not in known:
                raise ConfigPathError(("release", name), f"service {name!r} is not in orchestration.services")
        for name, spec in self.services.items():
            if name not in known:
                raise ConfigPathError(("services", name), f"service {name!r} is not in orchestration.services")
            for dep in spec.depends_on:
                if dep not in known:
                    raise ConfigPathError(("services", name, "dependsOn"), f"unknown service {dep!r}")
        service_order(self)  # raises on a dependency cycle
        return self

    def spec(self, service: str) -> ServiceSpec:
        return self.services.get(service) or ServiceSpec()


class ConfigPathError(ValueError):
    """A cross-field error that knows its JSON path (pydantic would report it at the root)."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def service_order(config: ConductorConfig) -> list[str]:
    """Services in dependency order (dependencies first), stable for equal rank."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in visiting:
            cycle = " -> ".join((*chain, name))
            raise ConfigPathError(("services", name, "dependsOn"), f"dependency cycle: {cycle}")
        visiting.add(name)
        for dep in config.spec(name).depends_on:
            visit(dep, (*chain, name))
        visiting.discard(name)
        ordered.append(name)

    for service in config.orchestration.services:
        visit(service, ())
    return ordered


def config_fingerprint(config: ConductorConfig) -> str:
    """A short hash of what the file says (formatting and key order do not count), so a running
    host can tell that the file it judges by was edited."""
    import hashlib

    canonical = json.dumps(config.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def find_config(start: Path) -> Path:
    """The nearest ``.mothership/config.json`` from ``start`` upward."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_DIR / CONFIG_FILE
        try:
            if candidate.is_file():
                return candidate
        except OSError as exc:  # a folder on the way this user may not enter
            raise ConfigError(f"{candidate}: cannot read: {exc.strerror or exc} (pass --config PATH)") from None
    raise ConfigError(
        f"no {CONFIG_DIR}/{CONFIG_FILE} found in {start} or any parent directory "
        "(create one, or pass --config PATH)"
    )


def parse_core_config(raw: Any, source: str = "<config>") -> ConductorConfig:
    """Validate everything but ``platform``'s backend settings (those belong to the backend: see
    :func:`conductor.config_file.parse_config`, which adds them)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a JSON object")
    try:
        return ConductorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, source)) from None
    except ConfigPathError as exc:
        raise ConfigError(f"{source}: {json_path(exc.path)}: {exc}") from None


def describe_errors(
    exc: ValidationError, source: str, prefix: tuple[str, ...] = (), root: type[BaseModel] | None = None
) -> str:
    lines = []
    for error in exc.errors():
        loc = _without_union_tags(tuple(str(part) for part in error["loc"]), root or ConductorConfig)
        where = json_path((*prefix, *loc))
        if error["type"] == "extra_forbidden":
            lines.append(f"{source}: {where}: unknown key{_suggestion(loc, root or ConductorConfig)}")
        elif error["type"] == "value_error" and isinstance(error.get("ctx", {}).get("error"), ConfigPathError):
            path_error = error["ctx"]["error"]
            lines.append(f"{source}: {json_path(path_error.path)}: {path_error}")
        elif error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") in _PATTERN_RULES:
            rule = _PATTERN_RULES[error["ctx"]["pattern"]]
            lines.append(f"{source}: {where}: {json.dumps(error['input'])} is not {rule}")
        elif error["type"] == "literal_error":
            options = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
            given = error["input"]
            close = ([o for o in options if o.lower() == given.lower()]
                     or difflib.get_close_matches(given, options, n=1, cutoff=0.6)) if isinstance(given, str) else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"{source}: {where}: must be one of {', '.join(map(repr, options))}, "
                         f"got {_json_kind(error['input'])}{hint}")
        elif error["type"] in _EXPECTED:
            lines.append(f"{source}: {where or '(top level)'}: must be {_EXPECTED[error['type']]}"
                         f"{_EXAMPLES.get(where, '')}, got {_json_kind(error['input'])}")
        else:
            message = re.sub(r"^Value error, ", "", error["msg"])
            lines.append(f"{source}: {where or '(top level)'}: {message}")
    return "\n".join(lines)


# Each name pattern's rule in words, for a person, not a regex.
_PATTERN_RULES = {
    SERVICE_NAME_PATTERN: "a valid service name: 1 to 63 characters, lowercase letters, digits and '-', "
    "starting and ending with a letter or digit (e.g. api, checkout-v2; it names hosts and Kubernetes objects)",
    DNS_LABEL_PATTERN: "a valid name: 1 to 63 characters, lowercase letters, digits and '-', starting and ending "
    "with a letter or digit (a DNS label)",
    VERSION_PATTERN: "a valid version: 1 to 128 characters, letters, digits, '.', '_', '+' and '-', starting with "
    "a letter or digit (e.g. v1.2.0)",
    ENV_NAME_PATTERN: "a valid environment variable name: letters, digits and '_', not starting with a digit",
    MODEL_ID_PATTERN: "a model id: 1 to 200 characters, letters, digits and '.', '_', ':', '@', '/', '-', starting "
    "with a letter or digit (e.g. claude-sonnet-4-5)",
}

# An object whose shape a person would not guess from its name: what one looks like.
_EXAMPLES = {"model.thinking": ' such as {"type": "adaptive"}, {"type": "disabled"} or '
             '{"type": "enabled", "budgetTokens": 2048}'}

# Strict types: what a field wanted, said in JSON's words (a string is never coerced).
_EXPECTED = {
    "bool_type": "true or false (a JSON boolean, not a string)",
    "int_type": "a whole number (a JSON integer, not a string, a boolean or a decimal)",
    "float_type": "a number (a JSON number, not a string or a boolean)",
    "string_type": "a string",
    "list_type": "a JSON array",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
}


def _json_kind(value: Any) -> str:
    """How a JSON value reads to the person who wrote it: 'the string "no"', 'true', '100.0'."""
    if isinstance(value, str):
        return f"the string {json.dumps(value)}"
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    return "an array" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _without_union_tags(loc: tuple[str, ...], root: type[BaseModel]) -> tuple[str, ...]:
    """Drop the tag pydantic puts in the location of a discriminated union member
    (``metrics.prometheus.timeout`` is ``metrics.timeout`` in the file)."""
    model: Any = root
    out: list[str] = []
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        out.append(part)
        field = _field_by_alias(model, part)
        if field is None:
            model = None
            continue
        annotation = field.annotation
        if getattr(annotation, "__origin__", None) in (dict, list) and parts:
            out.append(parts.pop(0))  # a dict key or a list index
            annotation = annotation.__args__[-1]
        members = [m for m in getattr(annotation, "__args__", ()) if isinstance(m, type) and issubclass(m, BaseModel)]
        if field.discriminator and parts:
            tag = parts.pop(0)
            annotation = next((m for m in members if tag in str(m.model_fields["kind"].annotation)), None)
        elif len([a for a in getattr(annotation, "__args__", ()) if a is not type(None)]) > 1 and parts \
                and not any(_field_by_alias(m, parts[0]) for m in members):
            parts.pop(0)  # a plain union names the member it tried ("constrained-int")
        model = annotation
    return tuple(out)


def json_path(loc: tuple[str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path


def _suggestion(loc: tuple[str, ...], root: type[BaseModel]) -> str:
    """' (did you mean "bakeTime"?)' for a misspelt key, from the keys valid at that place."""
    model: Any = root
    parts = list(loc[:-1])
    while parts:
        field = _field_by_alias(model, parts.pop(0))
        if field is None:
            return ""
        annotation = field.annotation
        if getattr(annotation, "__origin__", None) is dict:
            annotation = annotation.__args__[1]
            if parts:
                parts.pop(0)  # a dict key (a service name), not a field
        model = annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    keys = [f.alias or name for name, f in model.model_fields.items()]
    close = difflib.get_close_matches(loc[-1], keys, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else f" (valid keys: {', '.join(keys)})"


def _field_by_alias(model: Any, key: str) -> Any:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None
