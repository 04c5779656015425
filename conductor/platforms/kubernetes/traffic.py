"""How a traffic split becomes Kubernetes state, and how applied state reads back as a split. Pure.

Two mechanisms, chosen per service:

* **HTTPRoute** (Gateway API): the route's ``backendRefs`` to the slot Services ``<svc>-blue``
  and ``<svc>-green`` get the weights, exactly. Only backendRefs naming the service's own
  Services change; matches, filters, other backends and rules that match on headers or query
  parameters are left as they are (header-routed rules are someone's deliberate pin, and
  rewriting a whole route is how other tools erased their users' filters). Weight 0 is written
  explicitly: a missing weight means 1 in the Gateway API, not 0.
* **Replica ratio** (plain Service): the Service selects both slots and kube-proxy spreads
  connections over ready pods, so the split is the ratio of pods. See :func:`replica_split`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from conductor.platforms.base import SLOTS, Slot
from conductor.platforms.kubernetes.objects import ServiceNames


class SplitRefused(ValueError):
    """The requested split cannot be expressed; the message says why and what would work."""


@dataclass(frozen=True)
class ReplicaSplit:
    stable_replicas: int
    canary_replicas: int

    @property
    def canary_percent(self) -> float:
        return 100.0 * self.canary_replicas / (self.stable_replicas + self.canary_replicas)


def replica_split(canary_percent: int, stable_replicas: int, tolerance: int, max_replicas: int) -> ReplicaSplit:
    """Canary replicas ``c`` for ``canary_percent`` beside ``stable_replicas`` that stay untouched.

    Stable is never scaled down while a rollback may send it everything, so only the canary
    moves: ``c = stable * w / (100 - w)``, rounded to the nearest integer (halves up), at least 1.
    The split served is ``c / (stable + c)``; if that is more than ``tolerance`` points away
    from the request, or ``c`` would exceed ``max_replicas``, the split is refused with the
    numbers, instead of silently serving something else.

    >>> replica_split(10, 9, 5, 20).canary_replicas  # 1 of 10 pods: exactly 10%
    1
    """
    if not 0 < canary_percent < 100:
        raise ValueError("a replica split needs 0 < canary percent < 100")
    exact = stable_replicas * canary_percent / (100 - canary_percent)
    canary = max(1, int(exact + 0.5))
    split = ReplicaSplit(stable_replicas, canary)
    if canary > max_replicas:
        raise SplitRefused(
            f"{canary_percent}% by replica ratio needs {canary} canary pods beside {stable_replicas} stable ones, "
            f"more than maxCanaryReplicas={max_replicas}; configure an HTTPRoute for exact weights"
        )
    if abs(split.canary_percent - canary_percent) > tolerance:
        needed = _stable_needed(canary_percent, tolerance)
        raise SplitRefused(
            f"{canary_percent}% cannot be expressed by replicas: with {stable_replicas} stable pods the closest is "
            f"{canary} canary pod(s) = {split.canary_percent:.0f}% (more than {tolerance} points off); "
            f"configure an HTTPRoute for exact weights, or run at least {needed} stable replicas"
        )
    return split


def _stable_needed(canary_percent: int, tolerance: int) -> int:
    for stable in range(1, 1000):
        canary = max(1, int(stable * canary_percent / (100 - canary_percent) + 0.5))
        if abs(100.0 * canary / (stable + canary) - canary_percent) <= tolerance:
            return stable
    return 1000


def ratio_weights(ready: dict[Slot, int]) -> dict[Slot, int]:
    """The split kube-proxy serves when the Service selects both slots: ready pods per slot."""
    total = sum(ready.values())
    if total == 0:
        return {slot: 0 for slot in SLOTS}
    blue = round(100 * ready.get("blue", 0) / total)
    return {"blue": blue, "green": 100 - blue}


# -- HTTPRoute ----------------------------------------------------------------------------------


def _is_ours(ref: dict[str, Any], names: ServiceNames) -> bool:
    ours = {names.k8s_service, names.slot_service("blue"), names.slot_service("green")}
    return ref.get("kind", "Service") == "Service" and ref.get("group", "") == "" and ref.get("name") in ours


def _pinned(rule: dict[str, Any]) -> bool:
    return any(match.get("headers") or match.get("queryParams") for match in rule.get("matches") or [])


def managed_rules(route: dict[str, Any], names: ServiceNames) -> list[int]:
    """Indexes of the rules whose split Conductor owns: they reference the service, unpinned."""
    rules = route.get("spec", {}).get("rules") or []
    return [
        i
        for i, rule in enumerate(rules)
        if not _pinned(rule) and any(_is_ours(ref, names) for ref in rule.get("backendRefs") or [])
    ]


def route_rules_with_weights(route: dict[str, Any], names: ServiceNames, weights: dict[Slot, int]) -> list[Any]:
    """The route's rules with our backendRefs replaced by the two slot Services at ``weights``."""
    rules: list[Any] = copy.deepcopy(route.get("spec", {}).get("rules") or [])
    managed = managed_rules(route, names)
    if not managed:
        raise SplitRefused(
            f"HTTPRoute {route.get('metadata', {}).get('name')} has no rule without header/query matches that "
            f"routes to Service {names.k8s_service} or {names.slot_service('blue')}/{names.slot_service('green')}"
        )
    for i in managed:
        refs = rules[i].get("backendRefs") or []
        ours = [ref for ref in refs if _is_ours(ref, names)]
        others = [ref for ref in refs if not _is_ours(ref, names)]
        port = next((ref["port"] for ref in ours if "port" in ref), names.port)
        slot_refs = [
            {"kind": "Service", "name": names.slot_service(slot), "port": port, "weight": int(weights[slot])}
            for slot in SLOTS
        ]
        rules[i]["backendRefs"] = others + slot_refs
    return rules


def route_weights(route: dict[str, Any], names: ServiceNames) -> dict[Slot, int] | None:
    """The split the route applies, in percent; None if no managed rule names the slot Services yet.

    Every managed rule must agree, otherwise the route is half-edited and reading it as one
    split would be a lie.
    """
    rules = route.get("spec", {}).get("rules") or []
    seen: list[dict[Slot, int]] = []
    for i in managed_rules(route, names):
        raw: dict[Slot, int] = {"blue": 0, "green": 0}
        for ref in rules[i].get("backendRefs") or []:
            for slot in SLOTS:
                if ref.get("name") == names.slot_service(slot) and _is_ours(ref, names):
                    raw[slot] += int(ref.get("weight", 1))
        total = raw["blue"] + raw["green"]
        if total == 0:
            continue
        blue = round(100 * raw["blue"] / total)
        seen.append({"blue": blue, "green": 100 - blue})
    if not seen:
        return None
    if any(split != seen[0] for split in seen[1:]):
        raise SplitRefused(f"HTTPRoute rules disagree on the split: {seen}")
    return seen[0]


def route_problems(route: dict[str, Any]) -> list[str]:
    """Gateway-reported conditions that mean the route is not (fully) serving its spec."""
    generation = int(route.get("metadata", {}).get("generation", 0))
    problems = []
    for parent in (route.get("status") or {}).get("parents") or []:
        for condition in parent.get("conditions") or []:
            failing = condition.get("type") in ("Accepted", "ResolvedRefs") and condition.get("status") == "False"
            current = int(condition.get("observedGeneration", generation)) >= generation
            if failing and current:
                problems.append(f"{condition['type']}=False ({condition.get('reason')}: {condition.get('message')})")
    return problems
