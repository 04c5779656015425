"""The built-in weighted router in front of one service: HTTP/1.1 proxying on raw asyncio protocols.

Why this stack: the router is on every request's path, so it is written against asyncio's
``Protocol`` callbacks (no task, no stream object, no header dictionary per request on the
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
from collections import deque
from typing import cast

import httptools

from conductor.errors import PlatformError
from conductor.platforms.base import Slot
from conductor.platforms.local.stats import ServiceStats, SlotStats

# RFC 9110 §7.6.1: headers about one connection, not the message; never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
        b"content-length",  # re-added by the proxy from what it actually forwards
    }
)
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
BUFFER_LIMIT = 64 * 1024  # a body up to this size is held whole: the instance is chosen once it is here
POOL_PER_BACKEND = 256  # idle keep-alive connections kept per instance
CONNECT_TIMEOUT = 5.0
MAX_HEAD = 64 * 1024  # request line and headers: a client sending more is refused (431), not buffered
IDLE_TIMEOUT = 120.0  # a keep-alive client connection with no request for this long is closed
_REASONS = {
    400: b"Bad Request",
    431: b"Request Header Fields Too Large",
    499: b"Client Closed Request",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
}


def _plain(status: int, text: str, close: bool) -> bytes:
    body = text.encode()
    head = b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % (
        status,
        _REASONS.get(status, b"Error"),
        len(body),
    )
    return head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body


class _Exchange:
    """One request and its response, from the request line to the last byte sent back."""

    __slots__ = (
        "backend",
        "body",
        "body_size",
        "chunked",
        "complete",
        "dispatched",
        "downstream",
        "headers",
        "keep_alive",
        "length",
        "method",
        "resendable",
        "responded",
        "slot",
        "started",
        "stats",
        "status",
        "tries",
        "upstream",
        "url",
        "version",
    )

    def __init__(self, downstream: _Downstream) -> None:
        self.downstream = downstream
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.method = b"GET"
        self.version = "1.1"
        self.keep_alive = True
        self.length: int | None = None  # the request's Content-Length, if any
        self.chunked = False
        self.body: list[bytes] = []  # held until an upstream takes it (and kept while it may be resent)
        self.body_size = 0
        self.resendable = True  # the whole request is still here to send again
        self.complete = False  # the client has sent all of it
        self.dispatched = False  # given to an instance (or being connected to one)
        self.slot: Slot = "blue"
        self.stats: SlotStats | None = None
        self.started = 0.0
        self.status = 0
        self.responded = False  # a first byte of the answer went to the client: no retry, no error page
        self.tries = 0
        self.upstream: _Upstream | None = None
        self.backend = ""  # the instance of the current attempt, counted in Router.backend_in_flight


class _Downstream(asyncio.Protocol):
    """A client connection: parses its requests and answers them in order (pipelining included)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[_Exchange] = deque()  # pipelined requests wait for the one before to finish
        self.current: _Exchange | None = None  # the one being parsed
        self.peer = b"unknown"
        self.closed = False
        self._corked: list[bytes] | None = None
        self.head_size = 0
        self.last_active = time.monotonic()

    # -- transport ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = str(peer[0]).encode()
        self.router._clients.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not proxied\n")
        except httptools.HttpParserError:
            if self.head_size > MAX_HEAD:
                self._refuse(431, f"request line and headers over {MAX_HEAD} bytes\n")
            else:
                self._refuse(400, "malformed HTTP request\n")

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.router._clients.discard(self)
        for exchange in list(self.queue):
            if exchange.upstream is not None:
                exchange.upstream.abort()
            self.router._finish(exchange, 499)  # the client went away: not the slot's failure
        self.queue.clear()

    def pause_writing(self) -> None:
        for exchange in self.queue:
            if exchange.upstream is not None and exchange.upstream.transport is not None:
                exchange.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        for exchange in self.queue:
            if exchange.upstream is not None and exchange.upstream.transport is not None:
                exchange.upstream.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self._corked is not None:
            self._corked.append(data)
        elif self.transport is not None and not self.closed:
            self.transport.write(data)

    def cork(self) -> None:
        """Hold writes until :meth:`uncork`: an answer's head and body go out in one send, not two."""
        if self._corked is None:
            self._corked = []

    def uncork(self) -> None:
        held, self._corked = self._corked, None
        if held:
            self.write(b"".join(held))

    def _refuse(self, status: int, text: str) -> None:
        """Answer a request the router cannot take (not the slot's failure) and close the connection."""
        if self.queue and self.queue[0].responded:
            self._close()
            return
        self.write(_plain(status, text, close=True))
        for exchange in list(self.queue):
            if exchange.upstream is not None:
                exchange.upstream.abort()
            self.router._finish(exchange, status, error=False)
        self.queue.clear()
        self._close()

    def _close(self) -> None:
        self.uncork()
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.current = _Exchange(self)
        self.head_size = 0

    def on_url(self, url: bytes) -> None:
        assert self.current is not None
        self.current.url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self.current.headers.append((name, value))
        self._count_head(len(name) + len(value))

    def _count_head(self, size: int) -> None:
        self.head_size += size
        if self.head_size > MAX_HEAD:
            raise httptools.HttpParserError("request head too large")

    def on_headers_complete(self) -> None:
        exchange = self.current
        assert exchange is not None
        parser = self.parser
        exchange.method = parser.get_method()
        exchange.version = parser.get_http_version()
        exchange.keep_alive = parser.should_keep_alive() and not self.router._stopping
        for name, value in exchange.headers:
            lower = name.lower()
            if lower == b"content-length":
                exchange.length = int(value)
            elif lower == b"transfer-encoding" and b"chunked" in value.lower():
                exchange.chunked = True
        if exchange.chunked or (exchange.length or 0) > BUFFER_LIMIT:
            exchange.resendable = False
        self.queue.append(exchange)
        self.router._arrived(exchange)
        if len(self.queue) == 1 and not exchange.resendable:
            self.router._dispatch(exchange)  # a large body streams: it needs its instance now

    def on_body(self, body: bytes) -> None:
        exchange = self.current
        assert exchange is not None
        exchange.body_size += len(body)
        upstream = exchange.upstream
        if upstream is not None and upstream.sent_head:
            upstream.send_body(body)
            return
        exchange.body.append(body)
        if exchange.body_size > BUFFER_LIMIT:
            exchange.resendable = False
            if self.queue and self.queue[0] is exchange and not exchange.dispatched:
                self.router._dispatch(exchange)
        if len(self.queue) > 1 and exchange.body_size > BUFFER_LIMIT and self.transport is not None:
            self.transport.pause_reading()  # a pipelined request waits: do not buffer its body without bound

    def on_message_complete(self) -> None:
        exchange = self.current
        assert exchange is not None
        self.current = None
        exchange.complete = True
        upstream = exchange.upstream
        if upstream is not None and upstream.sent_head:
            upstream.end_body()
        elif self.queue and self.queue[0] is exchange and not exchange.dispatched:
            self.router._dispatch(exchange)

    # -- answering ---------------------------------------------------------------------------

    def exchange_done(self, exchange: _Exchange) -> None:
        """The answer to the head of the queue was sent whole: close, or start the next request."""
        if self.queue and self.queue[0] is exchange:
            self.queue.popleft()
        if not exchange.keep_alive or self.router._stopping:
            self._close()
            return
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()
        if self.queue:
            following = self.queue[0]
            if not following.dispatched and (following.complete or not following.resendable):
                self.router._dispatch(following)


