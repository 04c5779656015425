"""The journal: an append-only SQLite log of everything an orchestration did, in WAL mode.

Every tool call, guard decision, health sample, approval and signal is an event, committed
(``synchronous=FULL``) before the action that produced it returns, so a process killed at any
point leaves a log the next invocation can fold back into state (:mod:`conductor.journal.state`).
Several processes may read and append at once (the CLI, ``conductor watch``, the MCP server):
SQLite serialises writers, and a busy timeout rides out short contention.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from conductor.errors import JournalError
from conductor.faults import write_point
from conductor.journal.events import Payload, parse_payload

SCHEMA = """
CREATE TABLE IF NOT EXISTS orchestrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    strategy TEXT NOT NULL,
    created_wall TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    orchestration INTEGER REFERENCES orchestrations(id),
    at REAL NOT NULL,
    wall TEXT NOT NULL,
    kind TEXT NOT NULL,
    service TEXT,
    actor TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_orchestration ON events(orchestration, seq);
CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, seq);
"""


@dataclass(frozen=True)
class Event:
    """One journaled fact. ``at`` is platform time (virtual on the simulator); ``wall`` is UTC.

    ``payload`` is the typed fact (:mod:`conductor.journal.events`), parsed on first use; ``kind``
    and ``data`` are the stored columns, for readers that only display or match by name.
    """

    seq: int
    orchestration: int | None
    at: float
    wall: str
    kind: str
    service: str | None
    actor: str
    data: dict[str, Any]

    @cached_property
    def payload(self) -> Payload:
        return parse_payload(self.kind, self.data)


class Journal:
    """Append and read events. Thread-safe: one connection per thread.

    >>> journal = Journal(Path(".mothership/journal.db"))
    >>> oid = journal.new_orchestration("/orchestrate canary 10", "canary")
    >>> journal.append(ApprovalGranted(percent=10, exact=True), orchestration=oid, service="api",
    ...                actor="person:cli", at=0.0)
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def new_orchestration(self, command: str, strategy: str) -> int:
        try:
            cursor = self._connect().execute(
                "INSERT INTO orchestrations(command, strategy, created_wall) VALUES (?, ?, ?)",
                (command, strategy, _wall()),
            )
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def append(
        self,
        payload: Payload,
        *,
        at: float,
        actor: str,
        orchestration: int | None = None,
        service: str | None = None,
    ) -> Event:
        """Append one event and commit it durably before returning."""
        return self.append_all([(payload, service)], at=at, actor=actor, orchestration=orchestration)[0]

    def append_all(
        self,
        entries: list[tuple[Payload, str | None]],
        *,
        at: float,
        actor: str,
        orchestration: int | None = None,
        unless: tuple[str, str | None] | None = None,
    ) -> list[Event]:
        """Append several events, each ``(payload, service)``, in ONE transaction: all of them are
        in the journal, or none.

        This is how a fact and the signal that reports it are written together: a process killed
        in between cannot leave a rollback without its ROLLBACK signal, or the reverse.

        ``unless=(kind, service)`` writes nothing (and returns ``[]``) when the orchestration
        already holds an event of that kind for that service (``None``: for the orchestration
        itself). The check and the write are one transaction, so of two processes that both
        decide to end an orchestration, or to record one service's rollback, exactly one does:
        a fact that happens once is journaled once, with its signal once.
        """
        return self._write(entries, at=at, actor=actor, orchestration=orchestration, unless=unless)[1]

    def start(
        self, command: str, strategy: str, entries: list[tuple[Payload, str | None]], *, at: float, actor: str
    ) -> int:
        """A new orchestration and its first events (its start, the person's approval) in ONE
        transaction: a crash cannot leave an orchestration without the events that define it."""
        oid, _ = self._write(entries, at=at, actor=actor, new=(command, strategy))
        assert oid is not None
        return oid

    def _write(
        self,
        entries: list[tuple[Payload, str | None]],
        *,
        at: float,
        actor: str,
        orchestration: int | None = None,
        new: tuple[str, str] | None = None,
        unless: tuple[str, str | None] | None = None,
    ) -> tuple[int | None, list[Event]]:
        wall = _wall()
        rows = [(str(p.kind), service, json.dumps(p.data(), default=str)) for p, service in entries]
        events: list[Event] = []
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if unless is not None and conn.execute(
                    "SELECT 1 FROM events WHERE orchestration = ? AND kind = ? AND service IS ? LIMIT 1",
                    (orchestration, unless[0], unless[1]),
                ).fetchone() is not None:
                    conn.execute("ROLLBACK")
                    return orchestration, []
                if new is not None:
                    cursor = conn.execute(
                        "INSERT INTO orchestrations(command, strategy, created_wall) VALUES (?, ?, ?)",
                        (new[0], new[1], wall),
                    )
                    orchestration = cursor.lastrowid
                for kind, service, data in rows:  # json keeps key order: services are in dependency order
                    cursor = conn.execute(
                        "INSERT INTO events(orchestration, at, wall, kind, service, actor, data) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (orchestration, at, wall, kind, service, actor, data),
                    )
                    assert cursor.lastrowid is not None
                    events.append(Event(cursor.lastrowid, orchestration, at, wall, kind, service, actor,
                                        json.loads(data)))
                write_point(f"journal commit {rows[0][0]}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            kinds = ", ".join(kind for kind, _, _ in rows)
            raise JournalError(f"journal {self.path}: cannot append {kinds}: {exc}") from exc
        write_point(f"journal committed {rows[0][0]}")
        return orchestration, events

    def last_seq(self) -> int:
        """The newest event's number (0 for an empty journal): a cursor for incremental readers."""
        try:
            row = self._connect().execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc
        return int(row[0])

    def unended(self) -> list[int]:
        """Ids of orchestrations without an ``orchestration_ended`` event, oldest first (by index,
        without reading any event's payload)."""
        try:
            rows = self._connect().execute(
                "SELECT id FROM orchestrations WHERE id NOT IN "
                "(SELECT orchestration FROM events WHERE kind = 'orchestration_ended' "
                "AND orchestration IS NOT NULL) ORDER BY id"
            ).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc
        return [int(r[0]) for r in rows]

    def events(
        self, orchestration: int | None = None, after: int = 0, kinds: tuple[str, ...] = (),
        other_kinds: tuple[str, ...] = (),
    ) -> list[Event]:
        """Events after ``after``, oldest first: of ``kinds`` if given, and none of ``other_kinds``
        (a reader that gets the heavy kinds' figures from :meth:`fields`)."""
        query = "SELECT seq, orchestration, at, wall, kind, service, actor, data FROM events WHERE seq > ?"
        params: list[Any] = [after]
        if orchestration is not None:
            query += " AND orchestration = ?"
            params.append(orchestration)
        if kinds:
            query += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        if other_kinds:
            query += f" AND kind NOT IN ({','.join('?' * len(other_kinds))})"
            params.extend(other_kinds)
        query += " ORDER BY seq"
        try:
            rows = self._connect().execute(query, params).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc
        return [Event(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows]

    def fields(
        self, orchestration: int, kinds: tuple[str, ...], paths: tuple[str, ...], after: int = 0
    ) -> list[tuple[int, float, str, str, str | None, str, list[Any]]]:
        """``(seq, at, wall, kind, service, actor, values)`` of the events of ``kinds``, where
        ``values`` holds the JSON ``paths`` of each event's data (``"$.assessment.verdict"``;
        None where a path is absent), oldest first.

        SQLite extracts them, parsing each event once in C: a reader that charts a few figures of
        ten thousand health checks does not parse their latency histograms in Python (ten times
        the cost). At least two paths, so SQLite always answers with an array.
        """
        if len(paths) < 2 or not kinds:
            raise ValueError("fields() needs two paths or more and at least one kind")
        query = (f"SELECT seq, at, wall, kind, service, actor, json_extract(data, {','.join('?' * len(paths))}) "
                 f"FROM events WHERE orchestration = ? AND seq > ? AND kind IN ({','.join('?' * len(kinds))}) "
                 "ORDER BY seq")
        try:
            rows = self._connect().execute(query, [*paths, orchestration, after, *kinds]).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc
        values = json.loads("[" + ",".join(r[6] for r in rows) + "]")  # one parse for all: a tenth the calls
        return [(r[0], r[1], r[2], r[3], r[4], r[5], v) for r, v in zip(rows, values, strict=True)]

    def orchestrations(self) -> Iterator[tuple[int, str, str, str]]:
        """(id, command, strategy, created_wall) for every orchestration, oldest first."""
        try:
            rows = self._connect().execute(
                "SELECT id, command, strategy, created_wall FROM orchestrations ORDER BY id"
            ).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: {exc}") from exc
        yield from rows


def _wall() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
