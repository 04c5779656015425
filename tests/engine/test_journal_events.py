"""The typed catalogue of journal events: every kind is written somewhere and folded, journals
written before the types still open to the same state, and the fold is incremental."""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import conductor
from conductor.errors import JournalError
from conductor.journal import events as ev
from conductor.journal.queries import InFlightView, in_flight
from conductor.journal.state import advance, fold, handled_kinds
from conductor.journal.store import Journal
from conductor.metrics.analysis import HealthVerdict

PACKAGE = Path(conductor.__file__).parent
FIXTURES = Path(__file__).parent / "fixtures"


def _constructed_payloads() -> set[str]:
    """Names of payload classes called anywhere in the package outside the catalogue itself."""
    names = {cls.__name__ for cls in ev.PAYLOADS.values()}
    called: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "journal" / "events.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name in names:
                    called.add(name)
    return called


def test_every_kind_is_written_somewhere_and_handled_by_the_fold() -> None:
    assert set(ev.PAYLOADS) == set(ev.EventKind)
    unwritten = {cls.__name__ for cls in ev.PAYLOADS.values()} - _constructed_payloads()
    assert not unwritten, f"kinds no writer builds: {sorted(unwritten)}"
    unfolded = set(ev.EventKind) - handled_kinds()
    assert not unfolded, f"kinds the fold has no entry for: {sorted(unfolded)}"


def test_no_writer_passes_a_kind_as_a_string() -> None:
    """``record("rolled_back", …)`` / ``append("…")`` is how the catalogue drifted: it cannot come back."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("record", "append", "append_all") and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value in set(ev.EventKind)):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders


def test_the_catalogue_is_generated_from_the_types() -> None:
    text = ev.catalogue()
    for kind, cls in ev.PAYLOADS.items():
        assert kind.value in text
        for name in cls.model_fields:
            if name != "kind":
                assert name in text


def test_a_payload_round_trips_through_the_store(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    oid = journal.new_orchestration("/orchestrate canary 10", "canary")
    written = journal.append(ev.RolledBack(reason="error rate 9% > 5%", restored="v1"), at=3.0, actor="watchdog",
                             orchestration=oid, service="api")
    (read,) = Journal(tmp_path / "journal.db").events(oid)
    assert read.kind == "rolled_back" == written.kind
    assert read.payload == ev.RolledBack(reason="error rate 9% > 5%", restored="v1")


def test_unknown_kinds_are_kept_but_not_folded_and_corrupt_known_ones_are_loud(tmp_path: Path) -> None:
    assert isinstance(ev.parse_payload("from_the_future", {"x": 1}), ev.Unrecognized)
    assert ev.parse_payload("approval_granted", {"percent": 10, "exact": True, "added_later": 1}) == \
        ev.ApprovalGranted(percent=10, exact=True)
    with pytest.raises(JournalError, match="rolled_back cannot be read"):
        ev.parse_payload("rolled_back", {"restored": "v1"})


def test_a_journal_written_before_the_types_folds_to_the_same_state(tmp_path: Path) -> None:
    """``fixtures/journal-v0.db`` was written by the version before typed events (see the README
    there); every orchestration in it folds to what that version folded."""
    path = tmp_path / "journal.db"
    shutil.copy(FIXTURES / "journal-v0.db", path)
    expected: dict[str, Any] = json.loads((FIXTURES / "journal-v0-states.json").read_text())
    journal = Journal(path)
    seen = 0
    for oid, *_ in journal.orchestrations():
        state = fold(journal.events(oid))
        assert state is not None
        got = json.loads(json.dumps(dataclasses.asdict(state), default=lambda o: sorted(o) if isinstance(o, set)
                                    else str(o), sort_keys=True))
        want = expected[str(oid)]
        for svc in got["services"].values():  # added with the typed catalogue: not in that version's state
            svc.pop("rolling_back"), svc.pop("rollback_started_seq"), svc.pop("took_traffic")
            # per-service approvals came later: whole-release approvals give every service the release's
            assert svc.pop("exact_request") == got["exact_request"]
        assert (got.pop("paused"), got.pop("aborted"), got.pop("undo_of")) == (None, None, None)  # added later
        assert (got.pop("cost_usd"), got.pop("usage_estimated")) == (None, False)  # per-turn costs came later
        for name, svc in got["services"].items():  # the sequential judge: new names, evidence beside
            if svc["health"] is not None:
                assert svc["health"].pop("evidence") is None and svc["health"].pop("observed_until") is None
                old_health = want["services"][name]["health"]
                old_health["verdict"] = HealthVerdict(old_health["verdict"]).value
        assert got == want, f"orchestration {oid}"
        seen += 1
    assert seen == 7
    assert [s.id for s in in_flight(journal)] == [7]  # the paused canary is still in flight


def test_the_in_flight_view_reads_only_new_events(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    shutil.copy(FIXTURES / "journal-v0.db", path)
    journal = Journal(path)
    view = InFlightView(journal)
    assert [s.id for s in view.refresh()] == [7]
    reads: list[int] = []
    original = journal.events

    def counting(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        reads.append(len(found))
        return found

    journal.events = counting  # type: ignore[method-assign]
    journal.append(ev.TrafficShifted(weights={"green": 75, "blue": 25}), at=1.0, actor="test", orchestration=7,
                   service="api")
    (state,) = view.refresh()
    assert reads == [1]  # one new event read, not the history
    assert state.service("api").candidate_percent == 25
    journal.append(ev.OrchestrationEnded(outcome="rolled_back", reason="test"), at=2.0, actor="test",
                   orchestration=7)
    assert view.refresh() == []


def test_advance_skips_what_was_already_folded(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    shutil.copy(FIXTURES / "journal-v0.db", path)
    journal = Journal(path)
    events = journal.events(7)
    whole = fold(events)
    half = fold(events[: len(events) // 2])
    assert whole is not None and half is not None
    advance(half, events)  # overlapping: the first half again, then the rest
    assert dataclasses.asdict(half) == dataclasses.asdict(whole)


def test_a_fact_and_its_signal_are_one_transaction(tmp_path: Path) -> None:
    """If the signal cannot be written, neither is the rollback it reports (and the reverse)."""
    journal = Journal(tmp_path / "journal.db")
    oid = journal.new_orchestration("/orchestrate canary 10", "canary")
    with sqlite3.connect(tmp_path / "journal.db") as other:
        other.execute("CREATE TRIGGER no_signals BEFORE INSERT ON events WHEN NEW.kind = 'signal' "
                      "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(JournalError, match="disk full"):
        journal.append_all([(ev.RolledBack(reason="r"), "api"), (ev.SignalSent(text="t"), "api")],
                           at=0.0, actor="watchdog", orchestration=oid)
    assert journal.events(oid) == []
