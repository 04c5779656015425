"""The fake API server itself, through the real client: watch, conflicts, patch flavours, validation.

If the fake drifted from the real server's behaviour, the platform tests would prove nothing;
these pin the behaviours they rely on.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from conductor.platforms.kubernetes.api import api_client_for
from tests.platforms.kubernetes.conftest import NAMESPACE, settings_for
from tests.platforms.kubernetes.fake_apiserver import FakeCluster
from tests.platforms.kubernetes.patching import json_patch, merge_patch, strategic_merge_patch


@pytest.fixture
def core(cluster: FakeCluster, tmp_path: Path) -> client.CoreV1Api:
    return client.CoreV1Api(api_client_for(settings_for(cluster.kubeconfig(tmp_path))))


@pytest.fixture
def apps(cluster: FakeCluster, tmp_path: Path) -> client.AppsV1Api:
    return client.AppsV1Api(api_client_for(settings_for(cluster.kubeconfig(tmp_path))))


def test_watch_streams_existing_objects_then_changes(core: client.CoreV1Api, cluster: FakeCluster) -> None:
    def edit_soon() -> None:
        with cluster.lock:
            service = cluster.get("services", "api")
            assert service is not None
            service["metadata"]["annotations"] = {"edited": "yes"}
            cluster.update_internal("services", service)

    timer = threading.Timer(0.2, edit_soon)
    timer.start()
    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_service, NAMESPACE, timeout_seconds=3):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "MODIFIED":
            stream.stop()
            break
    timer.join()
    assert seen == [("ADDED", "api"), ("MODIFIED", "api")]


def test_stale_resource_version_in_a_patch_is_a_409(apps: client.AppsV1Api, cluster: FakeCluster) -> None:
    current = apps.read_namespaced_deployment("api", NAMESPACE)
    stale = str(int(current.metadata.resource_version) - 1)
    with pytest.raises(ApiException) as error:
        apps.patch_namespaced_deployment(
            "api",
            NAMESPACE,
            {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 5}},
            _content_type="application/merge-patch+json",
        )
    assert error.value.status == 409
    assert apps.read_namespaced_deployment("api", NAMESPACE).spec.replicas == 3


def test_create_twice_is_already_exists(core: client.CoreV1Api) -> None:
    body = {"metadata": {"name": "api"}, "spec": {"selector": {"a": "b"}, "ports": [{"port": 80}]}}
    with pytest.raises(ApiException) as error:
        core.create_namespaced_service(NAMESPACE, body)
    assert error.value.status == 409 and "AlreadyExists" in (error.value.body or "")


def test_selector_is_immutable_and_must_match_the_template(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as error:
        apps.patch_namespaced_deployment(
            "api",
            NAMESPACE,
            {"spec": {"selector": {"matchLabels": {"app": "other"}}}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert error.value.status == 422 and "immutable" in (error.value.body or "")


def test_strategic_merge_patch_sets_one_image_and_bumps_generation(
    apps: client.AppsV1Api, cluster: FakeCluster
) -> None:
    before = apps.read_namespaced_deployment("api", NAMESPACE).metadata.generation
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "registry.example/api:v9"}]}}}}
    apps.patch_namespaced_deployment("api", NAMESPACE, patch, _content_type="application/strategic-merge-patch+json")
    after = apps.read_namespaced_deployment("api", NAMESPACE)
    container = after.spec.template.spec.containers[0]
    assert container.image == "registry.example/api:v9" and container.env[0].name == "LOG_LEVEL"  # merged by name
    assert after.metadata.generation == before + 1
    cluster.settle()
    status = apps.read_namespaced_deployment("api", NAMESPACE).status
    assert (status.updated_replicas, status.available_replicas, status.replicas) == (3, 3, 3)
    assert len(cluster.list("replicasets")) == 2  # the old one kept at zero, like revisionHistory


def test_patch_algorithms() -> None:
    doc = {"a": {"b": 1, "c": [1, 2]}, "list": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]}
    assert merge_patch(doc, {"a": {"b": None, "c": [3]}}) == {"a": {"c": [3]}, "list": doc["list"]}
    merged = strategic_merge_patch({"containers": doc["list"]}, {"containers": [{"name": "y", "v": 3}, {"name": "z"}]})
    assert merged == {"containers": [{"name": "x", "v": 1}, {"name": "y", "v": 3}, {"name": "z"}]}
    deleted = strategic_merge_patch({"containers": doc["list"]}, {"containers": [{"name": "x", "$patch": "delete"}]})
    assert deleted == {"containers": [{"name": "y", "v": 2}]}
    patched = json_patch(doc, [{"op": "add", "path": "/a/d~1e", "value": 1}, {"op": "remove", "path": "/list/0"}])
    assert patched["a"]["d/e"] == 1 and patched["list"] == [{"name": "y", "v": 2}]
