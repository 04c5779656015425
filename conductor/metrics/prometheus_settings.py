"""Settings of the Prometheus metrics provider, and the query presets it ships with.

Kept apart from :mod:`conductor.metrics.prometheus` so that validating a config never imports an
HTTP client. Queries are PromQL templates with ``$placeholders`` (``string.Template``), because
PromQL itself is full of ``{}``:

    $service      Conductor's service name (``api``)
    $slot         ``blue`` or ``green``
    $namespace    Kubernetes namespace (empty off Kubernetes)
    $workload     the slot's Deployment (``api-green``): Istio's ``destination_workload``
    $k8s_service  the slot's Service (``api-green``): ingress-nginx's ``service`` label
    $window       the sample window as a PromQL duration (``60s``)
    $quantile     0.5, 0.95 or 0.99 (latency query only)

Every query must return one number (aggregate with ``sum``): several series are summed, an empty
vector is "no series" (no requests, or no errors), NaN is "no value". The exception is
``histogram``: one series per bucket bound ``le`` (``sum by (le) (increase(x_bucket[$window]))``),
the latency histogram the judge tests — a percentile alone is not evidence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conductor.config import ServiceName, StrictModel


class PromQueries(StrictModel):
    """PromQL templates; any left out comes from the preset."""

    requests: str | None = Field(None, description="Requests in the window (a count, e.g. sum(increase(...))).")
    errors: str | None = Field(None, description="Failed requests in the window (5xx and upstream failures).")
    latency: str | None = Field(None, description="A latency quantile over the window, with $quantile.")
    histogram: str | None = Field(
        None, description="Latency bucket counts in the window, one series per `le` (sum by (le) (increase(...)))."
    )
    active_connections: str | None = Field(None, alias="activeConnections", description="Open connections now.")


class BasicAuth(StrictModel):
    username: str
    password: str | None = None
    password_file: str | None = Field(None, alias="passwordFile")


class TlsOptions(StrictModel):
    ca_file: str | None = Field(None, alias="caFile")
    cert_file: str | None = Field(None, alias="certFile")
    key_file: str | None = Field(None, alias="keyFile")
    insecure_skip_verify: bool = Field(False, alias="insecureSkipVerify")


Preset = Literal["router", "ingress-nginx", "istio"]


class PrometheusSettings(StrictModel):
    kind: Literal["prometheus"] = "prometheus"
    url: str = Field(pattern=r"^https?://", description="Prometheus base URL (the /api/v1 prefix is added).")
    preset: Preset = Field("router", description="Default queries: router, ingress-nginx or istio metric names.")
    queries: PromQueries = Field(
        default_factory=lambda: PromQueries.model_validate({}), description="Overrides for every service."
    )
    services: dict[ServiceName, PromQueries] = Field(default_factory=dict, description="Overrides per service.")
    latency_unit: Literal["seconds", "milliseconds"] | None = Field(
        None, alias="latencyUnit", description="Unit of the latency query. Default: the preset's."
    )
    bearer_token: str | None = Field(None, alias="bearerToken")
    bearer_token_file: str | None = Field(None, alias="bearerTokenFile", description="Re-read on every sample.")
    basic_auth: BasicAuth | None = Field(None, alias="basicAuth")
    tls: TlsOptions = Field(default_factory=lambda: TlsOptions.model_validate({}))
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds per query.")


PRESETS: dict[Preset, tuple[PromQueries, Literal["seconds", "milliseconds"]]] = {
    # The local router's own /metrics (conductor.platforms.local.stats: labels service and slot).
    "router": (
        PromQueries.model_validate(
            dict(
                requests='sum(increase(conductor_router_requests_total{service="$service",slot="$slot"}[$window]))',
                errors='sum(increase(conductor_router_errors_total{service="$service",slot="$slot"}[$window]))',
                latency="histogram_quantile($quantile, sum by (le) (rate("
                'conductor_router_request_duration_seconds_bucket{service="$service",slot="$slot"}[$window])))',
                histogram="sum by (le) (increase(conductor_router_request_duration_seconds_bucket{"
                'service="$service",slot="$slot"}[$window]))',
                activeConnections='sum(conductor_router_active_connections{service="$service",slot="$slot"})',
            )
        ),
        "seconds",
    ),
    # ingress-nginx: one Service per slot (api-blue / api-green), as the HTTPRoute mode creates.
    "ingress-nginx": (
        PromQueries.model_validate(
            dict(
                requests='sum(increase(nginx_ingress_controller_requests{namespace="$namespace",'
                'service="$k8s_service"}[$window]))',
                errors='sum(increase(nginx_ingress_controller_requests{namespace="$namespace",'
                'service="$k8s_service",status=~"5.."}[$window]))',
                latency="histogram_quantile($quantile, sum by (le) (rate(nginx_ingress_controller_request_duration"
                '_seconds_bucket{namespace="$namespace",service="$k8s_service"}[$window])))',
                histogram="sum by (le) (increase(nginx_ingress_controller_request_duration_seconds_bucket{"
                'namespace="$namespace",service="$k8s_service"}[$window]))',
            )
        ),
        "seconds",
    ),
    # Istio standard metrics, reported by the destination sidecar of the slot's Deployment.
    "istio": (
        PromQueries.model_validate(
            dict(
                requests='sum(increase(istio_requests_total{reporter="destination",'
                'destination_workload_namespace="$namespace",destination_workload="$workload"}[$window]))',
                errors='sum(increase(istio_requests_total{reporter="destination",'
                'destination_workload_namespace="$namespace",destination_workload="$workload",'
                'response_code=~"5.."}[$window]))',
                latency="histogram_quantile($quantile, sum by (le) (rate(istio_request_duration_milliseconds_bucket{"
                'reporter="destination",destination_workload_namespace="$namespace",'
                'destination_workload="$workload"}[$window])))',
                histogram='sum by (le) (increase(istio_request_duration_milliseconds_bucket{reporter="destination",'
                'destination_workload_namespace="$namespace",destination_workload="$workload"}[$window]))',
                activeConnections='sum(istio_tcp_connections_opened_total{reporter="destination",'
                'destination_workload_namespace="$namespace",destination_workload="$workload"}) - '
                'sum(istio_tcp_connections_closed_total{reporter="destination",'
                'destination_workload_namespace="$namespace",destination_workload="$workload"})',
            )
        ),
        "milliseconds",
    ),
}


def resolved_queries(settings: PrometheusSettings, service: str) -> PromQueries:
    """Preset < ``queries`` < ``services[service]``, field by field."""
    merged = PRESETS[settings.preset][0].model_dump()
    for layer in (settings.queries, settings.services.get(service)):
        if layer is not None:
            merged.update({k: v for k, v in layer.model_dump().items() if v is not None})
    return PromQueries.model_validate(merged)
