"""Prometheus histogram queries: the ``_bucket`` increases the judge tests, for every preset."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import respx

from conductor.metrics.evidence import count_above
from conductor.metrics.prometheus import PrometheusMetrics
from conductor.metrics.prometheus_settings import PrometheusSettings

URL = "http://prometheus.test:9090"
TS = 1795000000.123


def buckets(*pairs: tuple[str, str]) -> dict[str, Any]:
    result = [{"metric": {"le": le}, "value": [TS, v]} for le, v in pairs]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def scalar_vector(value: str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [TS, value]}]}}


@pytest.fixture
def prom() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=URL, assert_all_called=False) as router:
        yield router


def respond(histogram: dict[str, Any], requests: str = "100") -> Any:
    def answer(request: httpx2.Request) -> httpx2.Response:
        query = parse_qs(urlsplit(str(request.url)).query)["query"][0]
        if query.startswith("sum by (le) (increase("):
            return httpx2.Response(200, json=histogram)
        if "errors" in query or "5.." in query:
            return httpx2.Response(200, json=scalar_vector("2"))
        return httpx2.Response(200, json=scalar_vector(requests))

    return answer


def queries(prom: respx.MockRouter) -> list[str]:
    return [parse_qs(urlsplit(str(c.request.url)).query)["query"][0] for c in prom.calls]


def test_router_preset_reads_cumulative_buckets_as_counts_in_milliseconds(prom: respx.MockRouter) -> None:
    # increase() extrapolates: 59.6 rounds to 60; out-of-order series are sorted by le.
    body = buckets(("0.25", "90.2"), ("0.1", "59.6"), ("+Inf", "100"), ("0.05", "10"), ("1", "99.6"))
    prom.get("/api/v1/query").mock(side_effect=respond(body))
    sample = PrometheusMetrics(PrometheusSettings(url=URL)).sample("api", "green", 60)
    assert sample.latency_buckets == ((50.0, 10), (100.0, 50), (250.0, 30), (1000.0, 10))
    assert sample.evidence().timed_requests == 100
    assert count_above(sample.latency_buckets, 250.0, surely=True) == 10
    assert ('sum by (le) (increase(conductor_router_request_duration_seconds_bucket{service="api",slot="green"}'
            '[60s]))') in queries(prom)


def test_a_decreasing_cumulative_count_never_makes_a_negative_bucket(prom: respx.MockRouter) -> None:
    body = buckets(("0.1", "40"), ("0.25", "38.4"), ("+Inf", "41"))  # extrapolation noise
    prom.get("/api/v1/query").mock(side_effect=respond(body, requests="41"))
    sample = PrometheusMetrics(PrometheusSettings(url=URL)).sample("api", "green", 30)
    assert sample.latency_buckets == ((100.0, 40), (math.inf, 1))


def test_istio_buckets_are_already_milliseconds(prom: respx.MockRouter) -> None:
    body = buckets(("100", "70"), ("250", "95"), ("+Inf", "100"))
    prom.get("/api/v1/query").mock(side_effect=respond(body))
    settings = PrometheusSettings.model_validate({"url": URL, "preset": "istio"})
    sample = PrometheusMetrics(settings).sample("api", "blue", 120)
    assert sample.latency_buckets == ((100.0, 70), (250.0, 25), (math.inf, 5))
    histogram_query = next(q for q in queries(prom) if q.startswith("sum by (le)"))
    assert "istio_request_duration_milliseconds_bucket" in histogram_query and "[120s]" in histogram_query


def test_ingress_nginx_preset_queries_the_slots_service(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(side_effect=respond(buckets(("0.5", "3"), ("+Inf", "3"))))
    settings = PrometheusSettings.model_validate({"url": URL, "preset": "ingress-nginx"})
    sample = PrometheusMetrics(settings).sample("web", "green", 10)
    assert sample.latency_buckets == ((500.0, 3),)
    histogram_query = next(q for q in queries(prom) if q.startswith("sum by (le)"))
    assert 'nginx_ingress_controller_request_duration_seconds_bucket{namespace="",service="web-green"}' in (
        histogram_query
    )


def test_a_custom_histogram_query_is_used(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(side_effect=respond(buckets(("0.2", "5"), ("+Inf", "6"))))
    settings = PrometheusSettings.model_validate({
        "url": URL, "queries": {"histogram": 'sum by (le) (increase(my_latency_bucket{app="$service"}[$window]))'},
    })
    sample = PrometheusMetrics(settings).sample("api", "green", 10)
    assert sample.latency_buckets == ((200.0, 5), (math.inf, 1))
    assert 'sum by (le) (increase(my_latency_bucket{app="api"}[10s]))' in queries(prom)


def test_no_series_is_no_histogram_and_a_series_without_le_is_unavailable(prom: respx.MockRouter) -> None:
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    prom.get("/api/v1/query").mock(side_effect=respond(empty))
    assert PrometheusMetrics(PrometheusSettings(url=URL)).sample("api", "green", 10).latency_buckets == ()
    prom.get("/api/v1/query").mock(side_effect=respond(scalar_vector("4")))
    broken = PrometheusMetrics(PrometheusSettings(url=URL)).sample("api", "green", 10)
    assert not broken.available and "without an `le` label" in broken.error
