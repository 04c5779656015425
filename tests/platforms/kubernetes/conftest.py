"""Fixtures: a fake API server on loopback, seeded like a real namespace, and a platform on it.

The platform is built exactly as in production (kubeconfig file -> official client -> HTTP),
only the clock is virtual, so readiness waits and propagation delays cost no real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conductor.clock import VirtualClock
from conductor.platforms.kubernetes.api import KubeApi, api_client_for
from conductor.platforms.kubernetes.platform import KubernetesPlatform
from conductor.platforms.kubernetes.settings import KubernetesSettings
from tests.platforms.kubernetes.fake_apiserver import FakeCluster

NAMESPACE = "shop"


def app_deployment(name: str = "api", image: str = "registry.example/api:v1.0.0", replicas: int = 3) -> dict[str, Any]:
    """The Deployment a team already runs before Conductor arrives (adopted via templateDeployment)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "backend"}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                        }
                    ]
                },
            },
        },
    }


def app_service(name: str = "api") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def http_route(name: str = "api", backend: str = "api") -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "hostnames": ["api.example.com"],
            "rules": [
                {  # a header-pinned rule someone relies on: must survive untouched
                    "matches": [{"headers": [{"name": "x-debug", "value": "1"}]}],
                    "backendRefs": [{"name": backend, "port": 80}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "filters": [
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"add": [{"name": "x-env", "value": "prod"}]},
                        }
                    ],
                    "backendRefs": [{"name": backend, "port": 80}],
                },
            ],
        },
    }


def settings_for(kubeconfig: Path, **service: Any) -> KubernetesSettings:
    return KubernetesSettings.model_validate(
        {
            "kind": "kubernetes",
            "kubeconfig": str(kubeconfig),
            "namespace": NAMESPACE,
            "pollInterval": 1,
            "readinessTimeout": 120,
            "propagationDelay": 30,
            "services": {"api": {"templateDeployment": "api", "port": 80, "targetPort": 8080, **service}},
        }
    )


class Rig:
    """A fake cluster plus a way to (re)build the platform on it, as a fresh process would."""

    def __init__(self, cluster: FakeCluster, tmp_path: Path) -> None:
        self.cluster = cluster
        self.kubeconfig = cluster.kubeconfig(tmp_path)
        self.clock = VirtualClock(start=1000.0)
        self.service_settings: dict[str, Any] = {}
        self.replicas = 3

    def platform(self, **service: Any) -> KubernetesPlatform:
        settings = settings_for(self.kubeconfig, **{**self.service_settings, **service})
        api = KubeApi(api_client_for(settings), settings.namespace, settings.request_timeout)
        return KubernetesPlatform(api, settings, {"api": self.replicas}, self.clock, orchestration_id="o-1")

    def deployment(self, name: str) -> dict[str, Any]:
        obj = self.cluster.get("deployments", name)
        assert obj is not None, name
        return obj

    def service(self, name: str = "api") -> dict[str, Any]:
        obj = self.cluster.get("services", name)
        assert obj is not None, name
        return obj


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(NAMESPACE) as fake:
        fake.seed("deployments", app_deployment())
        fake.seed("services", app_service())
        fake.settle()
        yield fake


@pytest.fixture
def rig(cluster: FakeCluster, tmp_path: Path) -> Rig:
    return Rig(cluster, tmp_path)
