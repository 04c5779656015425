"""Every manifest Conductor creates or ships validates against the official Kubernetes schemas.

kubernetes-validate bundles the schemas, so this runs offline. HTTPRoute is a CRD (Gateway API)
and is not in those schemas: Conductor only patches routes, never creates one, and the route
shapes it writes are checked in test_canary.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from conductor.platforms.kubernetes import objects as o
from conductor.platforms.kubernetes.doctor import REQUIRED
from tests.platforms.kubernetes.conftest import NAMESPACE, app_deployment, settings_for
from tests.platforms.kubernetes.fake_apiserver import FakeCluster

kubernetes_validate = pytest.importorskip("kubernetes_validate")
ROOT = Path(__file__).resolve().parents[3]
VERSION = "1.30.0"


def _validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, VERSION, strict=True)


@pytest.mark.parametrize("name", ["rbac.yaml", "watchdog.yaml"])
def test_shipped_manifests_validate(name: str) -> None:
    documents = [d for d in yaml.safe_load_all((ROOT / "deploy" / name).read_text()) if d]
    assert documents
    for document in documents:
        _validate(document)


def test_manifests_conductor_creates_validate(tmp_path: Path) -> None:
    names = o.names_for(settings_for(tmp_path / "kubeconfig"), "api")
    deployment = o.slot_deployment(
        app_deployment(), names, "green", "registry.example/api:v2", "v2", 3, {o.ANN_ORCHESTRATION: "o-1"}
    )
    _validate(deployment)
    _validate(o.service_manifest("api-green", names, names.selector("green"), {}))


def test_objects_written_to_the_fake_cluster_validate(tmp_path: Path) -> None:
    """What actually went over the wire in a release, minus server-owned status."""
    from tests.platforms.kubernetes.conftest import Rig, app_service, http_route

    with FakeCluster(NAMESPACE) as cluster:
        cluster.seed("deployments", app_deployment())
        cluster.seed("services", app_service())
        cluster.seed("httproutes", http_route())
        rig = Rig(cluster, tmp_path)
        platform = rig.platform(httpRoute="api")
        platform.deploy("api", "blue", "v1.0.0", replicas=3)
        platform.set_weights("api", {"blue": 100, "green": 0})
        for resource in ("deployments", "services"):
            for obj in cluster.list(resource):
                clean = {k: v for k, v in obj.items() if k != "status"}
                _validate(clean)


def test_rbac_grants_exactly_what_doctor_checks_and_nothing_dangerous() -> None:
    documents = list(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    role = next(d for d in documents if d["kind"] == "Role")
    granted = {
        (verb, group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    required = {(p.verb, p.group, p.resource + (f"/{p.subresource}" if p.subresource else "")) for p in REQUIRED}
    assert granted == required
    assert not {v for v, _, _ in granted} & {"delete", "deletecollection", "escalate", "bind", "impersonate", "*"}
    assert not {r for _, _, r in granted} & {"secrets", "pods/exec", "pods/attach", "*"}
