"""One instance as an OS process: spawn, identify, check readiness, stop.

Instances run in their own session (process group), so a Ctrl-C in the terminal of
``conductor up`` reaches the control process only, which then drains and stops them in order;
and a stop signal reaches an instance's own children too. A process is identified by its pid
*and* its start time from ``/proc``, so an adopted pid that the kernel has since reused for an
unrelated program is never signalled.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from conductor.errors import ConfigError, NotReadyError, PlatformError

HOME_ENV = "CONDUCTOR_LOCAL_HOME"  # tags every instance with the state directory that owns it


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Raise a PlatformError naming ``what`` if ``port`` is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PlatformError(
                    f"{what}: port {port} on {host} is already in use by another process "
                    f"(free it, or choose another port in .mothership/config.json)"
                ) from None
            raise PlatformError(f"{what}: cannot listen on {host}:{port}: {exc.strerror}") from None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    try:
        ensure_port_free(host, port, "check")
    except PlatformError:
        return False
    return True


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def tagged_processes(home: Path) -> dict[int, int]:
    """Live processes started for ``home`` (their environment carries its tag), with their process group.

    An instance and anything it started inherit the tag, so this finds them even when no record
    names them: one that was still starting when its control process was SIGKILLed, say.
    """
    tag = f"{HOME_ENV}={home}".encode()
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if tag not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
        except OSError:  # gone, or not ours to read
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] not in ("Z", "X"):
            found[int(entry.name)] = int(fields[2])
    return found


def stop_untracked(home: Path, keep: set[int], timeout: float) -> int:
    """Stop every process group tagged for ``home`` except the instances ``keep`` (their pids lead their
    groups); SIGTERM, then SIGKILL after ``timeout``. Returns how many groups were stopped."""
    protected = keep | {os.getpgid(0)}
    strays = {group for group in tagged_processes(home).values() if group not in protected}
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for group in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and strays & set(tagged_processes(home).values()):
            time.sleep(0.05)
    return len(strays)


def log_tail(path: Path, lines: int = 15, max_bytes: int = 8192) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


@dataclass
class InstanceProcess:
    """A running (or exited) instance process; ``popen`` is None for one adopted after a restart."""

    pid: int
    started: int
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return start_time(self.pid) == self.started

    def exit_description(self) -> str:
        if self.popen is not None and self.popen.returncode is not None:
            code = self.popen.returncode
            if code < 0:
                return f"killed by signal {signal.Signals(-code).name}"
            return f"exited with code {code}"
        return "exited"

    def signal_group(self, sig: signal.Signals) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float) -> None:
        """SIGTERM the instance's process group, then SIGKILL after ``timeout``. Idempotent."""
        self.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.alive():
            self.signal_group(signal.SIGKILL)
            deadline = time.monotonic() + 5
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.02)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=1)


def spawn(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, home: Path, port: int) -> InstanceProcess:
    """Start one instance with stdout and stderr appended to ``log_path``.

    Raises ConfigError (exit 2) when the argv itself cannot run: that is a mistake in the config,
    not a platform failure, and retrying will not help.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env, HOME_ENV: str(home)}
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {argv!r}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                argv,
                env=full_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except FileNotFoundError:
            raise ConfigError(f"command {argv[0]!r} not found (argv: {argv!r}, working directory: {cwd})") from None
        except PermissionError:
            raise ConfigError(f"command {argv[0]!r} is not executable (argv: {argv!r})") from None
        except NotADirectoryError:
            raise ConfigError(f"working directory {cwd} is not a directory") from None
        except OSError as exc:
            raise ConfigError(f"cannot run {argv!r}: {exc.strerror or exc}") from None
    started = start_time(popen.pid) or 0
    return InstanceProcess(pid=popen.pid, started=started, port=port, log_path=log_path, popen=popen)


def health_status(client: httpx2.Client, port: int, path: str) -> int | str:
    """HTTP status of GET ``path`` on the instance, or the transport error as text."""
    try:
        return client.get(f"http://127.0.0.1:{port}{path}").status_code
    except httpx2.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def wait_ready(
    process: InstanceProcess, path: str, timeout: float, what: str, abort: threading.Event | None = None
) -> None:
    """Poll the health path until it answers 2xx; raise NotReadyError with the log tail otherwise,
    or PlatformError as soon as ``abort`` is set (the platform is stopping: stop waiting)."""
    deadline = time.monotonic() + timeout
    last: int | str = "no answer yet"
    with httpx2.Client(timeout=2.0) as client:
        while True:
            if abort is not None and abort.is_set():
                raise PlatformError(f"{what}: the local platform is stopping")
            if not process.alive():
                raise NotReadyError(
                    f"{what} {process.exit_description()} before becoming ready; "
                    f"log tail ({process.log_path}):\n{log_tail(process.log_path)}"
                )
            last = health_status(client, process.port, path)
            if isinstance(last, int) and 200 <= last < 300:
                return
            if time.monotonic() >= deadline:
                answer = f"HTTP {last}" if isinstance(last, int) else last
                raise NotReadyError(
                    f"{what} was not ready after {timeout:g}s (GET {path}: {answer}); "
                    f"log tail ({process.log_path}):\n{log_tail(process.log_path)}"
                )
            time.sleep(0.05)
