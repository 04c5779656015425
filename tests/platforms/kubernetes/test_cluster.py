"""The same scenarios against a real cluster. Opt-in: marker ``cluster``, skipped unless asked.

    export KUBECONFIG=~/.kube/kind-config     # any cluster you may create Deployments in
    export CONDUCTOR_LIVE_TESTS=1
    export CONDUCTOR_TEST_NAMESPACE=conductor-test   # must exist; default conductor-test
    .venv/bin/pytest -m cluster tests/platforms/kubernetes/test_cluster.py

Uses public nginx images (two tags as two versions) and one tag that does not exist. Every
object is created in the test namespace and deleted afterwards by the test itself (Conductor
never deletes). A kind or k3d cluster on a laptop is enough; no Gateway controller is needed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conductor.clock import RealClock
from conductor.errors import NotReadyError
from conductor.platforms.kubernetes.api import KubeApi, api_client_for
from conductor.platforms.kubernetes.platform import KubernetesPlatform
from conductor.platforms.kubernetes.settings import KubernetesSettings
from tests.platforms.kubernetes.conftest import app_deployment, app_service

LIVE = bool(os.environ.get("KUBECONFIG")) and os.environ.get("CONDUCTOR_LIVE_TESTS") == "1"
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not LIVE, reason="needs KUBECONFIG and CONDUCTOR_LIVE_TESTS=1 (a real cluster)"),
]
NAMESPACE = os.environ.get("CONDUCTOR_TEST_NAMESPACE", "conductor-test")
IMAGE = "docker.io/library/nginx"
STABLE, CANDIDATE, MISSING = "1.26", "1.27", "0.0.0-conductor-missing"


@pytest.fixture
def platform() -> Iterator[KubernetesPlatform]:
    from kubernetes import client

    settings = KubernetesSettings.model_validate(
        {
            "kind": "kubernetes",
            "kubeconfig": os.environ["KUBECONFIG"],
            "namespace": NAMESPACE,
            "readinessTimeout": 180,
            "propagationDelay": 2,
            "services": {"api": {"templateDeployment": "api", "image": IMAGE, "port": 80, "targetPort": 80}},
        }
    )
    api_client = api_client_for(settings)
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    seed: dict[str, Any] = app_deployment(image=f"{IMAGE}:{STABLE}", replicas=3)
    seed["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    service = app_service()
    service["spec"]["ports"] = [{"port": 80, "targetPort": 80}]
    apps.create_namespaced_deployment(NAMESPACE, seed)
    core.create_namespaced_service(NAMESPACE, service)
    platform = KubernetesPlatform(KubeApi(api_client, NAMESPACE, 30), settings, {"api": 3}, RealClock(), "cluster-test")
    try:
        yield platform
    finally:
        for name in ("api", "api-blue", "api-green"):
            with contextlib.suppress(client.ApiException):
                apps.delete_namespaced_deployment(name, NAMESPACE)
        core.delete_namespaced_service("api", NAMESPACE)
        time.sleep(1)


def test_adopt_then_blue_green_then_retire(platform: KubernetesPlatform) -> None:
    platform.adopt("api")
    assert platform.snapshot("api").weights == {"blue": 100, "green": 0}
    assert platform.deploy("api", "green", CANDIDATE, 3).ready
    assert platform.probe("api", "green", "/") == 200
    assert platform.set_weights("api", {"blue": 0, "green": 100}) == {"blue": 0, "green": 100}
    platform.retire("api", "blue")
    assert platform.snapshot("api").slots["blue"].version is None


def test_canary_by_replica_ratio_then_rollback(platform: KubernetesPlatform) -> None:
    platform.adopt("api")
    platform.deploy("api", "green", CANDIDATE, 3)
    assert platform.set_weights("api", {"blue": 75, "green": 25}) == {"blue": 75, "green": 25}
    assert platform.set_weights("api", {"blue": 100, "green": 0}) == {"blue": 100, "green": 0}
    platform.retire("api", "green")


def test_rolling_then_rollback_restores_the_template(platform: KubernetesPlatform) -> None:
    platform.adopt("api")
    assert platform.replace_instance("api", "blue", 0, CANDIDATE).version == CANDIDATE
    assert platform.replace_instance("api", "blue", 0, STABLE).version == STABLE


def test_an_image_that_never_pulls_is_a_platform_failure(platform: KubernetesPlatform) -> None:
    platform.adopt("api")
    with pytest.raises(NotReadyError, match=r"ErrImagePull|ImagePullBackOff"):
        platform.deploy("api", "green", MISSING, 3)
    assert platform.snapshot("api").weights == {"blue": 100, "green": 0}
