"""Anytime-valid building blocks: Bernoulli mixture e-values and time-uniform bounds.

Everything the judge decides is a count of successes out of trials (errors out of requests,
requests slower than a latency out of requests). For such a count this module gives

* :func:`log_e_above` / :func:`log_e_below`: the log of a **mixture likelihood ratio** (an
  e-value) against the composite null "p <= p0" (resp. "p >= p0"). The mixture is a Beta prior
  truncated to the alternative side, so the ratio is, in closed form, a ratio of incomplete beta
  integrals (Lindon & Malek, NeurIPS 2022 use the same conjugate construction for multinomial
  counts). Under any p in the null the ratio is a nonnegative supermartingale in the number of
  trials, so by Ville's inequality P(ever >= 1/alpha) <= alpha: it may be looked at after every
  request, every interval, or whenever a person asks, and the false-alarm rate still holds.
* :func:`clopper_pearson`: an exact binomial interval, used with a per-look alpha that sums to
  the budget over unlimited looks (alpha / (t (t + 1)) at look t), so it is time-uniform too.

scipy's special functions do the numerics (the incomplete beta and its inverse); nothing here
is hand-rolled beyond the algebra.
"""

from __future__ import annotations

import math

from scipy.special import betainc, betaincc, betaincinv, betaln  # type: ignore[import-untyped]

_TINY = 1e-300


def prior(p0: float, alternative: float) -> tuple[float, float]:
    """Beta(a, b) centred on ``alternative`` with a spread of about |alternative - p0|.

    Centring the mixture where the effect is expected buys power there (a point alternative is
    optimal at its point); a spread as wide as the gap keeps it robust to effects elsewhere.
    """
    mean = min(max(alternative, 1e-9), 1 - 1e-9)
    gap = max(abs(alternative - p0), 1e-9)
    concentration = min(max(mean * (1 - mean) / gap**2 - 1, 2.0), 1e6)
    return concentration * mean, concentration * (1 - mean)


def _log(x: float) -> float:
    return math.log(x) if x > _TINY else -math.inf


def _log_null(k: int, n: int, p0: float) -> float:
    return k * _log(p0) + (n - k) * _log(1 - p0)


def log_e_above(k: int, n: int, p0: float, alternative: float) -> float:
    """log e-value against H0: p <= p0, after ``k`` successes in ``n`` trials (prior on (p0, 1])."""
    if p0 >= 1:
        return 0.0
    if p0 <= 0:
        return math.inf if k > 0 else 0.0
    a, b = prior(p0, alternative)
    mass = float(betaincc(a, b, p0))
    if mass <= _TINY:
        return 0.0
    posterior = float(betaln(a + k, b + n - k)) + _log(float(betaincc(a + k, b + n - k, p0)))
    return posterior - float(betaln(a, b)) - math.log(mass) - _log_null(k, n, p0)


def log_e_below(k: int, n: int, p0: float, alternative: float) -> float:
    """log e-value against H0: p >= p0 (prior on [0, p0)): evidence that p is below p0."""
    if p0 <= 0:
        return 0.0
    if p0 >= 1:
        return math.inf if k < n else 0.0
    a, b = prior(p0, alternative)
    mass = float(betainc(a, b, p0))
    if mass <= _TINY:
        return 0.0
    posterior = float(betaln(a + k, b + n - k)) + _log(float(betainc(a + k, b + n - k, p0)))
    return posterior - float(betaln(a, b)) - math.log(mass) - _log_null(k, n, p0)


def look_alpha(alpha: float, look: int) -> float:
    """The share of ``alpha`` spent at look ``look`` (1, 2, ...): the shares sum to ``alpha``."""
    t = max(look, 1)
    return alpha / (t * (t + 1))


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Exact two-sided (1 - alpha) interval for a binomial proportion; (0, 1) without trials."""
    if n <= 0:
        return 0.0, 1.0
    low = 0.0 if k <= 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k >= n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high
