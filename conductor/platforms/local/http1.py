"""HTTP/1.1 on both sides of the built-in router: the client's connection and the instance's.

Written against asyncio's ``Protocol`` callbacks with ``httptools`` (llhttp) parsing both
directions: no task, no stream object and no header dictionary per request on the keep-alive fast
path. :class:`Downstream` parses a client's requests and answers them in order (pipelining
included); :class:`Upstream` carries one request at a time to an instance and returns to the
router's pool when the exchange ended cleanly. Which slot and instance a request goes to, what is
counted and when a request may be resent is :class:`~.router.Router`'s business; these classes call
back into it (``_arrived``, ``_dispatch``, ``_finish``, ``_upstream_failed``, ``_release``).

Framing: a request keeps its Content-Length or is re-chunked; an answer keeps its Content-Length,
or is chunked to an HTTP/1.1 client (read until the instance closes, to an HTTP/1.0 one). HEAD,
204 and 304 answers have no body. Headers named hop-by-hop by RFC 9110 §7.6.1, and those a
``Connection`` header names, are never forwarded; ``X-Forwarded-For`` gets the client's address.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Protocol, cast

import httptools

from conductor.platforms.base import Slot
from conductor.platforms.local.stats import SlotStats

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
MAX_HEAD = 64 * 1024  # request line and headers: a client sending more is refused (431), not buffered
IDLE_TIMEOUT = 120.0  # a keep-alive client connection with no request for this long is closed
_REASONS = {
    400: b"Bad Request",
    431: b"Request Header Fields Too Large",
    499: b"Client Closed Request",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
}


class Router(Protocol):
    """What the protocols need of :class:`~.router.Router` (a protocol, so this module imports nothing above it)."""

    _clients: set[Downstream]
    _stopping: bool

    def _arrived(self, exchange: Exchange) -> None: ...
    def _dispatch(self, exchange: Exchange) -> None: ...
    def _finish(self, exchange: Exchange, status: int, error: bool | None = None) -> None: ...
    def _upstream_failed(self, exchange: Exchange, url: str, why: str, sent: bool, connected: bool = True) -> None: ...
    def _release(self, upstream: Upstream) -> None: ...
    def _forget(self, upstream: Upstream) -> None: ...


def plain(status: int, text: str, close: bool) -> bytes:
    body = text.encode()
    head = b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % (
        status,
        _REASONS.get(status, b"Error"),
        len(body),
    )
    return head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body


class Exchange:
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

    def __init__(self, downstream: Downstream) -> None:
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
        self.upstream: Upstream | None = None
        self.backend = ""  # the instance of the current attempt, counted in Router.backend_in_flight


class Downstream(asyncio.Protocol):
    """A client connection: parses its requests and answers them in order (pipelining included)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Exchange] = deque()  # pipelined requests wait for the one before to finish
        self.current: Exchange | None = None  # the one being parsed
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
        """The client is done sending: answer what it asked (a half-close is legal), then close."""
        if not self.queue or self.current is not None:
            return None  # nothing pending, or a request it can no longer finish: close (it counts as gone)
        for exchange in self.queue:
            exchange.keep_alive = False
        return True

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
        self.write(plain(status, text, close=True))
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
        self.current = Exchange(self)
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
        if exchange.responded:  # answered before its body ended (an early 4xx, say): the rest goes nowhere
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

    def exchange_done(self, exchange: Exchange) -> None:
        """The answer to the head of the queue was sent whole: close, or start the next request."""
        if self.queue and self.queue[0] is exchange:
            self.queue.popleft()
        if not exchange.complete:  # its body is still coming: the connection cannot carry another request
            exchange.keep_alive = False
        if not exchange.keep_alive or self.router._stopping:
            self._close()
            return
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()
        if self.queue:
            following = self.queue[0]
            if not following.dispatched and (following.complete or not following.resendable):
                self.router._dispatch(following)


class Upstream(asyncio.Protocol):
    """A connection to one instance; carries one exchange at a time and returns to the pool when clean."""

    def __init__(self, router: Router, backend: str) -> None:
        self.router = router
        self.backend = backend
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
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

    def attach(self, exchange: Exchange) -> None:
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
        for chunk in exchange.body:  # what has arrived of the body goes in the same send as the head
            parts.append(b"%x\r\n%s\r\n" % (len(chunk), chunk) if exchange.chunked else chunk)
        if exchange.complete:
            if exchange.chunked:
                parts.append(b"0\r\n\r\n")
            self.request_done = True
        assert self.transport is not None
        self.transport.write(b"".join(parts))
        self.sent_head = True
        if not exchange.resendable:
            exchange.body = []

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
