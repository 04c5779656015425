"""Benchmark: the sequential judge against the previous threshold judge, Flagger and Kayenta.

    python tools/bench_judge.py [--quick] [--seeds 100] [--workers 2]

What is simulated, and what is real:

* **Real**: the judges' decision code. ``sequential`` is :func:`conductor.metrics.judge.judge`
  fed exactly as the watchdog feeds it (evidence summed since the last traffic change, stable
  concurrent during the steps, historical — stable's evidence from the step before — at 100%).
  The others are reimplemented here from their documentation, as faithfully as a page allows:
  ``threshold`` is Conductor's previous rule (each window alone: error rate > stable + 2 pp or
  > 5%, p95 > 1.5 x stable + 20 ms or > 1000 ms, ``failureLimit`` 2, ``minRequests`` 20,
  ``noDataLimit`` 6); ``flagger`` checks absolute thresholds every interval (error rate <= 5%,
  p95 <= 1000 ms; a check without data fails) and rolls back after ``threshold`` = 5 failed
  checks, advancing one step per passing check; ``kayenta`` collects one point per interval and
  metric, and at the end of a fixed horizon of 50 points per step runs a two-sided Mann-Whitney
  U test at 98% with an effect tolerance of 0.25 (a metric fails when the difference is
  significant and the canary's mean is more than 25% above the baseline's).
* **Simulated**: the traffic, with the simulator's own noise model
  (:mod:`conductor.platforms.sim.noise`): Poisson arrivals, binomial errors, lognormal
  latencies (stable: median 90 ms, p95 144 ms) drawn into the router's 5% histogram buckets.
* **Stepped in virtual time, not through the CLI**: one canary of one service, ``--auto``, steps
  5, 25, 50, 100%, one check per 10 s interval, a 300 s bake at 100%, ``maxStepDuration`` 1800 s.
  A full orchestration per seed would spend its time in process start-up and SQLite, not in the
  judgement, and hundreds of seeds per cell would not fit on two cores.

Per cell (total traffic x stable error rate x effect) and judge it prints: for a healthy canary
the false-rollback rate and the median time to promote; for a regression the share shipped (it
reached 100% of traffic) and the median time to detect (rollback). ``seq`` also shows the share
paused as inconclusive (``maxStepDuration`` reached: neither promoted nor blamed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy.stats import mannwhitneyu  # type: ignore[import-untyped]

from conductor.metrics.evidence import Histogram, SlotEvidence
from conductor.metrics.judge import BaselineKind, JudgeSettings, Verdict, judge, quantile_ms
from conductor.platforms.sim.noise import draw_window, lognormal_sigma

STEPS = (5, 25, 50, 100)
INTERVAL = 10.0
BAKE = 300.0
MAX_STEP = 1800.0
MEDIAN_MS, P95_MS = 90.0, 144.0
SIGMA = lognormal_sigma(MEDIAN_MS, P95_MS)
RATES = (3.0, 10.0, 100.0, 1000.0)
STABLE_ERRORS = (0.001, 0.01)
EFFECTS: tuple[tuple[str, float, float], ...] = (  # name, error multiplier, latency multiplier
    ("none", 1, 1), ("err x1.5", 1.5, 1), ("err x2", 2, 1), ("err x5", 5, 1), ("err x10", 10, 1),
    ("lat x1.1", 1, 1.1), ("lat x1.25", 1, 1.25), ("lat x1.5", 1, 1.5), ("lat x2", 1, 2), ("broken", -1, 1),
)
SETTINGS = JudgeSettings()


@dataclass(frozen=True)
class Window:
    requests: int
    errors: int
    latency: Histogram

    @property
    def rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def p95(self) -> float | None:
        return quantile_ms(self.latency, 0.95)


@dataclass
class Outcome:
    result: str  # rolled_back | promoted | paused
    at: float  # seconds since the canary took its first traffic
    reached_full: bool


class Policy:
    """A judge's reading of one canary: called once per interval, says what happens next."""

    def step(self, percent: int) -> None: ...

    def look(self, canary: Window, stable: Window | None, in_step: float) -> str:
        """'rollback', 'advance' (next step, or promote at 100% after the bake), 'wait' or 'pause'."""
        raise NotImplementedError


