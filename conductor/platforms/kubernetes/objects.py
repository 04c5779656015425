"""Names, labels and manifests of what Conductor manages in a namespace. Pure: no API calls.

Objects are plain dicts shaped exactly like the API's JSON (camelCase keys), so what is built
here is what goes on the wire, what the fake API server stores, and what the manifest tests
validate against the official schemas.

Restart safety rests on these labels and annotations: every action is "make the object look
like this", read back from the object itself, so a rerun after a crash converges instead of
duplicating.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from conductor.platforms.base import Slot
from conductor.platforms.kubernetes.settings import KubernetesSettings

Obj = dict[str, Any]

PREFIX = "conductor.dev"
LABEL_SERVICE = f"{PREFIX}/service"
LABEL_SLOT = f"{PREFIX}/slot"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "conductor"
ANN_VERSION = f"{PREFIX}/version"
ANN_ORCHESTRATION = f"{PREFIX}/orchestration"
ANN_PREVIOUS_TEMPLATE = f"{PREFIX}/previous-template"  # rolling: the pod template to roll back to
ANN_PREVIOUS_VERSION = f"{PREFIX}/previous-version"
ANN_STABLE_SLOT = f"{PREFIX}/stable-slot"  # Service: the slot that last had 100%
ANN_TRAFFIC_CHANGED_AT = f"{PREFIX}/traffic-changed-at"  # Service: clock time of the last shift


@dataclass(frozen=True)
class ServiceNames:
    """Where one Conductor service lives in the cluster."""

    service: str
    deployment_base: str
    k8s_service: str
    container: str | None
    route: str | None
    template_deployment: str | None
    port: int
    target_port: int | str

    def deployment(self, slot: Slot) -> str:
        return f"{self.deployment_base}-{slot}"

    def slot_service(self, slot: Slot) -> str:
        return f"{self.k8s_service}-{slot}"

    def selector(self, slot: Slot | None = None) -> dict[str, str]:
        """Pods of one slot, or of both slots when ``slot`` is None (canary by replica ratio)."""
        labels = {LABEL_SERVICE: self.service}
        if slot is not None:
            labels[LABEL_SLOT] = slot
        return labels


def names_for(settings: KubernetesSettings, service: str) -> ServiceNames:
    spec = settings.service(service)
    return ServiceNames(
        service=service,
        deployment_base=spec.deployment or service,
        k8s_service=spec.service or service,
        container=spec.container,
        route=spec.http_route,
        template_deployment=spec.template_deployment,
        port=spec.port,
        target_port=spec.target_port if spec.target_port is not None else spec.port,
    )


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def image_for(configured: str | None, current_image: str | None, version: str) -> str:
    """``repo/api`` -> ``repo/api:v2``; ``repo/api:{version}`` substituted; else retag the current image."""
    if configured:
        return configured.replace("{version}", version) if "{version}" in configured else f"{configured}:{version}"
    if not current_image:
        raise ValueError("no image configured and no current image to retag")
    repository = current_image.split("@", 1)[0]
    slash = repository.rfind("/")
    colon = repository.rfind(":")
    if colon > slash:  # a tag, not a registry port
        repository = repository[:colon]
    return f"{repository}:{version}"


def image_tag(image: str) -> str | None:
    """``repo/api:v1.2.0`` -> ``v1.2.0``; None for an untagged or digest-only image."""
    repository = image.split("@", 1)[0]
    slash, colon = repository.rfind("/"), repository.rfind(":")
    return repository[colon + 1 :] if colon > slash else None


def container_index(template: Obj, container: str | None) -> int:
    containers = template.get("spec", {}).get("containers") or []
    if not containers:
        raise ValueError("the pod template has no containers")
    if container is None:
        return 0
    for i, item in enumerate(containers):
        if item.get("name") == container:
            return i
    raise ValueError(f"the pod template has no container {container!r}")


def template_version(template: Obj) -> str | None:
    version: str | None = (template.get("metadata", {}).get("annotations") or {}).get(ANN_VERSION)
    return version


def slot_template(source: Obj, names: ServiceNames, slot: Slot, image: str, version: str) -> Obj:
    """A copy of ``source``'s pod template for ``slot`` running ``image``.

    Labels that the source Deployment selects on are dropped (an adopted Deployment selects
    ``app: api``; keeping it would make both controllers claim the same pods) and replaced by the
    service and slot labels that the slot Deployment and the Services select on.
    """
    template: Obj = copy.deepcopy(source["spec"]["template"])
    source_selector = source["spec"].get("selector", {}).get("matchLabels", {})
    metadata = template.setdefault("metadata", {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in source_selector}
    labels.pop("pod-template-hash", None)
    metadata["labels"] = {**labels, **names.selector(slot)}
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(ANN_PREVIOUS_TEMPLATE, None)
    annotations[ANN_VERSION] = version
    metadata["annotations"] = annotations
    index = container_index(template, names.container)
    template["spec"]["containers"][index]["image"] = image
    return template


def slot_deployment(
    source: Obj,
    names: ServiceNames,
    slot: Slot,
    image: str,
    version: str,
    replicas: int,
    annotations: dict[str, str],
) -> Obj:
    """The Deployment of ``slot``, seeded from ``source`` (the other slot, or the adopted one)."""
    spec = source["spec"]
    kept = {k: spec[k] for k in ("minReadySeconds", "progressDeadlineSeconds", "strategy") if k in spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": names.deployment(slot),
            "labels": {LABEL_MANAGED_BY: MANAGED_BY, **names.selector(slot)},
            "annotations": {ANN_VERSION: version, **annotations},
        },
        "spec": {
            **kept,
            "replicas": replicas,
            "revisionHistoryLimit": spec.get("revisionHistoryLimit", 3),
            "selector": {"matchLabels": names.selector(slot)},
            "template": slot_template(source, names, slot, image, version),
        },
    }


def service_manifest(name: str, names: ServiceNames, selector: dict[str, str], annotations: dict[str, str]) -> Obj:
    """A ClusterIP Service: the main one (created only if missing) or a slot's own."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_SERVICE: names.service},
            "annotations": annotations,
        },
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": names.port, "targetPort": names.target_port, "protocol": "TCP"}],
        },
    }


