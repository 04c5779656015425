"""A small, deterministic stand-in for kube-controller-manager, kubelet and a Gateway controller.

One :func:`tick` is one step of the world: Deployments roll ReplicaSets (maxSurge /
maxUnavailable like the real controller), ReplicaSets create and delete pods, pods move through
their lifecycle according to the behaviour the test gave their image, and HTTPRoutes get status
conditions. The fake API server ticks once per request, so time passes while a client polls,
and the same requests always produce the same world.

Image behaviours: ``ready`` (default, ready one tick after creation), ``never-pull``,
``crash``, ``oom``, ``unschedulable``, ``never-ready`` (readiness probe keeps failing).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.platforms.kubernetes.fake_apiserver import FakeCluster

Obj = dict[str, Any]


def template_hash(template: Obj) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _owned_by(obj: Obj, owner: Obj) -> bool:
    return any(ref.get("uid") == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences") or [])


def _owner_ref(owner: Obj, kind: str) -> list[Obj]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": kind,
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]


def _intstr(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def tick(cluster: FakeCluster) -> None:
    for deployment in cluster.list("deployments"):
        _reconcile_deployment(cluster, deployment)
    for replicaset in cluster.list("replicasets"):
        _reconcile_replicaset(cluster, replicaset)
    for pod in cluster.list("pods"):
        _advance_pod(cluster, pod)
    for deployment in cluster.list("deployments"):
        _deployment_status(cluster, deployment)
    for route in cluster.list("httproutes"):
        _route_status(cluster, route)


def _replicasets_of(cluster: FakeCluster, deployment: Obj) -> list[Obj]:
    owned = [rs for rs in cluster.list("replicasets") if _owned_by(rs, deployment)]
    return sorted(owned, key=lambda rs: rs["metadata"]["creationTimestamp"])


def _pods_of(cluster: FakeCluster, owner: Obj) -> list[Obj]:
    return [pod for pod in cluster.list("pods") if _owned_by(pod, owner)]


def _ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def _reconcile_deployment(cluster: FakeCluster, deployment: Obj) -> None:
    name, spec = deployment["metadata"]["name"], deployment["spec"]
    desired = int(spec.get("replicas", 1))
    template = copy.deepcopy(spec["template"])
    pod_hash = template_hash(template)
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
    owned = _replicasets_of(cluster, deployment)
    new = next((rs for rs in owned if rs["metadata"]["labels"].get("pod-template-hash") == pod_hash), None)
    old = [rs for rs in owned if rs is not new]
    old_total = sum(int(rs["spec"]["replicas"]) for rs in old)
    if new is None:
        new = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{pod_hash}",
                "namespace": deployment["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": _owner_ref(deployment, "Deployment"),
            },
            "spec": {
                "replicas": 0 if old_total else desired,
                "selector": {"matchLabels": {**spec["selector"]["matchLabels"], "pod-template-hash": pod_hash}},
                "template": template,
            },
        }
        cluster.create_internal("replicasets", new)
        return
    strategy = spec.get("strategy") or {}
    rolling = strategy.get("rollingUpdate") or {}
    surge = _intstr(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = _intstr(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        surge = 1
    new_replicas = int(new["spec"]["replicas"])
    if not old_total:
        target = desired
    else:
        total = new_replicas + old_total
        target = min(desired, new_replicas + max(0, desired + surge - total))
    if target != new_replicas:
        new["spec"]["replicas"] = target
        cluster.update_internal("replicasets", new)
    ready_all = sum(1 for rs in owned for pod in _pods_of(cluster, rs) if _ready(pod))
    removable = max(0, ready_all - (desired - unavailable))
    for rs in old:
        current = int(rs["spec"]["replicas"])
        unready = sum(1 for pod in _pods_of(cluster, rs) if not _ready(pod))
        drop = min(current, max(removable, unready))
        if drop:
            rs["spec"]["replicas"] = current - drop
            removable = max(0, removable - drop)
            cluster.update_internal("replicasets", rs)


def _reconcile_replicaset(cluster: FakeCluster, replicaset: Obj) -> None:
    pods = sorted(_pods_of(cluster, replicaset), key=lambda p: p["metadata"]["creationTimestamp"])
    want = int(replicaset["spec"]["replicas"])
    for pod in pods[want:][::-1]:
        cluster.delete_internal("pods", pod["metadata"]["name"])
    template = replicaset["spec"]["template"]
    for _ in range(want - len(pods)):
        cluster.pod_counter += 1
        metadata = copy.deepcopy(template.get("metadata", {}))
        metadata.update(
            {
                "name": f"{replicaset['metadata']['name']}-{cluster.pod_counter:05x}",
                "namespace": replicaset["metadata"]["namespace"],
                "ownerReferences": _owner_ref(replicaset, "ReplicaSet"),
            }
        )
        containers = template["spec"]["containers"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": copy.deepcopy(template["spec"]),
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "ready": False,
                        "restartCount": 0,
                        "state": {"waiting": {"reason": "ContainerCreating"}},
                    }
                    for c in containers
                ],
            },
            "age": 0,
        }
        cluster.create_internal("pods", pod)
    ready = sum(1 for pod in _pods_of(cluster, replicaset) if _ready(pod))
    status = {
        "replicas": len(_pods_of(cluster, replicaset)),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": replicaset["metadata"].get("generation", 1),
    }
    if replicaset.get("status") != status:
        replicaset["status"] = status
        cluster.update_internal("replicasets", replicaset)


def _advance_pod(cluster: FakeCluster, pod: Obj) -> None:
    before = json.dumps(pod, sort_keys=True)
    pod["age"] = age = pod.get("age", 0) + 1
    image = pod["spec"]["containers"][0]["image"]
    behaviour = cluster.image_behaviour.get(image, "ready")
    status = pod["status"]
    container = status["containerStatuses"][0]
    conditions = {c["type"]: c for c in status["conditions"]}
    pod["metadata"]["name"]
    if behaviour == "unschedulable":
        conditions["PodScheduled"].update(
            status="False", reason="Unschedulable", message="0/3 nodes are available: 3 Insufficient cpu."
        )
        if age == 1:
            cluster.add_event(pod, "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.")
    elif behaviour == "never-pull":
        reason = "ErrImagePull" if age == 1 else "ImagePullBackOff"
        message = f'Back-off pulling image "{image}"' if age > 1 else f"rpc error: {image} not found"
        container["state"] = {"waiting": {"reason": reason, "message": message}}
        if age <= 2:
            cluster.add_event(
                pod,
                "Failed" if age == 1 else "BackOff",
                f'Failed to pull image "{image}": manifest unknown' if age == 1 else message,
            )
    elif behaviour in ("crash", "oom"):
        status["phase"] = "Running"
        container["restartCount"] = age
        exit_reason = "OOMKilled" if behaviour == "oom" else "Error"
        container["lastState"] = {"terminated": {"reason": exit_reason, "exitCode": 137 if behaviour == "oom" else 1}}
        container["state"] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 10s restarting failed container={container['name']}",
            }
        }
        if age == 1:
            cluster.add_event(pod, "BackOff", "Back-off restarting failed container")
    elif behaviour == "never-ready":
        status["phase"] = "Running"
        container["state"] = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
        if age == 1:
            cluster.add_event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
    elif age >= cluster.ready_after_ticks:
        status["phase"] = "Running"
        container.update(ready=True, state={"running": {"startedAt": "2026-01-01T00:00:00Z"}})
        conditions["Ready"]["status"] = "True"
    if json.dumps(pod, sort_keys=True) != before:
        cluster.update_internal("pods", pod)


def _deployment_status(cluster: FakeCluster, deployment: Obj) -> None:
    desired = int(deployment["spec"].get("replicas", 1))
    owned = _replicasets_of(cluster, deployment)
    pod_hash = template_hash(deployment["spec"]["template"])
    all_pods = [pod for rs in owned for pod in _pods_of(cluster, rs)]
    updated = [p for p in all_pods if p["metadata"]["labels"].get("pod-template-hash") == pod_hash]
    ready = sum(1 for p in all_pods if _ready(p))
    complete = len(updated) == desired == len(all_pods) and all(_ready(p) for p in updated)
    status = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": len(all_pods),
        "updatedReplicas": len(updated),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": max(0, desired - ready),
        "conditions": [
            {"type": "Available", "status": "True" if ready >= desired else "False"},
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
            },
        ],
    }
    if deployment.get("status") != status:
        deployment["status"] = status
        cluster.update_internal("deployments", deployment)


def _route_status(cluster: FakeCluster, route: Obj) -> None:
    missing = [
        ref["name"]
        for rule in route["spec"].get("rules") or []
        for ref in rule.get("backendRefs") or []
        if cluster.get("services", ref["name"]) is None
    ]
    generation = route["metadata"]["generation"]
    resolved = {
        "type": "ResolvedRefs",
        "status": "False" if missing else "True",
        "observedGeneration": generation,
        "reason": "BackendNotFound" if missing else "ResolvedRefs",
        "message": f"Service(s) not found: {', '.join(missing)}" if missing else "",
    }
    accepted = {
        "type": "Accepted",
        "status": "True",
        "observedGeneration": generation,
        "reason": "Accepted",
        "message": "",
    }
    status = {
        "parents": [
            {
                "parentRef": {"name": "gateway"},
                "controllerName": "example.com/gateway",
                "conditions": [accepted, resolved],
            }
        ]
    }
    if route.get("status") != status:
        route["status"] = status
        cluster.update_internal("httproutes", route)
