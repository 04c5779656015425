"""Blue-green on the fake cluster, through the real kubernetes client: deploy, flip, bake, retire."""

from __future__ import annotations

import pytest

from conductor.errors import PlatformError
from conductor.platforms.kubernetes.objects import ANN_ORCHESTRATION, ANN_VERSION, LABEL_SLOT
from tests.platforms.kubernetes.conftest import Rig


def test_first_deploy_adopts_the_existing_deployment_and_flips_the_service(rig: Rig) -> None:
    platform = rig.platform()
    assert platform.snapshot("api").weights == {"blue": 0, "green": 0}  # still on the team's own pods

    state = platform.deploy("api", "blue", "v1.0.0", replicas=3)

    assert state.version == "v1.0.0" and state.ready and len(state.instances) == 3
    blue = rig.deployment("api-blue")
    assert blue["spec"]["selector"]["matchLabels"] == {"conductor.dev/service": "api", LABEL_SLOT: "blue"}
    labels = blue["spec"]["template"]["metadata"]["labels"]
    assert "app" not in labels and labels["tier"] == "backend"  # adopted selector label dropped, others kept
    assert blue["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "LOG_LEVEL", "value": "info"}]
    assert blue["metadata"]["annotations"][ANN_ORCHESTRATION] == "o-1"
    assert rig.service()["spec"]["selector"] == {"app": "api"}  # deploy never touches traffic

    applied = platform.set_weights("api", {"blue": 100, "green": 0})

    assert applied == {"blue": 100, "green": 0}
    assert rig.service()["spec"]["selector"] == {"conductor.dev/service": "api", LABEL_SLOT: "blue"}
    assert rig.deployment("api")["spec"]["replicas"] == 3  # the adopted Deployment is never modified


def test_blue_green_release_keeps_the_old_slot_warm_until_retired(rig: Rig) -> None:
    platform = rig.platform()
    platform.deploy("api", "blue", "v1.0.0", replicas=3)
    platform.set_weights("api", {"blue": 100, "green": 0})

    green = platform.deploy("api", "green", "v1.1.0", replicas=3)
    assert green.ready and {i.version for i in green.instances} == {"v1.1.0"}
    image = rig.deployment("api-green")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example/api:v1.1.0"
    assert platform.snapshot("api").weights == {"blue": 0 + 100, "green": 0}

    patches_before = sum(1 for m, p, _ in rig.cluster.requests if m == "PATCH" and p.endswith("/services/api"))
    assert platform.set_weights("api", {"blue": 0, "green": 100}) == {"blue": 0, "green": 100}
    patches = sum(1 for m, p, _ in rig.cluster.requests if m == "PATCH" and p.endswith("/services/api"))
    assert patches - patches_before == 1  # the flip is one patch: never both slots, never neither

    snapshot = platform.snapshot("api")
    assert snapshot.slots["blue"].version == "v1.0.0" and snapshot.slots["blue"].ready  # warm for rollback

    # rollback is an instant flip back
    assert platform.set_weights("api", {"blue": 100, "green": 0}) == {"blue": 100, "green": 0}
    assert platform.set_weights("api", {"blue": 0, "green": 100}) == {"blue": 0, "green": 100}

    with pytest.raises(PlatformError, match="carries"):
        platform.retire("api", "green")
    slept_from = rig.clock.now()
    platform.retire("api", "blue")
    assert rig.clock.now() - slept_from == pytest.approx(30.0)  # waited out the propagation delay
    assert rig.deployment("api-blue")["spec"]["replicas"] == 0
    assert platform.snapshot("api").slots["blue"].version is None
    platform.retire("api", "blue")  # idempotent


def test_deploy_is_idempotent_and_refuses_a_slot_with_traffic(rig: Rig) -> None:
    platform = rig.platform()
    platform.deploy("api", "blue", "v1.0.0", replicas=3)
    platform.set_weights("api", {"blue": 100, "green": 0})
    generation = rig.deployment("api-blue")["metadata"]["generation"]

    again = platform.deploy("api", "blue", "v1.0.0", replicas=3)

    assert again.ready and rig.deployment("api-blue")["metadata"]["generation"] == generation
    with pytest.raises(PlatformError, match="carries traffic"):
        platform.deploy("api", "blue", "v1.1.0", replicas=3)
    assert rig.deployment("api-blue")["spec"]["template"]["metadata"]["annotations"][ANN_VERSION] == "v1.0.0"


def test_next_release_reuses_the_retired_slot_with_the_live_template(rig: Rig) -> None:
    platform = rig.platform()
    platform.deploy("api", "blue", "v1.0.0", replicas=3)
    platform.set_weights("api", {"blue": 100, "green": 0})
    platform.deploy("api", "green", "v1.1.0", replicas=3)
    platform.set_weights("api", {"blue": 0, "green": 100})
    platform.retire("api", "blue")
    # someone tunes the live slot between releases; the next release must carry that over
    green = rig.deployment("api-green")
    with rig.cluster.lock:
        green["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "POOL", "value": "20"})
        rig.cluster.update_internal("deployments", green)

    state = platform.deploy("api", "blue", "v1.2.0", replicas=3)

    assert state.ready and state.version == "v1.2.0"
    blue = rig.deployment("api-blue")
    assert blue["spec"]["replicas"] == 3
    assert {"name": "POOL", "value": "20"} in blue["spec"]["template"]["spec"]["containers"][0]["env"]
    assert blue["spec"]["template"]["metadata"]["labels"]["conductor.dev/slot"] == "blue"
    assert platform.set_weights("api", {"blue": 100, "green": 0}) == {"blue": 100, "green": 0}
