"""KubernetesPlatform: the Platform protocol over Deployments, Services and Gateway API HTTPRoutes.

Per service, each slot is a Deployment (``api-blue``, ``api-green``) whose pods carry
``conductor.dev/slot``. The strategies map onto the cluster like this:

* **blue-green**: ``deploy`` the candidate slot (no traffic), then ``set_weights`` 0/100 flips
  the Service selector in one patch. The old slot stays scaled up, so rollback is another flip;
  ``retire`` scales it to zero, never earlier than ``propagationDelay`` after the flip, so
  kube-proxy, ingress controllers and meshes have stopped sending to it.
* **canary**: HTTPRoute backendRefs weights when ``httpRoute`` is set, else the replica ratio
  (:func:`conductor.platforms.kubernetes.traffic.replica_split`). After every change the split
  is read back from the cluster, and what is actually applied is returned.
* **rolling**: ``replace_instance`` hands the new image to the Deployment's own RollingUpdate and
  watches it to completion: Kubernetes replaces the pods one surge at a time, honouring
  maxSurge/maxUnavailable and readiness, which is what "one instance at a time" means here.
  The first call for a version performs the rollout; later indexes find it done (idempotent).
  The pod template it replaced is kept in the ``conductor.dev/previous-template`` annotation,
  and ``replace_instance`` with the previous version restores that whole template (env,
  resources and all, not just the image).

Every write is "make it so" on a fresh read, guarded by resourceVersion (409 -> read again), and
stamps ``conductor.dev/orchestration`` with :attr:`KubernetesPlatform.orchestration_id` when set,
so a rerun after a crash converges on what is there instead of duplicating it.

Usage (the registry builds it from ``platform`` in the config)::

    api = KubeApi(api_client_for(settings), settings.namespace, settings.request_timeout)
    platform = KubernetesPlatform(api, settings, {"api": 3}, RealClock())
    platform.adopt("api")                       # once: traffic onto a managed blue slot
    platform.deploy("api", "green", "v1.3.0", replicas=3)
    platform.set_weights("api", {"blue": 0, "green": 100})
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from conductor.errors import PlatformError
from conductor.platforms.base import SLOTS, InstanceState, ServiceSnapshot, Slot, SlotState, other_slot
from conductor.platforms.kubernetes import objects as o
from conductor.platforms.kubernetes.api import Conflict, with_version
from conductor.platforms.kubernetes.traffic import (
    SplitRefused,
    replica_split,
    route_problems,
    route_rules_with_weights,
    route_weights,
)
from conductor.platforms.kubernetes.workloads import Change, Workloads


class KubernetesPlatform(Workloads):
    """The Platform protocol on Kubernetes; see the module docstring for how each strategy maps."""

    def snapshot(self, service: str) -> ServiceSnapshot:
        names = o.names_for(self._settings, service)
        slots = {slot: self._slot_state(names, slot) for slot in SLOTS}
        return ServiceSnapshot(service=service, slots=slots, weights=self._weights(names))

    def deploy(self, service: str, slot: Slot, version: str, replicas: int) -> SlotState:
        names = o.names_for(self._settings, service)
        name = names.deployment(slot)
        existing = self._api.get("deployment", name)
        if existing is None or not self._runs(existing, version, replicas):
            if self._weights(names)[slot] > 0:
                raise PlatformError(f"{service}: slot {slot} carries traffic; refusing to redeploy it")
            source = self._source(names, slot, existing)
            current_image = source["spec"]["template"]["spec"]["containers"][
                o.container_index(source["spec"]["template"], names.container)
            ]["image"]
            try:
                image = o.image_for(self._settings.service(service).image, current_image, version)
            except ValueError as exc:
                raise PlatformError(f"{service}: {exc}") from exc
            template = o.slot_template(source, names, slot, image, version)
            if existing is None:
                manifest = o.slot_deployment(source, names, slot, image, version, replicas, self._stamp())
                try:
                    self._api.create("deployment", manifest)
                except Conflict:
                    existing = {}  # created by a run that crashed a moment ago: converge below
            if existing is not None:
                self._api.converge("deployment", name, lambda d: self._retemplate(d, template, version, replicas))
        if names.route:
            for each in SLOTS:
                self._ensure_slot_service(names, each)
        self._waiter.wait(name, names.selector(slot), version, self._timeout(service), f"{service} {version} ({name})")
        return self._slot_state(names, slot)

    def _runs(self, deployment: o.Obj, version: str, replicas: int) -> bool:
        spec = deployment["spec"]
        return o.template_version(spec["template"]) == version and int(spec.get("replicas", 1)) == replicas

    def _source(self, names: o.ServiceNames, slot: Slot, existing: o.Obj | None) -> o.Obj:
        """The pod template to copy: the other slot (what runs now), this slot, or the adopted Deployment."""
        other = self._api.get("deployment", names.deployment(other_slot(slot)))
        for candidate in (other, existing):
            if candidate is not None:
                return candidate
        if names.template_deployment:
            adopted = self._api.get("deployment", names.template_deployment)
            if adopted is not None:
                return adopted
        raise PlatformError(
            f"{names.service}: neither {names.deployment('blue')} nor {names.deployment('green')} exists; set "
            f"platform.services.{names.service}.templateDeployment to the Deployment to start from"
        )

    def _retemplate(self, deployment: o.Obj, template: o.Obj, version: str, replicas: int) -> Change:
        if self._runs(deployment, version, replicas):
            return None
        annotations = {
            **(deployment["metadata"].get("annotations") or {}),
            o.ANN_VERSION: version,
            **self._stamp(),
        }
        ops = [
            {"op": "add", "path": "/spec/template", "value": template},
            {"op": "add", "path": "/spec/replicas", "value": replicas},
            {"op": "add", "path": "/metadata/annotations", "value": annotations},
        ]
        return with_version(deployment, ops, "json"), "json"

    def set_weights(self, service: str, weights: Mapping[Slot, int]) -> dict[Slot, int]:
        if sorted(weights) != sorted(SLOTS) or sum(weights.values()) != 100 or min(weights.values()) < 0:
            raise PlatformError(f"{service}: weights must name blue and green and sum to 100, got {dict(weights)}")
        wanted: dict[Slot, int] = {slot: int(weights[slot]) for slot in SLOTS}
        names = o.names_for(self._settings, service)
        exclusive = next((slot for slot in SLOTS if wanted[slot] == 100), None)
        if exclusive is not None:
            self._scale_at_least(names, exclusive, self._replicas.get(service, 1))
        if names.route:
            applied = self._route_split(names, wanted)
            if exclusive is not None:
                self._flip(names, exclusive)
        elif exclusive is not None:
            self._flip(names, exclusive)
            applied = self._weights(names)
        else:
            applied = self._replica_split(names, wanted)
        if applied != wanted and (exclusive is not None or names.route):
            raise PlatformError(f"{service}: asked for {wanted}, the cluster reads back {applied}")
        return applied

    def _route_split(self, names: o.ServiceNames, wanted: dict[Slot, int]) -> dict[Slot, int]:
        for slot in SLOTS:
            self._ensure_slot_service(names, slot)
            if wanted[slot] > 0 and not any(i.ready for i in self._instances(names, slot)):
                raise PlatformError(f"{names.service}: slot {slot} has no ready pod to take {wanted[slot]}% of traffic")
        assert names.route is not None

        def change(route: o.Obj) -> Change:
            if route_weights(route, names) == wanted:
                return None
            rules = route_rules_with_weights(route, names, wanted)
            patch = {"metadata": {"annotations": self._stamp()}, "spec": {"rules": rules}}
            return with_version(route, patch, "merge"), "merge"

        try:
            before = self._weights(names)
            route = self._api.converge("httproute", names.route, change)
            applied = route_weights(self._api.get("httproute", names.route) or route, names)
        except SplitRefused as exc:
            raise PlatformError(f"{names.service}: {exc}") from exc
        problems = route_problems(self._api.get("httproute", names.route) or route)
        if problems:
            raise PlatformError(f"{names.service}: HTTPRoute {names.route} is not serving: {'; '.join(problems)}")
        if applied != before:
            self._mark_traffic_changed(names)
        return applied or {"blue": 0, "green": 0}

    def _replica_split(self, names: o.ServiceNames, wanted: dict[Slot, int]) -> dict[Slot, int]:
        service = self._api.get("service", names.k8s_service)
        stable_annotation = ((service or {}).get("metadata", {}).get("annotations") or {}).get(o.ANN_STABLE_SLOT)
        stable: Slot = stable_annotation if stable_annotation in SLOTS else max(SLOTS, key=lambda s: wanted[s])
        canary = other_slot(stable)
        stable_deployment = self._api.get("deployment", names.deployment(stable))
        if stable_deployment is None:
            raise PlatformError(f"{names.service}: stable slot {stable} has no Deployment")
        stable_replicas = max(int(stable_deployment["spec"].get("replicas", 1)), self._replicas.get(names.service, 1))
        try:
            split = replica_split(
                wanted[canary],
                stable_replicas,
                self._settings.weight_tolerance,
                self._settings.max_canary_replicas,
            )
        except SplitRefused as exc:
            raise PlatformError(f"{names.service}: {exc}") from exc
        self._scale_at_least(names, stable, stable_replicas)
        name = names.deployment(canary)
        if self._api.get("deployment", name) is None:
            raise PlatformError(f"{names.service}: canary slot {canary} has no Deployment {name}")
        self._set_replicas(name, split.canary_replicas)
        canary_version = o.template_version((self._api.get("deployment", name) or {})["spec"]["template"])
        self._waiter.wait(name, names.selector(canary), canary_version, self._timeout(names.service), name)
        self._converge_selector(names.k8s_service, names.selector(None), {o.ANN_STABLE_SLOT: stable})
        applied = self._weights(names)
        if abs(applied[canary] - wanted[canary]) > self._settings.weight_tolerance:
            raise PlatformError(f"{names.service}: asked for {wanted}, ready pods serve {applied}")
        return applied

    def replace_instance(self, service: str, slot: Slot, index: int, version: str) -> InstanceState:
        names = o.names_for(self._settings, service)
        name = names.deployment(slot)
        configured_image = self._settings.service(service).image

        def change(deployment: o.Obj) -> Change:
            template = deployment["spec"]["template"]
            current = o.template_version(template)
            if current == version:
                return None
            annotations = dict(deployment["metadata"].get("annotations") or {})
            if annotations.get(o.ANN_PREVIOUS_VERSION) == version and annotations.get(o.ANN_PREVIOUS_TEMPLATE):
                new_template = json.loads(annotations[o.ANN_PREVIOUS_TEMPLATE])  # rollback: the whole template
            else:
                new_template = json.loads(o.dump_template(template))
                index_ = o.container_index(new_template, names.container)
                container = new_template["spec"]["containers"][index_]
                container["image"] = o.image_for(configured_image, container.get("image"), version)
                new_template.setdefault("metadata", {}).setdefault("annotations", {})[o.ANN_VERSION] = version
            annotations.update(
                {
                    o.ANN_PREVIOUS_TEMPLATE: o.dump_template(template),
                    o.ANN_PREVIOUS_VERSION: current or "",
                    o.ANN_VERSION: version,
                    **self._stamp(),
                }
            )
            ops = [
                {"op": "add", "path": "/spec/template", "value": new_template},
                {"op": "add", "path": "/metadata/annotations", "value": annotations},
            ]
            return with_version(deployment, ops, "json"), "json"

        try:
            self._api.converge("deployment", name, change)
        except ValueError as exc:
            raise PlatformError(f"{service}: {exc}") from exc
        self._waiter.wait(name, names.selector(slot), version, self._timeout(service), f"{service} {version} ({name})")
        instances = self._instances(names, slot)
        if index < 0:
            raise PlatformError(f"{service}: slot {slot} has no instance {index}")
        if index >= len(instances):
            # Kubernetes owns pod identity: an index seen in an earlier snapshot (a surge pod, say)
            # may be gone once the rollout is complete. The rollout's result is the answer.
            return InstanceState(
                index=index,
                version=version,
                ready=all(i.ready for i in instances),
                detail=f"rollout complete; {len(instances)} pod(s) run {version}",
            )
        return instances[index]

    def adopt(self, service: str) -> str:
        """Move traffic from the team's own Deployment onto a managed blue slot, without downtime.

        Person-initiated (``conductor doctor --adopt``), once per service: runs the template
        Deployment's current image in ``<deployment>-blue``, waits until it is ready, then points
        the Service at it. The adopted Deployment is left running and unmodified; scale it down
        when satisfied. Returns what was done; a service already on a managed slot is left alone.
        """
        names = o.names_for(self._settings, service)
        weights = self._weights(names)
        if 100 in weights.values():
            return f"{service}: already served by a managed slot ({weights})"
        if not names.template_deployment:
            raise PlatformError(f"{service}: set platform.services.{service}.templateDeployment to adopt it")
        adopted = self._api.get("deployment", names.template_deployment)
        if adopted is None:
            raise PlatformError(f"{service}: Deployment {names.template_deployment} not found")
        template = adopted["spec"]["template"]
        image = template["spec"]["containers"][o.container_index(template, names.container)]["image"]
        version = o.template_version(template) or o.image_tag(image)
        if version is None:
            raise PlatformError(f"{service}: image {image} has no tag to name its version")
        replicas = max(int(adopted["spec"].get("replicas", 1)), self._replicas.get(service, 1))
        self.deploy(service, "blue", version, replicas)
        self.set_weights(service, {"blue": 100, "green": 0})
        return (
            f"{service}: {version} now served by {names.deployment('blue')} ({replicas} pods); "
            f"{names.template_deployment} no longer takes traffic: scale it down when satisfied"
        )

    def retire(self, service: str, slot: Slot) -> None:
        names = o.names_for(self._settings, service)
        if self._weights(names)[slot] > 0:
            raise PlatformError(f"{service}: slot {slot} still carries {self._weights(names)[slot]}% of traffic")
        deployment = self._api.get("deployment", names.deployment(slot))
        if deployment is None or int(deployment["spec"].get("replicas", 1)) == 0:
            return
        service_obj = self._api.get("service", names.k8s_service) or {}
        changed_at = (service_obj.get("metadata", {}).get("annotations") or {}).get(o.ANN_TRAFFIC_CHANGED_AT)
        if changed_at is not None:
            remaining = float(changed_at) + self._settings.propagation_delay - self._clock.now()
            if remaining > 0:
                self._clock.sleep(remaining)  # let every proxy stop sending before the pods go
        self._set_replicas(names.deployment(slot), 0)

    def probe(self, service: str, slot: Slot, path: str) -> int:
        names = o.names_for(self._settings, service)
        pods = [p for p in self._api.list_pods(names.selector(slot)) if o.pod_ready(p)]
        if not pods:
            raise PlatformError(f"{service}: slot {slot} has no ready pod to probe")
        return self._api.pod_proxy_status(pods[0]["metadata"]["name"], names.target_port, path)

    def close(self) -> None:
        self._api.close()
