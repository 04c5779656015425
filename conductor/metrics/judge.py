"""The judge: is the new version worse than stable? Four answers, each with its evidence.

Input: the new version's counts and latency histogram since the last traffic change, and
stable's (concurrent: the same period; historical: the window before a blue-green flip or the
bake; none). Output: a :class:`Judgement` — *regression*, *non_inferior*, *inconclusive* or
*unavailable* — with every test's counts, null value and e-value, so a verdict can be explained
and replayed from its payload alone.

Four sequential tests, each on a count of "bad" requests out of requests (see
:mod:`conductor.metrics.sequential` for why such a test may be looked at as often as anyone
likes):

* ``error_rate`` vs stable: is the new version's error rate above ``(1 + tolerance)`` times
  stable's plus a small absolute floor? Stable's rate enters through a time-uniform exact
  interval (its upper end for the regression side, its lower end for the non-inferiority side),
  so stable's own noise cannot manufacture a verdict.
* ``latency`` vs stable: a distribution-level test at the configured percentile. Stable's
  percentile is bracketed from its histogram; the new version regresses if *more* than
  ``1 - percentile`` of its requests are slower than ``(1 + tolerance)`` times the upper end of
  that bracket, and is non-inferior if confidently *fewer* are slower than the lower end times
  ``(1 + tolerance)``. Percentile point estimates of small windows never enter.
* ``error_rate_limit`` / ``latency_limit``: ``rollbackThreshold`` as hard absolute limits, judged
  the same way against a fixed null, so one error in ten requests is not "10% > 5%" but a
  canary failing most requests is a regression at the first check.

Regression needs one test to reject "not worse" (at ``alpha / 2`` per family: errors, latency);
non-inferiority needs every test to reject "worse" at ``alpha``. Anything else is inconclusive,
with an estimate of how much longer the current traffic needs. Pure: no platform, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.special import betaincinv  # type: ignore[import-untyped]

from conductor.metrics.evidence import Histogram, SlotEvidence, count_above
from conductor.metrics.sequential import clopper_pearson, log_e_above, log_e_below, look_alpha


class Verdict(StrEnum):
    REGRESSION = "regression"  # confident the new version is worse beyond the tolerance: roll back
    NON_INFERIOR = "non_inferior"  # confident it is not: may ramp up
    INCONCLUSIVE = "inconclusive"  # not enough evidence either way yet: never healthy
    UNAVAILABLE = "unavailable"  # no data or the source is down: never healthy, fails closed


class BaselineKind(StrEnum):
    CONCURRENT = "concurrent"  # stable over the same period, taking the rest of the traffic
    HISTORICAL = "historical"  # stable alone, just before the flip (blue-green, the bake)
    NONE = "none"  # no usable stable figures: absolute limits only


@dataclass(frozen=True)
class JudgeSettings:
    false_alarm_rate: float = 0.01
    error_tolerance: float = 0.20  # relative: "worse than stable by more than 20%"
    error_floor: float = 0.0005  # absolute fraction added to the tolerance (0.05 percentage points)
    latency_tolerance: float = 0.10  # relative, at ``percentile``
    percentile: float = 0.95
    max_error_rate: float = 0.05  # rollbackThreshold.errorRate as a fraction
    max_latency_ms: float = 1000.0  # rollbackThreshold.responseTime


@dataclass(frozen=True)
class TestResult:
    """One sequential test: ``bad`` of ``trials`` against the null ``p0_*`` of each side."""

    name: str  # error_rate | latency | error_rate_limit | latency_limit
    outcome: Verdict
    trials: int
    bad_regression: int  # counted for the regression side (a lower estimate for latency)
    bad_non_inferior: int  # counted for the non-inferiority side (an upper estimate)
    p0_regression: float
    p0_non_inferior: float
    log_e_regression: float
    log_e_non_inferior: float
    progress: float  # share of the way to the nearer decision, 0..1
    description: str
    figures: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        for key in ("log_e_regression", "log_e_non_inferior"):
            data[key] = _finite(data[key])
        data["figures"] = {k: _finite(v) for k, v in self.figures.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestResult:
        values = dict(data)
        values["outcome"] = Verdict(values["outcome"])
        for key in ("log_e_regression", "log_e_non_inferior"):
            values[key] = -math.inf if values.get(key) is None else float(values[key])
        values["figures"] = dict(values.get("figures") or {})
        return cls(**values)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    baseline: BaselineKind
    candidate: SlotEvidence
    stable: SlotEvidence | None
    settings: JudgeSettings
    tests: tuple[TestResult, ...] = ()
    needed_seconds: float | None = None  # inconclusive: the estimated extra time at this traffic

    @property
    def regressions(self) -> tuple[TestResult, ...]:
        return tuple(t for t in self.tests if t.outcome is Verdict.REGRESSION)

    def test(self, name: str) -> TestResult | None:
        return next((t for t in self.tests if t.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "baseline": self.baseline.value,
            "candidate": self.candidate.to_dict(),
            "stable": self.stable.to_dict() if self.stable else None,
            "settings": asdict(self.settings),
            "tests": [t.to_dict() for t in self.tests],
            "needed_seconds": self.needed_seconds,
        }

    def summary(self) -> dict[str, Any]:
        """What the verdict rests on, compactly (for tool results and --json): counts and each
        test's null values, log e-values and outcome; the histograms stay in the journal."""
        def counts(e: SlotEvidence | None) -> dict[str, Any] | None:
            return None if e is None else {"requests": e.requests, "errors": e.errors, "seconds": e.seconds,
                                           "looks": e.looks}
        return {
            "verdict": self.verdict.value,
            "baseline": self.baseline.value,
            "false_alarm_rate": self.settings.false_alarm_rate,
            "candidate": counts(self.candidate),
            "stable": counts(self.stable),
            "needed_seconds": self.needed_seconds,
            "tests": [{
                "name": t.name, "outcome": t.outcome.value, "trials": t.trials, "bad": t.bad_regression,
                "null_regression": t.p0_regression, "null_non_inferior": t.p0_non_inferior,
                "log_e_regression": _rounded(t.log_e_regression), "log_e_non_inferior": _rounded(t.log_e_non_inferior),
            } for t in self.tests],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Judgement:
        return cls(
            verdict=Verdict(data["verdict"]),
            reason=str(data["reason"]),
            baseline=BaselineKind(data["baseline"]),
            candidate=SlotEvidence.from_dict(data["candidate"]),
            stable=SlotEvidence.from_dict(data["stable"]) if data.get("stable") else None,
            settings=JudgeSettings(**data["settings"]),
            tests=tuple(TestResult.from_dict(t) for t in data.get("tests", [])),
            needed_seconds=data.get("needed_seconds"),
        )


def _rounded(value: float) -> float | None:
    finite = _finite(value)
    return None if finite is None else round(finite, 3)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) or math.isnan(value) else value


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f}".rstrip("0").rstrip(".") + "%"


