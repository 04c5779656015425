"""LocalRuntime: the local platform itself, living in the control process.

It ties the supervisor (processes) to the data planes (traffic, :mod:`.dataplane`) and keeps the
platform's own state file, ``.mothership/local/state.json``: per service the router port, the
applied weights, the data plane process, and per slot the version, replica count and every
instance's pid, start time and port. The file is rewritten
atomically (and fsynced) after every change, *before* the change is reported done, so after a
SIGKILL of the control process the next start knows exactly what ran and what the split was: it
adopts the data planes and instances that are still the same healthy processes, replaces the
others, and puts the split back. Nothing is lost, nothing is duplicated, and no process is left
without an owner. Data planes are processes of their own, so users' traffic flows on with the last
split while the control process is down; one that dies is restarted with the current split.

The control API's server runs on an asyncio event loop in a background thread; the Platform
methods are ordinary blocking calls from any thread (the control API runs them in a thread pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx2

from conductor.config import ConductorConfig
from conductor.errors import ConfigError, PlatformError
from conductor.metrics.router import RouterWindow
from conductor.paths import project_root
from conductor.platforms.base import SLOTS, InstanceState, ServiceSnapshot, Slot, SlotState
from conductor.platforms.local.dataplane import (
    BuiltinDataPlane,
    DataPlane,
    recorded_process,
    remove_socket_dir,
    resolve_kind,
)
from conductor.platforms.local.process import free_port, health_status, stop_untracked
from conductor.platforms.local.settings import LocalSettings
from conductor.platforms.local.stats import RouterCollector, SlotTotals
from conductor.platforms.local.supervisor import Instance, SlotGroup, Supervisor

T = TypeVar("T")


class LocalRuntime:
    """Runs every configured service's instances and drives its data plane (a process of its own).

    >>> runtime = LocalRuntime(config, settings, Path(".mothership"))
    >>> runtime.start()                      # adopt or start the data planes and the instances
    >>> runtime.deploy("api", "green", "v1.1.0", replicas=2)
    >>> runtime.set_weights("api", {"blue": 0, "green": 100})
    >>> runtime.shutdown()                   # drain and stop the data planes, stop every instance
    """

    def __init__(self, config: ConductorConfig, settings: LocalSettings, state_dir: Path) -> None:
        self.config = config
        self.settings = settings
        self.state_dir = state_dir
        self.home = state_dir / "local"
        self.state_path = self.home / "state.json"
        self.collector = RouterCollector(self._totals)
        self.routers: dict[str, DataPlane] = {}
        self.data_plane = ("builtin", "")  # the kind, and why (platform.router, and what is installed)
        self.events: deque[dict[str, Any]] = deque(maxlen=1000)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # e.g. print crashes in `conductor up`
        self._event_seq = 0
        self._save_lock = threading.Lock()
        self._state: dict[str, Any] = {"services": {}}
        self.supervisor = Supervisor(
            settings, self.home, state_dir / "logs", project_root(state_dir), self._changed, self._event
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-control-api", daemon=True)
        self._started = False
        self._restored: set[str] = set()  # services whose records now describe live processes
        self._planes_stop = threading.Event()
        self._planes_watch: threading.Thread | None = None

    # -- plumbing ----------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _event(self, kind: str, service: str, data: dict[str, Any]) -> None:
        self._event_seq += 1
        event = {"seq": self._event_seq, "at": time.time(), "kind": kind, "service": service, **data}
        self.events.append(event)
        for listener in list(self.listeners):
            listener(event)

    def _changed(self, service: str) -> None:
        """The supervisor changed a slot's live instances: tell the data plane, then persist."""
        router = self.routers.get(service)
        if router is not None:
            try:
                for slot in SLOTS:
                    router.set_backends(slot, self.supervisor.live_urls(service, slot))
            except PlatformError as exc:  # it died: the data plane watch restarts it with the current instances
                self._event("data_plane_unreachable", service, {"error": str(exc)})
        self.save()

    def _router(self, service: str) -> DataPlane:
        try:
            return self.routers[service]
        except KeyError:
            raise PlatformError(f"the local platform runs no service {service!r}") from None

    def save(self) -> None:
        """Write the state file atomically and durably (tmp + fsync + rename)."""
        with self._save_lock:
            services = self._state.setdefault("services", {})
            for name, router in self.routers.items():
                if name not in self._restored:
                    continue  # its records still name the previous processes: keep them until adopted
                record = services.setdefault(name, {})
                record["routerPort"] = router.port
                record["weights"] = router.weights
                record["dataPlane"] = router.record()
                slots = self.supervisor.records(name)
                for slot in SLOTS:
                    slots[slot]["replicas"] = len(slots[slot]["instances"])
                record["slots"] = slots
            self.home.mkdir(parents=True, exist_ok=True)
            tmp = self.state_path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(self._state, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_path)

    def _load(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
            return state
        except FileNotFoundError:
            return {"services": {}}
        except (OSError, json.JSONDecodeError) as exc:
            raise PlatformError(f"local platform state {self.state_path} is unreadable: {exc}") from exc

    # -- start and stop ----------------------------------------------------------------------------

    def start(self) -> None:
        """Adopt or start the data planes, then adopt, replace or start every service's instances, and restore
        the split (an adopted data plane's own split: it is what has been serving)."""
        services = self.config.orchestration.services
        missing = [s for s in services if s not in self.settings.services]
        if missing:
            raise ConfigError(
                f"platform.services: no command for {', '.join(missing)} (the local platform needs "
                f"platform.services.<name>.command for every service in orchestration.services)"
            )
        self._state = self._load()
        previous: dict[str, Any] = copy.deepcopy(self._state.get("services", {}))  # save() rewrites _state
        kind, why = resolve_kind(self.settings.router, "router" not in self.settings.model_fields_set)
        self.data_plane = (kind, why)
        self._thread.start()
        self._started = True
        try:
            for name in services:
                port = self.settings.services[name].router_port or previous.get(name, {}).get("routerPort")
                plane = self._make_plane(kind, name, int(port or free_port()))
                adopted = plane.open(previous.get(name, {}).get("dataPlane"))
                self.routers[name] = plane
                self._event("data_plane", name, {"data_plane": plane.describe(), "why": why, "adopted": adopted})
        except BaseException:
            for plane in self.routers.values():  # an adopted one keeps serving: the next start adopts it again
                if not plane.adopted:
                    plane.stop(5.0)
            self.routers.clear()
            self.shutdown(save=False)  # nothing was touched: keep the records for the next start
            raise
        for name, record in previous.items():
            if name not in self.routers:  # a service removed from the config: no orphans
                gone = recorded_process(record.get("dataPlane") or {})
                if gone is not None:
                    gone.stop(self.settings.stop_timeout)
                for slot_record in record.get("slots", {}).values():
                    for inst in slot_record.get("instances", []):
                        Supervisor.kill_recorded(inst, self.settings.stop_timeout)
        for name in services:
            self._restore(name, previous.get(name))
        self._stop_strays()
        self.supervisor.start_monitor()
        self._planes_watch = threading.Thread(target=self._watch_planes, name="local-data-planes", daemon=True)
        self._planes_watch.start()
        self.save()

    def _make_plane(self, kind: str, service: str, port: int) -> DataPlane:
        log_dir = self.state_dir / "logs"
        if kind == "haproxy":
            # deferred: the HAProxy driver loads only when HAProxy is the data plane
            from conductor.platforms.local.haproxy import HAProxyDataPlane

            return HAProxyDataPlane(service, self.settings.router_host, port, self.home, log_dir)
        return BuiltinDataPlane(service, self.settings.router_host, port, self.home, log_dir)

    def _watch_planes(self) -> None:
        """A data plane process that exits on its own is started again, with the current instances and split."""
        while not self._planes_stop.wait(0.2):
            for name, plane in list(self.routers.items()):
                if self._planes_stop.is_set() or plane.alive():
                    continue
                with self.supervisor.lock(name):
                    if self._planes_stop.is_set() or plane.alive():
                        continue
                    how = plane.process.exit_description() if plane.process else "gone"
                    self._event("data_plane_exited", name, {"how": how})
                    backends = {slot: self.supervisor.live_urls(name, slot) for slot in SLOTS}
                    try:
                        plane.restart(backends, plane.weights)
                    except PlatformError as exc:
                        self._event("data_plane_restart_failed", name, {"error": str(exc)})
                        continue
                    self._event("data_plane_restarted", name, {"data_plane": plane.describe()})
                    self.save()

    def _totals(self) -> dict[str, tuple[dict[Slot, int], dict[Slot, SlotTotals]]]:
        found: dict[str, tuple[dict[Slot, int], dict[Slot, SlotTotals]]] = {}
        for name, plane in list(self.routers.items()):
            with contextlib.suppress(PlatformError):
                found[name] = plane.totals()
        return found

    def _stop_strays(self) -> None:
        """Stop instances of this state directory that no record names, e.g. one still starting when the
        previous control process was SIGKILLed: nothing else would ever stop them."""
        known = {
            i.process.pid for slots in self.supervisor.groups.values() for g in slots.values() for i in g.instances
        }
        known |= {plane.process.pid for plane in self.routers.values() if plane.process is not None}
        stopped = stop_untracked(self.home, known, self.settings.stop_timeout)
        if stopped:
            self._event("strays_stopped", "*", {"processes": stopped})

    def _restore(self, service: str, record: dict[str, Any] | None) -> None:
        router = self.routers[service]
        if record is None:
            version = self.settings.services[service].initial_version
            replicas = self.config.spec(service).replicas
            group = self.supervisor.group(service, "blue")
            group.instances = self.supervisor.start_many(service, "blue", version, list(range(replicas)))
            group.version = version
            router.set_weights({"blue": 100, "green": 0})
            self._restored.add(service)
            self._changed(service)
            self._event("service_started", service, {"slot": "blue", "version": version})
            return
        for slot in SLOTS:
            data = record.get("slots", {}).get(slot, {})
            version = data.get("version")
            if version is None:
                continue
            by_index = {int(r["index"]): r for r in data.get("instances", [])}
            replicas = int(data.get("replicas", len(by_index))) or len(by_index)
            instances: list[Instance] = []
            missing: list[int] = []
            for index in range(replicas):
                adopted = self.supervisor.adopt(service, slot, by_index[index]) if index in by_index else None
                if adopted is None:
                    if index in by_index:
                        Supervisor.kill_recorded(by_index[index], self.settings.stop_timeout)
                    missing.append(index)
                else:
                    instances.append(adopted)
            for extra, inst in by_index.items():
                if extra >= replicas:
                    Supervisor.kill_recorded(inst, self.settings.stop_timeout)
            instances += self.supervisor.start_many(service, slot, version, missing) if missing else []
            group = self.supervisor.group(service, slot)
            group.version = version
            group.instances = sorted(instances, key=lambda i: i.index)
            self._event(
                "slot_restored",
                service,
                {
                    "slot": slot,
                    "version": version,
                    "adopted": replicas - len(missing),
                    "started": len(missing),
                },
            )
        weights = router.weights if router.adopted else (record.get("weights") or {"blue": 100, "green": 0})
        self._restored.add(service)
        for slot in SLOTS:  # backends first, then the split, then one save: no moment with a wrong split
            router.set_backends(slot, self.supervisor.live_urls(service, slot))
        router.set_weights({"blue": int(weights.get("blue", 100)), "green": int(weights.get("green", 0))})
        self.save()

    def shutdown(self, save: bool = True) -> None:
        """Stop accepting, let in-flight requests finish, stop every instance. The state keeps versions."""
        if not self._started:
            if not self._thread.is_alive() and not self._loop.is_closed():
                self._loop.close()  # start() failed before running it: a loop left to the GC logs a traceback at exit
            return
        self._started = False
        self._planes_stop.set()
        if self._planes_watch is not None:
            self._planes_watch.join(timeout=5)
        for router in self.routers.values():
            try:
                router.stop(min(self.settings.drain_timeout, 30.0))
            except Exception as exc:
                self._event("router_stop_failed", router.service, {"error": str(exc)})
        remove_socket_dir(self.home)
        self.supervisor.close()
        if save:
            self._save_stopped()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _save_stopped(self) -> None:
        """Keep versions, replica counts and weights for the next start; there are no processes now."""
        with self._save_lock:
            for name, router in self.routers.items():
                if name not in self._restored:
                    continue
                record = self._state.setdefault("services", {}).setdefault(name, {})
                record["routerPort"] = router.port
                record["weights"] = router.weights
                record.pop("dataPlane", None)
                for slot_record in record.get("slots", {}).values():
                    slot_record["instances"] = []
            tmp = self.state_path.with_suffix(".tmp")
            self.home.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._state, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.state_path)

    # -- Platform ----------------------------------------------------------------------------------

    def snapshot(self, service: str) -> ServiceSnapshot:
        router = self._router(service)
        slots = {slot: self.supervisor.slot_state(service, slot) for slot in SLOTS}
        return ServiceSnapshot(service=service, slots=slots, weights=router.weights)

    def deploy(self, service: str, slot: Slot, version: str, replicas: int) -> SlotState:
        router = self._router(service)
        if router.capacity is not None and replicas > router.capacity:
            raise PlatformError(
                f"{service}: the {router.kind} data plane serves at most {router.capacity} instances per slot, "
                f"not {replicas}"
            )
        with self.supervisor.lock(service):
            group = self.supervisor.group(service, slot)
            current = self.supervisor.slot_state(service, slot)
            same = group.version == version and len(group.instances) == replicas
            if same and (current.ready or router.weights[slot] > 0):
                return current  # a crashed instance of a live slot is the supervisor's to restart
            if router.weights[slot] > 0:
                raise PlatformError(
                    f"{service}: slot {slot} carries {router.weights[slot]}% of traffic; refusing to redeploy"
                )
            self._clear_slot(service, slot, group)
            instances = self.supervisor.start_many(service, slot, version, list(range(replicas)))
            group.version = version
            group.instances = instances
            self._changed(service)
            self._event("deployed", service, {"slot": slot, "version": version, "replicas": replicas})
            return self.supervisor.slot_state(service, slot)

    def set_weights(self, service: str, weights: Mapping[Slot, int]) -> dict[Slot, int]:
        router = self._router(service)
        if sorted(weights) != sorted(SLOTS) or sum(weights.values()) != 100 or min(weights.values()) < 0:
            raise PlatformError(f"{service}: weights must name blue and green and sum to 100, got {dict(weights)}")
        with self.supervisor.lock(service):
            for slot in SLOTS:
                if weights[slot] > 0 and not self.supervisor.live_urls(service, slot):
                    raise PlatformError(f"{service}: slot {slot} has no ready instance to take {weights[slot]}%")
            applied = router.set_weights({"blue": int(weights["blue"]), "green": int(weights["green"])})
            self.save()
            self._event("weights", service, {"weights": applied})
            return applied

    def replace_instance(self, service: str, slot: Slot, index: int, version: str) -> InstanceState:
        router = self._router(service)
        with self.supervisor.lock(service):
            group = self.supervisor.group(service, slot)
            if not 0 <= index < len(group.instances):
                raise PlatformError(f"{service}: slot {slot} has no instance {index}")
            old = group.instances[index]
            if old.version == version and old.ready and not old.crashed:
                return old.state()
            new = self.supervisor.start_instance(service, slot, index, version)
            group.instances[index] = new  # the new one takes requests before the old one stops getting them
            if {i.version for i in group.instances} == {version}:
                group.version = version
            self._changed(service)
            router.drain_backend(old.url, self.settings.drain_timeout)
            self.supervisor.stop_instances([old])
            self._event("instance_replaced", service, {"slot": slot, "index": index, "version": version})
            return new.state()

    def retire(self, service: str, slot: Slot) -> None:
        router = self._router(service)
        with self.supervisor.lock(service):
            if router.weights[slot] > 0:
                raise PlatformError(f"{service}: slot {slot} still carries {router.weights[slot]}% of traffic")
            group = self.supervisor.group(service, slot)
            if group.instances or group.version:
                self._clear_slot(service, slot, group)
                self._event("retired", service, {"slot": slot})

    def _clear_slot(self, service: str, slot: Slot, group: SlotGroup) -> None:
        """Drain the slot's in-flight requests, then stop its processes (its weight is already 0)."""
        router = self._router(service)
        router.drain(slot, self.settings.drain_timeout)
        old = group.instances
        group.instances = []
        group.version = None
        self._changed(service)
        self.supervisor.stop_instances(old)
        self.save()

    def probe(self, service: str, slot: Slot, path: str) -> int:
        group = self.supervisor.group(service, slot)
        if not group.instances:
            raise PlatformError(f"{service}: slot {slot} has no instances to probe")
        worst = 200
        with httpx2.Client(timeout=10.0) as client:
            for instance in group.instances:
                status = health_status(client, instance.process.port, path)
                code = status if isinstance(status, int) else 502
                if not 200 <= code < 300:
                    worst = code
        return worst

    def close(self) -> None:
        """In-process callers keep the runtime running; :meth:`shutdown` stops it."""

    # -- counters ----------------------------------------------------------------------------------

    def window(self, service: str, slot: Slot, seconds: float) -> RouterWindow:
        return self._router(service).window(slot, seconds)

    def router_ports(self) -> dict[str, int]:
        return {name: router.port for name, router in self.routers.items()}
