"""The dashboard over real HTTP on loopback: the token, read-only by default, CSRF and Origin on
actions, the confirmation's promise kept, live updates as server-sent events."""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from urllib.parse import urlencode

from conductor.frontends.dashboard.server import Dashboard
from tests.conftest import Workspace
from tests.dashboard.conftest import Reply, path_of, raw_events, request, serve, start_canary, wait_idle

PATHS = ["/", "/release/1", "/release/1/journal", "/release/1/chart/api-errors.svg", "/static/live.js",
         "/stream/release/1", "/release/1/confirm/approve"]


def test_every_request_without_the_token_gets_401(read_only: Dashboard) -> None:
    wrong = "x" * len(read_only.token)
    for path in PATHS:
        for suffix in ("", f"?token={wrong}", "?token=short", "?token="):
            assert request(read_only, path + suffix).status == 401, path + suffix
    assert request(read_only, "/", headers={"Cookie": f"conductor_token={wrong}"}).status == 401
    assert request(read_only, "/", method="POST").status == 401


def test_the_token_opens_the_pages_and_the_cookie_keeps_them_open(read_only: Dashboard) -> None:
    first = request(read_only, path_of(read_only.url("/")))
    assert first.status == 200 and 'href="/release/1?token=' in first.body and "person:cli" in first.body
    assert "Content-Security-Policy" in first.headers and first.headers["Referrer-Policy"] == "same-origin"
    cookie = next(h for h in first.headers.get_all("Set-Cookie") or [] if h.startswith("conductor_token="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    again = request(read_only, "/release/1", headers={"Cookie": f"conductor_token={read_only.token}"})
    assert again.status == 200 and "Release #1" in again.body and 'data-percent="10"' in again.body
    bearer = request(read_only, "/release/1/chart/api-errors.svg",
                     headers={"Authorization": f"Bearer {read_only.token}"})
    assert bearer.status == 200 and bearer.body.startswith("<svg") and bearer.headers["Content-Type"].startswith(
        "image/svg+xml")


def test_another_host_name_is_refused_on_loopback(read_only: Dashboard) -> None:
    """A page elsewhere that resolves its own name to 127.0.0.1 (DNS rebinding) gets nothing."""
    reply = request(read_only, path_of(read_only.url("/")), host=f"evil.example:{read_only.port}")
    assert reply.status == 421 and "person:cli" not in reply.body
    assert request(read_only, path_of(read_only.url("/")), host=f"localhost:{read_only.port}").status == 200


def test_read_only_refuses_every_post_and_offers_no_action(read_only: Dashboard, paused: Workspace) -> None:
    before = raw_events(paused)
    page = request(read_only, path_of(read_only.url("/release/1")))
    assert "Approve the next step" not in page.body and "<form" not in page.body
    for action in ("approve", "rollback"):
        reply = request(read_only, path_of(read_only.url(f"/release/1/{action}")), method="POST",
                        headers={"Origin": f"http://127.0.0.1:{read_only.port}"}, body="")
        assert reply.status == 405 and "read-only" in reply.body
    assert request(read_only, path_of(read_only.url("/release/1/confirm/rollback"))).status == 403
    assert raw_events(paused) == before


def _confirm(dashboard: Dashboard, action: str) -> tuple[str, str, str, str]:
    """Open the release page (a session cookie), then the confirmation: (cookie, csrf, expect, what)."""
    page = request(dashboard, path_of(dashboard.url("/release/1")))
    session = page.cookies()["conductor_session"]
    cookie = f"conductor_token={dashboard.token}; conductor_session={session}"
    confirm = request(dashboard, f"/release/1/confirm/{action}", headers={"Cookie": cookie})
    assert confirm.status == 200, confirm.body
    csrf = re.search(r'name="csrf" value="([^"]+)"', confirm.body)
    expect = re.search(r'name="expect" value="([^"]+)"', confirm.body)
    what = re.search(r'data-confirm="([^"]+)"', confirm.body)
    assert csrf and expect and what
    return cookie, csrf.group(1), expect.group(1), what.group(1)


def _post(dashboard: Dashboard, action: str, cookie: str, form: str, origin: str | None) -> Reply:
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["Origin"] = origin
    return request(dashboard, f"/release/1/{action}", method="POST", headers=headers, body=form)


def test_an_action_needs_the_sessions_csrf_token_and_this_origin(acting: Dashboard, paused: Workspace) -> None:
    cookie, csrf, expect, what = _confirm(acting, "approve")
    assert what == "ramp api, web, worker 10% → 25%"
    origin = f"http://127.0.0.1:{acting.port}"
    other_cookie, other_csrf, _, _ = _confirm(acting, "approve")  # a second browser session
    before = raw_events(paused)
    refusals = [
        (cookie, f"expect={expect}", origin),  # no CSRF token
        (cookie, f"csrf={other_csrf}&expect={expect}", origin),  # another session's token
        (cookie, f"csrf={csrf}&expect={expect}", None),  # no Origin
        (cookie, f"csrf={csrf}&expect={expect}", "http://evil.example"),  # another site's page
        (f"conductor_token={acting.token}", f"csrf={csrf}&expect={expect}", origin),  # no session cookie
    ]
    for sent_cookie, form, sent_origin in refusals:
        reply = _post(acting, "approve", sent_cookie, form, sent_origin)
        assert reply.status == 403, (form, sent_origin)
    stale = _post(acting, "approve", cookie, f"csrf={csrf}&expect=0123", origin)
    assert stale.status == 409 and "nothing was done" in stale.body.lower()
    assert raw_events(paused) == before and other_cookie != cookie


def test_an_approval_moves_traffic_exactly_one_step_as_the_person_at_the_dashboard(
        acting: Dashboard, paused: Workspace) -> None:
    cookie, csrf, expect, _ = _confirm(acting, "approve")
    last = raw_events(paused)[-1]["seq"]
    reply = _post(acting, "approve", cookie, f"csrf={csrf}&expect={expect}", f"http://127.0.0.1:{acting.port}")
    assert reply.status == 303 and reply.headers["Location"].startswith("/release/1?token=")
    wait_idle(acting)
    after = [e for e in raw_events(paused) if e["seq"] > last]
    approvals = [(e["actor"], e["data"]["percent"]) for e in after if e["kind"] == "approval_granted"]
    assert approvals == [("person:dashboard", 25)]
    shifts = sorted((e["service"], e["data"]["weights"]["green"]) for e in after if e["kind"] == "traffic_shifted")
    assert shifts == [("api", 25), ("web", 25), ("worker", 25)]
    asked = {e["data"]["percent"] for e in after if e["kind"] == "approval_requested"}
    assert asked == {50}  # paused again for the next step: nothing moved further
    # The confirmation promised 10% → 25%: now that the release is at 25%, the old form is stale.
    again = _post(acting, "approve", cookie, f"csrf={csrf}&expect={expect}", f"http://127.0.0.1:{acting.port}")
    assert again.status == 409 and "25% → 50%" in again.body


def test_a_rollback_from_the_page_is_journaled_as_the_person(acting: Dashboard, paused: Workspace) -> None:
    cookie, csrf, expect, what = _confirm(acting, "rollback")
    assert what.startswith("roll back api all traffic to v1.0.0, v1.1.0 retired; web")
    reply = _post(acting, "rollback", cookie, f"csrf={csrf}&expect={expect}", f"http://127.0.0.1:{acting.port}")
    assert reply.status == 303
    wait_idle(acting)
    rolled = [(e["service"], e["actor"]) for e in raw_events(paused, "rolled_back")]
    assert sorted(rolled) == [("api", "person:dashboard"), ("web", "person:dashboard"),
                              ("worker", "person:dashboard")]


def test_the_live_stream_pushes_the_release_as_another_process_advances_it(
        read_only: Dashboard, paused: Workspace) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", read_only.port, timeout=20)
    conn.request("GET", path_of(read_only.url("/stream/release/1")) + "&since=0")
    response = conn.getresponse()
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    first = _next_update(response)
    assert 'data-percent="10"' in first
    paused.subprocess("orchestrate", "canary", "25")
    deadline = time.monotonic() + 20
    while 'data-percent="25"' not in first:
        assert time.monotonic() < deadline
        first = _next_update(response)
    conn.close()


def _next_update(response: http.client.HTTPResponse) -> str:
    lines: list[str] = []
    while True:
        line = response.readline().decode()
        if line == "\n" and lines:
            break
        if line.startswith("data: "):
            lines.append(line[6:])
    update = json.loads("".join(lines))
    return str(update["html"])


def test_start_canary_helper_journals_as_the_cli(paused: Workspace) -> None:
    start_canary(paused, "/orchestrate canary 25")
    assert {e["actor"] for e in raw_events(paused, "approval_granted")} == {"person:cli"}


def test_before_the_first_release_and_for_a_release_that_is_not_there(workspace: Workspace) -> None:
    dashboard, served = serve(workspace)
    try:
        empty = request(dashboard, path_of(dashboard.url("/")))
        assert empty.status == 200 and "No release yet" in empty.body and "does not exist yet" in empty.body
        assert request(dashboard, path_of(dashboard.url("/release/1"))).status == 404
        assert not (workspace.state_dir / "journal.db").exists()  # reading never creates the journal
        start_canary(workspace, "/orchestrate blue-green", expect=0)
        listed = request(dashboard, path_of(dashboard.url("/")))
        assert 'data-release="1"' in listed.body and "complete" in listed.body
        assert request(dashboard, path_of(dashboard.url("/release/2"))).status == 404
    finally:
        served.stop()


def test_an_id_the_journal_cannot_hold_or_an_unknown_action_is_a_404_not_a_500(acting: Dashboard) -> None:
    for path in ("/release/99999999999999999999999", "/release/9223372036854775808/journal",
                 "/release/0", "/release/2/confirm/approve", "/release/1/confirm/bogus"):
        reply = request(acting, path_of(acting.url(path)))
        assert reply.status == 404, (path, reply.status, reply.body[-300:])
    cookie = "; ".join(f"{k}={v}" for k, v in request(acting, path_of(acting.url("/release/1"))).cookies().items())
    origin = f"http://127.0.0.1:{acting.port}"
    for path in ("/release/1/bogus", "/release/99999999999999999999999/approve"):
        posted = request(acting, path_of(acting.url(path)), method="POST", body="csrf=x",
                         headers={"Cookie": cookie, "Origin": origin,
                                  "Content-Type": "application/x-www-form-urlencoded"})
        assert posted.status == 404, (path, posted.status)
    assert set(acting._histories) <= {1}  # asking for releases that do not exist caches nothing


def test_the_whole_journal_is_paged(read_only: Dashboard, paused: Workspace) -> None:
    total = len(raw_events(paused))
    page = request(read_only, path_of(read_only.url("/release/1/journal?offset=10")))
    assert page.status == 200 and f"Events 11–{total} of {total}" in page.body
    assert page.body.count('<li class="event') == total - 10
    assert request(read_only, path_of(read_only.url("/release/1/journal?offset=-1"))).status == 400


def test_the_command_prints_a_url_with_a_token_and_stops_on_sigterm(paused: Workspace) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = subprocess.Popen([sys.executable, "-m", "conductor", "dashboard"], cwd=paused.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Conductor dashboard (read-only)")
        url = proc.stdout.readline().strip()
        found = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{32})", url)
        assert found, url
        port = int(found.group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 401
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path_of(url))
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    assert code == 0


def test_stopped_in_the_middle_of_an_action_it_says_what_was_cut_short_and_exits_130(paused: Workspace) -> None:
    """The action's thread ends with the process: the person must not read "stopped" and think
    the promotion went through. The test holds api's action lock, so the promotion is still
    waiting for it (for up to a minute) when SIGTERM comes."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    (paused.state_dir / "locks").mkdir(exist_ok=True)
    with open(paused.state_dir / "locks" / "api.action", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-m", "conductor", "dashboard", "--allow-actions"], cwd=paused.root,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            proc.stdout.readline()
            found = re.search(r":(\d+)/\?token=(\S+)", proc.stdout.readline())
            assert found
            port, token = int(found.group(1)), found.group(2)

            def get(path: str, cookie: str = "") -> http.client.HTTPResponse:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", f"{path}?token={token}", headers={"Cookie": cookie} if cookie else {})
                return conn.getresponse()

            cookie = "; ".join(c.split(";", 1)[0] for c in get("/release/1").headers.get_all("Set-Cookie") or [])
            assert "conductor_session=" in cookie
            form = get("/release/1/confirm/promote", cookie).read().decode()
            fields = dict(re.findall(r'name="(csrf|expect)" value="([^"]+)"', form))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", f"/release/1/promote?token={token}", body=urlencode(fields),
                         headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}",
                                  "Content-Type": "application/x-www-form-urlencoded"})
            assert conn.getresponse().status == 303
            assert proc.stderr is not None
            assert "running…" in proc.stderr.readline()  # the action started, and waits for the lock
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(10)
    err = proc.stderr.read() if proc.stderr else ""
    assert code == 130, err
    assert "dashboard stopped in the middle of an action it ran (promote api, web, worker 10% → 100%" in err
    assert "resume it:   conductor orchestrate canary" in err and "roll back:   conductor orchestrate rollback" in err


def test_each_chart_is_served_on_its_own_as_svg_and_png(read_only: Dashboard) -> None:
    page = request(read_only, path_of(read_only.url("/release/1"))).body
    assert "/release/1/chart/web-latency.png?token=" in page
    conn = http.client.HTTPConnection("127.0.0.1", read_only.port, timeout=10)
    conn.request("GET", path_of(read_only.url("/release/1/chart/web-latency.png")))
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200 and response.headers["Content-Type"] == "image/png"
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
    assert request(read_only, path_of(read_only.url("/release/1/chart/nope-errors.svg"))).status == 404
    assert request(read_only, path_of(read_only.url("/release/1/chart/web-latency.gif"))).status == 404


def test_the_releases_list_streams_each_outcome(read_only: Dashboard, paused: Workspace) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", read_only.port, timeout=20)
    conn.request("GET", path_of(read_only.url("/stream/releases")))
    response = conn.getresponse()
    update = _next_update(response)
    assert 'data-release="1"' in update and "in flight" in update
    start_canary(paused, "/orchestrate rollback", expect=3)
    deadline = time.monotonic() + 20
    while 'class="outcome rolled_back"' not in update:
        assert time.monotonic() < deadline
        update = _next_update(response)
    conn.close()


def test_pages_are_served_while_another_process_holds_the_journals_write_lock(paused: Workspace) -> None:
    """The dashboard only reads (WAL readers never wait for a writer): a release being written —
    here a write transaction held open — is shown at once, not after SQLite's busy timeout."""
    writer = sqlite3.connect(paused.state_dir / "journal.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO orchestrations(command, strategy, created_wall) VALUES ('x', 'canary', 'now')")
    dashboard, served = serve(paused)
    try:
        started = time.monotonic()
        page = request(dashboard, path_of(dashboard.url("/release/1")))
        listed = request(dashboard, path_of(dashboard.url("/")))
        assert page.status == 200 and listed.status == 200 and time.monotonic() - started < 5
    finally:
        served.stop()
        writer.execute("ROLLBACK")
        writer.close()
