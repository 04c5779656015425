"""What running a scenario produced: each step's exit and report, the invariants, the failures.

Its own module so the runner (which fills it) and the expectations and scorecard (which read it)
depend on it without depending on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conductor.frontends.evals.invariants import InvariantResult


@dataclass
class StepRecord:
    label: str
    exit_code: int
    expected_exit: int | None
    notes: list[str] = field(default_factory=list)
    report: str = ""  # the markdown the command printed


@dataclass
class ScenarioResult:
    scenario: str
    title: str
    brain: str
    origin: str
    outcome: str = "error"
    invariants: list[InvariantResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # expectations not met, step errors
    steps: list[StepRecord] = field(default_factory=list)
    turns: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    time_to_rollback: float | None = None
    made_safe_by: list[str] = field(default_factory=list)
    seconds: float = 0.0
    known_bug: str | None = None
    malformed: int = 0  # tool calls refused as malformed (bad arguments, unknown tool)
    malformed_strict: int = 0  # of those, the ones strict tool use's grammar could still produce

    @property
    def invariants_passed(self) -> int:
        return sum(1 for i in self.invariants if i.passed)

    @property
    def first_violation(self) -> str | None:
        broken = next((i for i in self.invariants if not i.passed), None)
        return f"{broken.name}: {broken.violation}" if broken is not None else None

    @property
    def invariants_ok(self) -> bool:
        return all(i.passed for i in self.invariants) and bool(self.invariants)

    @property
    def passed(self) -> bool:
        return self.invariants_ok and not self.failures

    @property
    def ok(self) -> bool:
        """Passed — or, for a scenario exposing a known engine bug, still failing as it should
        (once the bug is fixed it passes, which is *not* ok until ``knownBug`` is removed)."""
        return self.passed != bool(self.known_bug)

    @property
    def tokens(self) -> int:
        return sum(self.usage.get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                                                   "cache_creation_input_tokens"))

    @property
    def cache_hit_ratio(self) -> float | None:
        read = self.usage.get("cache_read_input_tokens", 0)
        prompt = read + self.usage.get("input_tokens", 0) + self.usage.get("cache_creation_input_tokens", 0)
        return read / prompt if prompt else None
