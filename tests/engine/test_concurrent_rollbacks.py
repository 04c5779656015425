"""Two processes rolling back one release at once journal each fact once, and neither reports the
other's rollback as stuck.

Seen on a clean clone, 1 run in 20: a person typed `conductor orchestrate rollback` in a second
terminal while the first process's watchdog was looking. The watchdog cascaded to a service the
person's process was rolling back at that moment, without waiting for that service's action lock:
api was rolled back twice, with two ROLLBACK signals and two ends. In another run the person's
rollback of api ended the orchestration while web and worker were journaled as being rolled back
and not yet done, and the first process reported their rollback "could not complete" (exit 1).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

from conductor.dispatch import execute
from conductor.journal.events import OrchestrationEnded, RollbackStarted
from conductor.journal.store import Journal
from conductor.session import Conductor
from conductor.starting import finish_started_rollbacks
from tests.conftest import Workspace, release_config
from tests.engine.review_helpers import started


def _config(**services: Any) -> dict[str, Any]:
    config = release_config(bakeTime=300)
    config["platform"] = {"kind": "sim", "timeScale": 0}
    config["services"] = services
    return config


def _kinds(workspace: Workspace, kind: str) -> list[tuple[str | None, str]]:
    return [(e.service, e.actor) for e in workspace.journal_events(kind)]


# A person's rollback of web in another process, halfway through: it holds web's action lock (as
# dispatch.execute does around every traffic-changing action) until told to finish.
_PERSON = textwrap.dedent("""
    import sys
    from conductor.dispatch import TOOLS, _guarded
    from conductor.locks import action_lock
    from conductor.session import Conductor
    from conductor.tools.schemas import RollbackInput

    conductor = Conductor.from_config(sys.argv[1])
    rt = conductor.runtime(int(sys.argv[2]))
    with action_lock(rt.state_dir, "web"):
        print("held", flush=True)
        sys.stdin.readline()
        result = _guarded(rt, TOOLS["rollback"], RollbackInput(service="web", reason="manual"), "person:cli")
        print(result.status, result.message, flush=True)
    conductor.close()
""")


def test_a_watchdog_cascade_waits_for_a_rollback_another_process_is_doing(workspace: Workspace) -> None:
    workspace.write_config(_config())  # three independent services: all bake together
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        for service in ("api", "web"):
            execute(rt, "deploy", {"service": service, "version": "v1.1.0"}, "brain:x")
            execute(rt, "shift_traffic", {"service": service, "percent": 100}, "brain:x")
        person = subprocess.Popen([sys.executable, "-c", _PERSON, str(workspace.config_path), str(rt.orchestration_id)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert person.stdout is not None and person.stdin is not None
            assert person.stdout.readline().strip() == "held"
            results: list[Any] = []
            watchdog = threading.Thread(target=lambda: results.append(
                execute(rt, "rollback", {"service": "api", "reason": "error rate 9% > 5%"}, "watchdog")))
            watchdog.start()
            deadline = time.monotonic() + 10
            while not _kinds(workspace, "rolled_back") and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)  # long enough for a cascade that did not wait to roll web back too
            assert _kinds(workspace, "rolled_back") == [("api", "watchdog")]  # web waits for its lock
            assert watchdog.is_alive()
            person.stdin.write("\n")
            person.stdin.flush()
            said = person.stdout.readline()
            watchdog.join(timeout=30)
            assert person.wait(timeout=30) == 0
        finally:
            if person.poll() is None:
                person.kill()
        assert said.startswith("ok web: all traffic back on v1.0.0")
        assert results and results[0].status == "ok", results
        # worker was never deployed: nothing of it to roll back
        assert sorted(_kinds(workspace, "rolled_back")) == [("api", "watchdog"), ("web", "person:cli")]
        assert [e.data["text"] for e in workspace.journal_events("signal")] == [
            "<conductor>ROLLBACK:api:error rate 9% > 5%</conductor>",
            "<conductor>ROLLBACK:web:rolled back with api</conductor>",  # the first reason journaled wins
        ]
        assert len(workspace.journal_events("orchestration_ended")) == 1
    finally:
        conductor.close()


def test_the_end_waits_for_every_rollback_journaled_as_started(workspace: Workspace) -> None:
    """web and worker never took traffic, but their rollback was journaled: the orchestration is
    not over until it is done (else a kill between would leave it to nobody)."""
    workspace.write_config(_config(web={"dependsOn": ["api"]}, worker={"dependsOn": ["web"]}))
    conductor = Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        execute(rt, "deploy", {"service": "api", "version": "v1.1.0"}, "brain:x")
        execute(rt, "shift_traffic", {"service": "api", "percent": 100}, "brain:x")
        for service in ("api", "web", "worker"):  # what `orchestrate rollback` journals first
            rt.record(RollbackStarted(reason="manual"), service, "person:cli")
        assert execute(rt, "rollback", {"service": "api", "reason": "manual"}, "person:cli").status == "ok"
        assert rt.state().in_flight  # web and worker are still being rolled back
        notes = finish_started_rollbacks(rt)
        assert notes == ["web: all traffic back on v1.0.0; the new version is retired (manual)",
                         "worker: all traffic back on v1.0.0; the new version is retired (manual)"]
        assert rt.state().outcome == "rolled_back"
        assert len(workspace.journal_events("orchestration_ended")) == 1
        assert finish_started_rollbacks(rt) == []  # nothing left: nothing done
    finally:
        conductor.close()


def test_a_fact_that_happens_once_is_journaled_once_by_two_writers(workspace: Workspace) -> None:
    """Two processes that both decided to end the orchestration (each read the journal before the
    other wrote): the check and the write are one SQLite transaction, so one end is journaled."""
    workspace.write_config(_config())
    conductor, other = Conductor.from_config(workspace.config_path), Conductor.from_config(workspace.config_path)
    try:
        rt = started(conductor, "/orchestrate blue-green")
        second = other.runtime(rt.orchestration_id)
        end = OrchestrationEnded(outcome="rolled_back", reason="api: manual")
        assert rt.record_once(end, None, "person:cli") is not None
        assert second.record_once(end, None, "watchdog") is None
        assert [e.actor for e in workspace.journal_events("orchestration_ended")] == ["person:cli"]
        # Per service: another service's fact of the same kind does not count.
        journal = Journal(workspace.state_dir / "journal.db")
        try:
            once = ("rollback_started", "api")
            first = journal.append_all([(RollbackStarted(reason="a"), "api")], at=0, actor="x",
                                       orchestration=rt.orchestration_id, unless=once)
            again = journal.append_all([(RollbackStarted(reason="b"), "api")], at=0, actor="x",
                                       orchestration=rt.orchestration_id, unless=once)
            web = journal.append_all([(RollbackStarted(reason="c"), "web")], at=0, actor="x",
                                     orchestration=rt.orchestration_id, unless=("rollback_started", "web"))
        finally:
            journal.close()
        assert (len(first), len(again), len(web)) == (1, 0, 1)
    finally:
        conductor.close()
        other.close()
