"""Cross-process service locks, two kinds, both ``flock`` (the kernel drops a lock when its
holder dies, even by SIGKILL, so a crash never leaves a stale one behind):

- :class:`ServiceLocks` (``locks/<service>.lock``): one live process *drives* a service at a time,
  for the whole run. Between processes (a canary paused for approval) ownership is the journal's.
- :func:`action_lock` (``locks/<service>.action``): one traffic-changing action at a time, for
  the seconds it takes. A person's rollback takes only this one, so it is never blocked by another
  process's long orchestration.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType

from conductor.errors import JournalError, LockHeldError

_HOLDER_BYTES = 1024


def _open_lock(path: Path) -> int:
    """The lock file's descriptor; a state directory this user cannot write is a JournalError that
    says so (status still works there), never an unexpected PermissionError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalError(
            f"cannot take the lock {path}: {exc.strerror or exc}; this user cannot change the state in "
            f"{path.parent.parent} (reading it still works: `conductor orchestrate`, `conductor status`)"
        ) from None


class ServiceLocks(AbstractContextManager["ServiceLocks"]):
    def __init__(self, state_dir: Path, services: list[str]) -> None:
        self._dir = state_dir / "locks"
        self._services = sorted(services)  # a fixed order: two processes can never deadlock
        self._handles: list[int] = []

    def __enter__(self) -> ServiceLocks:
        try:
            for service in self._services:
                fd = _open_lock(self._dir / f"{service}.lock")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = describe_holder(os.pread(fd, _HOLDER_BYTES, 0))
                    os.close(fd)
                    raise LockHeldError(
                        f"{service} is being orchestrated by another process ({holder}); "
                        "wait for it to finish or pause, then try again"
                    ) from None
                os.ftruncate(fd, 0)
                os.pwrite(fd, holder_record(), 0)
                self._handles.append(fd)
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        for fd in self._handles:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._handles.clear()


def holder_record() -> bytes:
    """Who holds a lock, written into its file once taken: pid, host, since (UTC) and the command,
    so the person refused can find the holder (``ps``, the other terminal) instead of guessing."""
    ours = bool(sys.argv) and os.path.basename(sys.argv[0]) in ("conductor", "__main__.py", "conductor.exe")
    command = " ".join(["conductor", *sys.argv[1:]]) if ours else ""
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "command": command[:200]}
    return json.dumps(record).encode()[:_HOLDER_BYTES]


def describe_holder(raw: bytes) -> str:
    """``pid 4242 on build-7, since 2026-12-02 06:12:03 UTC: conductor orchestrate canary 10``
    (a file written by an older version holds only the pid)."""
    text = raw.decode(errors="replace").strip()
    try:
        record = json.loads(text)
    except ValueError:
        return f"pid {text}" if text else "pid unknown"
    if not isinstance(record, dict):
        return f"pid {text}"
    words = f"pid {record.get('pid', 'unknown')}"
    if record.get("host"):
        words += f" on {record['host']}"
    if record.get("since"):
        words += f", since {record['since']}"
    if record.get("command"):
        words += f": {record['command']}"
    return words


@contextmanager
def action_lock(state_dir: Path, service: str, timeout: float = 60.0) -> Iterator[None]:
    """Serialise traffic-changing actions on one service across processes, for the few seconds
    each takes.

    A person's rollback does not wait for another process's whole orchestration (that could be a
    15-minute bake); it waits only for the action in progress, then acts. The guards run inside
    this lock, so what they checked is still true when the handler acts.
    """
    fd = _open_lock(state_dir / "locks" / f"{service}.action")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = describe_holder(os.pread(fd, _HOLDER_BYTES, 0))
                    raise LockHeldError(f"{service}: another action held it for over {timeout:g}s ({holder})") from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)  # who acts, for the message above in another process
        os.pwrite(fd, holder_record(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