class _Upstream(asyncio.Protocol):
    """A connection to one instance; carries one exchange at a time and returns to the pool when clean."""

    def __init__(self, router: Router, backend: str) -> None:
        self.router = router
        self.backend = backend
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: _Exchange | None = None
        self.sent_head = False
        self.request_done = False
        self.closed = False
        self.reason = b""
        self.chunked_out = False  # the client gets the body chunked (length unknown)
        self.until_close = False  # the body ends when the instance closes (HTTP/1.0 answer to an HTTP/1.0 client)
        self.got_bytes = False
        self._headers: list[tuple[bytes, bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def attach(self, exchange: _Exchange) -> None:
        """Send ``exchange``'s request head, and as much of its body as has arrived."""
        self.exchange = exchange
        exchange.upstream = self
        self.sent_head = False
        self.request_done = False
        self.got_bytes = False
        self.reason = b""
        self.chunked_out = self.until_close = False
        self.parser = httptools.HttpResponseParser(self)
        parts = [exchange.method, b" ", exchange.url, b" HTTP/1.1\r\n"]
        drop = HOP_BY_HOP
        forwarded: list[bytes] = []
        for name, value in exchange.headers:
            lower = name.lower()
            if lower == b"connection":
                drop = drop | {token.strip().lower() for token in value.split(b",")}
        proto = host = False
        for name, value in exchange.headers:
            lower = name.lower()
            if lower in drop:
                continue
            if lower == b"x-forwarded-for":
                forwarded.append(value)
                continue
            if lower == b"x-forwarded-proto":
                proto = True
            elif lower == b"host":
                host = True
            parts += (name, b": ", value, b"\r\n")
        if not host:  # an HTTP/1.0 client may send none; HTTP/1.1 (what we speak upstream) requires one
            parts += (b"Host: ", self.backend.removeprefix("http://").encode(), b"\r\n")
        peer = exchange.downstream.peer
        parts += (b"X-Forwarded-For: ", b", ".join([*forwarded, peer]), b"\r\n")
        if not proto:
            parts.append(b"X-Forwarded-Proto: http\r\n")
        if exchange.chunked:
            parts.append(b"Transfer-Encoding: chunked\r\n")
        elif exchange.length is not None:
            parts.append(b"Content-Length: %d\r\n" % exchange.length)
        parts.append(b"\r\n")
        assert self.transport is not None
        self.transport.write(b"".join(parts))
        self.sent_head = True
        for chunk in exchange.body:
            self.send_body(chunk)
        if not exchange.resendable:
            exchange.body = []
        if exchange.complete:
            self.end_body()

    def send_body(self, chunk: bytes) -> None:
        assert self.transport is not None and self.exchange is not None
        if self.exchange.chunked:
            self.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        else:
            self.transport.write(chunk)

    def end_body(self) -> None:
        assert self.transport is not None and self.exchange is not None
        if self.exchange.chunked:
            self.transport.write(b"0\r\n\r\n")
        self.request_done = True

    def abort(self) -> None:
        self.exchange = None
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- transport ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        exchange = self.exchange
        if exchange is None:  # bytes on an idle connection: not HTTP we can attribute; drop it
            self.abort()
            return
        downstream = exchange.downstream
        downstream.cork()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._failed("malformed response")
        finally:
            downstream.uncork()

    def pause_writing(self) -> None:
        exchange = self.exchange
        if exchange is not None and exchange.downstream.transport is not None:
            exchange.downstream.transport.pause_reading()

    def resume_writing(self) -> None:
        exchange = self.exchange
        if exchange is not None and exchange.downstream.transport is not None:
            exchange.downstream.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.router._forget(self)
        if self.exchange is None:
            return
        if self.until_close and self.exchange.responded:
            self.on_message_complete()  # a close-delimited body ends here
            return
        self._failed(f"{type(exc).__name__}: {exc}" if exc else "the instance closed the connection")

    def _failed(self, why: str) -> None:
        exchange = self.exchange
        self.exchange = None
        if self.transport is not None:
            self.transport.abort()
        if exchange is None:
            return
        exchange.upstream = None
        self.router._upstream_failed(exchange, self.backend, why, sent=self.got_bytes)

    # -- httptools callbacks -----------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        status = self.parser.get_status_code()
        headers = self._headers
        self._headers = []
        if 100 <= status < 200:  # 100 Continue and friends: pass on, the real answer follows
            if status == 101:
                self._failed("protocol upgrades are not proxied")
                return
            exchange.downstream.write(b"HTTP/1.1 %d %s\r\n\r\n" % (status, self.reason))
            self.reason = b""
            return
        exchange.status = status
        exchange.responded = True
        drop = HOP_BY_HOP
        length: bytes | None = None
        chunked = False
        for name, value in headers:
            lower = name.lower()
            if lower == b"connection":
                drop = drop | {token.strip().lower() for token in value.split(b",")}
            elif lower == b"content-length":
                length = value
            elif lower == b"transfer-encoding":
                chunked = True
        parts = [b"HTTP/1.1 %d %s\r\n" % (status, self.reason)]
        for name, value in headers:
            if name.lower() not in drop:
                parts += (name, b": ", value, b"\r\n")
        bodiless = exchange.method == b"HEAD" or status in (204, 304)
        if length is not None and not chunked:
            parts += (b"Content-Length: ", length, b"\r\n")
        elif not bodiless:
            if exchange.version == "1.1":
                self.chunked_out = True
                parts.append(b"Transfer-Encoding: chunked\r\n")
            else:
                exchange.keep_alive = False  # an HTTP/1.0 client reads the body until we close
        if not (chunked or length is not None) and not bodiless:
            self.until_close = not self.parser.should_keep_alive()
        if not exchange.keep_alive:
            parts.append(b"Connection: close\r\n")
        elif exchange.version == "1.0":
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        exchange.downstream.write(b"".join(parts))
        if exchange.method == b"HEAD":  # the parser cannot know a HEAD answer has no body: finish here
            self.until_close = False
            self._done(reusable=False)

    def on_message_begin(self) -> None:
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            return
        if self.chunked_out:
            exchange.downstream.write(b"%x\r\n%s\r\n" % (len(body), body))
        else:
            exchange.downstream.write(body)

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or not exchange.responded:
            return  # the end of a 1xx
        if self.chunked_out:
            exchange.downstream.write(b"0\r\n\r\n")
        self._done(reusable=self.parser.should_keep_alive() and not self.until_close)

    def _done(self, reusable: bool) -> None:
        exchange = self.exchange
        assert exchange is not None
        self.exchange = None
        exchange.upstream = None
        reusable = reusable and self.request_done and not self.closed
        self.router._finish(exchange, exchange.status)
        if reusable:
            self.router._release(self)
        else:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        exchange.downstream.exchange_done(exchange)


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
        self._pool: dict[str, list[_Upstream]] = {}
        self._clients: set[_Downstream] = set()
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
                lambda: _Downstream(self), self.host, self.port, backlog=1024, reuse_address=True
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

    def _arrived(self, exchange: _Exchange) -> None:
        """The request's headers are here: it gets its slot now, and counts as in flight from now on."""
        exchange.slot = self._choose()
        exchange.stats = self.stats.slots[exchange.slot]
        exchange.stats.start()
        exchange.started = time.perf_counter()

    def _dispatch(self, exchange: _Exchange) -> None:
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

    async def _connect(self, exchange: _Exchange, url: str) -> None:
        host, port = self._addresses[url]
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await asyncio.wait_for(
                loop.create_connection(lambda: _Upstream(self, url), host, port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            self._upstream_failed(exchange, url, f"connect to {url} failed: {why}", sent=False, connected=False)
            return
        if exchange.downstream.closed:  # the client left while we connected (and was counted then)
            self._release(upstream)
            return
        upstream.attach(exchange)

    def _upstream_failed(self, exchange: _Exchange, url: str, why: str, sent: bool, connected: bool = True) -> None:
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

    def _respond(self, exchange: _Exchange, status: int, text: str) -> None:
        exchange.status = status
        exchange.responded = True
        downstream = exchange.downstream
        if not exchange.complete:
            exchange.keep_alive = False  # the rest of its body is still coming: close after the answer
        downstream.write(_plain(status, text, close=not exchange.keep_alive))
        self._finish(exchange, status)
        downstream.exchange_done(exchange)

    def _end_attempt(self, exchange: _Exchange) -> None:
        if exchange.backend:
            self.backend_in_flight[exchange.backend] -= 1
            exchange.backend = ""

    def _finish(self, exchange: _Exchange, status: int, error: bool | None = None) -> None:
        """Count the exchange once, when its answer is complete (or it can have none)."""
        self._end_attempt(exchange)
        stats = exchange.stats
        if stats is None:
            return
        exchange.stats = None
        stats.finish((time.perf_counter() - exchange.started) * 1000.0, status >= 500 if error is None else error)

    def _release(self, upstream: _Upstream) -> None:
        if self._stopping or upstream.backend not in self._addresses:
            upstream.abort()
            return
        live = upstream.backend in self._backends["blue"] or upstream.backend in self._backends["green"]
        idle = self._pool.setdefault(upstream.backend, [])
        if not live or len(idle) >= POOL_PER_BACKEND:
            upstream.abort()
            return
        idle.append(upstream)

    def _forget(self, upstream: _Upstream) -> None:
        idle = self._pool.get(upstream.backend)
        if idle and upstream in idle:
            idle.remove(upstream)

