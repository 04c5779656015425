"""The price table behind the report footer's cost estimate."""

from __future__ import annotations

import pytest

from conductor.config import ModelSettings
from conductor.models.pricing import DEFAULT_MODEL, estimate_cost, model_id, prices_for

USAGE = {"input_tokens": 1_000_000, "output_tokens": 100_000, "cache_read_input_tokens": 2_000_000,
         "cache_creation_input_tokens": 400_000}


def test_the_longest_matching_prefix_prices_a_model() -> None:
    opus_55, opus_5 = prices_for("claude-opus-5-5"), prices_for("claude-opus-5-20260724")
    assert opus_55 is not None and opus_5 is not None
    assert (opus_55.input, opus_5.input) == (4.0, 5.0)


def test_config_prices_override_key_by_key_and_price_unknown_models_when_complete() -> None:
    cheaper = prices_for(DEFAULT_MODEL, {"input": 1.0})
    assert cheaper is not None and cheaper.input == 1.0 and cheaper.output == 10.0
    assert prices_for("gateway-alias") is None
    full = {"input": 1.0, "output": 2.0, "cacheRead": 0.1, "cacheWrite": 1.5}
    assert prices_for("gateway-alias", full) is not None


def test_an_estimate_adds_every_kind_of_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONDUCTOR_MODEL", raising=False)
    settings = ModelSettings(name="claude-sonnet-5-5")
    assert model_id(settings) == "claude-sonnet-5-5"
    cost = estimate_cost(USAGE, settings)
    assert cost == pytest.approx(2.0 + 1.0 + 0.2 + 1.0)  # input, output, cache reads, cache writes
    assert estimate_cost(USAGE, ModelSettings(name="unknown-model")) is None
