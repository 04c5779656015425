"""The journal of a state directory this process cannot write (a read-only mount, another user's
checkout, a CI cache): status and dry runs still read it, and any write fails as a JournalError
that says so, instead of an "unexpected error" before anything was shown.

SQLite in WAL mode needs to create ``journal.db-shm`` even to read; in a directory nobody may
write, the database is opened ``immutable`` instead (no other process can be writing it there).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from conductor.journal.store import Journal


def writable(state_dir: Path) -> bool:
    """Whether this process may create and change files in ``state_dir`` (or create it)."""
    directory = state_dir
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    journal = state_dir / "journal.db"
    return os.access(directory, os.W_OK) and (not journal.exists() or os.access(journal, os.W_OK))


class ReadOnlyJournal(Journal):
    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            uri = f"file:{quote(str(self.path))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
            try:
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:  # WAL without a -shm it may create
                conn.close()
                conn = sqlite3.connect(uri + "&immutable=1", uri=True, timeout=30.0, isolation_level=None)
            self._local.conn = conn
        return conn
