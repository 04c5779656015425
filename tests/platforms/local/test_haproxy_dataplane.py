"""HAProxy as the local platform's data plane, end to end: real HAProxy, real instances, real HTTP.

Deploy, a canary split within a point of its target over 1,000 requests (counted by the client,
and the same counts from HAProxy's per-request log), the split read back from HAProxy itself,
20 flips under a steady load of at least 500 requests/s with no failed request, a rollback that
drains the canary, and a crashed HAProxy started again with the same split. (kill -9 of the
control process and adoption: test_dataplane_survives.py.) Skipped where haproxy is not installed.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2
import pytest

from conductor.platforms.local import dataplane
from conductor.platforms.local.dataplane import haproxy_binary
from conductor.platforms.local.haproxy import HAProxyDataPlane, split_weights
from conductor.platforms.local.runtime import LocalRuntime

from .conftest import CLIENT_TIMEOUT, READY_TIMEOUT, Workspace, demo_command, wait_until

HAPROXY = haproxy_binary()[0]  # on PATH, or in /usr/sbin (off a regular user's PATH on Debian)
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (Debian package `haproxy`)")
WINDOW = 900
SERVICES = {"api": {"command": demo_command(), "readinessTimeout": READY_TIMEOUT}}


@dataclass
class RawLoad:
    """Keep-alive GETs from a few threads on raw sockets (cheap enough to offer well over 500 req/s)."""

    port: int
    threads: int = 6
    versions: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _one(self, sock: socket.socket) -> str:
        sock.sendall(b"GET /work HTTP/1.1\r\nHost: api\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
        while len(body) < length:
            body += sock.recv(65536)
        if not head.startswith(b"HTTP/1.1 200"):
            return "HTTP " + head.split(b" ")[1].decode()
        return "v:" + body.split(b'"version": "')[1].split(b'"')[0].decode()

    def _run(self, limit: int | None) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        try:
            while not self._stop.is_set():
                with self._lock:
                    if limit is not None and sum(self.versions.values()) + len(self.failures) >= limit:
                        return
                try:
                    outcome = self._one(sock)
                except OSError as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                    sock.close()
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
                with self._lock:
                    self.stamps.append(time.monotonic())
                    if outcome.startswith("v:"):
                        self.versions[outcome[2:]] += 1
                    else:
                        self.failures.append(outcome)
        finally:
            sock.close()

    def start(self, limit: int | None = None) -> RawLoad:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, args=(limit,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> RawLoad:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=90)
        return self

    def rate(self, since: float, until: float) -> float:
        return sum(1 for t in self.stamps if since <= t < until) / (until - since)


def haproxy_runtime(runtime_factory: Callable[..., LocalRuntime], replicas: int = 2) -> LocalRuntime:
    runtime = runtime_factory(services=SERVICES, platform={"router": "haproxy"}, replicas=replicas)
    assert runtime.data_plane[0] == "haproxy" and isinstance(runtime.routers["api"], HAProxyDataPlane)
    return runtime


def test_weights_split_exactly_where_haproxy_allows() -> None:
    assert split_weights(10, {"blue": 2, "green": 2}) == {"blue": 230, "green": 26}
    assert split_weights(10, {"blue": 1, "green": 1}) == {"blue": 230, "green": 26}
    assert split_weights(0, {"blue": 3, "green": 0}) == {"blue": 256, "green": 0}
    for green in (1, 5, 10, 25, 50, 75, 99):
        for n_blue, n_green in ((1, 1), (2, 2), (3, 1), (1, 3), (16, 16)):
            per = split_weights(green, {"blue": n_blue, "green": n_green})
            assert all(1 <= w <= 256 for w in per.values())
            share = 100 * per["green"] * n_green / (per["green"] * n_green + per["blue"] * n_blue)
            assert abs(share - green) < 1.0, (green, n_blue, n_green, per)


def test_canary_split_flip_and_rollback_through_haproxy(runtime_factory: Callable[..., LocalRuntime]) -> None:
    runtime = haproxy_runtime(runtime_factory)
    plane = runtime.routers["api"]
    assert isinstance(plane, HAProxyDataPlane)
    port = runtime.router_ports()["api"]
    runtime.deploy("api", "green", "v1.1.0", replicas=2)
    assert runtime.set_weights("api", {"blue": 90, "green": 10}) == {"blue": 90, "green": 10}
    answer = plane._cli("get weight api/green0; get weight api/blue1")  # what HAProxy itself says
    assert answer.split()[:1] == ["26"] and "230" in answer

    canary = RawLoad(port).start(limit=1000)
    assert wait_until(lambda: sum(canary.versions.values()) + len(canary.failures) >= 1000, timeout=120)
    canary.stop()
    assert canary.failures == []
    assert abs(canary.versions["v1.1.0"] - 100) <= 10, canary.versions  # within a point of 10% over 1,000
    # HAProxy's per-request log gives the judge the same counts the client saw, with latencies
    green, blue = runtime.window("api", "green", WINDOW), runtime.window("api", "blue", WINDOW)
    assert wait_until(lambda: runtime.window("api", "green", WINDOW).requests == canary.versions["v1.1.0"])
    assert wait_until(lambda: runtime.window("api", "blue", WINDOW).requests == canary.versions["v1.0.0"])
    green, blue = runtime.window("api", "green", WINDOW), runtime.window("api", "blue", WINDOW)
    assert green.errors == 0 and green.p50_ms is not None and sum(c for _, c in green.latency) == green.requests
    assert blue.p99_ms is not None and blue.p99_ms >= 1.0  # the demo app takes 1 ms: HAProxy logs whole ms
    weights, totals = plane.totals()  # show stat: what /metrics exports
    assert weights == {"blue": 90, "green": 10} and totals["green"].requests == green.requests

    load = RawLoad(port).start()
    assert wait_until(lambda: len(load.stamps) > 200)
    begin = time.monotonic()
    for flip in range(20):
        green_share = 100 if flip % 2 == 0 else 0
        assert runtime.set_weights("api", {"blue": 100 - green_share, "green": green_share})["green"] == green_share
        time.sleep(0.1)
    end = time.monotonic()
    runtime.set_weights("api", {"blue": 100, "green": 0})  # roll back: all to blue, then retire the canary
    runtime.retire("api", "green")
    after_rollback, blue_then = load.versions["v1.1.0"], load.versions["v1.0.0"]
    assert wait_until(lambda: load.versions["v1.0.0"] > blue_then + 100)
    load.stop()
    assert load.failures == [], load.failures[:5]
    assert load.rate(begin, end) >= 500, f"only {load.rate(begin, end):.0f} req/s during the flips"
    assert load.versions["v1.1.0"] == after_rollback  # nothing reached the retired slot
    assert runtime.snapshot("api").slots["green"].instances == ()
    assert plane._cli("show servers state api").count(" 127.0.0.1 ") == 2 * 16


def test_a_crashed_haproxy_is_started_again_with_the_same_split(runtime_factory: Callable[..., LocalRuntime]) -> None:
    runtime = haproxy_runtime(runtime_factory, replicas=1)
    plane = runtime.routers["api"]
    runtime.deploy("api", "green", "v1.1.0", replicas=1)
    runtime.set_weights("api", {"blue": 50, "green": 50})
    assert plane.process is not None
    before = plane.process.pid
    plane.process.signal_group(signal.SIGKILL)
    assert wait_until(lambda: any(e["kind"] == "data_plane_restarted" for e in runtime.events))
    assert plane.process is not None and plane.process.pid != before
    load = RawLoad(runtime.router_ports()["api"], threads=1).start(limit=200)
    assert wait_until(lambda: sum(load.versions.values()) + len(load.failures) >= 200)
    load.stop()
    assert load.failures == [] and load.versions == Counter({"v1.0.0": 100, "v1.1.0": 100})


@pytest.mark.parametrize(
    ("setting", "path_has_haproxy", "code", "says"),
    [
        ("auto", True, 0, 'data plane haproxy: platform.router is "auto" and haproxy is on PATH'),
        ("auto", False, 0, 'data plane builtin: platform.router is "auto" and haproxy is not on PATH'),
        ("auto", "sbin", 0, 'data plane haproxy: platform.router is "auto" and haproxy is installed ('),
        ("haproxy", "sbin", 0, 'data plane haproxy: platform.router is "haproxy" ('),
        ("builtin", True, 0, 'data plane builtin: platform.router is "builtin"\n'),
        (None, True, 0, 'data plane builtin: platform.router is not set: "builtin" (the default)'),
        ("haproxy", False, 1, 'MISSING data plane: platform.router is "haproxy" but haproxy is not on PATH'),
    ],
)
def test_doctor_says_which_data_plane_runs_and_why(
    workspace_factory: Callable[..., Workspace],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str | None,
    path_has_haproxy: bool | str,
    code: int,
    says: str,
) -> None:
    from conductor.frontends.cli import main as cli_main

    ws = workspace_factory(services=SERVICES, platform={} if setting is None else {"router": setting})
    if path_has_haproxy is not True:
        monkeypatch.setenv("PATH", str(ws.root))  # nothing on it: no haproxy
        # "sbin": installed where a regular user's PATH does not look (Debian: /usr/sbin), still found
        assert HAPROXY is not None
        monkeypatch.setattr(dataplane, "SBIN_DIRS", (os.path.dirname(HAPROXY),) if path_has_haproxy else ())
    assert cli_main(["doctor", "--config", str(ws.config_path)]) == code
    out = capsys.readouterr().out
    assert says in out, out


def test_headers_a_big_body_and_keep_alive_through_haproxy(runtime_factory: Callable[..., LocalRuntime]) -> None:
    # What the built-in router's test checks (test_local_runtime.py), through HAProxy: the same answers.
    runtime = haproxy_runtime(runtime_factory, replicas=1)
    url = f"http://127.0.0.1:{runtime.router_ports()['api']}"
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB
    with httpx2.Client(timeout=CLIENT_TIMEOUT) as client:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            response = client.request(
                method, url + "/items/1?q=x", content=b"abc", headers={"X-Forwarded-For": "10.1.2.3"}
            )
            assert response.status_code == 200, method
            echo = response.json()
            assert echo["method"] == method and echo["path"] == "/items/1?q=x" and echo["bodyEcho"] == "abc"
            assert echo["forwardedFor"] == "10.1.2.3, 127.0.0.1"  # HAProxy adds a line of its own: one list
        assert client.post(url + "/echo", content=big).json()["bodyBytes"] == len(big)
        chunked = client.post(url + "/echo", content=iter([big[:1000], big[1000:]]))  # no length: chunked
        assert chunked.status_code == 200 and chunked.json()["bodyBytes"] == len(big)
    with socket.create_connection(("127.0.0.1", runtime.router_ports()["api"]), timeout=CLIENT_TIMEOUT) as raw:
        raw.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")  # pipelined
        seen = b""
        while seen.count(b"HTTP/1.1 200") < 2:
            chunk = raw.recv(65536)
            assert chunk, seen
            seen += chunk
    assert b'"path": "/a"' in seen and b'"path": "/b"' in seen
