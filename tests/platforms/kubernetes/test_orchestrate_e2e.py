"""The whole product on the fake cluster: `/orchestrate ...` through Conductor, the kubernetes
platform built from config (kubeconfig, official client, loopback) and Prometheus (respx).

Only the metrics are recorded answers; everything else is the real path a release takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import respx

from conductor.frontends.cli import main
from tests.platforms.kubernetes.conftest import http_route
from tests.platforms.kubernetes.fake_apiserver import ApiError, FakeCluster

PROMETHEUS = "http://prometheus.test:9090"


class Traffic:
    """Recorded-style Prometheus answers per slot; tests flip a slot to failing."""

    def __init__(self) -> None:
        self.error_percent = {"blue": 0.5, "green": 0.5}

    REQUESTS = 200_000.0  # per window: enough for the judge to decide at the first check
    # Cumulative share of requests at or below each `le` (seconds): the router's default buckets.
    BUCKETS = (("0.05", 0.10), ("0.1", 0.90), ("0.25", 0.99), ("0.5", 1.0), ("+Inf", 1.0))

    def respond(self, request: httpx2.Request) -> httpx2.Response:
        query = parse_qs(urlsplit(str(request.url)).query)["query"][0]
        slot = "green" if 'slot="green"' in query else "blue"
        if query.startswith("sum by (le)"):
            result = [{"metric": {"le": le}, "value": [0, str(self.REQUESTS * share)]} for le, share in self.BUCKETS]
            return httpx2.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": result}})
        if "conductor_router_errors_total" in query:
            value = self.REQUESTS * self.error_percent[slot] / 100
        elif "conductor_router_requests_total" in query:
            value = self.REQUESTS
        elif "histogram_quantile" in query:
            value = 0.08
        else:
            value = 3.0
        body = {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, str(value)]}]},
        }
        return httpx2.Response(200, json=body)


@pytest.fixture
def traffic() -> Iterator[Traffic]:
    recorded = Traffic()
    with respx.mock(base_url=PROMETHEUS, assert_all_called=False) as router:
        router.get("/api/v1/query").mock(side_effect=recorded.respond)
        yield recorded


def _config(tmp_path: Path, cluster: FakeCluster, strategy: str, **service: Any) -> Path:
    config = {
        "orchestration": {
            "strategy": strategy,
            "services": ["api"],
            "healthCheckInterval": 0.05,
            "bakeTime": 0.2,
            "requireApproval": False,
            "canarySteps": [25, 50, 100],
        },
        "release": {"api": "v1.1.0"},
        "services": {"api": {"replicas": 3}},
        "model": {"provider": "policy"},
        "platform": {
            "kind": "kubernetes",
            "kubeconfig": str(cluster.kubeconfig(tmp_path)),
            "namespace": "shop",
            "pollInterval": 0.01,
            "readinessTimeout": 10,
            "propagationDelay": 0,
            "services": {"api": {"templateDeployment": "api", "targetPort": 8080, **service}},
            "metrics": {"kind": "prometheus", "url": PROMETHEUS},
        },
    }
    path = tmp_path / ".mothership" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


def _run(path: Path, *words: str) -> tuple[int, str]:
    from conductor.session import Conductor

    conductor = Conductor.from_config(path)
    try:
        result = conductor.run(["/orchestrate", *words], auto=True)
    finally:
        conductor.close()
    return result.exit_code, "\n".join(s.format() for s in result.signals)


def test_blue_green_end_to_end(cluster: FakeCluster, traffic: Traffic, tmp_path: Path) -> None:
    path = _config(tmp_path, cluster, "blue-green")
    assert main(["doctor", "--adopt", "--config", str(path)]) == 0

    code, signals = _run(path, "blue-green")

    assert code == 0 and "DEPLOYED:api" in signals, signals
    service = cluster.get("services", "api")
    assert service is not None and service["spec"]["selector"]["conductor.dev/slot"] == "green"
    green, blue = cluster.get("deployments", "api-green"), cluster.get("deployments", "api-blue")
    assert green is not None and green["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1.1.0")
    assert blue is not None and blue["spec"]["replicas"] == 0  # retired after the bake


def test_canary_by_route_end_to_end(cluster: FakeCluster, traffic: Traffic, tmp_path: Path) -> None:
    cluster.seed("httproutes", http_route())
    path = _config(tmp_path, cluster, "canary", httpRoute="api")
    assert main(["doctor", "--adopt", "--config", str(path)]) == 0

    code, signals = _run(path, "canary")

    assert code == 0 and "DEPLOYED:api" in signals, signals
    route = cluster.get("httproutes", "api")
    assert route is not None
    weights = {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][1]["backendRefs"]}
    assert weights == {"api-blue": 0, "api-green": 100}
    patches = [p for m, p, _ in cluster.requests if m == "PATCH" and "httproutes" in p]
    assert len(patches) >= 4  # 100 on blue (adopt), 25, 50, 100


def test_bad_canary_is_rolled_back_and_the_route_returns_to_stable(
    cluster: FakeCluster, traffic: Traffic, tmp_path: Path
) -> None:
    cluster.seed("httproutes", http_route())
    path = _config(tmp_path, cluster, "canary", httpRoute="api")
    assert main(["doctor", "--adopt", "--config", str(path)]) == 0
    traffic.error_percent["green"] = 20.0

    code, signals = _run(path, "canary")

    assert code == 3 and "ROLLBACK:api" in signals, signals
    route = cluster.get("httproutes", "api")
    assert route is not None
    weights = {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][1]["backendRefs"]}
    assert weights == {"api-blue": 100, "api-green": 0}
    green = cluster.get("deployments", "api-green")
    assert green is not None and green["spec"]["replicas"] == 0


def test_rolling_end_to_end(cluster: FakeCluster, traffic: Traffic, tmp_path: Path) -> None:
    path = _config(tmp_path, cluster, "rolling")
    assert main(["doctor", "--adopt", "--config", str(path)]) == 0

    code, signals = _run(path, "rolling")

    assert code == 0 and "DEPLOYED:api" in signals, signals
    blue = cluster.get("deployments", "api-blue")
    assert blue is not None
    assert blue["spec"]["template"]["metadata"]["annotations"]["conductor.dev/version"] == "v1.1.0"
    assert blue["metadata"]["annotations"]["conductor.dev/previous-version"] == "v1.0.0"


def test_api_outage_mid_canary_then_rerun_resumes(cluster: FakeCluster, traffic: Traffic, tmp_path: Path) -> None:
    """The API server accepts 25%, then fails every route write: the run stops; a rerun finishes."""
    cluster.seed("httproutes", http_route())
    path = _config(tmp_path, cluster, "canary", httpRoute="api")
    assert main(["doctor", "--adopt", "--config", str(path)]) == 0
    original_patch = cluster.patch
    calls = {"route": 0}

    def failing_after_first(resource: str, name: str, content_type: str, body: Any) -> dict[str, Any]:
        if resource == "httproutes":
            calls["route"] += 1
            if calls["route"] >= 2:
                raise ApiError(500, "InternalError", "etcdserver: request timed out")
        return original_patch(resource, name, content_type, body)

    cluster.patch = failing_after_first  # type: ignore[method-assign]
    first_code, first_signals = _run(path, "canary")

    assert "DEPLOYED" not in first_signals and calls["route"] == 2, (first_code, first_signals)  # stopped at 25%
    route = cluster.get("httproutes", "api")
    assert route is not None
    assert {r["name"]: r["weight"] for r in route["spec"]["rules"][1]["backendRefs"]} == {
        "api-blue": 75,
        "api-green": 25,
    }

    cluster.patch = original_patch  # type: ignore[method-assign]
    code, signals = _run(path, "canary")  # a fresh process, same command

    assert code == 0 and "DEPLOYED:api" in signals, signals
    assert [d["metadata"]["name"] for d in cluster.list("deployments")] == ["api", "api-blue", "api-green"]


def test_canary_by_replica_ratio_end_to_end(cluster: FakeCluster, traffic: Traffic, tmp_path: Path) -> None:
    path = _config(tmp_path, cluster, "canary")
    assert main(["doctor", "--adopt", "--config", str(path)]) == 0

    code, signals = _run(path, "canary")

    assert code == 0 and "DEPLOYED:api" in signals, signals
    scales = [p for m, p, _ in cluster.requests if m == "PATCH" and p.endswith("/deployments/api-green")]
    assert scales  # 25% = 1 canary pod beside 3, then 50%, then full size before the flip
    service = cluster.get("services", "api")
    assert service is not None and service["spec"]["selector"]["conductor.dev/slot"] == "green"


def test_an_image_that_never_pulls_stops_the_release_with_traffic_untouched(
    cluster: FakeCluster, traffic: Traffic, tmp_path: Path
) -> None:
    path = _config(tmp_path, cluster, "blue-green")
    assert main(["doctor", "--adopt", "--config", str(path)]) == 0
    cluster.image_behaviour["registry.example/api:v1.1.0"] = "never-pull"
    from conductor.session import Conductor

    conductor = Conductor.from_config(path)
    try:
        result = conductor.run(["/orchestrate", "blue-green"], auto=True)
    finally:
        conductor.close()

    assert not any("DEPLOYED" in s.format() for s in result.signals)
    assert "ImagePullBackOff" in result.report, result.report
    service = cluster.get("services", "api")
    assert service is not None and service["spec"]["selector"]["conductor.dev/slot"] == "blue"
