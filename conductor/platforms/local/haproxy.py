"""HAProxy as the data plane: Conductor writes its config, starts it, and drives it through its runtime API.

Teams that run releases on one machine often front their services with HAProxy already; with
``platform.router: "haproxy"`` (or ``"auto"`` where ``haproxy`` is on PATH) Conductor runs one
HAProxy per service in front of the slots' instances and never reloads it:

- **Servers.** The backend has a fixed set of server lines per slot (``blue0`` … ``blue15``,
  ``green0`` … ``green15``): HAProxy 2.6 cannot add servers without a reload, so an instance
  takes a free line (``set server api/blue0 addr 127.0.0.1 port 41001``, ``state ready``); a
  line whose instance left is put in ``drain`` (no new requests, those in flight finish) and
  freed (``maint``) once idle. Hence at most :data:`LINES_PER_SLOT` instances per slot.
- **The split** is the servers' weights (``set server api/blue0 weight N``), written in one
  batch on one connection with the weights that rise before those that fall (so there is never
  a moment with no weight at all), then **read back** (``show servers state``) and reported as
  HAProxy applied it; a split HAProxy did not take is an error, never reported as done. HAProxy's
  weighted round robin is smooth, so a 10% canary gets one request in ten, to within rounding
  of the weights (at most 256 per server).
- **Counters.** Per-server request, error and in-flight counts come from ``show stat``
  (Prometheus); per-request latency comes from HAProxy's own log, which it sends, one datagram a
  request (``log-format "cdr %s %ST %Ta"``: server, status, active time in ms), to a unix socket
  the control process reads into the same per-slot windows and 5% histograms as the built-in
  router's, so the judge sees the same evidence. HAProxy 2.6 logs times in whole milliseconds:
  a request is counted at the middle of its millisecond (``Ta + 0.5``). While the control
  process is down, HAProxy keeps serving and its log lines are dropped; windows resume when it is
  back (``show stat`` totals never stop).
- **Adoption.** The state file records HAProxy's pid and start time; the next ``conductor up``
  checks it is that very process, reads its server lines back from ``show servers state``, and
  drives it from there. A crashed HAProxy is started again with the current lines baked into its
  config.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor.errors import PlatformError
from conductor.metrics.router import RouterWindow
from conductor.platforms.base import SLOTS, Slot
from conductor.platforms.local.dataplane import (
    START_TIMEOUT,
    DataPlane,
    haproxy_binary,
    recorded_process,
    socket_dir,
    spawn_process,
)
from conductor.platforms.local.haproxy_log import LOG_TAG, LogReader
from conductor.platforms.local.stats import ServiceStats, SlotTotals

LINES_PER_SLOT = 16
MAX_WEIGHT = 256
PLACEHOLDER_PORT = 1  # a free line points nowhere useful: it is in maintenance anyway
# srv_admin_state bits (management guide, "show servers state"): forced or DNS maintenance, forced drain.
# (The "maintenance from the config" bit stays set on a line the config disabled, even once it is ready.)
MAINT = 0x01 | 0x20
DRAIN = 0x08

CONFIG = """# Written by Conductor for service {service}; driven through the runtime API, never reloaded.
global
    maxconn {maxconn}
    stats socket {admin} mode 600 level admin
    log {log} len 1024 format raw local0 info

defaults
    mode http
    log global
    option dontlognull
    log-format "{tag} %s %ST %Ta"
    option forwardfor
    retries 3
    option redispatch 1
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-request 60s
    timeout http-keep-alive 60s

frontend {service}
    bind {bind}
    default_backend {service}

