"""The local platform in-process: real instances and a real router on loopback."""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from conductor.errors import NotReadyError, PlatformError
from conductor.metrics.router import RouterMetrics, RouterWindow
from conductor.platforms.base import Slot
from conductor.platforms.local.process import free_port
from conductor.platforms.local.runtime import LocalRuntime

from .conftest import CLIENT_TIMEOUT, READY_TIMEOUT, Load, Workspace, demo_command, wait_until

WINDOW = 900  # seconds of router counters to read: all of a test's requests, however slow the machine

VERSIONED = {
    "api": {
        "command": demo_command(),
        "readinessTimeout": READY_TIMEOUT,
        "versions": {
            "v-bad": {"args": ["--error-rate", "100"]},
            "v-never": {"args": ["--never-ready"]},
            "v-crash": {"args": ["--crash-after", "0.3"]},
        },
    }
}


def set_readiness_timeout(runtime: LocalRuntime, seconds: float) -> None:
    """From now on, instances of ``api`` get ``seconds`` to become ready (settings are immutable: swap them)."""
    settings = runtime.supervisor.settings
    api = settings.services["api"].model_copy(update={"readiness_timeout": seconds})
    runtime.supervisor.settings = settings.model_copy(update={"services": {**settings.services, "api": api}})


def test_blue_green_flip_under_load_drops_no_request(
    runtime_factory: Callable[..., LocalRuntime], load_factory: Callable[..., Load]
) -> None:
    runtime = runtime_factory(services=VERSIONED)
    port = runtime.router_ports()["api"]
    load = load_factory(port).start()
    assert wait_until(lambda: load.versions["v1.0.0"] > 50)
    runtime.deploy("api", "green", "v1.1.0", replicas=2)
    assert runtime.set_weights("api", {"blue": 0, "green": 100}) == {"blue": 0, "green": 100}
    assert wait_until(lambda: load.versions["v1.1.0"] > 50)
    runtime.retire("api", "blue")  # drains blue's in-flight requests, then stops its processes
    after_retire = load.versions["v1.1.0"]
    assert wait_until(lambda: load.versions["v1.1.0"] > after_retire + 50)
    load.stop()
    assert load.failures == []
    assert load.versions["v1.0.0"] > 0 and load.versions["v1.1.0"] > 0
    snapshot = runtime.snapshot("api")
    assert snapshot.weights == {"blue": 0, "green": 100}
    assert snapshot.slots["blue"].version is None and snapshot.slots["green"].ready


def test_canary_share_is_within_three_points_over_2000_requests(
    runtime_factory: Callable[..., LocalRuntime], load_factory: Callable[..., Load]
) -> None:
    runtime = runtime_factory(services=VERSIONED)
    runtime.deploy("api", "green", "v1.1.0", replicas=2)
    runtime.set_weights("api", {"blue": 90, "green": 10})
    load = load_factory(runtime.router_ports()["api"]).start(limit=2000).wait()
    assert load.failures == []
    total = load.versions["v1.0.0"] + load.versions["v1.1.0"]
    assert total == 2000
    share = 100.0 * load.versions["v1.1.0"] / total
    assert 7.0 <= share <= 13.0, share
    green = runtime.window("api", "green", WINDOW)
    assert green.requests == load.versions["v1.1.0"] and green.errors == 0


