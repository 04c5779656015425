"""Rolling: the Deployment's own RollingUpdate, watched to completion; rollback restores the template."""

from __future__ import annotations

import json

import pytest

from conductor.errors import NotReadyError, PlatformError
from conductor.platforms.kubernetes.objects import ANN_PREVIOUS_TEMPLATE, ANN_PREVIOUS_VERSION, ANN_VERSION
from tests.platforms.kubernetes.conftest import Rig


def _on_blue(rig: Rig) -> None:
    platform = rig.platform()
    platform.deploy("api", "blue", "v1.0.0", replicas=3)
    platform.set_weights("api", {"blue": 100, "green": 0})


def _pod_versions(rig: Rig) -> list[str]:
    pods = [p for p in rig.cluster.list("pods") if p["metadata"]["labels"].get("conductor.dev/slot") == "blue"]
    return sorted(p["metadata"]["annotations"][ANN_VERSION] for p in pods)


def test_rolling_update_runs_to_completion_and_keeps_the_previous_template(rig: Rig) -> None:
    _on_blue(rig)
    platform = rig.platform()
    old_template = rig.deployment("api-blue")["spec"]["template"]

    first = platform.replace_instance("api", "blue", 0, "v1.1.0")

    assert first.version == "v1.1.0" and first.ready
    assert _pod_versions(rig) == ["v1.1.0"] * 3
    deployment = rig.deployment("api-blue")
    assert deployment["metadata"]["annotations"][ANN_PREVIOUS_VERSION] == "v1.0.0"
    assert json.loads(deployment["metadata"]["annotations"][ANN_PREVIOUS_TEMPLATE]) == old_template
    # the Deployment controller did the replacing, never below 3 ready pods (maxUnavailable 0)
    assert deployment["status"]["updatedReplicas"] == 3
    generation = deployment["metadata"]["generation"]

    for index in (1, 2):  # later instances find the rollout done: idempotent, nothing patched
        assert platform.replace_instance("api", "blue", index, "v1.1.0").version == "v1.1.0"
    assert rig.deployment("api-blue")["metadata"]["generation"] == generation
    assert platform.snapshot("api").weights == {"blue": 100, "green": 0}
    # an index past the pods that exist now (e.g. a surge pod from an earlier snapshot) reports the result
    beyond = platform.replace_instance("api", "blue", 3, "v1.1.0")
    assert beyond.version == "v1.1.0" and beyond.ready
    with pytest.raises(PlatformError, match="no instance -1"):
        platform.replace_instance("api", "blue", -1, "v1.1.0")


def test_rollback_restores_the_whole_previous_template(rig: Rig) -> None:
    _on_blue(rig)
    platform = rig.platform()
    original = rig.deployment("api-blue")["spec"]["template"]
    platform.replace_instance("api", "blue", 0, "v1.1.0")

    restored = platform.replace_instance("api", "blue", 0, "v1.0.0")

    assert restored.version == "v1.0.0"
    assert rig.deployment("api-blue")["spec"]["template"] == original  # env, labels, everything
    assert _pod_versions(rig) == ["v1.0.0"] * 3


def test_a_rollout_that_never_pulls_fails_fast_and_rolls_back(rig: Rig) -> None:
    _on_blue(rig)
    rig.cluster.image_behaviour["registry.example/api:v1.1.1"] = "never-pull"
    platform = rig.platform()
    started = rig.clock.now()

    with pytest.raises(NotReadyError, match=r"ImagePullBackOff.*platform failure"):
        platform.replace_instance("api", "blue", 0, "v1.1.1")

    assert rig.clock.now() - started < 120  # failed fast, well before the readiness timeout
    assert _pod_versions(rig).count("v1.0.0") == 3  # maxUnavailable 0: the old pods still serve
    assert platform.replace_instance("api", "blue", 0, "v1.0.0").version == "v1.0.0"
    assert _pod_versions(rig) == ["v1.0.0"] * 3
