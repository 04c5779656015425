"""Cross-process service locks: one live process orchestrates a service at a time.

``flock`` on ``.mothership/locks/<service>.lock``: the kernel drops the lock when the holder dies
(even by SIGKILL), so a crash never leaves a stale lock behind. Between processes (an
orchestration paused for approval) ownership is the journal's business, not the lock's.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from conductor.errors import LockHeldError


class ServiceLocks(AbstractContextManager["ServiceLocks"]):
    def __init__(self, state_dir: Path, services: list[str]) -> None:
        self._dir = state_dir / "locks"
        self._services = sorted(services)  # a fixed order: two processes can never deadlock
        self._handles: list[int] = []

    def __enter__(self) -> ServiceLocks:
        self._dir.mkdir(parents=True, exist_ok=True)
        try:
            for service in self._services:
                path = self._dir / f"{service}.lock"
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise LockHeldError(
                        f"{service} is being orchestrated by another process (pid {holder}); "
                        "wait for it to finish or pause, then try again"
                    ) from None
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
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