class Sequential(Policy):
    def __init__(self) -> None:
        self.canary = SlotEvidence()
        self.stable = SlotEvidence()
        self.historical: SlotEvidence | None = None
        self.percent = 0

    def step(self, percent: int) -> None:
        if percent >= 100 and self.stable.requests:
            self.historical = self.stable
        self.canary, self.stable, self.percent = SlotEvidence(), SlotEvidence(), percent

    def look(self, canary: Window, stable: Window | None, in_step: float) -> str:
        self.canary = self.canary.plus(SlotEvidence(canary.requests, canary.errors, canary.latency, INTERVAL, 1))
        if stable is not None:
            self.stable = self.stable.plus(SlotEvidence(stable.requests, stable.errors, stable.latency, INTERVAL, 1))
            verdict = judge(self.canary, self.stable, BaselineKind.CONCURRENT, SETTINGS).verdict
        elif self.historical is not None:
            verdict = judge(self.canary, self.historical, BaselineKind.HISTORICAL, SETTINGS).verdict
        else:
            verdict = judge(self.canary, None, BaselineKind.NONE, SETTINGS).verdict
        if verdict is Verdict.REGRESSION:
            return "rollback"
        needed = BAKE if self.percent >= 100 else INTERVAL
        if verdict is Verdict.NON_INFERIOR and in_step >= needed - 1e-6:
            return "advance"
        if verdict is Verdict.INCONCLUSIVE and in_step >= MAX_STEP - 1e-6:
            return "pause"
        return "wait"


class Threshold(Policy):
    """Conductor's previous judge: each window on its own against thresholds and stable."""

    def __init__(self) -> None:
        self.breaches = self.blind = 0
        self.baseline: Window | None = None
        self.healthy_last = False

    def look(self, canary: Window, stable: Window | None, in_step: float) -> str:
        if stable is not None and stable.requests >= 20:
            self.baseline = stable
        base = self.baseline
        if canary.requests < 20 or canary.p95 is None:
            self.blind += 1
            self.healthy_last = False
            return "rollback" if self.blind >= 6 else "wait"
        self.blind = 0
        rate, p95 = canary.rate or 0.0, canary.p95
        breach = rate > 0.05 or p95 > 1000
        if base is not None and base.rate is not None and base.p95 is not None:
            breach = breach or rate > base.rate + 0.02 or p95 > 1.5 * base.p95 + 20
        if breach:
            self.breaches += 1
            self.healthy_last = False
            return "rollback" if self.breaches >= 2 else "wait"
        self.breaches = 0
        self.healthy_last = True
        return "advance"


class Flagger(Policy):
    """Absolute thresholds per interval; rollback after ``threshold`` failed checks in the analysis."""

    def __init__(self) -> None:
        self.failed = 0

    def look(self, canary: Window, stable: Window | None, in_step: float) -> str:
        ok = canary.requests > 0 and (canary.rate or 0) <= 0.05 and (canary.p95 or 0) <= 1000
        if not ok:
            self.failed += 1
            return "rollback" if self.failed >= 5 else "wait"
        return "advance"


class Kayenta(Policy):
    """Fixed horizon: 50 points per metric, then Mann-Whitney U at 98% with tolerance 0.25."""

    POINTS = 50

    def __init__(self) -> None:
        self.points: dict[str, tuple[list[float], list[float]]] = {}
        self.historical: dict[str, list[float]] = {}
        self.percent = 0

    def step(self, percent: int) -> None:
        if percent >= 100:
            self.historical = {k: v[1] for k, v in self.points.items()}
        self.points = {"error_rate": ([], []), "latency": ([], [])}
        self.percent = percent

    def look(self, canary: Window, stable: Window | None, in_step: float) -> str:
        for name, c_value, s_value in (("error_rate", canary.rate, stable.rate if stable else None),
                                       ("latency", canary.p95, stable.p95 if stable else None)):
            if c_value is not None:
                self.points[name][0].append(c_value)
            if s_value is not None:
                self.points[name][1].append(s_value)
        horizon = max(self.POINTS * INTERVAL, BAKE if self.percent >= 100 else 0)
        if in_step < horizon - 1e-6:
            return "wait"
        for name, (c_points, s_points) in self.points.items():
            baseline = s_points if s_points else self.historical.get(name, [])
            if len(c_points) < 3 or len(baseline) < 3:
                continue  # "no data" for the metric: Kayenta leaves it out of the score
            if max(c_points) == min(c_points) == min(baseline) == max(baseline):
                continue
            p_value = mannwhitneyu(c_points, baseline, alternative="two-sided").pvalue
            c_mean, b_mean = float(np.mean(c_points)), float(np.mean(baseline))
            if p_value < 0.02 and c_mean > b_mean * 1.25 + 1e-12:
                return "rollback"
        return "advance"


