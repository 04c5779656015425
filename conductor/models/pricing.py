"""Which Claude model runs, and what its tokens cost (an estimate for the report's footer).

Kept free of the SDK import so the report can price a run without loading ``anthropic``.

Prices are USD per million tokens, as published for the Claude API in late 2026. They drift, and
gateways bill differently, so ``model.prices`` in the config (keys ``input``, ``output``,
``cacheRead``, ``cacheWrite``, ``cacheWrite1h``) overrides them key by key. A cache write costs
1.25× the input price for the 5-minute lifetime and 2× for the 1-hour one (the published
multipliers; ``cacheWrite1h`` defaults to twice ``input``); a usage dict says how many of its
``cache_creation_input_tokens`` were 1-hour writes in ``cache_creation_1h_input_tokens`` (from the
API's ``usage.cache_creation.ephemeral_1h_input_tokens``). The footer says "estimated" for a reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from conductor.config import ModelSettings

# A current, non-deprecated model with the best speed/quality balance for a tool loop.
DEFAULT_MODEL = "claude-sonnet-5-5"
MODEL_ENV = "CONDUCTOR_MODEL"


def model_id(settings: ModelSettings) -> str:
    """``CONDUCTOR_MODEL`` > ``model.name`` > :data:`DEFAULT_MODEL` (env wins, like a CLI flag)."""
    return os.environ.get(MODEL_ENV) or settings.name or DEFAULT_MODEL


@dataclass(frozen=True)
class Prices:
    input: float
    output: float
    cache_read: float
    cache_write: float
    cache_write_1h: float | None = None  # None: twice the input price

    def cost(self, usage: dict[str, int]) -> float:
        """USD for a usage dict (``input_tokens``, ``output_tokens``, cache read/write tokens; the
        1-hour share of the writes in ``cache_creation_1h_input_tokens``)."""
        written = usage.get("cache_creation_input_tokens", 0)
        hour = min(usage.get("cache_creation_1h_input_tokens", 0), written)
        hour_rate = self.cache_write_1h if self.cache_write_1h is not None else 2 * self.input
        return (
            usage.get("input_tokens", 0) * self.input
            + usage.get("output_tokens", 0) * self.output
            + usage.get("cache_read_input_tokens", 0) * self.cache_read
            + (written - hour) * self.cache_write
            + hour * hour_rate
        ) / 1_000_000


# Longest prefix wins, so "claude-opus-5-5" is not priced as "claude-opus-5".
PUBLISHED: dict[str, Prices] = {
    "claude-fable-5": Prices(10.0, 50.0, 0.25, 12.5),
    "claude-mythos-5": Prices(10.0, 50.0, 0.25, 12.5),
    "claude-opus-5-5": Prices(4.0, 20.0, 0.20, 5.0),
    "claude-opus-5": Prices(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4": Prices(5.0, 25.0, 0.50, 6.25),
    "claude-sonnet-5-5": Prices(2.0, 10.0, 0.10, 2.5),
    "claude-sonnet-5": Prices(2.0, 10.0, 0.20, 2.5),
    "claude-sonnet-4": Prices(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-5-5": Prices(0.10, 0.50, 0.01, 0.125),  # prompts up to 100k tokens
    "claude-haiku-4": Prices(1.0, 5.0, 0.10, 1.25),
}

_CONFIG_KEYS = {"input": "input", "output": "output", "cacheRead": "cache_read", "cacheWrite": "cache_write",
                "cacheWrite1h": "cache_write_1h"}
_REQUIRED_KEYS = ("input", "output", "cacheRead", "cacheWrite")


def prices_for(model: str, overrides: dict[str, float] | None = None) -> Prices | None:
    """The published prices of ``model`` with ``overrides`` applied; None when nothing is known.

    A config that sets all four keys prices any model, including one behind a gateway alias.
    """
    matches = [prefix for prefix in PUBLISHED if model.startswith(prefix)]
    base = PUBLISHED[max(matches, key=len)] if matches else None
    overrides = {k: v for k, v in (overrides or {}).items() if k in _CONFIG_KEYS}
    if base is None:
        if any(key not in overrides for key in _REQUIRED_KEYS):
            return None
        base = Prices(0.0, 0.0, 0.0, 0.0)
    values = {field: getattr(base, field) for field in _CONFIG_KEYS.values()}
    values.update({_CONFIG_KEYS[key]: value for key, value in overrides.items()})
    return Prices(**values)


def estimate_cost(usage: dict[str, int], settings: ModelSettings, model: str | None = None) -> float | None:
    """Estimated USD for ``usage`` on ``model`` (default: the configured one); None if unpriced."""
    prices = prices_for(model or model_id(settings), settings.prices)
    return prices.cost(usage) if prices is not None else None