def _decide(name: str, trials: int, bad_reg: int, bad_ni: int, p0_reg: float, p0_ni: float,
            alt_reg: float, alt_ni: float, settings: JudgeSettings, describe: tuple[str, str, str],
            figures: dict[str, float | None]) -> TestResult:
    alpha = settings.false_alarm_rate
    reg_bar, ni_bar = math.log(2 / alpha), math.log(1 / alpha)
    log_reg = log_e_above(bad_reg, trials, p0_reg, alt_reg) if trials else 0.0
    log_ni = log_e_below(bad_ni, trials, p0_ni, alt_ni) if trials and p0_ni > 0 else 0.0
    if log_reg >= reg_bar:
        outcome, text = Verdict.REGRESSION, describe[0]
    elif log_ni >= ni_bar:
        outcome, text = Verdict.NON_INFERIOR, describe[1]
    else:
        outcome, text = Verdict.INCONCLUSIVE, describe[2]
    progress = min(1.0, max(0.0, log_reg / reg_bar, log_ni / ni_bar))
    return TestResult(name, outcome, trials, bad_reg, bad_ni, p0_reg, p0_ni, log_reg, log_ni, progress, text,
                      figures)


def _error_tests(c: SlotEvidence, s: SlotEvidence | None, kind: BaselineKind,
                 settings: JudgeSettings) -> list[TestResult]:
    alpha, n, k = settings.false_alarm_rate, c.requests, c.errors
    rate = k / n if n else None
    limit = settings.max_error_rate
    tests = [_decide(
        "error_rate_limit", n, k, k, limit, limit, min(1.0, max(2 * limit, 0.01)), limit / 5, settings,
        (f"error rate {_pct(rate or 0)} of {n} requests is above the {_pct(limit)} limit at {1 - alpha:.0%}",
         f"error rate below the {_pct(limit)} limit", f"error rate vs the {_pct(limit)} limit undecided"),
        {"error_rate": rate, "limit": limit},
    )]
    if s is None or kind is BaselineKind.NONE or s.requests == 0:
        return tests
    spend = look_alpha(alpha / 2, s.looks) if kind is BaselineKind.CONCURRENT else alpha / 2
    stable_rate = s.errors / s.requests
    low, high = clopper_pearson(s.errors, s.requests, spend)
    tol, floor = settings.error_tolerance, settings.error_floor
    p0_reg = min(1.0, (1 + tol) * high + floor)
    p0_ni = (1 + tol) * low + floor
    tolerance = f"+{tol:.0%}" + (f" (+{_pct(floor)})" if floor else "")
    tests.append(_decide(
        "error_rate", n, k, k, p0_reg, p0_ni, min(1.0, 2 * p0_reg), min(max(stable_rate, p0_ni / 2), 0.8 * p0_ni),
        settings,
        (f"error rate {_pct(rate or 0)} vs stable {_pct(stable_rate)}: worse by more than {tolerance} at "
         f"{1 - alpha:.0%}",
         f"error rate: a regression above {tolerance} is ruled out at {1 - alpha:.0%}",
         f"error rate {_pct(rate or 0)} vs stable {_pct(stable_rate)} undecided"),
        {"error_rate": rate, "stable_error_rate": stable_rate, "stable_low": low, "stable_high": high},
    ))
    return tests