backend {service}
    balance roundrobin
{servers}
"""


@dataclass
class Line:
    """One server line of the backend: free, serving an instance, or draining one that left."""

    name: str
    url: str | None = None
    state: str = "free"  # free | live | draining
    weight: int = 0


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def split_weights(green: int, live: dict[Slot, int]) -> dict[Slot, int]:
    """Per-server weight of each slot so that the slots' shares are ``100 - green`` and ``green``.

    Each slot's total weight is its percentage times a scale, shared among its live servers; the
    scale is as large as HAProxy's limit of 256 per server allows, so rounding costs a fraction
    of a point at most (exact for one or two instances per slot).
    """
    pct: dict[Slot, int] = {"blue": 100 - green, "green": green}
    serving = [live[s] for s in SLOTS if pct[s] > 0 and live[s] > 0]
    scale = MAX_WEIGHT * min(serving) / 100 if serving else 1.0
    weights: dict[Slot, int] = {}
    for slot in SLOTS:
        if pct[slot] <= 0 or live[slot] == 0:
            weights[slot] = 0
        else:
            weights[slot] = max(1, min(MAX_WEIGHT, round(pct[slot] * scale / live[slot])))
    return weights


class HAProxyDataPlane(DataPlane):
    """One HAProxy process per service, driven through its admin socket."""

    kind = "haproxy"
    capacity = LINES_PER_SLOT

    def __init__(self, service: str, host: str, port: int, home: Path, log_dir: Path) -> None:
        super().__init__(service, host, port, home, log_dir)
        sockets = socket_dir(home)
        self.admin = sockets / f"haproxy-{service}.sock"
        self.log_socket = sockets / f"haproxy-{service}-log.sock"
        self.config_path = home / f"haproxy-{service}.cfg"
        self.binary = haproxy_binary()[0] or "haproxy"
        self.stats = ServiceStats(service)
        self.lines: dict[Slot, list[Line]] = {
            slot: [Line(f"{slot}{i}") for i in range(LINES_PER_SLOT)] for slot in SLOTS
        }
        self._lock = threading.RLock()
        self._reader: LogReader | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self, record: dict[str, Any] | None) -> bool:
        if record and record.get("kind") == self.kind and int(record.get("port") or 0) == self.port:
            process = recorded_process(record)
            if process is not None:
                fresh = (self.admin, self.log_socket)
                # the sockets its config names (the temporary directory may differ for this process)
                self.admin = Path(record.get("admin") or self.admin)
                self.log_socket = Path(record.get("logSocket") or self.log_socket)
                try:
                    self._read_lines()
                except PlatformError:
                    self.admin, self.log_socket = fresh
                else:
                    self._reader = LogReader(self.log_socket, self.stats)
                    self.process = process
                    self.adopted = True
                    self._weights = self._applied()
                    self.stats.weights = dict(self._weights)
                    return True
        self._kill_recorded(record, 5.0)
        self._reader = LogReader(self.log_socket, self.stats)
        try:
            self._start()
        except BaseException:
            self._reader.close()
            self._reader = None
            raise
        return False

    def _config(self) -> str:
        servers = []
        for slot in SLOTS:
            for line in self.lines[slot]:
                if line.state == "free" or line.url is None:
                    servers.append(f"    server {line.name} 127.0.0.1:{PLACEHOLDER_PORT} weight 0 disabled")
                else:
                    weight = line.weight if line.state == "live" else 0
                    servers.append(f"    server {line.name} 127.0.0.1:{_port_of(line.url)} weight {weight}")
        bind = f"ipv6@{self.host}:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)  # HAProxy needs two descriptors per connection
        maxconn = max(256, min(4096, (soft - 200) // 2)) if soft != resource.RLIM_INFINITY else 4096
        return CONFIG.format(
            maxconn=maxconn,
            service=self.service,
            admin=self.admin,
            log=self.log_socket,
            tag=LOG_TAG,
            bind=bind,
            servers="\n".join(servers),
        )

    def _start(self) -> None:
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(self._config(), encoding="utf-8")
        tmp.replace(self.config_path)
        with contextlib.suppress(FileNotFoundError):
            self.admin.unlink()
        argv = [self.binary, "-db", "-f", str(self.config_path)]
        process = spawn_process(argv, self.home, self.log_path, self.port)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not process.alive():
                raise self._start_failed(process, f"haproxy {process.exit_description()}")
            try:
                if "Pid:" in self._cli("show info"):
                    break
            except PlatformError:
                pass
            if time.monotonic() >= deadline:
                raise self._start_failed(process, f"haproxy did not answer within {START_TIMEOUT:g}s")
            time.sleep(0.02)
        self.process = process
        self.adopted = False
        self._weights = self._applied()
        self.stats.weights = dict(self._weights)

    def restart(self, backends: dict[Slot, list[str]], weights: dict[Slot, int]) -> None:
        with self._lock:
            self._start()  # the config carries the current lines and weights
            for slot in SLOTS:
                self.set_backends(slot, backends[slot])
            self.set_weights(weights)

    def stop(self, timeout: float) -> None:
        """Soft-stop (SIGUSR1): HAProxy closes its port and exits once requests in flight are done."""
        process = self.process
        if process is not None:
            process.signal_group(signal.SIGUSR1)
            deadline = time.monotonic() + timeout
            while process.alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            process.stop(2.0)
            self.process = None
            with contextlib.suppress(FileNotFoundError):
                self.admin.unlink()  # HAProxy leaves its stats socket's file behind
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def record(self) -> dict[str, Any]:
        return {**super().record(), "admin": str(self.admin), "logSocket": str(self.log_socket)}

    def describe(self) -> str:
        return super().describe() + f", admin socket {self.admin}"

    # -- the runtime API ---------------------------------------------------------------------------

    def _cli(self, commands: str, timeout: float = 10.0) -> str:
        """Send ``commands`` (``;``-separated) on one admin-socket connection; HAProxy's whole answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.admin))
                sock.sendall(commands.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise PlatformError(f"{self.service}: HAProxy's admin socket does not answer ({exc})") from None
        return b"".join(chunks).decode("utf-8", "replace")

    def _servers_state(self) -> dict[str, dict[str, str]]:
        """``show servers state``: per server line, its address, port, admin state and weight."""
        text = self._cli(f"show servers state {self.service}")
        rows: dict[str, dict[str, str]] = {}
        columns: list[str] = []
        for raw in text.splitlines():
            if raw.startswith("# "):
                columns = raw[2:].split()
                continue
            fields = raw.split()
            if columns and len(fields) >= len(columns) - 1 and not raw.startswith("#"):
                row = dict(zip(columns, fields, strict=False))
                rows[row["srv_name"]] = row
        if not rows:
            raise PlatformError(f"{self.service}: HAProxy reports no servers ({text.strip()[:200]!r})")
        return rows

    def _read_lines(self) -> None:
        """Rebuild the lines from what HAProxy runs (after an adoption)."""
        rows = self._servers_state()
        for slot in SLOTS:
            for line in self.lines[slot]:
                row = rows.get(line.name)
                if row is None:
                    raise PlatformError(f"{self.service}: HAProxy has no server {line.name}: not Conductor's config")
                admin = int(row["srv_admin_state"])
                port = int(row.get("srv_port", PLACEHOLDER_PORT))
                line.weight = int(row["srv_uweight"])
                if admin & MAINT or port == PLACEHOLDER_PORT:  # in maintenance: free
                    line.state, line.url = "free", None
                else:
                    line.url = f"http://127.0.0.1:{port}"
                    line.state = "draining" if admin & DRAIN else "live"

    def _applied(self) -> dict[Slot, int]:
        """The split HAProxy applies now, from the servers' weights read back from it."""
        rows = self._servers_state()
        totals: dict[Slot, int] = {}
        for slot in SLOTS:
            total = 0
            for line in self.lines[slot]:
                row = rows.get(line.name, {})
                admin = int(row.get("srv_admin_state", "1"))
                if not admin & (MAINT | DRAIN):
                    total += int(row.get("srv_uweight", "0"))
            totals[slot] = total
        weight_sum = totals["blue"] + totals["green"]
        if weight_sum == 0:
            return dict(self._weights)  # nothing serves yet: the split is whatever was asked
        green = round(100 * totals["green"] / weight_sum)
        return {"blue": 100 - green, "green": green}

    def _apply(self, commands: list[str]) -> None:
        if not commands:
            return
        answer = self._cli("; ".join(commands))
        for bad in ("No such", "Unknown command", "Require", "invalid", "not allowed", "cannot"):
            if bad in answer:
                raise PlatformError(f"{self.service}: HAProxy refused {commands!r}: {answer.strip()[:300]}")

    def _weight_commands(self, green: int) -> list[str]:
        live = {slot: sum(1 for line in self.lines[slot] if line.state == "live") for slot in SLOTS}
        per_server = split_weights(green, live)
        rising: list[str] = []
        falling: list[str] = []
        for slot in SLOTS:
            for line in self.lines[slot]:
                if line.state != "live":
                    continue
                target = per_server[slot]
                command = f"set server {self.service}/{line.name} weight {target}"
                (rising if target >= line.weight else falling).append(command)
                line.weight = target
        return rising + falling

    # -- traffic -----------------------------------------------------------------------------------

    def set_weights(self, weights: dict[Slot, int]) -> dict[Slot, int]:
        with self._lock:
            green = int(weights["green"])
            self._weights = {"blue": 100 - green, "green": green}
            self._apply(self._weight_commands(green))
            applied = self._applied()
            live = {slot: any(line.state == "live" for line in self.lines[slot]) for slot in SLOTS}
            wanted = {slot: self._weights[slot] if live[slot] else 0 for slot in SLOTS}
            if all(live.values()) and abs(applied["green"] - wanted["green"]) > 1:
                raise PlatformError(f"{self.service}: HAProxy applies {applied}, not the requested {self._weights}")
            self.stats.weights = dict(self._weights)
            return dict(self._weights)

    def set_backends(self, slot: Slot, urls: list[str]) -> None:
        with self._lock:
            if len(urls) > LINES_PER_SLOT:
                raise PlatformError(
                    f"{self.service}: the HAProxy data plane serves at most {LINES_PER_SLOT} instances per slot"
                )
            lines = self.lines[slot]
            commands: list[str] = []
            wanted = set(urls)
            for line in lines:
                if line.state == "live" and line.url not in wanted:
                    line.state = "draining"  # no new requests; those in flight finish
                    commands.append(f"set server {self.service}/{line.name} state drain")
            have = {line.url for line in lines if line.state == "live"}
            busy: dict[str, int] | None = None
            for url in urls:
                if url in have:
                    continue
                free = next((candidate for candidate in lines if candidate.state == "free"), None)
                if free is None:
                    busy = busy if busy is not None else self._in_flight_by_line()
                    free = next((c for c in lines if c.state == "draining" and busy.get(c.name, 0) == 0), None)
                if free is None:
                    raise PlatformError(f"{self.service}: no free HAProxy server line in slot {slot}")
                name = f"{self.service}/{free.name}"
                free.url, free.state, free.weight = url, "live", 0
                commands += [
                    f"set server {name} addr 127.0.0.1 port {_port_of(url)}",
                    f"set server {name} weight 0",
                    f"set server {name} state ready",
                ]
            self._apply(commands)
            self._apply(self._weight_commands(self._weights["green"]))

    def _stat_rows(self) -> dict[str, dict[str, str]]:
        text = self._cli("show stat")
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            raise PlatformError(f"{self.service}: unexpected answer to show stat: {text[:200]!r}")
        columns = lines[0][2:].split(",")
        rows: dict[str, dict[str, str]] = {}
        for raw in lines[1:]:
            row = dict(zip(columns, raw.split(","), strict=False))
            if row.get("pxname") == self.service and row.get("svname") not in ("FRONTEND", "BACKEND"):
                rows[row["svname"]] = row
        return rows

    def _in_flight_by_line(self) -> dict[str, int]:
        return {name: int(row.get("scur") or 0) for name, row in self._stat_rows().items()}

    def _wait_idle(self, names: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            busy = self._in_flight_by_line()
            if not any(busy.get(name, 0) for name in names):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def drain(self, slot: Slot, timeout: float) -> bool:
        return self._wait_idle({line.name for line in self.lines[slot]}, timeout)

    def drain_backend(self, url: str, timeout: float) -> bool:
        names = {line.name for slot in SLOTS for line in self.lines[slot] if line.url == url}
        drained = self._wait_idle(names, timeout)
        with self._lock:
            commands = []
            for slot in SLOTS:
                for line in self.lines[slot]:
                    if line.url == url and line.state == "draining":
                        line.state, line.url = "free", None
                        commands.append(f"set server {self.service}/{line.name} state maint")
            self._apply(commands)
        return drained

    # -- counters ----------------------------------------------------------------------------------

    def window(self, slot: Slot, seconds: float) -> RouterWindow:
        counted = self.stats.slots[slot].window(seconds)
        busy = self._in_flight_by_line()
        in_flight = sum(busy.get(line.name, 0) for line in self.lines[slot])
        return RouterWindow(
            counted.requests, counted.errors, counted.p50_ms, counted.p95_ms, counted.p99_ms, in_flight, counted.latency
        )

    def totals(self) -> tuple[dict[Slot, int], dict[Slot, SlotTotals]]:
        rows = self._stat_rows()
        totals: dict[Slot, SlotTotals] = {}
        for slot in SLOTS:
            names = [line.name for line in self.lines[slot]]
            picked = [rows[name] for name in names if name in rows]

            def total(column: str, picked: list[dict[str, str]] = picked) -> int:
                return sum(int(row.get(column) or 0) for row in picked)

            logged = self.stats.slots[slot]
            totals[slot] = SlotTotals(
                requests=total("stot"),
                errors=total("hrsp_5xx") + total("eresp"),
                in_flight=total("scur"),
                latency_sum_s=logged.latency_sum_s,
                latency=dict(logged.latency_total),
            )
        return dict(self._weights), totals