JUDGES: dict[str, Callable[[], Policy]] = {"seq": Sequential, "thr": Threshold, "flg": Flagger, "kay": Kayenta}


def run(policy: Policy, rate: float, stable_error: float, effect: tuple[str, float, float], seed: int) -> Outcome:
    _, err_x, lat_x = effect
    canary_error = 1.0 if err_x < 0 else min(1.0, stable_error * err_x)
    rng = np.random.default_rng(seed)
    t, reached_full = 0.0, False
    for percent in STEPS:
        policy.step(percent)
        reached_full = reached_full or percent >= 100
        in_step = 0.0
        while True:
            t += INTERVAL
            in_step += INTERVAL
            c = Window(*draw_window(rng, rate * percent / 100, INTERVAL, canary_error, MEDIAN_MS * lat_x, SIGMA))
            s = None
            if percent < 100:
                s = Window(*draw_window(rng, rate * (100 - percent) / 100, INTERVAL, stable_error, MEDIAN_MS, SIGMA))
            action = policy.look(c, s, in_step)
            if action == "rollback":
                return Outcome("rolled_back", t, reached_full)
            if action == "pause":
                return Outcome("paused", t, reached_full)
            if action == "advance" and (percent < 100 or in_step >= BAKE - 1e-6):
                break
            if in_step > 4 * MAX_STEP:  # a judge that never decides: counted as paused
                return Outcome("paused", t, reached_full)
    return Outcome("promoted", t, True)


@dataclass
class Cell:
    rate: float
    stable_error: float
    effect: tuple[str, float, float]
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)


def _cell_job(args: tuple[float, float, tuple[str, float, float], int, JudgeSettings]) -> Cell:
    global SETTINGS
    rate, stable_error, effect, seeds, SETTINGS = args
    cell = Cell(rate, stable_error, effect)
    for name, make in JUDGES.items():
        cell.outcomes[name] = [run(make(), rate, stable_error, effect, 1000 + seed) for seed in range(seeds)]
    return cell


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"


def summarise(cell: Cell) -> list[str]:
    healthy = cell.effect[0] == "none"
    row = [f"{cell.rate:g}", f"{100 * cell.stable_error:g}%", cell.effect[0]]
    for name, outcomes in cell.outcomes.items():
        n = len(outcomes)
        if healthy:
            bad = sum(o.result == "rolled_back" for o in outcomes)
            times = [o.at for o in outcomes if o.result == "promoted"]
        else:
            bad = sum(o.reached_full for o in outcomes)
            times = [o.at for o in outcomes if o.result == "rolled_back"]
        cellText = f"{100 * bad / n:.0f}% {_median(times)}"
        if name == "seq":
            paused = sum(o.result == "paused" for o in outcomes)
            cellText += f" p{100 * paused / n:.0f}%"
        row.append(cellText)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and cells (well under a minute)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--error-floor", type=float, default=None, help="errorRateFloor in percentage points")
    parser.add_argument("--cells", default=None, help='only these, e.g. "1000/0.1/none,1000/0.1/err x2"')
    args = parser.parse_args()
    if args.error_floor is not None:
        global SETTINGS
        SETTINGS = JudgeSettings(error_floor=args.error_floor / 100)
    seeds = args.seeds or (12 if args.quick else 100)
    effects = EFFECTS if not args.quick else tuple(e for e in EFFECTS if e[0] in ("none", "err x2", "lat x1.25",
                                                                                 "broken"))
    rates = RATES if not args.quick else (10.0, 1000.0)
    jobs = [(r, e, eff, seeds, SETTINGS) for r in rates for e in STABLE_ERRORS for eff in effects]
    if args.cells:
        wanted = {tuple(c.split("/")) for c in args.cells.split(",")}
        jobs = [j for j in jobs if (f"{j[0]:g}", f"{100 * j[1]:g}", j[2][0]) in wanted]
    started = time.perf_counter()
    with Pool(args.workers) as pool:
        cells = pool.map(_cell_job, jobs, chunksize=1)
    header = ["req/s", "stable err", "effect", *(f"{n} bad% t" for n in JUDGES)]
    rows = [summarise(c) for c in cells]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(f"\n{seeds} seeds per cell and judge; bad% = false rollbacks (effect none) or regressions that "
          "reached 100% of traffic; t = median seconds to promote (none) or to roll back (regressions); "
          f"seq p = paused as inconclusive after {MAX_STEP:.0f}s. {time.perf_counter() - started:.0f}s wall.")


if __name__ == "__main__":
    main()
