"""Settings of the ``kubernetes`` platform: which cluster, and which objects carry each service.

Importing this module never imports the ``kubernetes`` client: config validation (and ``conductor
doctor --help``) stays fast and works where the client is not installed.

How a service maps onto the cluster (names are defaults, every one can be set per service)::

    Deployment  api-blue / api-green     one per slot, pod label conductor.dev/slot=<slot>
    Service     api                      selector flipped between slots (blue-green), or spanning
                                         both slots (canary by replica ratio)
    Service     api-blue / api-green     created per slot when an HTTPRoute splits traffic
    HTTPRoute   api (optional)           backendRefs weights carry the canary split

Example ``platform`` block of ``.mothership/config.json``::

    {"kind": "kubernetes", "namespace": "shop",
     "services": {"api": {"image": "ghcr.io/acme/api", "httpRoute": "api", "port": 8080}},
     "metrics": {"kind": "prometheus", "url": "http://prometheus.monitoring:9090", "preset": "istio"}}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from conductor.config import DNS_LABEL_PATTERN, DnsLabel, ServiceName, StrictModel
from conductor.metrics.prometheus_settings import PrometheusSettings

# A container port's name (IANA_SVC_NAME): up to 15 of a-z, 0-9 and "-", with at least one letter,
# so "8080" given as a string is refused rather than read as a name Kubernetes would reject.
NamedPort = Annotated[str, Field(pattern=r"^[a-z0-9-]*[a-z][a-z0-9-]*$", max_length=15)]


class KubeServiceSettings(StrictModel):
    """The Kubernetes objects behind one Conductor service."""

    deployment: DnsLabel | None = Field(
        None,
        description="Base name of the slot Deployments <deployment>-blue/-green. Default: the service name.",
    )
    container: DnsLabel | None = Field(None, description="Container whose image is rolled. Default: the first one.")
    image: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@{}-]{0,254}$",
        description='Image for a version: "repo/api" gets ":<version>" appended; "{version}" is substituted. '
        "Default: the current image of the container with its tag replaced.",
    )
    service: DnsLabel | None = Field(None, description="The Service that carries traffic. Default: the service name.")
    http_route: DnsLabel | None = Field(
        None, alias="httpRoute", description="Gateway API HTTPRoute whose backendRefs weights split traffic."
    )
    template_deployment: DnsLabel | None = Field(
        None,
        alias="templateDeployment",
        description="An existing Deployment whose pod template seeds the first slot (adoption). Never modified.",
    )
    port: int = Field(80, ge=1, le=65535, description="Service port of the slot Services and the smoke probe.")
    target_port: Annotated[int, Field(ge=1, le=65535)] | NamedPort | None = Field(
        None, alias="targetPort", description="A number or a named container port. Default: same as port."
    )
    readiness_timeout: float | None = Field(
        None,
        alias="readinessTimeout",
        gt=0,
        description="Seconds to wait for ready pods. Default: platform's.",
    )


class MetricsOff(StrictModel):
    """No metrics source: every sample says so (``available=False``), which is never "healthy"."""

    kind: Literal["none"] = "none"


class KubernetesSettings(StrictModel):
    kind: Literal["kubernetes"] = "kubernetes"
    kubeconfig: str | None = Field(None, description="Kubeconfig file. Default: $KUBECONFIG or ~/.kube/config.")
    context: str | None = Field(None, description="Kubeconfig context. Default: the current context.")
    in_cluster: bool | None = Field(
        None,
        alias="inCluster",
        description="Use the pod's service account. Default: when KUBERNETES_SERVICE_HOST is set and no kubeconfig.",
    )
    namespace: str = Field("default", pattern=DNS_LABEL_PATTERN)
    services: dict[ServiceName, KubeServiceSettings] = Field(default_factory=dict)
    readiness_timeout: float = Field(300.0, alias="readinessTimeout", gt=0, description="Seconds.")
    propagation_delay: float = Field(
        30.0,
        alias="propagationDelay",
        ge=0,
        description="Seconds a slot stays scaled up after it stopped taking traffic, so kube-proxy, ingress "
        "controllers and meshes have caught up with the flip before its pods go away.",
    )
    poll_interval: float = Field(2.0, alias="pollInterval", gt=0, le=60, description="Seconds between reads.")
    weight_tolerance: int = Field(
        5,
        alias="weightTolerance",
        ge=0,
        le=50,
        description="Canary by replica ratio: refuse a weight the replicas cannot express within this many points.",
    )
    max_canary_replicas: int = Field(
        20,
        alias="maxCanaryReplicas",
        ge=1,
        description="Canary by replica ratio: never scale a slot beyond this.",
    )
    fail_fast: bool = Field(
        True,
        alias="failFast",
        description="Stop waiting as soon as a pod is in ImagePullBackOff, CrashLoopBackOff or InvalidImageName.",
    )
    request_timeout: float = Field(30.0, alias="requestTimeout", gt=0, description="Seconds per API request.")
    metrics: PrometheusSettings | MetricsOff = Field(
        default_factory=lambda: MetricsOff.model_validate({}), discriminator="kind"
    )

    def service(self, name: str) -> KubeServiceSettings:
        return self.services.get(name) or KubeServiceSettings.model_validate({})
