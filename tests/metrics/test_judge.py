"""The judge's statistical promises, checked by simulation with fixed seeds.

* false alarms under the null stay below the configured rate however often one looks;
* a known effect is found (power), and found fast when it is large;
* the verdict paths: regression, non-inferior, inconclusive (with how long it needs), unavailable;
* the evidence round-trips through JSON, so a verdict replays from the journal.
"""

from __future__ import annotations

import json
import math

import numpy as np
from scipy.stats import norm  # type: ignore[import-untyped]

from conductor.metrics.evidence import SlotEvidence
from conductor.metrics.judge import BaselineKind, Judgement, JudgeSettings, Verdict, judge
from conductor.metrics.sequential import log_e_above, log_e_below
from conductor.platforms.sim.noise import draw_latency, draw_window, lognormal_sigma

SETTINGS = JudgeSettings()
SIGMA = lognormal_sigma(90.0, 144.0)


def window(rng: np.random.Generator, rate: float, error_rate: float, median: float = 90.0) -> SlotEvidence:
    requests, errors, latency = draw_window(rng, rate, 10.0, error_rate, median, SIGMA)
    return SlotEvidence(requests, errors, latency, 10.0, 1)


def run_step(seed: int, looks: int, canary_error: float, canary_median: float = 90.0, total: float = 1000.0,
             percent: float = 25.0, stable_error: float = 0.01) -> tuple[Verdict, int]:
    """One canary step, judged after every interval: (first decisive verdict, at which look)."""
    rng = np.random.default_rng(seed)
    canary, stable = SlotEvidence(), SlotEvidence()
    verdict = Verdict.INCONCLUSIVE
    for look in range(1, looks + 1):
        canary = canary.plus(window(rng, total * percent / 100, canary_error, canary_median))
        stable = stable.plus(window(rng, total * (100 - percent) / 100, stable_error))
        verdict = judge(canary, stable, BaselineKind.CONCURRENT, SETTINGS).verdict
        if verdict in (Verdict.REGRESSION, Verdict.NON_INFERIOR):
            return verdict, look
    return verdict, looks


# -- anytime validity ---------------------------------------------------------------------------


def test_e_values_keep_the_false_alarm_rate_at_the_null_boundary_under_continual_looks() -> None:
    """The hardest null (p exactly p0), looked at after every 20 trials for 3000 trials; a
    fixed-horizon z-test peeked at the same looks is the counter-example it must beat."""
    rng = np.random.default_rng(7)
    runs, p0, alpha = 200, 0.05, 0.01
    e_alarms = z_alarms = 0
    for _ in range(runs):
        flips = rng.random(3000) < p0
        counts = np.cumsum(flips)
        e_hit = z_hit = False
        for n in range(20, 3001, 20):
            k = int(counts[n - 1])
            e_hit = e_hit or log_e_above(k, n, p0, 2 * p0) >= math.log(1 / alpha)
            z_hit = z_hit or (k - n * p0) / math.sqrt(n * p0 * (1 - p0)) > norm.isf(alpha)
        e_alarms += e_hit
        z_alarms += z_hit
    assert e_alarms / runs <= alpha  # Ville's inequality, whatever the number of looks
    assert z_alarms / runs > 4 * alpha  # peeking at a fixed-horizon test inflates it several-fold


def test_the_non_inferiority_side_is_valid_at_its_boundary_too() -> None:
    rng = np.random.default_rng(8)
    alarms = 0
    for _ in range(300):
        counts = np.cumsum(rng.random(2000) < 0.05)
        alarms += any(log_e_below(int(counts[n - 1]), n, 0.05, 0.03) >= math.log(100) for n in range(20, 2001, 20))
    assert alarms / 300 <= 0.01


def test_no_false_regression_for_an_identical_canary_over_many_seeded_steps() -> None:
    """The pure judge, 40 runs of 30 looks each of a canary identical to stable at 10 req/s
    and 1000 req/s: a regression verdict would be a false rollback."""
    false = 0
    for seed in range(20):
        for total in (10.0, 1000.0):
            verdict, _ = run_step(seed, 30, 0.01, total=total, percent=10)
            false += verdict is Verdict.REGRESSION
    assert false == 0


# -- power --------------------------------------------------------------------------------------


def test_a_doubled_error_rate_is_found_at_1000_requests_per_second() -> None:
    found = [run_step(seed, 30, 0.02) for seed in range(20)]
    assert sum(v is Verdict.REGRESSION for v, _ in found) >= 19
    assert np.median([look for _, look in found]) <= 12


def test_a_25_percent_slower_canary_is_found_within_two_checks() -> None:
    found = [run_step(seed, 10, 0.01, canary_median=112.5) for seed in range(20)]
    assert all(v is Verdict.REGRESSION and look <= 2 for v, look in found)


def test_a_healthy_canary_is_shown_non_inferior_with_enough_traffic() -> None:
    found = [run_step(seed, 40, 0.01, total=20_000.0) for seed in range(10)]
    assert all(v is Verdict.NON_INFERIOR for v, _ in found)


# -- verdict paths ------------------------------------------------------------------------------


def test_a_canary_failing_most_requests_is_a_regression_at_the_first_check_even_on_little_traffic() -> None:
    latency = draw_latency(np.random.default_rng(1), 12, 5.0, 0.1)
    broken = SlotEvidence(requests=12, errors=11, latency=latency, seconds=10, looks=1)
    result = judge(broken, None, BaselineKind.NONE, SETTINGS)
    assert result.verdict is Verdict.REGRESSION
    assert "above the 5% limit" in result.reason


