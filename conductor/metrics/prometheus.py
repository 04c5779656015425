"""Prometheus as the metrics source: a few instant PromQL queries per sample.

Each sample runs the service's templates (see :mod:`conductor.metrics.prometheus_settings`) as
instant queries on ``/api/v1/query``. Range functions inside the query (``increase(x[60s])``,
``rate(...)``) carry the window, so no ``query_range`` round trip is needed for a verdict.

What the answers mean, because a wrong reading here ships a bad release:

* an empty vector for ``requests`` is **no data** (``requests == 0``), never healthy;
* an empty vector for ``errors`` is zero errors (a 5xx series exists only after the first 5xx);
* NaN (``histogram_quantile`` over no traffic, 0/0) is "no value": latency None, counts 0;
* an HTTP error, a Prometheus ``status: error`` or a timeout is **metrics unavailable**
  (``available=False``) with the exact query and the upstream message, and never raises.

Usage::

    provider = PrometheusMetrics(PrometheusSettings(url="http://prometheus:9090", preset="istio"))
    provider.sample("api", "green", 60).error_rate_percent  # None when there was no traffic
"""

from __future__ import annotations

import base64
import math
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from string import Template
from typing import Any

import httpx2

from conductor.metrics.base import MetricsSample
from conductor.metrics.evidence import Histogram
from conductor.metrics.prometheus_settings import PRESETS, PrometheusSettings, resolved_queries
from conductor.platforms.base import Slot

LabelsFor = Callable[[str, Slot], Mapping[str, str]]
_QUANTILES = {"p50": "0.5", "p95": "0.95", "p99": "0.99"}


class QueryFailed(Exception):
    """One query could not be answered; the message names the query and the upstream error."""


def default_labels(service: str, slot: Slot) -> dict[str, str]:
    """Placeholders off Kubernetes: the slot's workload and Service are ``<service>-<slot>``."""
    return {"namespace": "", "workload": f"{service}-{slot}", "k8s_service": f"{service}-{slot}"}


