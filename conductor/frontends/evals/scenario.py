"""The scenario file: one folder per scenario, ``evals/NN_slug/scenario.json``.

A scenario is data, not code, so anyone can add one in minutes and a reviewer reads the whole
case on one screen: the config (with the simulator's behaviour and timeline), the commands in
order (approvals given, withheld or given late, a crash), and what must be true of the journal
afterwards. Expectations name *facts* (final phases, signals, which guard refused), never prose
a model wrote, because a model's prose can be wrong while the journal cannot lie about traffic.

    {"title": "canary with approvals at every step",
     "brain": {"cassette": "cassette.json", "origin": "policy-recorded"},
     "config": {"orchestration": {...}, "release": {...}, "platform": {"kind": "sim", ...}},
     "steps": [{"run": "canary 10"}, {"watch": 30}, {"run": "canary 25"}],
     "expect": {"outcome": "awaiting_approval", "services": {"api": {"percent": 25}}}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from conductor.config import ConductorConfig
from conductor.errors import UsageError

SCENARIO_FILE = "scenario.json"
Origin = Literal["scripted", "policy-recorded", "recorded"]
Brain = Literal["replay", "policy", "anthropic"]
BRAINS: tuple[Brain, ...] = ("replay", "policy", "anthropic")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class BrainSpec(_Strict):
    """Where the replay brain's cassette is and how it was made.

    ``origin`` is never optional: a scripted cassette (hand-written turns recorded through the
    real SDK path) must not pass for a recording of a live model.
    """

    cassette: str = "cassette.json"
    script: str | None = Field(None, description="The turns a scripted cassette is recorded from.")
    origin: Origin
    behaviour: str = Field("", description="What this brain does, in one sentence (hostile brains say how).")


class CrashSpec(_Strict):
    """Run ``run`` in a subprocess that SIGKILLs itself right after the ``count``-th journaled
    event of ``kind``: a real kill at a deterministic point, so the cassette of the resumed run
    still matches."""

    run: str
    auto: bool = False
    after_event: str = Field(alias="afterEvent")
    count: int = Field(1, ge=1)


class Step(_Strict):
    """Exactly one of: ``run`` (a command), ``watch`` (seconds of ``conductor watch``), ``crash``."""

    run: str | None = None
    auto: bool = False
    actor: str = "person:cli"
    model: Brain | None = Field(None, description="This step's brain, e.g. the person finishing with policy.")
    watch: float | None = Field(None, gt=0, description="Simulated seconds of watchdog rounds, nobody acting.")
    crash: CrashSpec | None = None
    expect_exit: int | None = Field(None, alias="expectExit")
    expect_exit_by_brain: dict[Brain, int] = Field(
        default_factory=dict, alias="expectExitByBrain",
        description="A brain whose exit differs, e.g. a looping replay stopped by model.maxTurns exits 1.")

    def exit_expected(self, brain: str) -> int | None:
        by_brain: dict[str, int] = {str(name): code for name, code in self.expect_exit_by_brain.items()}
        return by_brain.get(brain, self.expect_exit)

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in (self.run, self.watch, self.crash) if k is not None]
        if len(kinds) != 1:
            raise ValueError("a step is exactly one of run, watch or crash")
        return self

    @property
    def label(self) -> str:
        if self.run is not None:
            model = f" --model {self.model}" if self.model else ""
            return f"/orchestrate {self.run}{' --auto' if self.auto else ''}{model}".replace("  ", " ").rstrip()
        if self.watch is not None:
            return f"watch {self.watch:g}s"
        assert self.crash is not None
        return f"crash: /orchestrate {self.crash.run} killed after {self.crash.after_event} #{self.crash.count}"


class ServiceExpectation(_Strict):
    phase: str | None = None  # "Complete", "Rolled back", "Canary", "Awaiting approval", ...
    version: str | None = Field(None, description="The version the platform's stable slot runs at the end.")
    percent: int | None = Field(None, description="Traffic on the new version at the end.")


class Expectations(_Strict):
    outcome: str | None = None  # complete | rolled_back | failed | awaiting_approval | running
    services: dict[str, ServiceExpectation] = Field(default_factory=dict)
    signals_must: list[str] = Field(default_factory=list, alias="signals")
    signals_must_not: list[str] = Field(default_factory=list, alias="noSignals")
    refused_by: list[str] = Field(default_factory=list, alias="refusedBy")
    rolled_back_by: str | None = Field(None, alias="rolledBackBy")
    rollback_within_intervals: int | None = Field(None, alias="rollbackWithinIntervals", ge=1)
    max_turns: int | None = Field(None, alias="maxTurns", ge=0)
    order: list[str] = Field(default_factory=list, description="Services in the order their rollout began.")
    deploys_per_service: int | None = Field(None, alias="deploysPerService", ge=1,
                                            description="At most this many deploys of each service (no duplicates).")
    fallback: bool | None = Field(None, description="The policy brain had to take over from a failing model.")
    model_failed: bool | None = Field(None, alias="modelFailed", description="A run's brain failed (API error).")
    nudges: int | None = Field(None, ge=0, description="Times the loop told the brain it stopped early (journaled).")
    skip_invariants: list[str] = Field(default_factory=list, alias="skipInvariants")

    def merged(self, other: Expectations | None) -> Expectations:
        """``other``'s fields that were set win (brain-specific expectations over the common ones)."""
        if other is None:
            return self
        data = self.model_dump(by_alias=True, exclude_unset=True)
        data.update(other.model_dump(by_alias=True, exclude_unset=True))
        return Expectations.model_validate(data)