def test_router_counts_errors_and_latency_per_slot(
    runtime_factory: Callable[..., LocalRuntime], load_factory: Callable[..., Load]
) -> None:
    runtime = runtime_factory(services=VERSIONED)
    runtime.deploy("api", "green", "v-bad", replicas=1)
    runtime.set_weights("api", {"blue": 80, "green": 20})
    load = load_factory(runtime.router_ports()["api"]).start(limit=500).wait()
    metrics = RouterMetrics(runtime)
    green = metrics.sample("api", "green", WINDOW)
    blue = metrics.sample("api", "blue", WINDOW)
    assert green.available and green.requests == 100 and green.errors == 100
    assert green.error_rate_percent == 100.0
    assert blue.requests == 400 and blue.errors == 0
    # Milliseconds, and the router's own share of each request: at least the app's 1 ms sleep, and at
    # most what the client measured around the same requests (buckets are exact to within 2.5%).
    seen = sorted(load.latencies_ms["v1.0.0"])
    assert blue.p50_ms is not None and 0.5 < blue.p50_ms <= seen[len(seen) // 2] * 1.03
    assert blue.p50_ms <= (blue.p95_ms or 0) <= (blue.p99_ms or 0)


def test_metrics_outage_is_a_result_not_an_exception() -> None:
    class Down:
        def window(self, service: str, slot: Slot, seconds: float) -> RouterWindow:
            raise PlatformError("the local platform is not running")

    sample = RouterMetrics(Down()).sample("api", "green", 10)
    assert not sample.available and "not running" in sample.error and sample.error_rate_percent is None


def test_headers_bodies_and_methods_pass_through(runtime_factory: Callable[..., LocalRuntime]) -> None:
    runtime = runtime_factory(services=VERSIONED)
    url = f"http://127.0.0.1:{runtime.router_ports()['api']}"
    with httpx2.Client(timeout=CLIENT_TIMEOUT) as client:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            response = client.request(
                method,
                url + "/items/1?q=x",
                content=b"abc",
                headers={"X-Demo-Trace": "t1", "X-Forwarded-For": "10.1.2.3"},
            )
            assert response.status_code == 200, method
            echo: dict[str, Any] = response.json()
            assert echo["method"] == method and echo["path"] == "/items/1?q=x" and echo["bodyEcho"] == "abc"
            assert echo["headers"] == {"x-demo-trace": "t1"}
            assert echo["forwardedFor"] == "10.1.2.3, 127.0.0.1"
        assert client.head(url + "/").status_code == 200
        big = bytes(range(256)) * (3 * 4096)  # 3 MiB, chunked (no length), then a request on the same connection
        chunked = client.post(url + "/echo", content=iter([big[:1000], big[1000:]]))
        assert chunked.status_code == 200 and chunked.json()["bodyBytes"] == len(big)
        assert client.get(url + "/after").json()["path"] == "/after"
    with socket.create_connection(("127.0.0.1", runtime.router_ports()["api"]), timeout=CLIENT_TIMEOUT) as raw:
        raw.sendall(
            b"GET /a%2Fb/../c?x=%20 HTTP/1.1\r\nHost: example\r\nConnection: close, X-Demo-Hop\r\nX-Demo-Hop: 1\r\n\r\n"
        )
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    echo = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert echo["path"] == "/a%2Fb/../c?x=%20"  # forwarded exactly as sent, not normalised
    assert echo["headers"] == {}  # a header named in Connection is hop-by-hop: not forwarded


def test_instance_crash_is_detected_reported_and_restarted(runtime_factory: Callable[..., LocalRuntime]) -> None:
    runtime = runtime_factory(services=VERSIONED, platform={"restart": {"maxRestarts": 1, "backoff": 0.2}})
    runtime.deploy("api", "green", "v1.1.0", replicas=1)
    instance = runtime.supervisor.group("api", "green").instances[0]
    instance.process.signal_group(signal.SIGKILL)
    assert wait_until(lambda: any(e["kind"] == "instance_crashed" for e in runtime.events))
    crash = next(e for e in runtime.events if e["kind"] == "instance_crashed")
    assert crash["how"] == "killed by signal SIGKILL" and crash["slot"] == "green"
    assert wait_until(lambda: runtime.snapshot("api").slots["green"].ready)
    state = runtime.snapshot("api").slots["green"].instances[0]
    assert "restarted 1 time(s)" in state.detail and "SIGKILL" in state.detail


def test_crash_beyond_the_restart_limit_stays_reported(
    runtime_factory: Callable[..., LocalRuntime], tmp_path: Path
) -> None:
    crash = tmp_path / "crash-now"  # the app exits with code 3 once it exists: after it is ready, whatever the load
    services = {"api": {**VERSIONED["api"], "versions": {"v-crash": {"args": ["--crash-file", str(crash)]}}}}
    runtime = runtime_factory(services=services, platform={"restart": {"mode": "never"}})
    runtime.deploy("api", "green", "v-crash", replicas=1)
    crash.touch()
    assert wait_until(lambda: runtime.snapshot("api").slots["green"].instances[0].crashed)
    state = runtime.snapshot("api").slots["green"].instances[0]
    assert state.detail.startswith("crashed: exited with code 3") and "not restarted" in state.detail
    with pytest.raises(PlatformError, match="no ready instance"):
        runtime.set_weights("api", {"blue": 90, "green": 10})


def test_never_ready_version_fails_deploy_and_leaves_traffic_untouched(
    runtime_factory: Callable[..., LocalRuntime], load_factory: Callable[..., Load]
) -> None:
    runtime = runtime_factory(services=VERSIONED)  # v1.0.0 gets all the time a busy machine needs...
    load = load_factory(runtime.router_ports()["api"]).start()
    set_readiness_timeout(runtime, 1.0)  # ...and v-never one second
    with pytest.raises(NotReadyError) as failure:
        runtime.deploy("api", "green", "v-never", replicas=2)
    message = str(failure.value)
    assert "not ready after 1s" in message and "HTTP 503" in message
    assert "log tail" in message and "api v-never listening" in message
    load.stop()
    assert load.failures == [] and set(load.versions) == {"v1.0.0"}
    snapshot = runtime.snapshot("api")
    assert snapshot.weights == {"blue": 100, "green": 0}
    assert snapshot.slots["green"].version is None and snapshot.slots["green"].instances == ()
    assert len(runtime.supervisor.group("api", "blue").instances) == 2


def test_router_port_in_use_is_a_clear_error_and_starts_nothing(
    workspace_factory: Callable[..., Workspace], runtime_factory: Callable[..., LocalRuntime]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ws = workspace_factory(services={"api": {**VERSIONED["api"], "routerPort": port}})
        with pytest.raises(PlatformError, match=f"router port {port} on 127.0.0.1 is already in use"):
            runtime_factory(ws)
        assert ws.tagged_pids() == set()


def test_weights_are_validated_and_idempotent(runtime_factory: Callable[..., LocalRuntime]) -> None:
    runtime = runtime_factory(services=VERSIONED)
    with pytest.raises(PlatformError, match="no ready instance"):
        runtime.set_weights("api", {"blue": 50, "green": 50})
    with pytest.raises(PlatformError, match="sum to 100"):
        runtime.set_weights("api", {"blue": 50, "green": 40})
    first = runtime.deploy("api", "green", "v1.1.0", replicas=1)
    assert runtime.deploy("api", "green", "v1.1.0", replicas=1) == first  # same processes, nothing restarted
    assert runtime.set_weights("api", {"blue": 75, "green": 25}) == {"blue": 75, "green": 25}
    assert runtime.set_weights("api", {"blue": 75, "green": 25}) == {"blue": 75, "green": 25}
    with pytest.raises(PlatformError, match="carries 25%"):
        runtime.deploy("api", "green", "v1.2.0", replicas=1)
    with pytest.raises(PlatformError, match="still carries 25%"):
        runtime.retire("api", "green")
    assert runtime.probe("api", "green", "/healthz") == 200


def test_rolling_replacement_under_load_drops_no_request(
    runtime_factory: Callable[..., LocalRuntime], load_factory: Callable[..., Load]
) -> None:
    runtime = runtime_factory(services=VERSIONED)
    load = load_factory(runtime.router_ports()["api"]).start()
    assert wait_until(lambda: load.versions["v1.0.0"] > 30)
    for index in (0, 1):
        state = runtime.replace_instance("api", "blue", index, "v1.1.0")
        assert state.version == "v1.1.0" and state.ready
    assert runtime.replace_instance("api", "blue", 1, "v1.1.0").ready  # idempotent: nothing restarted
    settled = load.versions["v1.1.0"]
    assert wait_until(lambda: load.versions["v1.1.0"] > settled + 30)
    load.stop()
    assert load.failures == []
    assert runtime.snapshot("api").slots["blue"].version == "v1.1.0"
    assert len(runtime.supervisor.group("api", "blue").instances) == 2


def test_a_version_override_with_a_missing_program_is_a_config_error(
    workspace_factory: Callable[..., Workspace],
) -> None:
    from conductor.errors import ConfigError

    services = {"api": {**VERSIONED["api"], "versions": {"v9": {"command": ["/no/such/binary"]}}}}
    with pytest.raises(ConfigError, match=r"platform\.services\.api\.versions\.v9\.command.*does not exist"):
        workspace_factory(services=services)


def test_retire_waits_for_requests_in_flight_on_the_retired_slot(
    runtime_factory: Callable[..., LocalRuntime],
) -> None:
    services = {"api": {**VERSIONED["api"], "versions": {"v-slow": {"args": ["--latency-ms", "1500"]}}}}
    runtime = runtime_factory(services=services)
    runtime.deploy("api", "green", "v-slow", replicas=1)
    runtime.set_weights("api", {"blue": 0, "green": 100})
    url = f"http://127.0.0.1:{runtime.router_ports()['api']}/slow"
    answers: list[int] = []
    request = threading.Thread(target=lambda: answers.append(httpx2.get(url, timeout=CLIENT_TIMEOUT).status_code))
    request.start()
    assert wait_until(lambda: runtime.window("api", "green", WINDOW).active_connections == 1)
    runtime.set_weights("api", {"blue": 100, "green": 0})
    runtime.retire("api", "green")  # waits for the slow request before stopping the process
    request.join(timeout=CLIENT_TIMEOUT)
    assert answers == [200]
    assert runtime.snapshot("api").slots["green"].instances == ()


def test_a_stopped_platform_starts_again_with_the_same_versions_and_split(
    workspace_factory: Callable[..., Workspace], runtime_factory: Callable[..., LocalRuntime]
) -> None:
    ws = workspace_factory(services=VERSIONED)
    first = runtime_factory(ws)
    first.deploy("api", "green", "v1.1.0", replicas=2)
    first.set_weights("api", {"blue": 60, "green": 40})
    port = first.router_ports()["api"]
    first.shutdown()
    assert ws.tagged_pids() == set()
    second = runtime_factory(ws)
    snapshot = second.snapshot("api")
    assert snapshot.weights == {"blue": 60, "green": 40} and second.router_ports()["api"] == port
    assert snapshot.slots["green"].version == "v1.1.0" and len(snapshot.slots["green"].instances) == 2
    assert snapshot.slots["blue"].ready and snapshot.slots["green"].ready


def _read_response(raw: socket.socket) -> tuple[int, bytes]:
    answer = b""
    while chunk := raw.recv(65536):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_request_still_sending_its_body_survives_the_replacement_of_its_instance(
    runtime_factory: Callable[..., LocalRuntime],
) -> None:
    runtime = runtime_factory(services=VERSIONED, replicas=1)
    with socket.create_connection(("127.0.0.1", runtime.router_ports()["api"]), timeout=CLIENT_TIMEOUT) as raw:
        raw.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello")
        assert wait_until(lambda: runtime.window("api", "blue", WINDOW).active_connections == 1)
        assert runtime.replace_instance("api", "blue", 0, "v1.1.0").ready  # the old instance is stopped
        raw.sendall(b"world")
        status, body = _read_response(raw)
    assert status == 200, body
    echo = json.loads(body)
    assert echo["version"] == "v1.1.0" and echo["bodyEcho"] == "helloworld"


def test_a_request_the_router_refuses_is_not_counted_as_an_error_of_the_slot(
    runtime_factory: Callable[..., LocalRuntime],
) -> None:
    runtime = runtime_factory(services=VERSIONED, replicas=1)
    with socket.create_connection(("127.0.0.1", runtime.router_ports()["api"]), timeout=CLIENT_TIMEOUT) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")  # not HTTP
        status, _ = _read_response(raw)
    assert status == 400
    url = f"http://127.0.0.1:{runtime.router_ports()['api']}/upload"
    with httpx2.Client(timeout=CLIENT_TIMEOUT) as client:
        assert client.post(url, content=b"small").status_code == 200
    blue = runtime.window("api", "blue", WINDOW)
    assert blue.errors == 0 and blue.requests >= 1


def test_a_large_body_streams_through(runtime_factory: Callable[..., LocalRuntime]) -> None:
    runtime = runtime_factory(services=VERSIONED, replicas=1)
    url = f"http://127.0.0.1:{runtime.router_ports()['api']}/upload"
    body = bytes(range(256)) * (12 * 1024)  # 3 MiB: over any buffer the router keeps (the old limit was 1 MiB)
    with httpx2.Client(timeout=CLIENT_TIMEOUT) as client:
        response = client.post(url, content=body)
    assert response.status_code == 200, response.text[:200]
    assert response.json()["bodyBytes"] == len(body)


def test_a_restart_that_never_becomes_ready_leaves_no_process_behind(
    workspace_factory: Callable[..., Workspace], runtime_factory: Callable[..., LocalRuntime]
) -> None:
    from conductor.platforms.local.settings import VersionOverride

    ws = workspace_factory(services=VERSIONED, platform={"restart": {"maxRestarts": 1, "backoff": 0}})
    runtime = runtime_factory(ws)
    runtime.deploy("api", "green", "v1.1.0", replicas=1)
    api = ws.settings.services["api"]
    hanging = api.model_copy(  # from now on v1.1.0 hangs before it is ready (its database is down, say)
        update={"readiness_timeout": 1.0, "versions": {"v1.1.0": VersionOverride(args=["--never-ready"])}}
    )
    runtime.supervisor.settings = ws.settings.model_copy(update={"services": {"api": hanging}})
    expected = {i.process.pid for i in runtime.supervisor.group("api", "blue").instances}
    plane = runtime.routers["api"].process
    assert plane is not None
    expected.add(plane.pid)  # the data plane: a process of its own
    runtime.supervisor.group("api", "green").instances[0].process.signal_group(signal.SIGKILL)
    assert wait_until(lambda: any(e["kind"] == "instance_restart_failed" for e in runtime.events))
    assert wait_until(lambda: ws.tagged_pids() == expected), ws.tagged_pids() - expected


def test_an_instance_port_taken_before_the_instance_binds_it_is_replaced_by_another(
    runtime_factory: Callable[..., LocalRuntime], monkeypatch: pytest.MonkeyPatch
) -> None:
    from conductor.platforms.local import supervisor

    runtime = runtime_factory(services=VERSIONED, replicas=1)
    with socket.socket() as thief:  # takes the port between its choice and the instance's bind
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        taken = thief.getsockname()[1]
        chosen = iter([taken])
        monkeypatch.setattr(supervisor, "free_port", lambda: next(chosen, None) or free_port())
        state = runtime.deploy("api", "green", "v1.1.0", replicas=1)
    assert state.ready and runtime.supervisor.group("api", "green").instances[0].process.port != taken


def test_a_client_gone_before_its_body_arrived_is_not_counted_as_an_error_of_the_slot(
    runtime_factory: Callable[..., LocalRuntime],
) -> None:
    runtime = runtime_factory(services=VERSIONED, replicas=1)
    with socket.create_connection(("127.0.0.1", runtime.router_ports()["api"]), timeout=CLIENT_TIMEOUT) as raw:
        raw.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        assert wait_until(lambda: runtime.window("api", "blue", WINDOW).active_connections == 1)
    assert wait_until(lambda: runtime.window("api", "blue", WINDOW).requests == 1)  # it went away mid-body
    assert runtime.window("api", "blue", WINDOW).errors == 0