class PrometheusMetrics:
    """The MetricsProvider protocol over the Prometheus HTTP API.

    ``client`` is injectable (tests pass one with a mock transport); otherwise one is built from
    the auth and TLS settings. ``labels_for`` supplies ``$namespace``, ``$workload`` and
    ``$k8s_service`` for a service's slot (the Kubernetes platform passes its own naming).
    """

    def __init__(
        self,
        settings: PrometheusSettings,
        labels_for: LabelsFor = default_labels,
        client: httpx2.Client | None = None,
    ) -> None:
        self._settings = settings
        self._labels_for = labels_for
        self._client = client if client is not None else _build_client(settings)
        self._base = settings.url.rstrip("/")
        self._unit = settings.latency_unit or PRESETS[settings.preset][1]

    def sample(self, service: str, slot: Slot, window_seconds: float) -> MetricsSample:
        queries = resolved_queries(self._settings, service)
        values = {
            "service": service,
            "slot": slot,
            "window": f"{max(1, math.ceil(window_seconds))}s",
            **self._labels_for(service, slot),
        }
        try:
            requests = self._count(queries.requests, values)
            errors = self._count(queries.errors, values)
            latencies = {
                name: self._latency_ms(queries.latency, {**values, "quantile": quantile})
                for name, quantile in _QUANTILES.items()
            }
            connections = self._count(queries.active_connections, values)
            histogram = self._histogram(queries.histogram, values)
        except QueryFailed as exc:
            return MetricsSample(service, slot, window_seconds, available=False, error=str(exc))
        return MetricsSample(
            service=service,
            slot=slot,
            window_seconds=window_seconds,
            requests=requests,
            errors=min(errors, requests),
            p50_ms=latencies["p50"],
            p95_ms=latencies["p95"],
            p99_ms=latencies["p99"],
            active_connections=connections,
            latency_buckets=histogram,
        )

    def close(self) -> None:
        self._client.close()

    # -- queries ---------------------------------------------------------------------------------

    def _count(self, template: str | None, values: Mapping[str, str]) -> int:
        if not template:
            return 0
        value = self.query(Template(template).safe_substitute(values))
        return 0 if value is None or math.isnan(value) else max(0, round(value))

    def _latency_ms(self, template: str | None, values: Mapping[str, str]) -> float | None:
        if not template:
            return None
        value = self.query(Template(template).safe_substitute(values))
        if value is None or math.isnan(value) or math.isinf(value):
            return None
        return round(value * 1000.0 if self._unit == "seconds" else value, 3)

    def _histogram(self, template: str | None, values: Mapping[str, str]) -> Histogram:
        """Bucket counts (non-cumulative, bounds in ms) from a ``sum by (le)`` vector of cumulative
        bucket increases. ``increase`` extrapolates, so counts are rounded and kept monotonic."""
        if not template:
            return ()
        promql = Template(template).safe_substitute(values)
        cumulative: list[tuple[float, float]] = []
        for labels, value in self.query_vector(promql):
            le = labels.get("le")
            if le is None:
                raise QueryFailed(f"query {promql!r}: a histogram series without an `le` label")
            bound = math.inf if le == "+Inf" else float(le)
            scale = 1000.0 if self._unit == "seconds" and not math.isinf(bound) else 1.0
            cumulative.append((bound * scale, 0.0 if math.isnan(value) else value))
        buckets: list[tuple[float, int]] = []
        below = 0
        for bound, value in sorted(cumulative):
            seen = max(below, round(value))
            if seen > below:
                buckets.append((bound, seen - below))
            below = seen
        return tuple(buckets)

    def query(self, promql: str) -> float | None:
        """The instant value of ``promql``: None for an empty result, NaN kept as NaN.

        Raises QueryFailed (with the query and the upstream message) on any failure.
        """
        data = self._data(promql)
        return _value(data, promql)

    def query_vector(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """Every series of an instant vector: (labels, value). Raises QueryFailed like query()."""
        data = self._data(promql)
        result = data.get("result")
        if data.get("resultType") != "vector" or not isinstance(result, list):
            raise QueryFailed(f"query {promql!r}: expected an instant vector, got {data.get('resultType')!r}")
        try:
            return [({str(k): str(v) for k, v in series["metric"].items()}, float(series["value"][1]))
                    for series in result]
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise QueryFailed(f"query {promql!r}: malformed vector result: {exc}") from exc

    def _data(self, promql: str) -> Mapping[str, Any]:
        try:
            response = self._client.get(f"{self._base}/api/v1/query", params={"query": promql})
        except httpx2.TimeoutException as exc:
            raise QueryFailed(f"query {promql!r}: timed out after {self._settings.timeout:g}s ({exc})") from exc
        except httpx2.HTTPError as exc:
            raise QueryFailed(f"query {promql!r}: {type(exc).__name__}: {exc}") from exc
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise QueryFailed(f"query {promql!r}: HTTP {response.status_code}: {response.text[:200]!r}")
        if response.status_code >= 400 or body.get("status") != "success":
            upstream = f"{body.get('errorType', 'error')}: {body.get('error', 'no message')}"
            raise QueryFailed(f"query {promql!r}: HTTP {response.status_code}: {upstream}")
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise QueryFailed(f"query {promql!r}: malformed answer: data is {type(data).__name__}")
        return data


def _value(data: Mapping[str, Any], promql: str) -> float | None:
    """Sum a vector's samples (queries should aggregate; summing keeps a stray split honest)."""
    kind = data.get("resultType")
    result = data.get("result")
    try:
        if kind == "scalar" and isinstance(result, list):
            return float(result[1])
        if kind == "vector" and isinstance(result, list):
            if not result:
                return None
            return sum(float(series["value"][1]) for series in result)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise QueryFailed(f"query {promql!r}: malformed {kind} result: {exc}") from exc
    raise QueryFailed(f"query {promql!r}: expected an instant vector or scalar, got {kind!r}")


def _build_client(settings: PrometheusSettings) -> httpx2.Client:
    return httpx2.Client(timeout=settings.timeout, verify=_verify(settings), auth=_Auth(settings))


def _verify(settings: PrometheusSettings) -> ssl.SSLContext | bool:
    tls = settings.tls
    if tls.insecure_skip_verify:
        return False
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


class _Auth(httpx2.Auth):
    """Bearer token (re-read from its file on every request, so a rotated token just works) or basic."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self._settings = settings

    def auth_flow(self, request: httpx2.Request) -> Any:
        settings = self._settings
        token = settings.bearer_token
        if settings.bearer_token_file:
            token = Path(settings.bearer_token_file).read_text(encoding="utf-8").strip()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        elif settings.basic_auth is not None:
            basic = settings.basic_auth
            password = basic.password or ""
            if basic.password_file:
                password = Path(basic.password_file).read_text(encoding="utf-8").strip()
            pair = base64.b64encode(f"{basic.username}:{password}".encode()).decode()
            request.headers["Authorization"] = f"Basic {pair}"
        yield request
