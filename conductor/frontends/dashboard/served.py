"""The dashboard on a real socket: in the CLI's event loop (``conductor dashboard``), or in a
thread of its own for tests and benchmarks (:meth:`Served.start` / :meth:`Served.stop`)."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from conductor.frontends.dashboard.server import Dashboard


class Served:
    """The dashboard on a real socket in a thread of its own (the CLI runs it in the main thread
    with :meth:`serve_forever`; tests start and stop it around their requests)."""

    def __init__(self, dashboard: Dashboard, host: str = "127.0.0.1", port: int = 0) -> None:
        self.dashboard, self.host, self.port = dashboard, host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._prewarm: asyncio.Future[None] | None = None

    async def start_async(self) -> None:
        self._runner = web.AppRunner(self.dashboard.app(), shutdown_timeout=0.25, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.dashboard.port = int(self._runner.addresses[0][1])
        self.dashboard.bound_host = self.host
        self._prewarm = asyncio.get_running_loop().run_in_executor(None, self.dashboard.prewarm)

    async def stop_async(self) -> None:
        if self._prewarm is not None:
            await asyncio.gather(self._prewarm, return_exceptions=True)  # a prewarm error shows on the page
        if self._runner is not None:
            await self._runner.cleanup()

    def start(self) -> Served:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            try:
                await self.start_async()
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            await self._stopping.wait()
            await self.stop_async()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="dashboard", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving (asyncio.run ends whatever stream is still open) and wait for the thread."""
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)
