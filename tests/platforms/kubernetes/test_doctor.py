"""`conductor doctor` against the fake API server's SelfSubjectAccessReview."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conductor.frontends.cli import main
from tests.platforms.kubernetes.fake_apiserver import FakeCluster


def _write_config(tmp_path: Path, cluster: FakeCluster, **service: Any) -> Path:
    config = {
        "orchestration": {"strategy": "canary", "services": ["api"]},
        "platform": {
            "kind": "kubernetes",
            "kubeconfig": str(cluster.kubeconfig(tmp_path)),
            "namespace": "shop",
            "services": {"api": {"templateDeployment": "api", **service}},
        },
    }
    path = tmp_path / ".mothership" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


def test_doctor_passes_when_everything_is_allowed(
    cluster: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["doctor", "--config", str(_write_config(tmp_path, cluster))])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok      can patch deployments.apps" in out
    assert "httproutes" not in out  # no route configured: not asked for
    assert "everything Conductor needs is allowed" in out
    reviews = [r for r in cluster.requests if r[1].endswith("/selfsubjectaccessreviews")]
    assert len(reviews) == 17  # 5 deployments + 5 services + 3 pods + pods/proxy + 3 events


def test_doctor_lists_what_is_missing_and_fails(
    cluster: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.denied |= {("patch", "gateway.networking.k8s.io", "httproutes", ""), ("get", "", "pods", "proxy")}
    code = main(["doctor", "--json", "--config", str(_write_config(tmp_path, cluster, httpRoute="api"))])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    missing = [c["check"] for c in report["checks"] if not c["ok"]]
    assert missing == ["can get pods/proxy", "can patch httproutes.gateway.networking.k8s.io", "api: HTTPRoute api"]


def test_doctor_reports_an_unreachable_cluster(
    cluster: FakeCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_config(tmp_path, cluster)
    cluster.__exit__(None, None, None)
    assert main(["doctor", "--config", str(path)]) == 1
    assert "MISSING reach the API server" in capsys.readouterr().out
