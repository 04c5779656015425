"""The journal: WAL mode, durable appends, state rebuilt by folding events in a new process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conductor.errors import JournalError
from conductor.journal import events as ev
from conductor.journal.state import Phase, fold
from conductor.journal.store import Journal


def test_wal_mode_and_events_visible_to_another_connection(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    oid = journal.new_orchestration("/orchestrate canary 10", "canary")
    journal.append(ev.OrchestrationStarted(
        command="/orchestrate canary 10", strategy="canary", first_percent=10,
        services={"web": ev.ServicePlan(stable_version="v1", target_version="v2", stable_slot="blue"),
                  "api": ev.ServicePlan(stable_version="v1", target_version="v2", stable_slot="green")}),
        at=0.0, actor="person:cli", orchestration=oid)
    journal.append(ev.TrafficShifted(weights={"blue": 10, "green": 90}), at=5.0, actor="brain:policy",
                   orchestration=oid, service="api")
    with sqlite3.connect(tmp_path / "journal.db") as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2
    state = fold(Journal(tmp_path / "journal.db").events(oid))
    assert state is not None
    assert list(state.services) == ["web", "api"]  # dependency order survives the round trip
    api = state.service("api")
    assert api.candidate_slot == "blue" and api.candidate_percent == 10 and api.phase is Phase.CANARY


def test_unwritable_journal_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(blocker / "journal.db")
