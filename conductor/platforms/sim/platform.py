"""SimPlatform: the Platform and MetricsProvider protocols over a JSON state file and virtual time.

The state file is rewritten atomically after every mutation, so a process killed at any point
leaves the simulated world exactly as the last completed action left it, like a real platform.
Several processes share it (an orchestration, a rollback from another terminal, ``conductor
watch``): every change is a read-modify-write under an exclusive ``flock``, so none is lost.
"""

from __future__ import annotations

import fcntl
import json
import os
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from conductor.clock import VirtualClock
from conductor.config import ConductorConfig
from conductor.errors import NotReadyError, PlatformError
from conductor.faults import write_point
from conductor.metrics.base import MetricsSample
from conductor.metrics.evidence import Histogram, merge_histograms
from conductor.metrics.judge import quantile_ms
from conductor.platforms.base import SLOTS, InstanceState, ServiceSnapshot, Slot, SlotState
from conductor.platforms.sim.noise import draw_window, lognormal_sigma
from conductor.platforms.sim.settings import DEFAULT_BEHAVIOUR, Behaviour, SimSettings


class SimClock(VirtualClock):
    """A virtual clock that saves its time with the simulator, so time carries across processes."""

    def __init__(self, owner: SimPlatform, start: float, time_scale: float) -> None:
        super().__init__(start=start, time_scale=time_scale)
        self._owner = owner

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        with self._owner.transaction(durable=False):
            pass  # reload (time may have moved elsewhere too), then save the later of the two

    def advance_to(self, moment: float) -> None:
        """Time never goes backwards, and another process may have moved it forward."""
        self._now = max(self._now, moment)