def test_one_error_in_ten_requests_is_not_ten_percent_above_five() -> None:
    latency = draw_latency(np.random.default_rng(2), 10, 90.0, SIGMA)
    one = SlotEvidence(requests=10, errors=1, latency=latency, seconds=10, looks=1)
    result = judge(one, None, BaselineKind.NONE, SETTINGS)
    assert result.verdict is Verdict.INCONCLUSIVE
    limit = result.test("error_rate_limit")
    assert limit is not None and limit.outcome is Verdict.INCONCLUSIVE


def test_low_traffic_is_inconclusive_and_says_how_long_it_expects() -> None:
    rng = np.random.default_rng(3)
    canary, stable = SlotEvidence(), SlotEvidence()
    for _ in range(12):
        canary = canary.plus(window(rng, 0.5, 0.01))
        stable = stable.plus(window(rng, 9.5, 0.01))
    result = judge(canary, stable, BaselineKind.CONCURRENT, SETTINGS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "inconclusive after" in result.reason
    assert " more at this traffic" in result.reason or "no trend" in result.reason


def test_no_data_and_no_source_are_unavailable_never_healthy() -> None:
    down = judge(SlotEvidence(available=False, error="timeout after 5s"), None, BaselineKind.NONE, SETTINGS)
    assert down.verdict is Verdict.UNAVAILABLE and "timeout after 5s" in down.reason
    empty = judge(SlotEvidence(seconds=60, looks=6), SlotEvidence(1000, 10), BaselineKind.CONCURRENT, SETTINGS)
    assert empty.verdict is Verdict.UNAVAILABLE and "no requests" in empty.reason
    blind = judge(SlotEvidence(5000, 5, (), 60, 6), None, BaselineKind.NONE, SETTINGS)
    assert blind.verdict is Verdict.UNAVAILABLE and "no latency" in blind.reason
    rng = np.random.default_rng(4)
    stable_down = judge(window(rng, 100, 0.01), SlotEvidence(available=False, error="503"),
                        BaselineKind.CONCURRENT, SETTINGS)
    assert stable_down.verdict is Verdict.UNAVAILABLE and "stable" in stable_down.reason


def test_a_historical_baseline_is_named_in_the_verdict() -> None:
    rng = np.random.default_rng(5)
    before = SlotEvidence()
    for _ in range(30):
        before = before.plus(window(rng, 20_000, 0.01))
    canary = SlotEvidence()
    for _ in range(6):
        canary = canary.plus(window(rng, 20_000, 0.01))
    result = judge(canary, before, BaselineKind.HISTORICAL, SETTINGS)
    assert result.verdict is Verdict.NON_INFERIOR
    assert "before the switch" in result.reason


def test_the_judgement_round_trips_through_json_for_replay() -> None:
    rng = np.random.default_rng(6)
    result = judge(window(rng, 50, 0.02), window(rng, 950, 0.01), BaselineKind.CONCURRENT, SETTINGS)
    again = Judgement.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False)))
    assert again == result
    replayed = judge(again.candidate, again.stable, again.baseline, again.settings)
    assert replayed == result


# -- the simulator's noise is the theory's --------------------------------------------------------


def test_the_simulators_spread_matches_the_theory() -> None:
    rng = np.random.default_rng(9)
    draws = [draw_window(rng, 10.0, 10.0, 0.05, 90.0, SIGMA) for _ in range(3000)]
    requests = np.array([d[0] for d in draws])
    errors = np.array([d[1] for d in draws])
    assert abs(requests.mean() - 100) < 1.5 and abs(requests.var() / 100 - 1) < 0.1  # Poisson: var = mean
    assert abs(errors.mean() - 5) < 0.2 and abs(errors.var() / 5 - 1) < 0.15  # ~Poisson-binomial
    # The "p95" of ten requests is their maximum: P(max <= true p95) = 0.95^10 = 0.599.
    true_p95 = 90.0 * math.exp(1.6448536 * SIGMA)
    below = [max(b for b, _ in draw_latency(rng, 10, 90.0, SIGMA)) <= true_p95 * 1.025 for _ in range(3000)]
    assert abs(np.mean(below) - 0.95**10) < 0.04


def test_coarse_prometheus_buckets_are_judged_at_their_resolution_and_say_so() -> None:
    """With buckets at 50, 100, 250, 500 ms no count can show "within +10%": non-inferiority is
    judged at the buckets' resolution (and the reason says so) instead of never being reached."""
    def coarse(n: int, shares: tuple[float, ...]) -> SlotEvidence:
        bounds = (50.0, 100.0, 250.0, 500.0, math.inf)
        cumulative = [round(n * s) for s in shares]
        counts = [b - a for a, b in zip([0, *cumulative], cumulative, strict=False)]
        histogram = tuple((b, c) for b, c in zip(bounds, counts, strict=True) if c)
        return SlotEvidence(n, n // 200, histogram, 10.0, 1)

    typical = (0.10, 0.90, 0.99, 1.0, 1.0)
    same = judge(coarse(100_000, typical), coarse(400_000, typical), BaselineKind.CONCURRENT, SETTINGS)
    latency = same.test("latency")
    assert latency is not None and latency.outcome is Verdict.NON_INFERIOR
    assert "cannot resolve +10%" in latency.description
    slow = judge(coarse(100_000, (0.02, 0.30, 0.60, 0.97, 1.0)), coarse(400_000, typical), BaselineKind.CONCURRENT,
                 SETTINGS)
    assert slow.verdict is Verdict.REGRESSION and "p95 latency" in slow.reason
