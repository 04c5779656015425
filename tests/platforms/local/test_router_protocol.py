"""The built-in router's HTTP/1.1 handling, in-process against a real aiohttp backend on loopback.

What a proxy must get right besides the happy path: chunked uploads and streamed downloads of
any size (nothing buffered whole), HEAD and 204 answers (no body, connection still reusable),
pipelined requests answered in order, HTTP/1.0 clients, keep-alive reuse towards the instances,
and a 503 counted against the slot when it has no instance.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest
from aiohttp import web

from conductor.platforms.local.router import Router
from conductor.platforms.local.stats import ServiceStats

TIMEOUT = 60.0


@dataclass
class Rig:
    router: Router
    loop: asyncio.AbstractEventLoop
    backend_port: int
    connections: set[int]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.router.port}"

    def call(self, function: object) -> None:
        self.loop.call_soon_threadsafe(function)  # type: ignore[arg-type]


async def _backend(connections: set[int]) -> tuple[web.AppRunner, int]:
    async def upload(request: web.Request) -> web.Response:
        size = 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
        return web.json_response({"size": size, "chunked": request.headers.get("Transfer-Encoding") == "chunked"})

    async def download(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(int(request.query["pieces"])):
            await response.write(b"x" * 65536)
        await response.write_eof()
        return response

    async def plain(request: web.Request) -> web.Response:
        assert request.transport is not None
        connections.add(request.transport.get_extra_info("peername")[1])  # the router's side of the connection
        seen = request.headers.get("X-Forwarded-For", "")
        return web.Response(text=f"{request.method} {request.path_qs}", headers={"X-Seen-For": seen})

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/upload", upload)
    app.router.add_get("/download", download)
    app.router.add_get("/empty", empty)
    app.router.add_route("*", "/{tail:.*}", plain)

    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    return runner, int(server.sockets[0].getsockname()[1])


@pytest.fixture
def rig() -> Iterator[Rig]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    connections: set[int] = set()
    runner, port = asyncio.run_coroutine_threadsafe(_backend(connections), loop).result(TIMEOUT)
    router = Router("api", ServiceStats("api"), "127.0.0.1", 0)
    asyncio.run_coroutine_threadsafe(router.start(), loop).result(TIMEOUT)
    done = threading.Event()

    def configure() -> None:
        router.set_backends("blue", [f"http://127.0.0.1:{port}"])
        done.set()

    loop.call_soon_threadsafe(configure)
    done.wait(TIMEOUT)
    yield Rig(router, loop, port, connections)
    asyncio.run_coroutine_threadsafe(router.stop(1.0), loop).result(TIMEOUT)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(TIMEOUT)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_chunked_upload_and_streamed_download_of_megabytes(rig: Rig) -> None:
    body = b"y" * (5 * 1024 * 1024)
    with httpx2.Client(timeout=TIMEOUT) as client:
        up = client.post(rig.url + "/upload", content=iter([body[:100], body[100:]]))  # no length: chunked
        fixed = client.post(rig.url + "/upload", content=body)
        down = client.get(rig.url + "/download?pieces=100")
    assert up.status_code == 200 and up.json() == {"size": len(body), "chunked": True}
    assert fixed.status_code == 200 and fixed.json() == {"size": len(body), "chunked": False}
    assert down.status_code == 200 and len(down.content) == 100 * 65536


def test_head_204_and_keep_alive_reuse_towards_the_instance(rig: Rig) -> None:
    with httpx2.Client(timeout=TIMEOUT) as client:
        head = client.head(rig.url + "/thing")
        empty = client.get(rig.url + "/empty")
        answers = [client.get(rig.url + f"/n/{i}?q=1").text for i in range(50)]
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
    assert empty.status_code == 204 and empty.content == b""
    assert answers == [f"GET /n/{i}?q=1" for i in range(50)]
    assert len(rig.connections) <= 3  # pooled: not one connection per request (a HEAD's is not reused)
    blue = rig.router.stats.slots["blue"]
    assert blue.requests_total == 52 and blue.errors_total == 0 and blue.in_flight == 0


def test_pipelined_requests_are_answered_in_order(rig: Rig) -> None:
    answer = raw_exchange(
        rig.router.port,
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.9\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert answer.count(b"HTTP/1.1 200") == 2
    assert answer.index(b"GET /first") < answer.index(b"GET /second")
    assert b"X-Seen-For: 10.0.0.9, 127.0.0.1" in answer


def test_an_http_1_0_client_gets_its_answer_and_the_connection_closes(rig: Rig) -> None:
    answer = raw_exchange(rig.router.port, b"GET /old HTTP/1.0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head and body == b"GET /old"


def test_a_slot_with_no_instance_answers_503_counted_against_it(rig: Rig) -> None:
    done = threading.Event()

    def split() -> None:
        rig.router.set_weights({"blue": 0, "green": 100})
        done.set()

    rig.call(split)
    done.wait(TIMEOUT)
    with httpx2.Client(timeout=TIMEOUT) as client:
        response = client.get(rig.url + "/")
    assert response.status_code == 503 and "no green instance is serving" in response.text
    green = rig.router.stats.slots["green"]
    assert green.requests_total == 1 and green.errors_total == 1


def test_a_request_head_over_the_limit_is_refused_not_buffered(rig: Rig) -> None:
    answer = raw_exchange(rig.router.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    assert rig.router.stats.slots["blue"].errors_total == 0  # the client's fault, not the slot's


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.router.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"GET /half")
