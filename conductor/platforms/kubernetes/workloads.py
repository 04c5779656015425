"""What every platform action is built from: reading slots and weights, scaling, selector changes.

:class:`Workloads` holds the shared, idempotent building blocks; :class:`KubernetesPlatform`
(platform.py) composes them into the Platform protocol. Every write goes through
:meth:`KubeApi.converge`: computed from a fresh read, guarded by its resourceVersion, and a no-op
when the object already looks right.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from conductor.clock import Clock
from conductor.errors import PlatformError
from conductor.platforms.base import SLOTS, InstanceState, Slot, SlotState
from conductor.platforms.kubernetes import objects as o
from conductor.platforms.kubernetes.api import Conflict, KubeApi, PatchKind, with_version
from conductor.platforms.kubernetes.readiness import RolloutWaiter
from conductor.platforms.kubernetes.settings import KubernetesSettings
from conductor.platforms.kubernetes.traffic import SplitRefused, ratio_weights, route_weights

Change = tuple[Any, PatchKind] | None


class Workloads:
    """Shared state and building blocks. ``orchestration_id``, when set by the caller, is stamped
    on every object touched (``conductor.dev/orchestration``) so a person can see who changed what."""

    def __init__(
        self,
        api: KubeApi,
        settings: KubernetesSettings,
        replicas: Mapping[str, int],
        clock: Clock,
        orchestration_id: str | None = None,
    ) -> None:
        self._api = api
        self._settings = settings
        self._replicas = dict(replicas)
        self._clock = clock
        self._waiter = RolloutWaiter(api, clock, settings.poll_interval, settings.fail_fast)
        self.orchestration_id = orchestration_id

    # -- reading -----------------------------------------------------------------------------

    def _slot_state(self, names: o.ServiceNames, slot: Slot) -> SlotState:
        deployment = self._api.get("deployment", names.deployment(slot))
        if deployment is None or int(deployment["spec"].get("replicas", 1)) == 0:
            return SlotState(slot=slot, version=None)
        version = o.template_version(deployment["spec"]["template"])
        return SlotState(slot=slot, version=version, instances=tuple(self._instances(names, slot)))

    def _instances(self, names: o.ServiceNames, slot: Slot) -> list[InstanceState]:
        pods = [p for p in self._api.list_pods(names.selector(slot)) if not p["metadata"].get("deletionTimestamp")]
        states = []
        for index, pod in enumerate(pods):
            problems = o.pod_problems(pod)
            version = (pod["metadata"].get("annotations") or {}).get(o.ANN_VERSION, "unknown")
            states.append(
                InstanceState(
                    index=index,
                    version=version,
                    ready=o.pod_ready(pod),
                    crashed=any(r in ("CrashLoopBackOff", "OOMKilled") for r, _ in problems),
                    detail="; ".join(f"{pod['metadata']['name']}: {r}: {m}".rstrip(": ") for r, m in problems)
                    or pod["metadata"]["name"],
                )
            )
        return states

    def _weights(self, names: o.ServiceNames) -> dict[Slot, int]:
        if names.route:
            route = self._api.get("httproute", names.route)
            if route is None:
                raise PlatformError(f"{names.service}: HTTPRoute {names.route} not found in {self._api.namespace}")
            try:
                from_route = route_weights(route, names)
            except SplitRefused as exc:
                raise PlatformError(f"{names.service}: {exc}") from exc
            if from_route is not None:
                return from_route
        service = self._api.get("service", names.k8s_service)
        selector = (service or {}).get("spec", {}).get("selector") or {}
        if selector.get(o.LABEL_SERVICE) != names.service:
            return {"blue": 0, "green": 0}  # not (yet) routed to any slot Conductor manages
        if o.LABEL_SLOT in selector:
            active = selector[o.LABEL_SLOT]
            return {slot: 100 if slot == active else 0 for slot in SLOTS}
        ready = {slot: sum(inst.ready for inst in self._instances(names, slot)) for slot in SLOTS}
        return ratio_weights(ready)

    # -- writing: each one idempotent, computed from a fresh read --------------------------------

    def _ensure_slot_service(self, names: o.ServiceNames, slot: Slot) -> None:
        name = names.slot_service(slot)
        if self._api.get("service", name) is None:
            with contextlib.suppress(Conflict):  # created concurrently; the selector is checked next
                self._api.create("service", o.service_manifest(name, names, names.selector(slot), self._stamp()))
        self._converge_selector(name, names.selector(slot), {})

    def _scale_at_least(self, names: o.ServiceNames, slot: Slot, replicas: int) -> None:
        """Before a slot takes all traffic it runs at least its full replica count, ready."""
        name = names.deployment(slot)
        deployment = self._api.get("deployment", name)
        if deployment is None or o.template_version(deployment["spec"]["template"]) is None:
            raise PlatformError(f"{names.service}: slot {slot} has no Deployment {name} to take traffic")
        if int(deployment["spec"].get("replicas", 1)) >= replicas:
            return  # no wait: a rollback must never be held up by a slow stable slot
        self._set_replicas(name, replicas, at_least=True)
        version = o.template_version(deployment["spec"]["template"])
        self._waiter.wait(name, names.selector(slot), version, self._timeout(names.service), f"{names.service} {name}")

    def _set_replicas(self, name: str, replicas: int, at_least: bool = False) -> None:
        def change(deployment: o.Obj) -> Change:
            current = int(deployment["spec"].get("replicas", 1))
            if current == replicas or (at_least and current >= replicas):
                return None
            annotations = {**(deployment["metadata"].get("annotations") or {}), **self._stamp()}
            return with_version(
                deployment,
                {"metadata": {"annotations": annotations}, "spec": {"replicas": replicas}},
                "merge",
            ), "merge"

        self._api.converge("deployment", name, change)

    def _flip(self, names: o.ServiceNames, slot: Slot) -> None:
        """Point the Service at one slot: one patch, so there is never a moment with both or neither."""
        if self._api.get("service", names.k8s_service) is None:
            with contextlib.suppress(Conflict):
                self._api.create("service", o.service_manifest(names.k8s_service, names, names.selector(slot), {}))
        self._converge_selector(names.k8s_service, names.selector(slot), {o.ANN_STABLE_SLOT: slot})

    def _converge_selector(self, name: str, selector: dict[str, str], annotations: dict[str, str]) -> None:
        def change(service: o.Obj) -> Change:
            current = service["spec"].get("selector") or {}
            current_annotations = service["metadata"].get("annotations") or {}
            if current == selector and all(current_annotations.get(k) == v for k, v in annotations.items()):
                return None
            extra = dict(annotations)
            if current != selector:
                extra[o.ANN_TRAFFIC_CHANGED_AT] = f"{self._clock.now():.3f}"
            patch = {
                "metadata": {"annotations": {**extra, **self._stamp()}},
                "spec": {"selector": o.selector_patch(current, selector)},
            }
            return with_version(service, patch, "merge"), "merge"

        self._api.converge("service", name, change)

    def _mark_traffic_changed(self, names: o.ServiceNames) -> None:
        def change(service: o.Obj) -> Change:
            patch = {"metadata": {"annotations": {o.ANN_TRAFFIC_CHANGED_AT: f"{self._clock.now():.3f}"}}}
            return with_version(service, patch, "merge"), "merge"

        if self._api.get("service", names.k8s_service) is not None:
            self._api.converge("service", names.k8s_service, change)

    def _stamp(self) -> dict[str, str]:
        return {o.ANN_ORCHESTRATION: self.orchestration_id} if self.orchestration_id else {}

    def _timeout(self, service: str) -> float:
        return self._settings.service(service).readiness_timeout or self._settings.readiness_timeout
