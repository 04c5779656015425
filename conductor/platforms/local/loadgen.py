"""Steady HTTP load on loopback: what the demo sends through the routers, and what benchmarks reuse.

Open-loop pacing (each worker aims at a schedule, not "as fast as it can") keeps the request rate
steady while latency changes, so a slow or failing version shows up in the numbers instead of
quietly slowing the load down. Every worker keeps one keep-alive connection, like a browser or a
service client would. Targets must be loopback URLs: this is for local testing only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2


@dataclass
class TargetCounts:
    ok: int = 0
    failed: int = 0
    first_failure_at: float | None = None
    last_failure_at: float | None = None
    failures: list[str] = field(default_factory=list)


class SteadyLoad:
    """``rate`` requests per second to each target, spread over ``workers`` threads per target.

    >>> load = SteadyLoad({"api": "http://127.0.0.1:8080/"}, rate=100).start()
    >>> ...; load.stop(); load.counts["api"].failed
    0
    """

    def __init__(self, targets: Mapping[str, str], rate: float, workers: int = 2, timeout: float = 10.0) -> None:
        for url in targets.values():
            host = urlsplit(url).hostname or ""
            if not (host == "localhost" or host.startswith("127.") or host == "::1"):
                raise ValueError(f"load is only ever sent to loopback addresses, not {url!r}")
        self.targets = dict(targets)
        self.rate = rate
        self.workers = workers
        self.timeout = timeout
        self.counts: dict[str, TargetCounts] = {name: TargetCounts() for name in targets}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> SteadyLoad:
        for name, url in self.targets.items():
            for index in range(self.workers):
                thread = threading.Thread(
                    target=self._work, args=(name, url, index), name=f"load-{name}-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> SteadyLoad:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        return self

    def _work(self, name: str, url: str, index: int) -> None:
        period = self.workers / self.rate if self.rate > 0 else 1.0
        next_at = time.monotonic() + period * index / self.workers
        counts = self.counts[name]
        with httpx2.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                next_at = max(next_at + period, time.monotonic() - 1.0)  # never burst to catch up >1 s
                failure = ""
                try:
                    response = client.get(url)
                    if response.status_code >= 500:
                        failure = f"HTTP {response.status_code}"
                except httpx2.HTTPError as exc:
                    failure = type(exc).__name__
                with self._lock:
                    if failure:
                        counts.failed += 1
                        now = time.monotonic()
                        counts.first_failure_at = counts.first_failure_at or now
                        counts.last_failure_at = now
                        if len(counts.failures) < 20:
                            counts.failures.append(failure)
                    else:
                        counts.ok += 1
