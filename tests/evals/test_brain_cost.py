"""tools/bench_brain_cost.py's rollout, as a test: a 3-service canary reaches DEPLOYED within the
turn goal, the static prefix survives the minutes between approvals, the bake is cached for an hour,
and caching costs less than no caching (estimated figures, deterministic)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parents[2] / "tools" / "bench_brain_cost.py"
_SPEC = importlib.util.spec_from_file_location("bench_brain_cost", _PATH)
assert _SPEC is not None and _SPEC.loader is not None
bench: Any = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_brain_cost"] = bench
_SPEC.loader.exec_module(bench)


@pytest.fixture(scope="module")
def cached() -> dict[str, Any]:
    run: dict[str, Any] = bench.rollout("auto")
    return run


def test_the_rollout_reaches_deployed_within_15_turns(cached: dict[str, Any]) -> None:
    assert cached["deployed"] and cached["exits"] == [0, 0, 0, 0]
    assert cached["totals"]["turns"] <= bench.MAX_TURNS_GOAL
    assert all(row["estimated"] for row in cached["rows"])  # scripted: the figures say they are estimates


def test_each_approval_minutes_later_reads_the_static_prefix_and_the_bake_is_cached_for_an_hour(
    cached: dict[str, Any],
) -> None:
    rows = cached["rows"]
    first_of_each_run = [r for r in rows if r["calls"].startswith("shift_traffic") and "deploy" not in r["calls"]]
    assert len(first_of_each_run) == 3 and all(r["cache_read"] > 2000 and r["cache_write"] < 100
                                               for r in first_of_each_run)
    bake = next(r for r in rows[-3:] if r["calls"].startswith("monitor"))
    assert bake["ttl"] == "1h" and bake["cache_write_1h"] == bake["cache_write"] > 0
    assert rows[-1]["calls"] == "promote×3" and rows[-1]["cache_read"] > bake["cache_read"]  # survived 15 min


def test_caching_costs_less_than_no_caching(cached: dict[str, Any]) -> None:
    off = bench.rollout("off")
    assert off["totals"]["cache_read"] == off["totals"]["cache_write"] == 0
    assert off["totals"]["turns"] == cached["totals"]["turns"]
    assert cached["totals"]["cost"] < 0.7 * off["totals"]["cost"]
