"""The control process: the local platform's runtime behind a loopback-only, token-protected HTTP API.

``conductor up`` runs :func:`serve`; every other command (orchestrate, watch, down, demo) reaches
the running services through :mod:`conductor.platforms.local.client`. Why an HTTP API and not a
library call: the processes and data planes must outlive any one command, and several commands may
act at once. Why a token: any local user can connect to a loopback port; only someone who can
read ``.mothership/local/token`` (mode 0600, renewed at every start) may act. Why a lock file:
two control processes for the same directory would fight over the same instances; ``flock`` is
released by the kernel even after a SIGKILL, so a crashed control process never blocks the next.

Files under ``.mothership/local/``: ``token``, ``control.json`` (pid, API and admin ports,
router ports), ``control.pid``, ``control.lock`` and the runtime's ``state.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hmac
import json
import os
import secrets
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar, cast

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from conductor.config import ConductorConfig
from conductor.errors import EXIT_USAGE, ConductorError, ConfigError, PlatformError
from conductor.platforms.base import SLOTS, ServiceSnapshot, Slot
from conductor.platforms.local.process import start_time
from conductor.platforms.local.runtime import LocalRuntime
from conductor.platforms.local.settings import LocalSettings

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def local_home(state_dir: Path) -> Path:
    return state_dir / "local"


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only, from the first byte (no window at 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def snapshot_to_dict(snapshot: ServiceSnapshot) -> dict[str, Any]:
    return {
        "service": snapshot.service,
        "weights": dict(snapshot.weights),
        "slots": {
            slot: {
                "slot": state.slot,
                "version": state.version,
                "instances": [asdict(i) for i in state.instances],
            }
            for slot, state in snapshot.slots.items()
        },
    }


class ControlServer:
    """The API (``/v1/...``, token required) and the admin server (``/metrics``, for Prometheus)."""

    def __init__(self, runtime: LocalRuntime, token: str, stop: threading.Event) -> None:
        self.runtime = runtime
        self.token = token
        self.stop = stop
        self.port = 0
        self.admin_port = 0
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="local-control")
        self._runners: list[web.AppRunner] = []
        self._registry = CollectorRegistry(auto_describe=True)
        self._registry.register(runtime.collector)

    async def start(self, port: int, admin_port: int, admin_host: str) -> None:
        api = web.Application(middlewares=[self._authenticate, self._errors])
        s = "/v1/services/{service}"
        api.router.add_get("/v1/status", self._status)
        api.router.add_get("/v1/events", self._events)
        api.router.add_post("/v1/shutdown", self._shutdown)
        api.router.add_get(s + "/snapshot", self._snapshot)
        api.router.add_post(s + "/deploy", self._deploy)
        api.router.add_post(s + "/weights", self._weights)
        api.router.add_post(s + "/slots/{slot}/replace", self._replace)
        api.router.add_post(s + "/slots/{slot}/retire", self._retire)
        api.router.add_post(s + "/slots/{slot}/probe", self._probe)
        api.router.add_get(s + "/slots/{slot}/window", self._window)
        admin = web.Application()
        admin.router.add_get("/metrics", self._metrics)
        self.port = await self._listen(api, "127.0.0.1", port, "control API")
        self.admin_port = await self._listen(admin, admin_host, admin_port, "admin (/metrics)")

    async def _listen(self, app: web.Application, host: str, port: int, what: str) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise PlatformError(f"{what}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._runners.append(runner)
        server = cast(asyncio.Server, site._server)  # the port the kernel chose when port=0
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._pool.shutdown(wait=False)

    # -- middleware ----------------------------------------------------------------------------------

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {self.token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.json_response(
                {
                    "error": "missing or wrong token (read it from .mothership/local/token)",
                    "type": "Unauthorized",
                },
                status=401,
            )
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConductorError as exc:
            status = 400 if isinstance(exc, ConfigError) else 409
            return web.json_response({"error": str(exc), "type": type(exc).__name__}, status=status)
        except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            return web.json_response({"error": f"bad request: {exc}", "type": "UsageError"}, status=400)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    # -- handlers ------------------------------------------------------------------------------------

    @staticmethod
    def _slot(request: web.Request, value: object = None) -> Slot:
        slot = request.match_info["slot"] if value is None else value
        for known in SLOTS:
            if slot == known:
                return known
        raise ValueError(f"slot must be blue or green, not {slot!r}")

    async def _status(self, request: web.Request) -> web.Response:
        services = {name: snapshot_to_dict(self.runtime.snapshot(name)) for name in self.runtime.routers}
        return web.json_response(
            {
                "pid": os.getpid(),
                "port": self.port,
                "adminPort": self.admin_port,
                "routers": self.runtime.router_ports(),
                "dataPlane": {"kind": self.runtime.data_plane[0], "why": self.runtime.data_plane[1]},
                "services": services,
            }
        )

    async def _events(self, request: web.Request) -> web.Response:
        after = int(request.query.get("after", "0"))
        return web.json_response([e for e in list(self.runtime.events) if e["seq"] > after])

    async def _shutdown(self, request: web.Request) -> web.Response:
        self.stop.set()
        return web.json_response({"stopping": True})

    async def _snapshot(self, request: web.Request) -> web.Response:
        snapshot = await self._call(self.runtime.snapshot, request.match_info["service"])
        return web.json_response(snapshot_to_dict(snapshot))

    async def _deploy(self, request: web.Request) -> web.Response:
        body = await request.json()
        slot = self._slot(request, body["slot"])
        state = await self._call(
            self.runtime.deploy,
            request.match_info["service"],
            slot,
            str(body["version"]),
            int(body["replicas"]),
        )
        return web.json_response(
            {"slot": state.slot, "version": state.version, "instances": [asdict(i) for i in state.instances]}
        )

    async def _weights(self, request: web.Request) -> web.Response:
        body = await request.json()
        weights = {cast(Slot, k): int(v) for k, v in body["weights"].items()}
        applied = await self._call(self.runtime.set_weights, request.match_info["service"], weights)
        return web.json_response({"weights": applied})

    async def _replace(self, request: web.Request) -> web.Response:
        body = await request.json()
        state = await self._call(
            self.runtime.replace_instance,
            request.match_info["service"],
            self._slot(request),
            int(body["index"]),
            str(body["version"]),
        )
        return web.json_response(asdict(state))

    async def _retire(self, request: web.Request) -> web.Response:
        await self._call(self.runtime.retire, request.match_info["service"], self._slot(request))
        return web.json_response({"retired": True})

    async def _probe(self, request: web.Request) -> web.Response:
        body = await request.json()
        status = await self._call(
            self.runtime.probe, request.match_info["service"], self._slot(request), str(body["path"])
        )
        return web.json_response({"status": status})

    async def _window(self, request: web.Request) -> web.Response:
        seconds = float(request.query.get("seconds", "10"))
        window = self.runtime.window(request.match_info["service"], self._slot(request), seconds)
        return web.json_response(asdict(window))

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class ControlHeldError(PlatformError):
    """Another control process holds this state directory: nothing was started (exit 2, as for a
    held service lock); ``up --detach`` reports the running one instead."""

    exit_code = EXIT_USAGE


class ControlLock:
    """An exclusive flock on ``control.lock``: one control process per state directory."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise ControlHeldError(
                f"the local platform is already running for {path.parent.parent} "
                f"(see {path.parent / 'control.json'}; stop it with `conductor down`)"
            ) from None

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def serve(
    config: ConductorConfig,
    settings: LocalSettings,
    state_dir: Path,
    stop: threading.Event,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    on_running: Callable[[LocalRuntime], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Run the control process until ``stop`` is set, then drain and stop everything.

    ``on_running`` is called (in this thread) once the API answers, e.g. to start a watchdog;
    it must return, and should itself watch ``stop``. ``on_event`` sees every platform event
    (deploys, weight changes, crashes, restarts) as it happens, from any thread.
    """
    home = local_home(state_dir)
    lock = ControlLock(home / "control.lock")
    runtime = LocalRuntime(config, settings, state_dir)
    if on_event is not None:
        runtime.listeners.append(on_event)
    control: ControlServer | None = None
    try:
        runtime.start()
        token = secrets.token_urlsafe(32)
        write_secret(home / "token", token)
        control = ControlServer(runtime, token, stop)
        runtime.run(control.start(settings.control_port or 0, settings.admin_port or 0, settings.router_host))
        info = {
            "pid": os.getpid(),
            "started": start_time(os.getpid()),
            "port": control.port,
            "adminPort": control.admin_port,
            "routers": runtime.router_ports(),
            "dataPlane": {"kind": runtime.data_plane[0], "why": runtime.data_plane[1]},
        }
        (home / "control.pid").write_text(f"{os.getpid()}\n", encoding="utf-8")
        tmp = home / "control.json.tmp"
        tmp.write_text(json.dumps(info, indent=1), encoding="utf-8")
        os.replace(tmp, home / "control.json")
        if on_ready is not None:
            on_ready(info)
        if on_running is not None:
            on_running(runtime)
        stop.wait()
    finally:
        for name in ("control.json", "control.pid"):
            with contextlib.suppress(FileNotFoundError):
                (home / name).unlink()
        if control is not None:
            with contextlib.suppress(Exception):
                runtime.run(control.close(), timeout=10)
        runtime.shutdown()
        lock.release()
