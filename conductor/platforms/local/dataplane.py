"""The data plane: whatever carries one service's users' traffic, as a process that outlives ``conductor up``.

A router living inside the control process dies with it: a ``kill -9`` of ``conductor up`` closed
the service's port until the next start. So the data plane is a process of its own (its own
session, tagged with the state directory like an instance), holding the last split and instances
it was given; the control process only *drives* it. After a crash, the next ``conductor up``
finds it in the state file, checks it is that very process (pid and start time) and that it
answers, and adopts it as it adopts instances: traffic never stops.

Two kinds implement :class:`DataPlane`:

- ``builtin``: Conductor's own router (:mod:`.router`) in a process of its own
  (:mod:`.router_process`), driven over a unix socket. Needs nothing installed.
- ``haproxy`` (:mod:`.haproxy`): HAProxy, configured by Conductor and driven through its
  runtime API, with no reload.

Every method is a blocking call, safe from any thread (the control API runs them in a pool).
Control sockets live in a private directory (mode 0700, owned by this user) under
``$XDG_RUNTIME_DIR`` or the temporary directory (``/tmp`` if those are long): a unix socket
path is limited to 108 bytes, which a project directory can exceed on its own, and nobody else
may drive the data plane.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from conductor.errors import ConfigError, PlatformError
from conductor.metrics.router import RouterWindow
from conductor.platforms.base import SLOTS, Slot
from conductor.platforms.local.process import HOME_ENV, InstanceProcess, log_tail, start_time
from conductor.platforms.local.settings import LocalSettings
from conductor.platforms.local.stats import SlotTotals, totals_from_json, window_from_json

START_TIMEOUT = 30.0  # a data plane process that does not answer by then is a failure (a busy machine is slow)


def _socket_dir_path(home: Path) -> Path:
    roots = [os.environ.get("XDG_RUNTIME_DIR") or "", tempfile.gettempdir(), "/tmp"]
    root = next(r for r in roots if r and len(r) < 50)  # room for the rest of the socket's path
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]
    return Path(root) / f"conductor-{os.getuid()}" / digest


def socket_dir(home: Path) -> Path:
    """A private directory for this state directory's control sockets, with a short path."""
    path = _socket_dir_path(home)
    base = path.parent
    for directory in (base, path):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
        info = directory.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise PlatformError(
                f"{directory} must be a directory owned by this user with mode 0700 (it holds the data plane's "
                f"control sockets); remove it and start again"
            )
    return path


def remove_socket_dir(home: Path) -> None:
    """Remove this state directory's socket directory once nothing is left in it (every data plane
    stopped): one directory per project ever started would otherwise pile up in ``/tmp``."""
    with contextlib.suppress(OSError):  # not empty (a data plane still runs), or already gone
        _socket_dir_path(home).rmdir()


SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")  # where Debian's package and a source build put haproxy


def haproxy_binary() -> tuple[str | None, str]:
    """The haproxy executable and where it was found: on PATH, else in an sbin directory, which a
    regular user's PATH on Debian leaves out (the package installs /usr/sbin/haproxy)."""
    found = shutil.which("haproxy")
    if found is not None:
        return found, f"haproxy is on PATH ({found})"
    for directory in SBIN_DIRS:
        candidate = os.path.join(directory, "haproxy")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate, f"haproxy is installed ({candidate}, not on PATH)"
    return None, "haproxy is not on PATH" + (f" nor in {' or '.join(SBIN_DIRS)}" if SBIN_DIRS else "")


def resolve_kind(setting: str, default: bool = False) -> tuple[str, str]:
    """Which data plane ``platform.router`` asks for, and why (for ``conductor doctor`` and ``up``);
    ``default``: the config leaves it out (the reason then says so, not that it was asked for)."""
    if setting == "builtin":
        why = 'platform.router is not set: "builtin" (the default)' if default else 'platform.router is "builtin"'
        return "builtin", why
    binary, where = haproxy_binary()
    if setting == "haproxy":
        if binary is None:
            raise ConfigError(
                f'platform.router is "haproxy" but {where} (Debian package `haproxy`), '
                'or set platform.router to "builtin" or "auto"'
            )
        return "haproxy", f'platform.router is "haproxy" ({binary})'
    if binary is not None:
        return "haproxy", f'platform.router is "auto" and {where}'
    return "builtin", f'platform.router is "auto" and {where}'


