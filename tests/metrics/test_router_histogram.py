"""The local router's per-slot histogram: every request's latency, per window, as the judge reads it."""

from __future__ import annotations

import json
from dataclasses import asdict

from conductor.metrics.router import RouterMetrics, RouterWindow
from conductor.platforms.base import Slot
from conductor.platforms.local.stats import SlotStats


def test_a_window_carries_its_latency_buckets_and_they_survive_the_control_api_json() -> None:
    stats = SlotStats()
    for latency, error in ((10.0, False), (10.2, False), (95.0, True), (400.0, False)):
        stats.start()
        stats.finish(latency_ms=latency, error=error)
    window = stats.window(60)
    assert sum(c for _, c in window.latency) == 4 == window.requests
    assert [c for _, c in window.latency] == [2, 1, 1]  # 10.0 and 10.2 ms share one 5% bucket
    assert window.latency[0][0] >= 10.2 and window.latency[-1][0] >= 400.0

    over_http = RouterWindow(**json.loads(json.dumps(asdict(window))))  # what ControlClient.window builds

    class Source:
        def window(self, service: str, slot: Slot, seconds: float) -> RouterWindow:
            return over_http

    sample = RouterMetrics(Source()).sample("api", "green", 60)
    assert sample.latency_buckets == window.latency
    evidence = sample.evidence()
    assert (evidence.requests, evidence.errors, evidence.timed_requests) == (4, 1, 4)
