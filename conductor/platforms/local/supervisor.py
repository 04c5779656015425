"""The process supervisor: starts, adopts, watches, restarts and stops every instance.

It knows processes and slots, not traffic: the runtime asks it for a slot's live instance URLs and
is told (``on_change``) whenever that set changes, e.g. when an instance crashes and is removed
from the router, or comes back after a restart. A monitor thread polls every instance a few times
a second: an exit nobody asked for is a crash, reported with the exit status and the log tail,
then handled by the restart policy (on-failure / always / never, with a cap and a backoff).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conductor.errors import ConductorError, NotReadyError, PlatformError
from conductor.platforms.base import SLOTS, InstanceState, Slot, SlotState
from conductor.platforms.local.process import (
    InstanceProcess,
    free_port,
    log_tail,
    port_is_free,
    spawn,
    start_time,
    wait_ready,
)
from conductor.platforms.local.settings import LocalSettings, render_argv

MONITOR_INTERVAL = 0.1


@dataclass
class Instance:
    service: str
    slot: Slot
    index: int
    version: str
    process: InstanceProcess
    ready: bool = True
    crashed: bool = False
    restarts: int = 0
    detail: str = ""
    stopping: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    def state(self) -> InstanceState:
        return InstanceState(self.index, self.version, self.ready and not self.crashed, self.crashed, self.detail)

    def record(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "version": self.version,
            "port": self.process.port,
            "pid": self.process.pid,
            "started": self.process.started,
            "log": str(self.process.log_path),
            "restarts": self.restarts,
        }


@dataclass
class SlotGroup:
    version: str | None = None
    instances: list[Instance] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        settings: LocalSettings,
        home: Path,
        log_root: Path,
        project_dir: Path,
        on_change: Callable[[str], None],
        on_event: Callable[[str, str, dict[str, Any]], None],
    ) -> None:
        self.settings = settings
        self.home = home
        self.log_root = log_root
        self.project_dir = project_dir
        self.groups: dict[str, dict[Slot, SlotGroup]] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._on_change = on_change
        self._on_event = on_event
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="local-instances")

    # -- bookkeeping -----------------------------------------------------------------------------

    def lock(self, service: str) -> threading.RLock:
        return self._locks.setdefault(service, threading.RLock())

    def group(self, service: str, slot: Slot) -> SlotGroup:
        slots = self.groups.setdefault(service, {s: SlotGroup() for s in SLOTS})
        return slots[slot]

    def slot_state(self, service: str, slot: Slot) -> SlotState:
        group = self.group(service, slot)
        return SlotState(slot, group.version, tuple(i.state() for i in group.instances))

    def live_urls(self, service: str, slot: Slot) -> list[str]:
        return [i.url for i in self.group(service, slot).instances if i.ready and not i.crashed]

    def records(self, service: str) -> dict[str, Any]:
        return {
            slot: {"version": g.version, "instances": [i.record() for i in g.instances]}
            for slot, g in ((s, self.group(service, s)) for s in SLOTS)
        }

    # -- starting --------------------------------------------------------------------------------

    def _spawn(self, service: str, slot: Slot, index: int, version: str) -> InstanceProcess:
        spec = self.settings.service(service)
        port = free_port()
        argv, env = render_argv(spec, service, version, slot, index, port)
        cwd = Path(spec.cwd) if spec.cwd else self.project_dir
        if not cwd.is_absolute():
            cwd = self.project_dir / cwd
        log_path = self.log_root / service / version / f"{slot}-{index}.log"
        return spawn(argv, env, cwd, log_path, self.home, port)

    def start_instance(self, service: str, slot: Slot, index: int, version: str) -> Instance:
        """Spawn one instance and wait until its health path answers 2xx; stop it on failure.

        The port is free when chosen, but another process (any outgoing connection, even) may take it
        before the instance binds it: an instance that exits while its port is taken by someone else
        is started once more, on another port.
        """
        spec = self.settings.service(service)
        for attempt in range(2):
            process = self._spawn(service, slot, index, version)
            try:
                what = f"{service} {version} instance {index}"
                wait_ready(process, spec.health_path, spec.readiness_timeout, what, abort=self._stop)
            except NotReadyError:
                process.stop(self.settings.stop_timeout)
                if attempt == 0 and not port_is_free(process.port):
                    continue
                raise
            except BaseException:
                process.stop(self.settings.stop_timeout)
                raise
            return Instance(service, slot, index, version, process)
        raise AssertionError("unreachable")

    def start_many(self, service: str, slot: Slot, version: str, indexes: list[int]) -> list[Instance]:
        """Start instances in parallel; all or nothing (the started ones are stopped on a failure)."""
        futures = [self._pool.submit(self.start_instance, service, slot, i, version) for i in indexes]
        started: list[Instance] = []
        errors: list[BaseException] = []
        for future in futures:
            try:
                started.append(future.result())
            except BaseException as exc:
                errors.append(exc)
        if errors:
            self.stop_instances(started)
            raise errors[0]
        return started

    def adopt(self, service: str, slot: Slot, record: dict[str, Any]) -> Instance | None:
        """Take over an instance a previous control process started, if it is the same, healthy process."""
        process = InstanceProcess(
            pid=int(record["pid"]),
            started=int(record["started"]),
            port=int(record["port"]),
            log_path=Path(record["log"]),
        )
        if not process.alive():
            return None
        spec = self.settings.service(service)
        try:
            wait_ready(
                process, spec.health_path, min(spec.readiness_timeout, 5.0), f"{service} adopted instance", self._stop
            )
        except PlatformError:
            process.stop(self.settings.stop_timeout)
            return None
        return Instance(
            service,
            slot,
            int(record["index"]),
            str(record["version"]),
            process,
            restarts=int(record.get("restarts", 0)),
        )

    @staticmethod
    def kill_recorded(record: dict[str, Any], timeout: float) -> None:
        """Stop a recorded process if (and only if) it is still that very process."""
        process = InstanceProcess(int(record["pid"]), int(record["started"]), int(record["port"]), Path(record["log"]))
        if start_time(process.pid) == process.started:
            process.stop(timeout)

    # -- stopping --------------------------------------------------------------------------------

    def stop_instances(self, instances: list[Instance]) -> None:
        for instance in instances:
            instance.stopping = True
        try:
            list(self._pool.map(lambda i: i.process.stop(self.settings.stop_timeout), instances))
        except RuntimeError:  # the pool is shut down (we are closing): one after the other, then
            for instance in instances:
                instance.process.stop(self.settings.stop_timeout)

    def stop_all(self) -> None:
        everything = [i for slots in self.groups.values() for g in slots.values() for i in g.instances]
        self.stop_instances(everything)

    # -- crash detection and restarts ------------------------------------------------------------

    def start_monitor(self) -> None:
        self._monitor = threading.Thread(target=self._watch, name="local-monitor", daemon=True)
        self._monitor.start()

    def close(self) -> None:
        """Stop watching, then stop every instance (callers drain the routers first).

        Instances still starting (a deploy, a replacement, a restart) stop waiting for readiness
        and are stopped by whoever started them; taking every service's lock first waits for that,
        so no deploy can add instances after this has stopped them all.
        """
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=2)
        with contextlib.ExitStack() as held:
            for lock in list(self._locks.values()):
                held.enter_context(lock)
            self.stop_all()
        self._pool.shutdown(wait=True, cancel_futures=True)  # restarts in progress end promptly

    def _watch(self) -> None:
        while not self._stop.wait(MONITOR_INTERVAL):
            for _service, slots in list(self.groups.items()):
                for group in list(slots.values()):
                    for instance in list(group.instances):
                        if not instance.stopping and not instance.crashed and not instance.process.alive():
                            self._crashed(instance)

    def _crashed(self, instance: Instance) -> None:
        """Report an exit nobody asked for, take the instance out of the router, apply the policy."""
        how = instance.process.exit_description()
        policy = self.settings.restart
        clean_exit = how == "exited with code 0"
        wanted = policy.mode == "always" or (policy.mode == "on-failure" and not clean_exit)
        restart = wanted and instance.restarts < policy.max_restarts
        then = f"restarting in {policy.backoff:g}s" if restart else "not restarted (restart policy)"
        instance.detail = f"crashed: {how}; {then}"  # complete before anyone can see crashed=True
        instance.crashed = True
        self._on_event(
            "instance_crashed",
            instance.service,
            {
                "slot": instance.slot,
                "index": instance.index,
                "version": instance.version,
                "how": how,
                "log_tail": log_tail(instance.process.log_path, lines=5),
            },
        )
        self._on_change(instance.service)
        if restart:
            self._pool.submit(self._restart, instance, how)

    def _restart(self, instance: Instance, how: str) -> None:
        if self._stop.wait(self.settings.restart.backoff):
            return
        group = self.group(instance.service, instance.slot)
        if instance.stopping or instance not in group.instances:
            return
        process: InstanceProcess | None = None
        try:
            process = self._spawn(instance.service, instance.slot, instance.index, instance.version)
            spec = self.settings.service(instance.service)
            wait_ready(
                process,
                spec.health_path,
                spec.readiness_timeout,
                f"{instance.service} {instance.version} instance {instance.index}",
                abort=self._stop,
            )
        except ConductorError as exc:  # not ready in time, or its argv cannot run (any more)
            if process is not None:
                process.stop(self.settings.stop_timeout)  # one that hangs must not live on unowned
            instance.restarts += 1
            instance.detail = f"crashed: {how}; restart {instance.restarts} failed: {str(exc).splitlines()[0]}"
            self._on_event(
                "instance_restart_failed",
                instance.service,
                {"slot": instance.slot, "index": instance.index, "error": str(exc)},
            )
            self._on_change(instance.service)
            if instance.restarts < self.settings.restart.max_restarts and not self._stop.is_set():
                self._pool.submit(self._restart, instance, how)
            return
        with self.lock(instance.service):
            if instance.stopping or instance not in group.instances:
                process.stop(self.settings.stop_timeout)
                return
            instance.process = process
            instance.restarts += 1
            instance.crashed = False
            instance.ready = True
            instance.detail = f"restarted {instance.restarts} time(s); last: {how}"
        self._on_event(
            "instance_restarted",
            instance.service,
            {"slot": instance.slot, "index": instance.index, "restarts": instance.restarts},
        )
        self._on_change(instance.service)