class SimPlatform:
    def __init__(self, path: Path, settings: SimSettings, state: dict[str, Any]) -> None:
        self._path = path
        self._settings = settings
        self._state = state
        self._seen_mtime = 0
        self._config: ConductorConfig | None = None  # set by open(): the services to seed
        self.clock = SimClock(self, start=float(state.get("now", 0.0)), time_scale=settings.time_scale)

    @classmethod
    def open(cls, path: Path, settings: SimSettings, config: ConductorConfig) -> SimPlatform:
        """Services the state file does not hold yet start on their initial version, in memory:
        reading (status, a dry run, a refused command) writes nothing; the first change saves them."""
        sim = cls(path, settings, {"now": 0.0, "services": {}})
        sim._config = config
        sim._refresh()
        sim._seed_missing()
        return sim

    def _seed_missing(self) -> None:
        config = self._config
        if config is None:
            return
        for service in config.orchestration.services:
            if service not in self._state["services"]:
                version = self._settings.initial.get(service, self._settings.initial_version)
                self._state["services"][service] = {
                    "weights": {"blue": 100, "green": 0},
                    "slots": {
                        "blue": self._new_slot(version, config.spec(service).replicas),
                        "green": {"version": None, "deployed_at": 0.0, "instances": []},
                    },
                }

    # -- persistence ---------------------------------------------------------------------------

    def save(self, durable: bool = True) -> None:
        self._state["now"] = self.clock.now()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(f".{os.getpid()}.tmp")
        write_point("sim state write")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self._state, handle, indent=1, sort_keys=True)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        write_point("sim state rename")
        os.replace(tmp, self._path)
        write_point("sim state renamed")
        self._seen_mtime = self._path.stat().st_mtime_ns

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[None]:
        """Exclusive read-modify-write of the state file across processes."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._refresh()
            self._seed_missing()
            yield
            self.save(durable=durable)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _refresh(self) -> None:
        """Pick up what another process (``conductor watch``, an approval) wrote since we last looked."""
        try:
            mtime = self._path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._seen_mtime:
            return
        try:
            state = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PlatformError(f"simulator state {self._path} is unreadable: {exc}") from exc
        self._state = state
        self._seen_mtime = mtime
        self.clock.advance_to(float(state.get("now", 0.0)))
        self._seed_missing()  # a service added to the config since the file was written

    def _service(self, service: str) -> dict[str, Any]:
        self._refresh()
        try:
            record: dict[str, Any] = self._state["services"][service]
        except KeyError:
            raise PlatformError(f"simulator has no service {service!r}") from None
        return record

    def _new_slot(self, version: str, replicas: int) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "version": version,
            "deployed_at": now,
            "instances": [{"version": version, "since": now} for _ in range(replicas)],
        }

    # -- behaviour -------------------------------------------------------------------------------

    def behaviour(self, service: str, version: str, at: float) -> Behaviour:
        """Defaults < "v1.2.0" < "api@v1.2.0" < active timeline events, field by field."""
        merged = DEFAULT_BEHAVIOUR.model_dump()
        layers = [self._settings.versions.get(version), self._settings.versions.get(f"{service}@{version}")]
        layers += [e.set for e in self._active_events(service, version, at) if e.set is not None]
        for layer in layers:
            if layer is not None:
                merged.update({k: v for k, v in layer.model_dump().items() if v is not None})
        return Behaviour.model_validate(merged)

    def _active_events(self, service: str, version: str | None, at: float) -> list[Any]:
        targets = {"*", service, f"{service}@{version}", str(version)}
        return [
            e
            for e in self._settings.timeline
            if e.at <= at and (e.until is None or at < e.until) and e.target in targets
        ]

    def _crashed(self, service: str, instance: Mapping[str, Any], at: float) -> bool:
        crash_after = self.behaviour(service, instance["version"], at).crash_after
        return crash_after is not None and at - float(instance["since"]) >= crash_after

    # -- Platform --------------------------------------------------------------------------------

    def snapshot(self, service: str) -> ServiceSnapshot:
        record = self._service(service)
        now = self.clock.now()
        slots: dict[Slot, SlotState] = {}
        for slot in SLOTS:
            data = record["slots"][slot]
            instances = tuple(
                InstanceState(
                    index=i,
                    version=inst["version"],
                    ready=True,
                    crashed=self._crashed(service, inst, now),
                    detail="crashed (simulated)" if self._crashed(service, inst, now) else "",
                )
                for i, inst in enumerate(data["instances"])
            )
            slots[slot] = SlotState(slot=slot, version=data["version"], instances=instances)
        return ServiceSnapshot(service=service, slots=slots, weights=dict(record["weights"]))

    def deploy(self, service: str, slot: Slot, version: str, replicas: int) -> SlotState:
        record = self._service(service)
        current = record["slots"][slot]
        if current["version"] == version and len(current["instances"]) == replicas:
            return self.snapshot(service).slots[slot]
        if record["weights"][slot] > 0:
            raise PlatformError(f"{service}: slot {slot} carries traffic; refusing to redeploy it")
        behaviour = self.behaviour(service, version, self.clock.now())
        if behaviour.never_ready:
            self.clock.sleep(self._settings.readiness_timeout)
            raise NotReadyError(
                f"{service} {version} was not ready after {self._settings.readiness_timeout:g}s; log tail: "
                f"'listen tcp :8080: bind: address already in use' (simulated)"
            )
        self.clock.sleep(behaviour.ready_seconds or 0.0)
        with self.transaction():
            self._service(service)["slots"][slot] = self._new_slot(version, replicas)
        return self.snapshot(service).slots[slot]

    def set_weights(self, service: str, weights: Mapping[Slot, int]) -> dict[Slot, int]:
        if sorted(weights) != sorted(SLOTS) or sum(weights.values()) != 100:
            raise PlatformError(f"{service}: weights must name blue and green and sum to 100, got {dict(weights)}")
        with self.transaction():
            record = self._service(service)
            for slot, weight in weights.items():
                if weight > 0 and not record["slots"][slot]["instances"]:
                    raise PlatformError(f"{service}: slot {slot} has no instances to take {weight}% of traffic")
            record["weights"] = {slot: int(weights[slot]) for slot in SLOTS}
        return dict(self._service(service)["weights"])

    def replace_instance(self, service: str, slot: Slot, index: int, version: str) -> InstanceState:
        record = self._service(service)
        instances = record["slots"][slot]["instances"]
        if not 0 <= index < len(instances):
            raise PlatformError(f"{service}: slot {slot} has no instance {index}")
        if instances[index]["version"] != version:
            behaviour = self.behaviour(service, version, self.clock.now())
            if behaviour.never_ready:
                self.clock.sleep(self._settings.readiness_timeout)
                raise NotReadyError(f"{service} {version} instance {index} never became ready (simulated)")
            self.clock.sleep(behaviour.ready_seconds or 0.0)
            with self.transaction():
                data = self._service(service)["slots"][slot]
                data["instances"][index] = {"version": version, "since": self.clock.now()}
                if {inst["version"] for inst in data["instances"]} == {version}:
                    data["version"] = version
        return self.snapshot(service).slots[slot].instances[index]

    def retire(self, service: str, slot: Slot) -> None:
        with self.transaction():
            record = self._service(service)
            if record["weights"][slot] > 0:
                raise PlatformError(f"{service}: slot {slot} still carries {record['weights'][slot]}% of traffic")
            record["slots"][slot] = {"version": None, "deployed_at": self.clock.now(), "instances": []}

    def probe(self, service: str, slot: Slot, path: str) -> int:
        data = self._service(service)["slots"][slot]
        if not data["instances"]:
            raise PlatformError(f"{service}: slot {slot} has no instances to probe")
        now = self.clock.now()
        if any(self._crashed(service, inst, now) for inst in data["instances"]):
            return 502
        return self.behaviour(service, data["version"], now).smoke_status or 200

    def close(self) -> None:
        """Nothing to release: every change was saved by its transaction."""

    # -- MetricsProvider -------------------------------------------------------------------------

    def sample(self, service: str, slot: Slot, window_seconds: float) -> MetricsSample:
        now = self.clock.now()
        record = self._service(service)
        data = record["slots"][slot]
        if any(e.metrics_outage for e in self._active_events(service, data["version"], now)):
            return MetricsSample(
                service, slot, window_seconds, available=False, error="metrics backend unreachable (simulated outage)"
            )
        weight = record["weights"][slot]
        if not data["instances"] or weight <= 0 or window_seconds <= 0:
            return MetricsSample(service, slot, window_seconds)
        # One fresh, deterministic draw per (slot, moment): see platforms/sim/noise.py.
        rng = np.random.default_rng(zlib.crc32(f"{self._settings.seed}:{service}:{slot}:{now:.3f}".encode()))
        rate = self._settings.request_rate * weight / 100.0 / len(data["instances"])
        requests = errors = 0
        histogram: Histogram = ()
        for inst in data["instances"]:
            behaviour = self.behaviour(service, inst["version"], now)
            if self._crashed(service, inst, now):  # connection refused: fast, and every request fails
                n, _, latency = draw_window(rng, rate, window_seconds, 1.0, 1.0, 0.1)
                requests, errors, histogram = requests + n, errors + n, merge_histograms(histogram, latency)
                continue
            growth = 1 + (behaviour.latency_growth_per_minute or 0.0) / 100.0 * max(0.0, now - inst["since"]) / 60
            median = (behaviour.latency_ms or 90.0) * growth
            p95 = (behaviour.p95_ms or median * 1.6) * (growth if behaviour.p95_ms else 1)
            n, bad, latency = draw_window(rng, rate, window_seconds, (behaviour.error_rate or 0.0) / 100.0, median,
                                          lognormal_sigma(median, p95))
            requests, errors, histogram = requests + n, errors + bad, merge_histograms(histogram, latency)
        p50, p95_ms, p99 = (quantile_ms(histogram, q) for q in (0.50, 0.95, 0.99))
        return MetricsSample(
            service=service,
            slot=slot,
            window_seconds=window_seconds,
            requests=requests,
            errors=errors,
            p50_ms=round(p50, 1) if p50 is not None else None,
            p95_ms=round(p95_ms, 1) if p95_ms is not None else None,
            p99_ms=round(p99, 1) if p99 is not None else None,
            active_connections=int(self._settings.request_rate * weight / 100.0 * 0.12 * 10),
            latency_buckets=histogram,
        )
