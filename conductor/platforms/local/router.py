"""The built-in weighted router in front of one service: HTTP/1.1 proxying on raw asyncio protocols.

Why this stack: the router is on every request's path, so it is written against asyncio's
``Protocol`` callbacks (:mod:`.http1`) (no task, no stream object, no header dictionary per request on the
keep-alive fast path) with ``httptools`` (the llhttp parser Node.js uses, packaged by the uvloop
authors) parsing both directions, on uvloop's event loop when installed. A general web framework
(aiohttp, used before) spent most of each request building objects this proxy never reads.

Why it never drops a request during a flip: the split is one integer (green's percentage) read
once per request, when its headers arrive, on the single event-loop thread; changing it is one
assignment. A request already on its way keeps going to the slot it was given, and that slot's
instances keep running until :meth:`Router.drain` sees its in-flight count reach zero.

The split is *deterministic* (an error-diffusion counter, not a coin toss): at 10% exactly one
request in ten goes to green, so a canary's share is exact from the first requests on. Within a
slot, instances take turns. A request whose body is small (up to :data:`BUFFER_LIMIT`) is held
until it has all arrived and only then given an instance, from the slot's *current* instances
(so an upload still arriving when its instance is replaced goes to the new one), and it can be
resent: a connection refused by one instance (it just crashed) is retried on the next, and so is
an idempotent request whose pooled connection the instance had just closed. Larger or chunked
bodies stream through in both directions, with back-pressure (a slow reader pauses the sender),
so any size passes in constant memory; such a request keeps the instance it started on, which
:meth:`Router.drain_backend` waits for before an instance is stopped.

Not proxied: protocol upgrades (WebSocket) and CONNECT; ``Upgrade`` is a hop-by-hop header and
is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time

from conductor.errors import PlatformError
from conductor.platforms.base import Slot
from conductor.platforms.local.http1 import (
    IDEMPOTENT,
    IDLE_TIMEOUT,
    POOL_PER_BACKEND,
    Downstream,
    Exchange,
    Upstream,
    plain,
)
from conductor.platforms.local.stats import ServiceStats

CONNECT_TIMEOUT = 5.0


class Router:
    """Listens on ``host:port`` and splits requests between the blue and green slots.

    >>> router = Router("api", ServiceStats("api"), "127.0.0.1", 8080)
    >>> await router.start()
    >>> router.set_backends("blue", ["http://127.0.0.1:41001"]); router.set_weights({"blue": 100, "green": 0})
    """

    def __init__(self, service: str, stats: ServiceStats, host: str, port: int) -> None:
        self.service = service
        self.stats = stats
        self.host = host
        self.port = port
        self._green = 0
        self._credit = 0
        self._backends: dict[Slot, tuple[str, ...]] = {"blue": (), "green": ()}
        self._addresses: dict[str, tuple[str, int]] = {}
        self._turn: dict[Slot, int] = {"blue": 0, "green": 0}
        self.backend_in_flight: dict[str, int] = {}
        self._pool: dict[str, list[Upstream]] = {}
        self._clients: set[Downstream] = set()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False

    # -- control (event loop thread) -----------------------------------------------------------

    def set_weights(self, weights: dict[Slot, int]) -> dict[Slot, int]:
        """Apply a split atomically: one assignment, read once per arriving request."""
        self._green = int(weights["green"])
        self.stats.weights = {"blue": 100 - self._green, "green": self._green}
        return self.weights

    @property
    def weights(self) -> dict[Slot, int]:
        green = self._green
        return {"blue": 100 - green, "green": green}

    def set_backends(self, slot: Slot, urls: list[str]) -> None:
        for url in urls:
            if url not in self._addresses:
                host, _, port = url.removeprefix("http://").rpartition(":")
                self._addresses[url] = (host, int(port))
        self._backends[slot] = tuple(urls)
        live = set(self._backends["blue"]) | set(self._backends["green"])
        for url in list(self._pool):
            if url not in live:  # a stopped instance: its idle connections are useless
                for upstream in self._pool.pop(url):
                    upstream.abort()

    def backends(self, slot: Slot) -> tuple[str, ...]:
        return self._backends[slot]

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: Downstream(self), self.host, self.port, backlog=1024, reuse_address=True
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PlatformError(
                    f"{self.service}: router port {self.port} on {self.host} is already in use by another "
                    f"process (free it, or set platform.services.{self.service}.routerPort to another port)"
                ) from None
            raise PlatformError(f"{self.service}: router cannot listen on {self.host}:{self.port}: {exc}") from None
        if self.port == 0:
            self.port = int(self._server.sockets[0].getsockname()[1])
        self._sweeper = loop.create_task(self._sweep_idle())

    async def _sweep_idle(self) -> None:
        """Close keep-alive client connections idle for :data:`IDLE_TIMEOUT` (one pass every few seconds)."""
        while not self._stopping:
            await asyncio.sleep(min(IDLE_TIMEOUT / 4, 10.0))
            cutoff = time.monotonic() - IDLE_TIMEOUT
            for client in list(self._clients):
                if not client.queue and client.last_active < cutoff:
                    client._close()

    async def drain(self, slot: Slot, timeout: float) -> bool:
        """Wait until no request is in flight to ``slot``; False if ``timeout`` ran out first."""
        deadline = time.monotonic() + timeout
        while self.stats.slots[slot].in_flight > 0:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def drain_backend(self, url: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.backend_in_flight.get(url, 0) > 0:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, let requests in flight finish (up to ``timeout``), then close every connection."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        deadline = time.monotonic() + timeout
        while any(s.in_flight for s in self.stats.slots.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for client in list(self._clients):
            client._close()
        for upstreams in self._pool.values():
            for upstream in upstreams:
                upstream.abort()
        self._pool.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    # -- the request path ----------------------------------------------------------------------

    def _choose(self) -> Slot:
        green = self._green
        if green <= 0:
            return "blue"
        if green >= 100:
            return "green"
        self._credit += green
        if self._credit >= 100:
            self._credit -= 100
            return "green"
        return "blue"

    def _arrived(self, exchange: Exchange) -> None:
        """The request's headers are here: it gets its slot now, and counts as in flight from now on."""
        exchange.slot = self._choose()
        exchange.stats = self.stats.slots[exchange.slot]
        exchange.stats.start()
        exchange.started = time.perf_counter()

    def _dispatch(self, exchange: Exchange) -> None:
        """Give the request an instance of its slot: a pooled connection, or a new one."""
        exchange.dispatched = True
        backends = self._backends[exchange.slot]
        if not backends:
            self._respond(exchange, 503, f"{self.service}: no {exchange.slot} instance is serving\n")
            return
        turn = self._turn[exchange.slot]
        self._turn[exchange.slot] = turn + 1
        url = backends[turn % len(backends)]
        exchange.backend = url
        exchange.tries += 1
        self.backend_in_flight[url] = self.backend_in_flight.get(url, 0) + 1
        idle = self._pool.get(url)
        while idle:
            upstream = idle.pop()
            if not upstream.closed:
                upstream.attach(exchange)
                return
        asyncio.get_running_loop().create_task(self._connect(exchange, url))

    async def _connect(self, exchange: Exchange, url: str) -> None:
        host, port = self._addresses[url]
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await asyncio.wait_for(
                loop.create_connection(lambda: Upstream(self, url), host, port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            self._upstream_failed(exchange, url, f"connect to {url} failed: {why}", sent=False, connected=False)
            return
        if exchange.downstream.closed:  # the client left while we connected (and was counted then)
            self._release(upstream)
            return
        upstream.attach(exchange)

    def _upstream_failed(self, exchange: Exchange, url: str, why: str, sent: bool, connected: bool = True) -> None:
        """An instance did not answer: resend where that is safe, else a 502 (or a cut, if answering began)."""
        self._end_attempt(exchange)
        if exchange.downstream.closed:
            return
        if exchange.responded:  # part of the answer is out: the client must see the failure
            self._finish(exchange, 502)
            exchange.downstream._close()
            return
        safe = not connected or (not sent and exchange.method in IDEMPOTENT)
        if safe and exchange.resendable and exchange.tries < max(2, len(self._backends[exchange.slot]) + 1):
            self._dispatch(exchange)
            return
        self._respond(exchange, 502, f"{self.service}: upstream failure: {why}\n")

    def _respond(self, exchange: Exchange, status: int, text: str) -> None:
        exchange.status = status
        exchange.responded = True
        downstream = exchange.downstream
        if not exchange.complete:
            exchange.keep_alive = False  # the rest of its body is still coming: close after the answer
        downstream.write(plain(status, text, close=not exchange.keep_alive))
        self._finish(exchange, status)
        downstream.exchange_done(exchange)

    def _end_attempt(self, exchange: Exchange) -> None:
        if exchange.backend:
            self.backend_in_flight[exchange.backend] -= 1
            exchange.backend = ""

    def _finish(self, exchange: Exchange, status: int, error: bool | None = None) -> None:
        """Count the exchange once, when its answer is complete (or it can have none)."""
        self._end_attempt(exchange)
        stats = exchange.stats
        if stats is None:
            return
        exchange.stats = None
        stats.finish((time.perf_counter() - exchange.started) * 1000.0, status >= 500 if error is None else error)

    def _release(self, upstream: Upstream) -> None:
        if self._stopping or upstream.backend not in self._addresses:
            upstream.abort()
            return
        live = upstream.backend in self._backends["blue"] or upstream.backend in self._backends["green"]
        idle = self._pool.setdefault(upstream.backend, [])
        if not live or len(idle) >= POOL_PER_BACKEND:
            upstream.abort()
            return
        idle.append(upstream)

    def _forget(self, upstream: Upstream) -> None:
        idle = self._pool.get(upstream.backend)
        if idle and upstream in idle:
            idle.remove(upstream)

