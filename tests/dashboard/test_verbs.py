"""The day-to-day verbs from the dashboard: pause and resume, promote to 100%, undo a
completed release; each confirmed first and journaled as the person at the dashboard."""

from __future__ import annotations

from typing import Any

from conductor.frontends.dashboard.server import Dashboard
from tests.conftest import Workspace
from tests.dashboard.conftest import path_of, raw_events, request, wait_idle


def _act(dashboard: Dashboard, action: str, release: int = 1) -> str:
    """Confirm ``action`` on ``release`` and submit it as a browser would; the confirmation's text."""
    page = request(dashboard, path_of(dashboard.url(f"/release/{release}")))
    assert f"/confirm/{action}?" in page.body, f"{action} is not offered"
    cookie = f"conductor_token={dashboard.token}; conductor_session={page.cookies()['conductor_session']}"
    confirm = request(dashboard, f"/release/{release}/confirm/{action}", headers={"Cookie": cookie})
    assert confirm.status == 200, confirm.body
    form = {k: confirm.body.split(f'name="{k}" value="', 1)[1].split('"', 1)[0] for k in ("csrf", "expect")}
    what = confirm.body.split('data-confirm="', 1)[1].split('"', 1)[0]
    reply = request(dashboard, f"/release/{release}/{action}", method="POST", body=f"csrf={form['csrf']}&expect="
                    f"{form['expect']}", headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{dashboard.port}",
                                                  "Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 303, reply.body
    wait_idle(dashboard)
    assert dashboard.activity[-1].exit_code in (0, 3), dashboard.activity[-1].note()
    return what


def _after(ws: Workspace, seq: int) -> list[dict[str, Any]]:
    return [e for e in raw_events(ws) if e["seq"] > seq]


def test_pause_holds_the_release_and_resume_lifts_it(acting: Dashboard, paused: Workspace) -> None:
    last = raw_events(paused)[-1]["seq"]
    what = _act(acting, "pause")
    assert what.startswith("pause release #1 where it is (api 10%, web 10%, worker 10%)")
    held = _after(paused, last)
    assert [(e["kind"], e["actor"]) for e in held] == [("release_paused", "person:dashboard")]
    page = request(acting, path_of(acting.url("/release/1"))).body
    assert "Paused by person:dashboard" in page and "/confirm/approve?" not in page  # no approval while held
    last = raw_events(paused)[-1]["seq"]
    assert _act(acting, "resume") == "resume release #1 from api 10%, web 10%, worker 10%, under the approvals it has"
    lifted = _after(paused, last)
    assert ("release_resumed", "person:dashboard") in [(e["kind"], e["actor"]) for e in lifted]
    assert not [e for e in lifted if e["kind"] == "traffic_shifted"]  # resuming approves nothing


def test_promote_sends_all_traffic_and_completes_then_undo_takes_it_back(
        acting: Dashboard, paused: Workspace) -> None:
    last = raw_events(paused)[-1]["seq"]
    what = _act(acting, "promote")
    assert what.startswith("promote api, web, worker 10% → 100% in one step, then bake")
    after = _after(paused, last)
    assert [(e["actor"], e["data"]["percent"]) for e in after if e["kind"] == "approval_granted"] == [
        ("person:dashboard", 100)]
    steps = [e["data"]["weights"]["green"] for e in after if e["kind"] == "traffic_shifted" and e["service"] == "api"]
    assert steps == [100]  # what the confirmation said: one step, then the judged bake
    assert [e["data"]["outcome"] for e in after if e["kind"] == "orchestration_ended"] == ["complete"]
    what = _act(acting, "undo")
    assert what.startswith("undo of release #1: api → v1.0.0")
    second = [e for e in raw_events(paused) if e["kind"] == "orchestration_started"][-1]
    assert second["actor"] == "person:dashboard" and second["data"]["strategy"] == "blue-green"
    page = request(acting, path_of(acting.url("/release/1"))).body  # where the person pressed Undo
    assert '<a href="/release/2?token=' in page and ">release #2</a>" in page  # the undo is release #2
    undo_page = request(acting, path_of(acting.url("/release/2"))).body
    assert '· undo of <a href="/release/1?token=' in undo_page and ">release #1</a>" in undo_page
