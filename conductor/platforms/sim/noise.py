"""The simulator's traffic noise: what one slot's requests look like over one window.

Realistic noise or benchmarks on the simulator mean nothing, so every window is a fresh draw:

* requests ~ Poisson(rate x seconds): arrivals of independent users;
* errors ~ Binomial(requests, error rate): each request fails on its own;
* latency per request from a lognormal with the behaviour's median and p95 (a skewed
  distribution with a long right tail, as services have). The histogram is drawn in one step
  from its exact sampling distribution, a multinomial over the buckets' probabilities, so the
  p95 of ten requests is exactly as noisy as ten real requests, at a cost independent of traffic.

Buckets are those of :data:`conductor.metrics.evidence.LOG_BUCKETS_MS` (5% wide, as the local
router's), so percentiles read from them are exact to within ~2.5%.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr  # type: ignore[import-untyped]

from conductor.metrics.evidence import LOG_BUCKETS_MS, Histogram

_Z95 = 1.6448536269514722
_BOUNDS = np.array(LOG_BUCKETS_MS)
_LOG_BOUNDS = np.log(_BOUNDS)


def lognormal_sigma(median_ms: float, p95_ms: float) -> float:
    return max(math.log(max(p95_ms, median_ms * 1.0001) / median_ms) / _Z95, 1e-3)


def draw_latency(rng: np.random.Generator, n: int, median_ms: float, sigma: float) -> Histogram:
    """``n`` request latencies from lognormal(median, sigma), as bucket counts."""
    if n <= 0:
        return ()
    cdf = ndtr((_LOG_BOUNDS - math.log(median_ms)) / sigma)
    probs = np.diff(np.concatenate(([0.0], cdf, [1.0])))
    counts = rng.multinomial(n, np.clip(probs, 0, None) / probs.clip(0, None).sum())
    bounds = (*LOG_BUCKETS_MS, math.inf)
    return tuple((bounds[i], int(counts[i])) for i in np.flatnonzero(counts))


def draw_window(rng: np.random.Generator, rate_per_second: float, seconds: float, error_rate: float,
                median_ms: float, sigma: float) -> tuple[int, int, Histogram]:
    """(requests, errors, latency histogram) of one slot over one window."""
    requests = int(rng.poisson(max(rate_per_second * seconds, 0.0)))
    errors = int(rng.binomial(requests, min(max(error_rate, 0.0), 1.0))) if requests else 0
    return requests, errors, draw_latency(rng, requests, median_ms, sigma)