def quantile_ms(histogram: Histogram, q: float) -> float | None:
    """The bucket bound holding the ``q`` quantile (an upper estimate); None without requests."""
    total = sum(c for _, c in histogram)
    if total == 0:
        return None
    seen = 0
    for bound, count in histogram:
        seen += count
        if seen >= q * total:
            return bound
    return histogram[-1][0]


def quantile_bracket(histogram: Histogram, q: float, alpha: float) -> tuple[float, float]:
    """Bounds (low, high) holding stable's ``q`` quantile with probability >= 1 - alpha: ``low``
    is the largest bound surely below it, ``high`` the smallest surely above (exact binomial
    intervals on the share of requests at or below each bucket bound)."""
    finite = [(b, c) for b, c in histogram if not math.isinf(b)]
    total = sum(c for _, c in histogram)
    if not finite or total == 0:
        return 0.0, math.inf
    bounds = np.array([b for b, _ in finite])
    seen = np.cumsum([c for _, c in finite])
    with np.errstate(all="ignore"):
        f_low = np.where(seen > 0, betaincinv(np.maximum(seen, 1), total - seen + 1, alpha / 2), 0.0)
        f_high = np.where(seen < total, betaincinv(seen + 1, np.maximum(total - seen, 1), 1 - alpha / 2), 1.0)
    below, above = bounds[f_high < q], bounds[f_low >= q]
    return (float(below.max()) if below.size else 0.0), (float(above.min()) if above.size else math.inf)


def _latency_tests(c: SlotEvidence, s: SlotEvidence | None, kind: BaselineKind,
                   settings: JudgeSettings) -> list[TestResult]:
    alpha, p = settings.false_alarm_rate, settings.percentile
    name = f"p{round(100 * p)}"
    n = c.timed_requests
    tail = 1 - p
    alt_reg, alt_ni = min(2 * tail, (1 + tail) / 2), 0.6 * tail
    limit = settings.max_latency_ms
    observed = quantile_ms(c.latency, p)
    tests = [_decide(
        "latency_limit", n, count_above(c.latency, limit, surely=True), count_above(c.latency, limit, surely=False),
        tail, tail, alt_reg, alt_ni, settings,
        (f"{name} latency above the {limit:.0f}ms limit at {1 - alpha:.0%} (more than {tail:.0%} of {n} requests "
         "slower)", f"{name} latency below the {limit:.0f}ms limit", f"{name} vs the {limit:.0f}ms limit undecided"),
        {"latency_ms": observed, "limit_ms": limit},
    )]
    if s is None or kind is BaselineKind.NONE or s.timed_requests == 0:
        return tests
    spend = look_alpha(alpha / 2, s.looks) if kind is BaselineKind.CONCURRENT else alpha / 2
    low, high = quantile_bracket(s.latency, p, spend)
    tol = settings.latency_tolerance
    slow_reg, slow_ni = (1 + tol) * high, (1 + tol) * low
    edges = [b for b, _ in s.latency if b < high]
    coarse = bool(edges) and not math.isinf(high) and high > (1 + tol) * edges[-1]
    if coarse:
        # Buckets coarser than the tolerance (Prometheus defaults: 50, 100, 250 ms ...): no count
        # can show "within +10%" or "beyond +10%", so both sides are judged at the buckets'
        # resolution — is the canary's percentile confidently in stable's bucket or below, or
        # confidently above it — and the descriptions say so.
        slow_ni = max(slow_ni, high)
        slow_reg = min(slow_reg, high)
    stable_q = quantile_ms(s.latency, p)
    tests.append(_decide(
        "latency", n, count_above(c.latency, slow_reg, surely=True), count_above(c.latency, slow_ni, surely=False),
        tail, tail, alt_reg, alt_ni, settings,
        (f"{name} latency {observed or 0:.0f}ms vs stable {stable_q or 0:.0f}ms: worse by more than +{tol:.0%} at "
         f"{1 - alpha:.0%}" if not coarse else
         f"{name} latency above {slow_reg:.0f}ms, stable's {name} bucket, at {1 - alpha:.0%} (stable "
         f"{stable_q or 0:.0f}ms)",
         f"{name} latency: a regression above +{tol:.0%} is ruled out at {1 - alpha:.0%}" if not coarse else
         f"{name} latency at most {slow_ni:.0f}ms (stable's {name} bucket) at {1 - alpha:.0%}: the histogram's "
         f"buckets cannot resolve +{tol:.0%}",
         f"{name} latency {observed or 0:.0f}ms vs stable {stable_q or 0:.0f}ms undecided"),
        {"latency_ms": observed, "stable_latency_ms": stable_q, "stable_low_ms": low, "stable_high_ms": high,
         "slow_regression_ms": slow_reg, "slow_non_inferior_ms": slow_ni},
    ))
    return tests


