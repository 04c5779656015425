"""The Prometheus provider against recorded /api/v1/query answers (respx), and the config it reads.

The bodies below are what Prometheus 2.x/3.x return for each case (shape, status codes,
errorType strings), so a reading mistake here is the same mistake in production.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import respx

from conductor.metrics.prometheus import PrometheusMetrics
from conductor.metrics.prometheus_settings import PrometheusSettings

URL = "http://prometheus.test:9090"
TS = 1795000000.123


def vector(*values: str, metric: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": metric or {}, "value": [TS, v]} for v in values]},
    }


EMPTY = {"status": "success", "data": {"resultType": "vector", "result": []}}
BAD_DATA = {
    "status": "error",
    "errorType": "bad_data",
    "error": 'invalid parameter "query": 1:27: parse error: unexpected "}" in label matching',
}
QUERY_TIMEOUT = {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"}


def settings(**extra: Any) -> PrometheusSettings:
    return PrometheusSettings.model_validate({"url": URL, **extra})


def answer(by_metric: dict[str, Any]) -> Any:
    """A respx side effect: choose the recorded body by which metric family the query reads."""

    def respond(request: httpx2.Request) -> httpx2.Response:
        query = parse_qs(urlsplit(str(request.url)).query)["query"][0]
        for needle, body in by_metric.items():
            if needle in query:
                status, payload = body if isinstance(body, tuple) else (200, body)
                return httpx2.Response(status, json=payload)
        return httpx2.Response(200, json=EMPTY)

    return respond


@pytest.fixture
def prom() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=URL, assert_all_called=False) as router:
        yield router


def test_vector_answers_become_a_sample(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(
        side_effect=answer(
            {
                "conductor_router_errors_total": vector("3"),
                "histogram_quantile(0.5,": vector("0.085"),
                "histogram_quantile(0.95,": vector("0.21"),
                "histogram_quantile(0.99,": vector("0.4"),
                "active_connections": vector("7"),
                "conductor_router_requests_total": vector("40", "20"),  # two series: summed
            }
        )
    )
    sample = PrometheusMetrics(settings()).sample("api", "green", 60)

    assert sample.available and sample.requests == 60 and sample.errors == 3
    assert sample.error_rate_percent == pytest.approx(5.0)
    assert (sample.p50_ms, sample.p95_ms, sample.p99_ms) == (85.0, 210.0, 400.0)
    assert sample.active_connections == 7
    queries = [parse_qs(urlsplit(str(c.request.url)).query)["query"][0] for c in prom.calls]
    assert 'sum(increase(conductor_router_requests_total{service="api",slot="green"}[60s]))' in queries


def test_empty_result_is_no_data_never_healthy(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(return_value=httpx2.Response(200, json=EMPTY))
    sample = PrometheusMetrics(settings()).sample("api", "green", 30)

    assert sample.available  # Prometheus answered ...
    assert sample.requests == 0 and sample.error_rate_percent is None  # ... that there was nothing to judge
    assert sample.p95_ms is None


def test_no_error_series_means_zero_errors(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(
        side_effect=answer({"conductor_router_errors_total": EMPTY, "conductor_router_requests_total": vector("120")})
    )
    sample = PrometheusMetrics(settings()).sample("api", "blue", 60)
    assert sample.requests == 120 and sample.errors == 0 and sample.error_rate_percent == 0.0


def test_nan_latency_is_no_value(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(
        side_effect=answer(
            {
                "histogram_quantile": vector("NaN"),
                "conductor_router_errors_total": vector("NaN"),
                "requests_total": vector("0"),
            }
        )
    )
    sample = PrometheusMetrics(settings()).sample("api", "green", 60)
    assert sample.available and sample.requests == 0 and sample.errors == 0
    assert sample.p50_ms is None and sample.p99_ms is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, BAD_DATA, 'HTTP 400: bad_data: invalid parameter "query"'),
        (503, QUERY_TIMEOUT, "HTTP 503: timeout: query timed out in expression evaluation"),
        (422, {"status": "error", "errorType": "execution", "error": "many-to-many matching not allowed"}, "execution"),
    ],
)
def test_error_status_is_metrics_unavailable_with_query_and_message(
    prom: respx.MockRouter, status: int, body: dict[str, Any], expected: str
) -> None:
    prom.get("/api/v1/query").mock(return_value=httpx2.Response(status, json=body))
    sample = PrometheusMetrics(settings()).sample("api", "green", 60)

    assert not sample.available and sample.requests == 0
    assert expected in sample.error
    assert "conductor_router_requests_total" in sample.error  # the exact query, to paste into Prometheus


def test_non_json_gateway_error_is_unavailable(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(return_value=httpx2.Response(502, text="<html>Bad Gateway</html>"))
    sample = PrometheusMetrics(settings()).sample("api", "green", 60)
    assert not sample.available and "HTTP 502" in sample.error and "Bad Gateway" in sample.error


def test_timeout_is_unavailable_and_does_not_raise(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(side_effect=httpx2.ReadTimeout("timed out"))
    sample = PrometheusMetrics(settings(timeout=2)).sample("api", "green", 60)
    assert not sample.available and "timed out after 2s" in sample.error


def test_connection_refused_is_unavailable(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(side_effect=httpx2.ConnectError("connection refused"))
    sample = PrometheusMetrics(settings()).sample("api", "green", 60)
    assert not sample.available and "ConnectError: connection refused" in sample.error


def test_istio_preset_uses_workload_names_and_milliseconds(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(
        side_effect=answer({"histogram_quantile": vector("180"), "istio_requests_total": vector("10")})
    )

    def labels(service: str, slot: str) -> dict[str, str]:
        return {"namespace": "shop", "workload": f"{service}-{slot}", "k8s_service": f"{service}-{slot}"}

    sample = PrometheusMetrics(settings(preset="istio"), labels_for=labels).sample("api", "green", 120)
    assert sample.p95_ms == 180.0  # already milliseconds
    query = parse_qs(urlsplit(str(prom.calls[0].request.url)).query)["query"][0]
    assert 'destination_workload="api-green"' in query and 'destination_workload_namespace="shop"' in query
    assert "[120s]" in query


def test_per_service_query_overrides_win(prom: respx.MockRouter) -> None:
    prom.get("/api/v1/query").mock(side_effect=answer({"my_requests": vector("5")}))
    config = settings(
        preset="ingress-nginx",
        queries={"activeConnections": "sum(my_conns)"},
        services={"api": {"requests": 'sum(increase(my_requests{slot="$slot"}[$window]))'}},
    )
    sample = PrometheusMetrics(config).sample("api", "blue", 10)
    sent = [parse_qs(urlsplit(str(c.request.url)).query)["query"][0] for c in prom.calls]
    assert sample.requests == 5
    assert 'sum(increase(my_requests{slot="blue"}[10s]))' in sent and "sum(my_conns)" in sent
    assert any("nginx_ingress_controller_requests" in q for q in sent)  # errors still from the preset


def test_bearer_token_file_is_read_on_every_request(prom: respx.MockRouter, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    route = prom.get("/api/v1/query").mock(return_value=httpx2.Response(200, json=EMPTY))
    provider = PrometheusMetrics(settings(bearerTokenFile=str(token)))
    provider.sample("api", "blue", 10)
    token.write_text("second")
    provider.sample("api", "blue", 10)
    headers = [c.request.headers["authorization"] for c in route.calls]
    assert headers[0] == "Bearer first" and headers[-1] == "Bearer second"


def test_basic_auth(prom: respx.MockRouter) -> None:
    route = prom.get("/api/v1/query").mock(return_value=httpx2.Response(200, json=EMPTY))
    PrometheusMetrics(settings(basicAuth={"username": "conductor", "password": "s3cret"})).sample("api", "blue", 10)
    assert route.calls[0].request.headers["authorization"] == "Basic Y29uZHVjdG9yOnMzY3JldA=="


def test_settings_reject_unknown_keys_and_bad_urls() -> None:
    with pytest.raises(ValueError, match="extra"):
        PrometheusSettings.model_validate({"url": URL, "qeuries": {}})
    with pytest.raises(ValueError, match="url"):
        PrometheusSettings.model_validate({"url": "prometheus:9090"})
    assert json.loads(settings().model_dump_json())["preset"] == "router"


# -- against a real Prometheus scraping the local router's /metrics ------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="the prometheus binary is not installed")
def test_verdict_matches_the_router_counters_through_a_real_prometheus(tmp_path: Path) -> None:
    stats_module = pytest.importorskip("conductor.platforms.local.stats")
    from prometheus_client import CollectorRegistry, start_http_server

    collector = stats_module.RouterCollector()
    service = stats_module.ServiceStats("api")
    collector.services["api"] = service
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    exporter, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    prom_port = _free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 500ms, evaluation_interval: 500ms}\n"
        "scrape_configs:\n"
        f"  - job_name: router\n    static_configs: [{{targets: ['127.0.0.1:{exporter.server_address[1]}']}}]\n"
    )
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    provider = PrometheusMetrics(settings(url=f"http://127.0.0.1:{prom_port}", timeout=2))
    try:

        def scraped_samples() -> float:
            try:
                value = provider.query('count_over_time(up{job="router"}[1m])')
            except Exception:
                return 0.0
            return value or 0.0

        _wait(lambda: scraped_samples() >= 1)
        green = service.slots["green"]
        for i in range(200):  # 5% errors, 40 ms
            green.start()
            green.finish(latency_ms=40.0, error=i % 20 == 0)
        seen = scraped_samples()
        _wait(lambda: scraped_samples() >= seen + 2)

        sample = provider.sample("api", "green", 60)
        blue = provider.sample("api", "blue", 60)
    finally:
        process.terminate()
        process.wait(timeout=10)
        exporter.shutdown()

    assert sample.available, sample.error
    assert sample.requests > 0  # increase() extrapolates, so not exactly 200 ...
    # ... and both counts are rounded to whole requests, so the ratio is 5% within one request
    assert sample.error_rate_percent == pytest.approx(5.0, abs=100 / sample.requests)
    assert sample.p95_ms is not None and 25.0 <= sample.p95_ms <= 50.0  # inside the 25-50 ms bucket
    assert [bound for bound, _ in sample.latency_buckets] == [50.0]  # every request in the 25-50 ms bucket
    # The histogram's and the request counter's increase() are extrapolated separately (each series
    # from its own first and last scrape in the window), so they agree within a few percent, not exactly.
    assert sample.evidence().timed_requests == pytest.approx(sample.requests, rel=0.05, abs=1)
    assert blue.available and blue.requests == 0 and blue.error_rate_percent is None  # no traffic: no data


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for Prometheus")
        time.sleep(0.2)
