"""The local platform as seen from any command: a Platform over the control process's HTTP API.

``conductor orchestrate`` (and the watchdog, the REPL, ``conductor down``) never touch instance
processes themselves: they ask the control process started by ``conductor up``. The client reads
the API port and the token from ``.mothership/local/`` on every call, so a control process that
was restarted in the meantime is found again without restarting the command. Errors keep their
class across the wire (NotReadyError stays NotReadyError), so callers handle them as if local.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import httpx2

from conductor.errors import ConfigError, NotReadyError, PlatformError, UsageError
from conductor.metrics.router import RouterWindow
from conductor.platforms.base import InstanceState, ServiceSnapshot, Slot, SlotState
from conductor.redact import register as register_secret

NOT_RUNNING = "the local platform is not running in {dir} (start it with `conductor up`, or `conductor up --detach`)"
_ERRORS: dict[str, type[Exception]] = {
    "NotReadyError": NotReadyError,
    "ConfigError": ConfigError,
    "UsageError": UsageError,
}


def instance_from_dict(data: Mapping[str, Any]) -> InstanceState:
    return InstanceState(
        index=int(data["index"]),
        version=str(data["version"]),
        ready=bool(data["ready"]),
        crashed=bool(data.get("crashed", False)),
        detail=str(data.get("detail", "")),
    )


def slot_from_dict(data: Mapping[str, Any]) -> SlotState:
    return SlotState(
        slot=cast(Slot, data["slot"]),
        version=data.get("version"),
        instances=tuple(instance_from_dict(i) for i in data.get("instances", [])),
    )


class ControlClient:
    """Authenticated JSON calls to the control API found under ``state_dir/local``.

    ``transport`` is for tests (an ``httpx2.MockTransport``); by default, real loopback HTTP.
    """

    def __init__(self, state_dir: Path, transport: httpx2.BaseTransport | None = None) -> None:
        self.home = state_dir / "local"
        self._transport = transport
        self._client: httpx2.Client | None = None
        self._client_key: tuple[int, str] | None = None

    def info(self) -> dict[str, Any]:
        """control.json of the running control process; PlatformError if there is none."""
        try:
            info: dict[str, Any] = json.loads((self.home / "control.json").read_text(encoding="utf-8"))
            return info
        except (OSError, json.JSONDecodeError):
            raise PlatformError(NOT_RUNNING.format(dir=self.home.parent.parent)) from None

    def _http(self) -> httpx2.Client:
        info = self.info()
        try:
            token = (self.home / "token").read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PlatformError(f"cannot read the control token {self.home / 'token'}: {exc.strerror}") from None
        register_secret(token)  # never shown or journaled, whatever error quotes it
        key = (int(info["port"]), token)
        if self._client is None or self._client_key != key:
            if self._client is not None:
                self._client.close()
            self._client = httpx2.Client(
                base_url=f"http://127.0.0.1:{key[0]}",
                headers={"Authorization": f"Bearer {token}"},
                transport=self._transport,
                timeout=httpx2.Timeout(30.0, read=None),
            )
            self._client_key = key
        return self._client

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        client = self._http()
        try:
            response = client.request(method, path, json=body, params=params)
        except httpx2.TransportError as exc:
            raise PlatformError(
                f"{NOT_RUNNING.format(dir=self.home.parent.parent)}; the control API did not answer: {exc}"
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": response.text}
        if response.status_code == 401:
            raise PlatformError(f"the control API refused the token: {payload.get('error', '')}")
        if response.status_code >= 400:
            error_type = _ERRORS.get(str(payload.get("type")), PlatformError)
            raise error_type(str(payload.get("error", f"HTTP {response.status_code}")))
        return payload

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class LocalPlatform:
    """The Platform protocol (and the router's counters) over :class:`ControlClient`.

    >>> platform = LocalPlatform(ControlClient(Path(".mothership")))
    >>> platform.set_weights("api", {"blue": 90, "green": 10})
    {'blue': 90, 'green': 10}
    """

    def __init__(self, client: ControlClient) -> None:
        self.client = client

    def snapshot(self, service: str) -> ServiceSnapshot:
        data = self.client.call("GET", f"/v1/services/{service}/snapshot")
        slots = {cast(Slot, slot): slot_from_dict(value) for slot, value in data["slots"].items()}
        return ServiceSnapshot(
            service=service, slots=slots, weights={cast(Slot, k): int(v) for k, v in data["weights"].items()}
        )

    def deploy(self, service: str, slot: Slot, version: str, replicas: int) -> SlotState:
        body = {"slot": slot, "version": version, "replicas": replicas}
        return slot_from_dict(self.client.call("POST", f"/v1/services/{service}/deploy", body))

    def set_weights(self, service: str, weights: Mapping[Slot, int]) -> dict[Slot, int]:
        data = self.client.call("POST", f"/v1/services/{service}/weights", {"weights": dict(weights)})
        return {cast(Slot, k): int(v) for k, v in data["weights"].items()}

    def replace_instance(self, service: str, slot: Slot, index: int, version: str) -> InstanceState:
        body = {"index": index, "version": version}
        return instance_from_dict(self.client.call("POST", f"/v1/services/{service}/slots/{slot}/replace", body))

    def retire(self, service: str, slot: Slot) -> None:
        self.client.call("POST", f"/v1/services/{service}/slots/{slot}/retire", {})

    def probe(self, service: str, slot: Slot, path: str) -> int:
        data = self.client.call("POST", f"/v1/services/{service}/slots/{slot}/probe", {"path": path})
        return int(data["status"])

    def window(self, service: str, slot: Slot, seconds: float) -> RouterWindow:
        data = self.client.call("GET", f"/v1/services/{service}/slots/{slot}/window", params={"seconds": str(seconds)})
        return RouterWindow(**data)

    def events(self, after: int = 0) -> list[dict[str, Any]]:
        """Crashes, restarts, deploys and weight changes the control process recorded."""
        result: list[dict[str, Any]] = self.client.call("GET", "/v1/events", params={"after": str(after)})
        return result

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.client.call("GET", "/v1/status")
        return result

    def close(self) -> None:
        self.client.close()
