"""Platform failures, conflicts and crashes: reported with their cause, traffic untouched, reruns converge."""

from __future__ import annotations

import re

import pytest

from conductor.errors import NotReadyError, PlatformError
from tests.platforms.kubernetes.conftest import Rig
from tests.platforms.kubernetes.fake_apiserver import FakeCluster


def _on_blue(rig: Rig) -> None:
    platform = rig.platform()
    platform.deploy("api", "blue", "v1.0.0", replicas=3)
    platform.set_weights("api", {"blue": 100, "green": 0})


@pytest.mark.parametrize(
    ("behaviour", "cause", "waits_for_timeout"),
    [
        ("never-pull", r"ImagePullBackOff: Back-off pulling image .*manifest unknown", False),
        ("crash", r"CrashLoopBackOff.*\(event BackOff: Back-off restarting failed container\)", False),
        ("oom", r"OOMKilled", False),
        ("unschedulable", r"Unschedulable: 0/3 nodes are available: 3 Insufficient cpu", True),
        ("never-ready", r"Readiness probe failed", True),
    ],
)
def test_a_version_that_never_becomes_ready_is_a_platform_failure(
    rig: Rig, behaviour: str, cause: str, waits_for_timeout: bool
) -> None:
    _on_blue(rig)
    rig.cluster.image_behaviour["registry.example/api:v2.0.0"] = behaviour
    platform = rig.platform()
    started = rig.clock.now()

    with pytest.raises(NotReadyError) as failure:
        platform.deploy("api", "green", "v2.0.0", replicas=3)

    message = str(failure.value)
    assert "api v2.0.0 (api-green) was not ready" in message
    assert "not a verdict on the release; traffic was not touched" in message
    assert re.search(cause, message), message
    waited = rig.clock.now() - started
    assert (waited >= 120) if waits_for_timeout else (waited < 30)
    assert platform.snapshot("api").weights == {"blue": 100, "green": 0}
    assert rig.service()["spec"]["selector"]["conductor.dev/slot"] == "blue"


def test_conflict_on_patch_is_retried_on_a_fresh_read(rig: Rig) -> None:
    _on_blue(rig)
    platform = rig.platform()
    platform.deploy("api", "green", "v1.1.0", replicas=3)

    def someone_else_edits(cluster: FakeCluster) -> None:  # e.g. a person adding an annotation
        service = cluster.get("services", "api")
        assert service is not None
        service["metadata"].setdefault("annotations", {})["team"] = "payments"
        cluster.update_internal("services", service)

    rig.cluster.before_patch["api"] = someone_else_edits
    assert platform.set_weights("api", {"blue": 0, "green": 100}) == {"blue": 0, "green": 100}

    service_patches = [r for r in rig.cluster.requests if r[0] == "PATCH" and r[1].endswith("/services/api")]
    assert len(service_patches) >= 2  # the 409, then the retry on a fresh read
    annotations = rig.service()["metadata"]["annotations"]
    assert annotations["team"] == "payments"  # their change survived ours
    assert rig.service()["spec"]["selector"]["conductor.dev/slot"] == "green"


def test_crash_between_two_patches_then_resume_converges(rig: Rig) -> None:
    """Canary by replicas is two writes (scale the canary, widen the selector); die between them."""
    _on_blue(rig)
    platform = rig.platform()
    platform.deploy("api", "green", "v1.1.0", replicas=3)
    rig.cluster.fail("PATCH", r"/services/api$", status=500)  # the process "dies" on the second write

    with pytest.raises(PlatformError, match="HTTP 500"):
        platform.set_weights("api", {"blue": 75, "green": 25})
    assert rig.deployment("api-green")["spec"]["replicas"] == 1  # first write landed
    assert rig.service()["spec"]["selector"]["conductor.dev/slot"] == "blue"  # second did not

    resumed = rig.platform()  # a fresh process reruns the same step
    assert resumed.set_weights("api", {"blue": 75, "green": 25}) == {"blue": 75, "green": 25}
    assert [d["metadata"]["name"] for d in rig.cluster.list("deployments")] == ["api", "api-blue", "api-green"]
    assert rig.deployment("api-green")["spec"]["replicas"] == 1


def test_crash_after_create_then_resume_does_not_duplicate(rig: Rig) -> None:
    _on_blue(rig)
    # the first read of api-green (absent) passes, the create lands, the next read fails:
    # the first process gives up with the Deployment created but never seen ready
    rig.cluster.fail("GET", r"/deployments/api-green$", status=503, times=1, skip=1)
    with pytest.raises(PlatformError, match="HTTP 503"):
        rig.platform().deploy("api", "green", "v1.1.0", replicas=3)
    assert rig.cluster.get("deployments", "api-green") is not None

    state = rig.platform().deploy("api", "green", "v1.1.0", replicas=3)

    assert state.ready and state.version == "v1.1.0"
    creates = [p for m, p, _ in rig.cluster.requests if m == "POST" and p.endswith("/deployments")]
    assert len(creates) == 2  # api-blue earlier, api-green once: the rerun adopted what was there


def test_probe_goes_to_a_ready_pod_of_the_slot(rig: Rig) -> None:
    _on_blue(rig)
    platform = rig.platform()
    platform.deploy("api", "green", "v1.1.0", replicas=3)
    rig.cluster.proxy_status["registry.example/api:v1.1.0"] = 503

    assert platform.probe("api", "blue", "/healthz") == 200
    assert platform.probe("api", "green", "/healthz") == 503
    proxied = [p for m, p, _ in rig.cluster.requests if "/proxy" in p]
    assert proxied[-1].endswith(":8080/proxy/healthz")
    platform.retire("api", "green")
    with pytest.raises(PlatformError, match="no ready pod"):
        platform.probe("api", "green", "/")


def test_unreachable_api_server_is_a_platform_error(rig: Rig) -> None:
    platform = rig.platform()
    rig.cluster.__exit__(None, None, None)
    with pytest.raises(PlatformError, match=r"unreachable|HTTP"):
        platform.snapshot("api")
