"""The weighted router in front of one service: an aiohttp server proxying to the slots' instances.

Why it never drops a request during a flip: the split is one integer (green's percentage) read
once per request, when the request arrives, on the single event-loop thread; changing it is one
assignment. A request already on its way keeps going to the slot it was given, and that slot's
instances keep running until :meth:`Router.drain` sees its in-flight count reach zero. Retiring
a slot therefore never cuts a request off, and new requests never see a half-applied split. Within
the slot, the instance is picked only once the request's body has arrived, from the slot's current
instances, so a request still uploading when its instance is replaced goes to the new one.

The split is *deterministic* (an error-diffusion counter, not a coin toss): at 10% exactly one
request in ten goes to green, so a canary's share is exact from the first requests on, and tests
of the split need no tolerance for luck. Within a slot, instances take turns; a connection
refused by one instance (it just crashed) is retried on the next, since nothing was sent yet.

Bodies are buffered whole in both directions (right for API traffic, and it lets a retry resend
the body); streaming responses and protocol upgrades (WebSocket) are not proxied.
"""

from __future__ import annotations

import asyncio
import errno
import time

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from conductor.errors import PlatformError
from conductor.platforms.base import Slot
from conductor.platforms.local.stats import ServiceStats

# RFC 9110 §7.6.1: headers about one connection, not the message; never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
_REQUEST_DROP = HOP_BY_HOP | {"content-length"}
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# aiohttp adds these when absent; a proxy must not invent headers the client did not send.
_SKIP_AUTO = frozenset({"User-Agent", "Accept", "Accept-Encoding"})


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
        self._turn: dict[Slot, int] = {"blue": 0, "green": 0}
        self.backend_in_flight: dict[str, int] = {}
        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- control (any thread) ------------------------------------------------------------------

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
        self._backends[slot] = tuple(urls)

    def backends(self, slot: Slot) -> tuple[str, ...]:
        return self._backends[slot]

    # -- lifecycle (event loop) ----------------------------------------------------------------

    async def start(self) -> None:
        server = web.Server(self._handle, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise PlatformError(
                    f"{self.service}: router port {self.port} on {self.host} is already in use by another "
                    f"process (free it, or set platform.services.{self.service}.routerPort to another port)"
                ) from None
            raise PlatformError(f"{self.service}: router cannot listen on {self.host}:{self.port}: {exc}") from None
        self._runner = runner
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512, keepalive_timeout=30.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=300.0),
        )

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

    async def stop(self) -> None:
        """Stop listening, let in-flight requests finish (up to the runner's shutdown timeout)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

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

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        slot = self._choose()
        stats = self.stats.slots[slot]
        stats.start()
        started = time.perf_counter()
        status = 502
        try:
            response = await self._forward(request, slot)
            status = response.status
            return response
        except web.HTTPException as exc:  # e.g. 413 for a body over the size limit: the client's, not the slot's
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away (or shutdown): not the slot's failure
            raise
        finally:
            stats.finish((time.perf_counter() - started) * 1000.0, status >= 500)

    async def _forward(self, request: web.BaseRequest, slot: Slot) -> web.Response:
        try:
            body = await request.read()  # may wait for the client: pick backends only once it is all here
        except ConnectionResetError:  # the client went away mid-body: not the slot's failure
            return web.Response(status=499, reason="Client Closed Request")  # never sent: nobody to send it to
        session = self._session
        backends = self._backends[slot]
        if session is None or not backends:
            return web.Response(status=503, text=f"{self.service}: no {slot} instance is serving\n")
        drop = _REQUEST_DROP
        if "Connection" in request.headers:  # headers it names are hop-by-hop too (RFC 9110 §7.6.1)
            drop = drop | {
                token.strip().lower() for value in request.headers.getall("Connection") for token in value.split(",")
            }
        headers: CIMultiDict[str] = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in drop)
        peer = request.remote or "unknown"
        forwarded = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        headers.setdefault("X-Forwarded-Proto", request.scheme)
        retry_any_failure = request.method in _IDEMPOTENT
        failure = "no attempt"
        for _ in range(len(backends)):
            backends = self._backends[slot] or backends  # current ones: a replaced instance may be gone by now
            url = backends[self._turn[slot] % len(backends)]
            self._turn[slot] += 1
            self.backend_in_flight[url] = self.backend_in_flight.get(url, 0) + 1
            try:
                async with session.request(
                    request.method,
                    URL(url + request.raw_path, encoded=True),  # the path exactly as the client sent it
                    headers=headers,
                    data=body if body else None,
                    allow_redirects=False,
                    skip_auto_headers=_SKIP_AUTO,
                ) as upstream:
                    payload = await upstream.read()
                    out: CIMultiDict[str] = CIMultiDict(
                        (k, v) for k, v in upstream.headers.items() if k.lower() not in _RESPONSE_DROP
                    )
                    return web.Response(status=upstream.status, reason=upstream.reason, headers=out, body=payload)
            except aiohttp.ClientConnectorError as exc:
                failure = f"connect to {url} failed: {exc.os_error.strerror or exc}"  # nothing sent: retry
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                failure = f"{url}: {type(exc).__name__}: {exc}"
                if not retry_any_failure:
                    break
            except (TimeoutError, aiohttp.ClientError) as exc:
                failure = f"{url}: {type(exc).__name__}: {exc}"
                break
            finally:
                self.backend_in_flight[url] -= 1
        return web.Response(status=502, text=f"{self.service}: upstream failure: {failure}\n")