def selector_patch(current: dict[str, str], desired: dict[str, str]) -> dict[str, str | None]:
    """JSON merge patch turning selector ``current`` into exactly ``desired`` (null removes a key)."""
    patch: dict[str, str | None] = {k: None for k in current if k not in desired}
    patch.update(desired)
    return patch


def dump_template(template: Obj) -> str:
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


# -- rollout status and failure causes ----------------------------------------------------------

FATAL_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "CrashLoopBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
    }
)


def rollout_complete(deployment: Obj) -> bool:
    """The same test as ``kubectl rollout status``: observed, updated, available, no old pods."""
    spec, status = deployment.get("spec", {}), deployment.get("status") or {}
    want = int(spec.get("replicas", 1))
    generation = int(deployment.get("metadata", {}).get("generation", 0))
    return (
        int(status.get("observedGeneration", 0)) >= generation
        and int(status.get("updatedReplicas", 0)) == want
        and int(status.get("replicas", 0)) == want
        and int(status.get("availableReplicas", 0)) >= want
    )


def deadline_exceeded(deployment: Obj) -> bool:
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return True
    return False


def pod_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_problems(pod: Obj) -> list[tuple[str, str]]:
    """(reason, message) of everything that keeps ``pod`` from being ready, from its status."""
    status = pod.get("status") or {}
    problems: list[tuple[str, str]] = []
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            problems.append((condition.get("reason") or "Unschedulable", condition.get("message") or ""))
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        last = (container.get("lastState") or {}).get("terminated")
        if last and last.get("reason") == "OOMKilled":
            problems.append(("OOMKilled", f"container {container.get('name')} was killed for using too much memory"))
        if waiting and waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            problems.append((waiting["reason"], waiting.get("message") or ""))
    return problems