def data_plane_report(settings: LocalSettings, state_dir: Path) -> dict[str, Any]:
    """Which data plane ``settings`` select and why, its version, and what runs now per service
    (from the state file: each recorded data plane process, if it is still that very process)."""
    kind, why = resolve_kind(settings.router, "router" not in settings.model_fields_set)
    version = ""
    if kind == "haproxy":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            argv = [haproxy_binary()[0] or "haproxy", "-v"]
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
            version = out.splitlines()[0] if out else ""
    running: dict[str, str] = {}
    try:
        state = json.loads((state_dir / "local" / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    for service, record in state.get("services", {}).items():
        plane = record.get("dataPlane") or {}
        process = recorded_process(plane)
        if process is None:
            running[service] = "not running"
        else:
            running[service] = f"{plane.get('kind')} running (pid {process.pid}) on port {plane.get('port')}"
            if plane.get("kind") != kind:
                running[service] += f"; the next `conductor up` replaces it with {kind}"
    return {
        "kind": kind,
        "why": why,
        "version": version,
        "running": running,
        "control": _control_report(state_dir, running),
    }


def _control_report(state_dir: Path, running: dict[str, str]) -> str:
    """Whether the control process (`conductor up`) runs, from control.json, if it is still that very process."""
    try:
        info = json.loads((state_dir / "local" / "control.json").read_text(encoding="utf-8"))
        pid = int(info["pid"])
        alive = start_time(pid) == info.get("started")
    except (OSError, ValueError, KeyError, TypeError):
        pid, alive = 0, False
    if alive:
        return f"running (pid {pid})"
    if any(line != "not running" for line in running.values()):
        return "not running: the data plane keeps serving the last split; `conductor up` adopts it"
    return "not running (start it with `conductor up`)"


def spawn_process(argv: list[str], home: Path, log_path: Path, port: int) -> InstanceProcess:
    """Start a data plane process in its own session, tagged with ``home``, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, HOME_ENV: str(home)}
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {argv!r}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    return InstanceProcess(popen.pid, start_time(popen.pid) or 0, port, log_path, popen)


def recorded_process(record: dict[str, Any]) -> InstanceProcess | None:
    """The process a state-file record names, if it is still that very process."""
    try:
        process = InstanceProcess(int(record["pid"]), int(record["started"]), int(record["port"]), Path(record["log"]))
    except (KeyError, TypeError, ValueError):
        return None
    return process if process.alive() else None


class DataPlane(ABC):
    """One service's data plane, as the runtime drives it."""

    kind: str
    capacity: int | None = None  # the most instances one slot can have, if the data plane has a limit

    def __init__(self, service: str, host: str, port: int, home: Path, log_dir: Path) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.home = home
        self.log_path = log_dir / f"dataplane-{service}.log"
        self.process: InstanceProcess | None = None
        self.adopted = False
        self._weights: dict[Slot, int] = {"blue": 100, "green": 0}

    # -- lifecycle ---------------------------------------------------------------------------------

    @abstractmethod
    def open(self, record: dict[str, Any] | None) -> bool:
        """Adopt the process ``record`` names if it is this kind, alive, on this port and answering;
        otherwise stop it (if alive) and start a new one. True if adopted."""

    @abstractmethod
    def restart(self, backends: dict[Slot, list[str]], weights: dict[Slot, int]) -> None:
        """Start a new process after the last one died, with the current instances and split."""

    @abstractmethod
    def stop(self, timeout: float) -> None:
        """Close the port, let requests in flight finish (up to ``timeout``), stop the process."""

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def record(self) -> dict[str, Any]:
        process = self.process
        return {
            "kind": self.kind,
            "pid": process.pid if process else None,
            "started": process.started if process else None,
            "port": self.port,
            "log": str(self.log_path),
        }

    def describe(self) -> str:
        pid = self.process.pid if self.process else "-"
        how = "adopted" if self.adopted else "started"
        return f"{self.kind} (pid {pid}, {how}) on {self.host}:{self.port}"

    def _kill_recorded(self, record: dict[str, Any] | None, timeout: float) -> None:
        process = recorded_process(record) if record else None
        if process is not None:
            process.stop(timeout)

    def _start_failed(self, process: InstanceProcess, what: str) -> PlatformError:
        tail = log_tail(self.log_path, lines=10)
        process.stop(2.0)
        if "already in use" in tail or "Address already in use" in tail or "cannot bind socket" in tail:
            return PlatformError(
                f"{self.service}: router port {self.port} on {self.host} is already in use by another "
                f"process (free it, or set platform.services.{self.service}.routerPort to another port)"
            )
        return PlatformError(f"{self.service}: {what}; log tail ({self.log_path}):\n{tail}")

    # -- traffic -----------------------------------------------------------------------------------

    @property
    def weights(self) -> dict[Slot, int]:
        """The split last applied (and read back from the data plane)."""
        return dict(self._weights)

    @abstractmethod
    def set_weights(self, weights: dict[Slot, int]) -> dict[Slot, int]:
        """Apply a split; return it as the data plane reports it applied."""

    @abstractmethod
    def set_backends(self, slot: Slot, urls: list[str]) -> None:
        """The instances (``http://127.0.0.1:PORT``) serving ``slot`` from now on."""

    @abstractmethod
    def drain(self, slot: Slot, timeout: float) -> bool:
        """Wait until no request is in flight to ``slot``; False if ``timeout`` ran out first."""

    @abstractmethod
    def drain_backend(self, url: str, timeout: float) -> bool:
        """Wait until no request is in flight to the instance at ``url``."""

    # -- counters ----------------------------------------------------------------------------------

    @abstractmethod
    def window(self, slot: Slot, seconds: float) -> RouterWindow:
        """Requests to ``slot`` that finished in the last ``seconds``."""

    @abstractmethod
    def totals(self) -> tuple[dict[Slot, int], dict[Slot, SlotTotals]]:
        """Weights and per-slot counters since the data plane started, for /metrics."""


class BuiltinDataPlane(DataPlane):
    """Conductor's router in a process of its own, driven over a unix socket."""

    kind = "builtin"

    def __init__(self, service: str, host: str, port: int, home: Path, log_dir: Path) -> None:
        super().__init__(service, host, port, home, log_dir)
        self.control = socket_dir(home) / f"router-{service}.sock"

    def open(self, record: dict[str, Any] | None) -> bool:
        if record and record.get("kind") == self.kind and int(record.get("port") or 0) == self.port:
            process = recorded_process(record)
            if process is not None:
                fresh = self.control
                self.control = Path(record.get("control") or fresh)  # where it listens (TMPDIR may differ now)
                try:
                    hello = self._call({"op": "hello"}, timeout=5.0)
                except PlatformError:
                    hello = {}
                    self.control = fresh
                if hello.get("pid") == process.pid and hello.get("port") == self.port:
                    self.process = process
                    self.adopted = True
                    self._weights = {"blue": int(hello["weights"]["blue"]), "green": int(hello["weights"]["green"])}
                    return True
        self._kill_recorded(record, 5.0)
        self._start()
        return False

    def _start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "conductor.platforms.local.router_process",
            "--service",
            self.service,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--control",
            str(self.control),
        ]
        process = spawn_process(argv, self.home, self.log_path, self.port)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not process.alive():
                raise self._start_failed(process, f"the router process {process.exit_description()}")
            try:
                if self._call({"op": "hello"}, timeout=2.0).get("pid") == process.pid:
                    break
            except PlatformError:
                pass
            if time.monotonic() >= deadline:
                raise self._start_failed(process, f"the router process did not answer within {START_TIMEOUT:g}s")
            time.sleep(0.02)
        self.process = process
        self.adopted = False
        self._weights = {"blue": 100, "green": 0}

    def record(self) -> dict[str, Any]:
        return {**super().record(), "control": str(self.control)}

    def restart(self, backends: dict[Slot, list[str]], weights: dict[Slot, int]) -> None:
        self._start()
        for slot in SLOTS:
            self.set_backends(slot, backends[slot])
        self.set_weights(weights)

    def stop(self, timeout: float) -> None:
        process = self.process
        if process is None:
            return
        with contextlib.suppress(PlatformError):
            self._call({"op": "stop", "timeout": timeout}, timeout=5.0)
        deadline = time.monotonic() + timeout + 5.0
        while process.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        process.stop(2.0)  # SIGTERM, then SIGKILL: whatever it was still doing
        self.process = None

    def _call(self, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.control))
                sock.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            raise PlatformError(f"{self.service}: the router process does not answer ({exc})") from None
        try:
            reply: dict[str, Any] = json.loads(data)
        except ValueError:
            raise PlatformError(f"{self.service}: the router process sent no answer to {request['op']}") from None
        if not reply.get("ok"):
            raise PlatformError(f"{self.service}: router: {reply.get('error')}")
        return reply

    def set_weights(self, weights: dict[Slot, int]) -> dict[Slot, int]:
        reply = self._call({"op": "weights", "green": int(weights["green"])})
        applied: dict[Slot, int] = {"blue": int(reply["weights"]["blue"]), "green": int(reply["weights"]["green"])}
        self._weights = applied
        return dict(applied)

    def set_backends(self, slot: Slot, urls: list[str]) -> None:
        self._call({"op": "backends", "slot": slot, "urls": list(urls)})

    def drain(self, slot: Slot, timeout: float) -> bool:
        return bool(self._call({"op": "drain", "slot": slot, "timeout": timeout}, timeout=timeout + 10)["drained"])

    def drain_backend(self, url: str, timeout: float) -> bool:
        reply = self._call({"op": "drain_backend", "url": url, "timeout": timeout}, timeout=timeout + 10)
        return bool(reply["drained"])

    def window(self, slot: Slot, seconds: float) -> RouterWindow:
        return window_from_json(self._call({"op": "window", "slot": slot, "seconds": seconds})["window"])

    def totals(self) -> tuple[dict[Slot, int], dict[Slot, SlotTotals]]:
        return totals_from_json(self._call({"op": "totals"})["totals"])