def _needed_seconds(tests: list[TestResult], seconds: float) -> float | None:
    """Extra time at this traffic until every undecided test decides, if evidence grows linearly
    in time (log e-values of a steady effect do); None while a test shows no trend yet."""
    worst = 0.0
    for test in tests:
        if test.outcome is Verdict.INCONCLUSIVE:
            if test.progress <= 0.02 or seconds <= 0:
                return None
            worst = max(worst, seconds * (1 / test.progress - 1))
    return worst


def judge(candidate: SlotEvidence, stable: SlotEvidence | None, baseline: BaselineKind,
          settings: JudgeSettings) -> Judgement:
    """The verdict on everything ``candidate`` saw since the last traffic change."""
    def result(verdict: Verdict, reason: str, tests: list[TestResult] | None = None,
               needed: float | None = None) -> Judgement:
        return Judgement(verdict, reason, baseline, candidate, stable, settings, tuple(tests or ()), needed)

    if not candidate.available:
        return result(Verdict.UNAVAILABLE, f"metrics unavailable: {candidate.error or 'no answer'}")
    if candidate.requests == 0:
        return result(Verdict.UNAVAILABLE, f"no requests reached the new version in {candidate.seconds:.0f}s")
    tests = _error_tests(candidate, stable, baseline, settings) + _latency_tests(candidate, stable, baseline,
                                                                               settings)
    regressions = [t for t in tests if t.outcome is Verdict.REGRESSION]
    if regressions:
        return result(Verdict.REGRESSION, "; ".join(t.description for t in regressions), tests)
    if candidate.timed_requests == 0:
        return result(Verdict.UNAVAILABLE, f"no latency figures for {candidate.requests} requests: "
                      "responseTime cannot be judged", tests)
    if baseline is not BaselineKind.NONE and (stable is None or not stable.available):
        why = stable.error if stable is not None and stable.error else "no answer"
        return result(Verdict.UNAVAILABLE, f"stable's metrics unavailable ({why}): cannot compare", tests)
    scope = f"{candidate.requests} requests over {candidate.seconds:.0f}s"
    note = {BaselineKind.CONCURRENT: "", BaselineKind.HISTORICAL: "; against stable's traffic before the switch",
            BaselineKind.NONE: "; no stable figures: absolute limits only"}[baseline]
    if all(t.outcome is Verdict.NON_INFERIOR for t in tests):
        rules = "; ".join(t.description for t in tests if t.name in ("error_rate", "latency"))
        return result(Verdict.NON_INFERIOR, f"{rules or 'within the absolute limits'} ({scope}{note})", tests)
    needed = _needed_seconds(tests, candidate.seconds)
    waiting = ", ".join(t.name for t in tests if t.outcome is Verdict.INCONCLUSIVE)
    more = f"about {_minutes(math.ceil(needed / 60))} more at this traffic" if needed is not None else \
        "no trend yet at this traffic"
    return result(Verdict.INCONCLUSIVE, f"inconclusive after {scope} ({waiting} undecided): {more}{note}",
                  tests, needed)


def _minutes(count: int) -> str:
    return f"{count} minute" if count == 1 else f"{count} minutes"