class Scenario(_Strict):
    title: str
    covers: list[str] = Field(default_factory=list, description="What the scenario proves, e.g. rollback:latency.")
    brain: BrainSpec
    known_bug: str | None = Field(None, alias="knownBug",
                                  description="An engine bug this scenario exposes: it must fail until fixed.")
    known_bug_brains: list[Brain] = Field(default_factory=lambda: list(BRAINS), alias="knownBugBrains",
                                          description="The brains the known bug shows on (a hostile script).")
    inject: str | None = Field(None, description="A payload corpus file: every tool result's text carries one.")
    config: dict[str, Any]
    steps: list[Step] = Field(min_length=1)
    expect: Expectations = Field(default_factory=Expectations)
    expect_by_brain: dict[Brain, Expectations] = Field(default_factory=dict, alias="expectByBrain")
    folder: Path = Field(Path("."), exclude=True)

    @property
    def name(self) -> str:
        return self.folder.name

    def expectations(self, brain: str) -> Expectations:
        return self.expect.merged(self.expect_by_brain.get(brain))  # type: ignore[call-overload]

    def known_bug_for(self, brain: str) -> str | None:
        return self.known_bug if brain in self.known_bug_brains else None

    def conductor_config(self) -> ConductorConfig:
        return ConductorConfig.model_validate(self.config)


def load_scenario(path: Path) -> Scenario:
    """Load ``path`` (a folder or its scenario.json); errors name the file and the problem."""
    folder = path if path.is_dir() else path.parent
    file = folder / SCENARIO_FILE
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{folder}: no {SCENARIO_FILE} (a scenario is a folder holding one)") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{file}: not JSON: {exc}") from None
    try:
        scenario = Scenario.model_validate({**raw, "folder": folder.resolve()})
        scenario.conductor_config()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{file}: {where}: {first['msg']}") from None
    return scenario


def discover(paths: list[Path]) -> list[Path]:
    """Scenario folders under ``paths`` (a scenario folder itself, or a folder of them), sorted."""
    found: list[Path] = []
    for path in paths:
        if (path / SCENARIO_FILE).exists() or path.name == SCENARIO_FILE:
            found.append(path if path.is_dir() else path.parent)
        elif path.is_dir():
            found += sorted(p.parent for p in path.glob(f"*/{SCENARIO_FILE}"))
        elif not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        else:
            raise UsageError(f"{path}: neither a scenario folder nor a folder of scenarios")
    return found
