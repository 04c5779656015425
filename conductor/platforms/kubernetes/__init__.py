"""The ``kubernetes`` platform: Deployments per slot, Service selector flips, HTTPRoute weights.

Importing this package (and its settings) does not import the ``kubernetes`` client; only
:func:`_build` does, when a config actually selects this platform. The metrics provider comes
from ``platform.metrics`` (Prometheus), so one backend block describes the whole environment.
"""

from __future__ import annotations

from collections.abc import Mapping

from conductor.clock import RealClock
from conductor.metrics.base import MetricsProvider, MetricsSample
from conductor.platforms.base import Slot
from conductor.platforms.kubernetes.objects import names_for
from conductor.platforms.kubernetes.settings import KubernetesSettings
from conductor.platforms.registry import PlatformBundle, PlatformContext, PlatformKind


class NoMetrics:
    """No ``platform.metrics`` configured: every sample is "unavailable", which is never healthy."""

    def sample(self, service: str, slot: Slot, window_seconds: float) -> MetricsSample:
        return MetricsSample(
            service, slot, window_seconds, available=False, error="no metrics source: set platform.metrics"
        )


def metrics_for(settings: KubernetesSettings) -> MetricsProvider:
    if settings.metrics.kind == "none":
        return NoMetrics()
    from conductor.metrics.prometheus import PrometheusMetrics  # deferred: its HTTP client, only with metrics

    def labels_for(service: str, slot: Slot) -> Mapping[str, str]:
        names = names_for(settings, service)
        return {
            "namespace": settings.namespace,
            "workload": names.deployment(slot),
            "k8s_service": names.slot_service(slot),
        }

    return PrometheusMetrics(settings.metrics, labels_for=labels_for)


def _build(context: PlatformContext) -> PlatformBundle:
    # deferred: the kubernetes SDK (slow to import) loads only when this backend is built
    from conductor.platforms.kubernetes.api import KubeApi, api_client_for
    from conductor.platforms.kubernetes.platform import KubernetesPlatform

    settings = context.settings
    assert isinstance(settings, KubernetesSettings)
    config = context.config
    replicas = {service: config.spec(service).replicas for service in config.orchestration.services}
    api = KubeApi(api_client_for(settings), settings.namespace, settings.request_timeout)
    clock = RealClock()
    platform = KubernetesPlatform(api, settings, replicas, clock)
    return PlatformBundle(platform=platform, metrics=metrics_for(settings), clock=clock)


KIND = PlatformKind(settings_model=KubernetesSettings, build=_build)
