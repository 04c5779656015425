"""A canary paused for approval on the simulator, a dashboard served on loopback, raw HTTP, and
the journal's numbers read independently of the code under test (sqlite3 and json only)."""

from __future__ import annotations

import http.client
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conductor.frontends.dashboard.served import Served
from conductor.frontends.dashboard.server import Dashboard
from conductor.session import Conductor
from tests.conftest import Workspace, release_config


def start_canary(ws: Workspace, command: str = "/orchestrate canary 10", expect: int = 0) -> None:
    conductor = Conductor.from_config(ws.config_path)
    try:
        result = conductor.run(command)
    finally:
        conductor.close()
    assert result.exit_code == expect, result.report


@pytest.fixture
def paused(tmp_path: Path) -> Workspace:
    """Release #1: a canary of api, web, worker paused at 10%, awaiting approval for 25%."""
    ws = Workspace(tmp_path / "repo")
    ws.write_config(release_config(strategy="canary"))
    start_canary(ws)
    return ws


def serve(ws: Workspace, *, allow_actions: bool = False) -> tuple[Dashboard, Served]:
    dashboard = Dashboard(ws.state_dir, lambda: Conductor.from_config(ws.config_path), allow_actions=allow_actions,
                          poll=0.1)
    return dashboard, Served(dashboard).start()


@pytest.fixture
def read_only(paused: Workspace) -> Iterator[Dashboard]:
    dashboard, served = serve(paused)
    yield dashboard
    served.stop()


@pytest.fixture
def acting(paused: Workspace) -> Iterator[Dashboard]:
    dashboard, served = serve(paused, allow_actions=True)
    yield dashboard
    served.stop()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def cookies(self) -> dict[str, str]:
        found = {}
        for header in self.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            found[name] = rest.split(";", 1)[0]
        return found


def request(dashboard: Dashboard, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
            body: str | None = None, host: str | None = None) -> Reply:
    """One raw HTTP request to the dashboard (no redirects followed, no cookie jar)."""
    conn = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
    try:
        sent = {"Host": host or f"127.0.0.1:{dashboard.port}", **(headers or {})}
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read().decode())
    finally:
        conn.close()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def wait_idle(dashboard: Dashboard, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not dashboard.idle():
        assert time.monotonic() < deadline, "the dashboard's action did not finish"
        time.sleep(0.05)
    assert all(a.error == "" for a in dashboard.activity), [a.error for a in dashboard.activity]


def raw_events(ws: Workspace, kind: str | None = None) -> list[dict[str, Any]]:
    """The journal's rows, parsed by sqlite3 and json alone."""
    conn = sqlite3.connect(f"file:{ws.state_dir / 'journal.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT seq, at, kind, service, actor, data FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()
    events = [{"seq": r[0], "at": r[1], "kind": r[2], "service": r[3], "actor": r[4], "data": json.loads(r[5])}
              for r in rows]
    return [e for e in events if kind is None or e["kind"] == kind]


def judge_test(assessment: dict[str, Any], name: str) -> dict[str, Any]:
    """One of the judge's tests in a journaled assessment, by name."""
    return next(t for t in assessment["evidence"]["tests"] if t["name"] == name)
