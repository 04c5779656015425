"""Settings of the ``local`` platform: how to run each service as real processes on this machine.

Example ``platform`` block of ``.mothership/config.json``::

    "platform": {
      "kind": "local",
      "services": {
        "api": {
          "command": ["python3", "app.py", "--version", "{version}"],
          "env": {"LOG_LEVEL": "info"},
          "healthPath": "/healthz",
          "routerPort": 8080,
          "versions": {"v1.2.0": {"args": ["--feature-x"]}}
        }
      },
      "adminPort": 9100
    }

The command is an argv list, never a shell string: nothing in it is interpreted by a shell, and
only the placeholders ``{port}``, ``{version}``, ``{service}``, ``{slot}`` and ``{instance}`` are
replaced. Each instance also gets ``PORT`` (and ``CONDUCTOR_*`` variables) in its environment.
A port left out is picked once, then kept in the platform's state file, so it stays stable.
"""

from __future__ import annotations

import os
import shutil
from typing import Literal

from pydantic import Field, field_validator

from conductor.config import Argv, EnvName, ServiceName, StrictModel, Version
from conductor.errors import ConfigError

PLACEHOLDERS = ("{port}", "{version}", "{service}", "{slot}", "{instance}")
Port = int


class VersionOverride(StrictModel):
    """What differs for one version: a whole new command, or extra args and environment."""

    command: Argv | None = Field(None, description="Replaces the service's command for this version.")
    args: list[str] = Field(default_factory=list, description="Appended to the command.")
    env: dict[EnvName, str] = Field(default_factory=dict)

    @field_validator("command")
    @classmethod
    def _executable_exists(cls, command: list[str] | None) -> list[str] | None:
        if command is not None:
            check_executable(command[0])
        return command


class LocalService(StrictModel):
    command: Argv = Field(description="argv of one instance; placeholders like {port} are replaced.")
    env: dict[EnvName, str] = Field(default_factory=dict, description="Added to the inherited environment.")
    cwd: str | None = Field(None, description="Working directory; default: the project directory.")
    initial_version: Version = Field(
        "v1.0.0", alias="initialVersion", description="Started by `conductor up` when nothing runs yet."
    )
    versions: dict[Version, VersionOverride] = Field(default_factory=dict)
    health_path: str = Field("/healthz", alias="healthPath", pattern=r"^/")
    readiness_timeout: float = Field(30.0, alias="readinessTimeout", gt=0, le=3600)
    router_port: Port | None = Field(None, alias="routerPort", ge=1, le=65535)

    @field_validator("command")
    @classmethod
    def _executable_exists(cls, command: list[str]) -> list[str]:
        check_executable(command[0])
        return command


class RestartPolicy(StrictModel):
    """What happens when an instance exits on its own (a crash, from the platform's view)."""

    mode: Literal["on-failure", "always", "never"] = "on-failure"
    max_restarts: int = Field(5, alias="maxRestarts", ge=0, le=1000, description="Per instance.")
    backoff: float = Field(1.0, ge=0, le=300, description="Seconds before a restart.")


class LocalSettings(StrictModel):
    kind: Literal["local"] = "local"
    services: dict[ServiceName, LocalService] = Field(default_factory=dict)
    router_host: str = Field(
        "127.0.0.1",
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252}[A-Za-z0-9])?$",
        alias="routerHost",
        description="Where routers listen; the control API is always loopback.",
    )
    admin_port: Port | None = Field(None, alias="adminPort", ge=1, le=65535, description="Serves /metrics.")
    control_port: Port | None = Field(None, alias="controlPort", ge=1, le=65535)
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    router: Literal["builtin", "haproxy", "auto"] = Field(
        "builtin",
        description='The data plane: Conductor\'s own router ("builtin", needs nothing installed), HAProxy '
        '("haproxy", driven through its runtime API), or "auto" (HAProxy when `haproxy` is on PATH).',
    )
    drain_timeout: float = Field(
        10.0, alias="drainTimeout", ge=0, le=600, description="Max wait for in-flight requests to finish."
    )
    stop_timeout: float = Field(5.0, alias="stopTimeout", gt=0, le=600, description="SIGTERM to SIGKILL.")

    def service(self, name: str) -> LocalService:
        try:
            return self.services[name]
        except KeyError:
            raise ConfigError(
                f"platform.services: service {name!r} has no command for the local platform "
                f"(add platform.services.{name}.command)"
            ) from None


def check_executable(program: str) -> None:
    """Reject a program that cannot run, with the reason, before anything starts.

    A bare name is looked up on PATH; a path with a slash must exist and be executable (a relative
    one is checked against the working directory at spawn time, where it is known).
    """
    if "/" not in program:
        if shutil.which(program) is None:
            raise ValueError(f"{program!r} is not an executable on PATH")
    elif os.path.isabs(program):
        if not os.path.isfile(program):
            raise ValueError(f"{program!r} does not exist")
        if not os.access(program, os.X_OK):
            raise ValueError(f"{program!r} is not executable")


def render_argv(
    service: LocalService, name: str, version: str, slot: str, index: int, port: int
) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment of one instance of ``version``."""
    override = service.versions.get(version)
    base = override.command if override and override.command else service.command
    argv = [*base, *(override.args if override else [])]
    values = {
        "{port}": str(port),
        "{version}": version,
        "{service}": name,
        "{slot}": slot,
        "{instance}": str(index),
    }
    rendered = []
    for arg in argv:
        for key, value in values.items():
            arg = arg.replace(key, value)
        rendered.append(arg)
    env = {
        **service.env,
        **(override.env if override else {}),
        "PORT": str(port),
        "CONDUCTOR_SERVICE": name,
        "CONDUCTOR_VERSION": version,
        "CONDUCTOR_SLOT": slot,
        "CONDUCTOR_INSTANCE": str(index),
    }
    return rendered, env
