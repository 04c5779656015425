"""HAProxy's per-request log, read into the same per-slot windows and histograms as the built-in router's.

HAProxy sends one datagram per request (``log-format "cdr %s %ST %Ta"``: the server line, the
status, the active time in milliseconds) to a unix datagram socket this reader binds in the
control process. The server line's name says the slot (``blue3`` is blue). HAProxy's own notices
("Server api/blue0 is UP") share the log and are skipped. A request HAProxy refused before any
server (``<NOSRV>``, no instance serving) with a 5xx counts as an error of the slot that carries
most of the traffic: it was that slot's request, and "no data" must never look healthy.

HAProxy 2.6 logs times in whole milliseconds; a request is counted at the middle of its
millisecond (``Ta + 0.5``). The socket's receive buffer is asked for 8 MiB (the kernel caps it at
``net.core.rmem_max``) so bursts are kept; a line the kernel still drops is missing from the
windows, not counted as anything (``show stat`` totals, for /metrics, stay exact). While nobody
reads (the control process is down) HAProxy drops its lines and keeps serving.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

from conductor.platforms.base import SLOTS, Slot
from conductor.platforms.local.stats import ServiceStats

LOG_TAG = "cdr"


class LogReader:
    """Receives HAProxy's per-request log datagrams and counts them per slot."""

    def __init__(self, path: Path, stats: ServiceStats) -> None:
        self.path = path
        self.stats = stats
        self.lines_seen = 0
        self._stop = threading.Event()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a control process that was killed
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:  # past rmem_max where allowed (CAP_NET_ADMIN), else as much as it allows
            self._sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 * 1024 * 1024)
        except OSError:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self._sock.bind(str(path))
        path.chmod(0o600)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, name=f"haproxy-log-{stats.service}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        slots = self.stats.slots
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode("ascii", "replace").splitlines():
                fields = line.split()
                if len(fields) != 4 or fields[0] != LOG_TAG:
                    continue  # HAProxy's own notices ("Server api/blue0 is UP") share the log
                server, status_text, active = fields[1], fields[2], fields[3]
                try:
                    status, active_ms = int(status_text), int(active)
                except ValueError:
                    continue
                slot: Slot | None = None
                for known in SLOTS:
                    if server.startswith(known):
                        slot = known
                if slot is None:  # <NOSRV>: refused before any server (none serving): the busier slot's error
                    weights = self.stats.weights
                    slot = "green" if weights["green"] > weights["blue"] else "blue"
                    if status < 500:
                        continue
                self.lines_seen += 1
                slots[slot].record(max(active_ms, 0) + 0.5, status >= 500 or status < 0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
