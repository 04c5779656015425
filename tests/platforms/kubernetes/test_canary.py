"""Canary on the fake cluster: HTTPRoute weights, replica ratio, read-back and refusals."""

from __future__ import annotations

import pytest

from conductor.errors import PlatformError
from conductor.platforms.kubernetes.traffic import SplitRefused, replica_split
from tests.platforms.kubernetes.conftest import Rig, http_route


def _start_on_blue(rig: Rig, **service: object) -> None:
    platform = rig.platform(**service)
    platform.deploy("api", "blue", "v1.0.0", replicas=rig.replicas)
    platform.set_weights("api", {"blue": 100, "green": 0})


def test_canary_ramp_and_promotion_by_http_route_weights(rig: Rig) -> None:
    rig.cluster.seed("httproutes", http_route())
    rig.service_settings = {"httpRoute": "api"}
    _start_on_blue(rig)
    platform = rig.platform()
    route = rig.cluster.get("httproutes", "api")
    assert route is not None
    pinned_rule = route["spec"]["rules"][0]

    platform.deploy("api", "green", "v1.1.0", replicas=3)
    for percent in (5, 25, 50):
        applied = platform.set_weights("api", {"blue": 100 - percent, "green": percent})
        assert applied == {"blue": 100 - percent, "green": percent}
        assert platform.snapshot("api").weights == applied

    route = rig.cluster.get("httproutes", "api")
    assert route is not None
    assert route["spec"]["rules"][0] == pinned_rule  # header-pinned rule untouched
    managed = route["spec"]["rules"][1]
    assert managed["filters"][0]["type"] == "RequestHeaderModifier"  # filters kept
    assert managed["backendRefs"] == [
        {"kind": "Service", "name": "api-blue", "port": 80, "weight": 50},
        {"kind": "Service", "name": "api-green", "port": 80, "weight": 50},
    ]
    assert rig.service("api-green")["spec"]["selector"] == {
        "conductor.dev/service": "api",
        "conductor.dev/slot": "green",
    }

    assert platform.set_weights("api", {"blue": 0, "green": 100}) == {"blue": 0, "green": 100}
    assert rig.service()["spec"]["selector"]["conductor.dev/slot"] == "green"  # in-cluster clients follow
    weights = [r.get("weight") for r in rig.cluster.get("httproutes", "api")["spec"]["rules"][1]["backendRefs"]]  # type: ignore[index]
    assert weights == [0, 100]  # weight 0 written explicitly (a missing weight means 1)


def test_rollback_mid_canary_is_one_route_patch_and_leaves_the_canary_running(rig: Rig) -> None:
    rig.cluster.seed("httproutes", http_route())
    rig.service_settings = {"httpRoute": "api"}
    _start_on_blue(rig)
    platform = rig.platform()
    platform.deploy("api", "green", "v1.2.0", replicas=3)
    platform.set_weights("api", {"blue": 75, "green": 25})
    before = len([r for r in rig.cluster.requests if r[0] == "PATCH"])

    assert platform.set_weights("api", {"blue": 100, "green": 0}) == {"blue": 100, "green": 0}

    patches = [r for r in rig.cluster.requests if r[0] == "PATCH"][before:]
    assert [p for _, p, _ in patches if "httproutes" in p]  # the route moved
    assert rig.deployment("api-green")["spec"]["replicas"] == 3  # canary kept for inspection until retire
    assert rig.deployment("api-blue")["spec"]["replicas"] == 3


def test_route_that_cannot_resolve_a_backend_is_reported_not_trusted(rig: Rig) -> None:
    rig.cluster.seed("httproutes", http_route())
    rig.service_settings = {"httpRoute": "api"}
    _start_on_blue(rig)
    platform = rig.platform()
    platform.deploy("api", "green", "v1.1.0", replicas=3)
    # somebody hand-edits the route to point at a Service that does not exist
    route = rig.cluster.get("httproutes", "api")
    assert route is not None
    with rig.cluster.lock:
        route["spec"]["rules"][1]["backendRefs"].append({"name": "api-typo", "port": 80, "weight": 1})
        rig.cluster.update_internal("httproutes", route)

    with pytest.raises(PlatformError, match="ResolvedRefs=False"):
        platform.set_weights("api", {"blue": 90, "green": 10})


def test_canary_by_replica_ratio_scales_only_the_canary(rig: Rig) -> None:
    rig.replicas = 3
    _start_on_blue(rig)
    platform = rig.platform()
    platform.deploy("api", "green", "v1.1.0", replicas=3)
    assert platform.snapshot("api").weights == {"blue": 100, "green": 0}

    applied = platform.set_weights("api", {"blue": 75, "green": 25})

    assert applied == {"blue": 75, "green": 25}  # 1 canary pod beside 3 stable
    assert rig.deployment("api-green")["spec"]["replicas"] == 1
    assert rig.deployment("api-blue")["spec"]["replicas"] == 3  # stable never scaled down
    assert rig.service()["spec"]["selector"] == {"conductor.dev/service": "api"}

    assert platform.set_weights("api", {"blue": 50, "green": 50}) == {"blue": 50, "green": 50}
    # promotion: the canary is brought to full size before it takes everything
    assert platform.set_weights("api", {"blue": 0, "green": 100}) == {"blue": 0, "green": 100}
    assert rig.deployment("api-green")["spec"]["replicas"] == 3
    assert rig.service()["spec"]["selector"]["conductor.dev/slot"] == "green"


def test_rollback_from_a_replica_split_is_one_selector_patch(rig: Rig) -> None:
    _start_on_blue(rig)
    platform = rig.platform()
    platform.deploy("api", "green", "v1.2.0", replicas=3)
    platform.set_weights("api", {"blue": 75, "green": 25})
    before = len(rig.cluster.requests)

    assert platform.set_weights("api", {"blue": 100, "green": 0}) == {"blue": 100, "green": 0}

    writes = [(m, p) for m, p, _ in rig.cluster.requests[before:] if m in ("PATCH", "POST")]
    assert writes == [("PATCH", "/api/v1/namespaces/shop/services/api")]
    assert rig.service()["spec"]["selector"]["conductor.dev/slot"] == "blue"
    assert rig.deployment("api-blue")["spec"]["replicas"] == 3


def test_replica_ratio_refuses_a_weight_it_cannot_express(rig: Rig) -> None:
    rig.replicas = 3
    _start_on_blue(rig)
    platform = rig.platform()
    platform.deploy("api", "green", "v1.1.0", replicas=3)
    selector_before = rig.service()["spec"]["selector"]

    with pytest.raises(
        PlatformError, match=r"10% cannot be expressed by replicas: with 3 stable pods.*25%.*at least 6"
    ):
        platform.set_weights("api", {"blue": 90, "green": 10})

    assert rig.service()["spec"]["selector"] == selector_before  # nothing moved


@pytest.mark.parametrize(
    ("percent", "stable", "canary", "served"),
    [(10, 9, 1, 10.0), (25, 3, 1, 25.0), (50, 2, 2, 50.0), (75, 2, 6, 75.0), (20, 5, 1, 16.7), (30, 4, 2, 33.3)],
)
def test_replica_split_rounding(percent: int, stable: int, canary: int, served: float) -> None:
    split = replica_split(percent, stable, tolerance=5, max_replicas=20)
    assert (split.stable_replicas, split.canary_replicas) == (stable, canary)
    assert split.canary_percent == pytest.approx(served, abs=0.05)


def test_replica_split_refuses_too_many_canary_pods() -> None:
    with pytest.raises(SplitRefused, match="maxCanaryReplicas=20"):
        replica_split(95, 3, tolerance=5, max_replicas=20)
