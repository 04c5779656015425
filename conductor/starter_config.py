"""``conductor init``: a commented starting ``.mothership/config.json`` for one platform.

JSON has no comments, and the loader is strict (an unknown key is an error, so a typo can never
be silently ignored). The one exception is a key named exactly ``"//"``, whose value must be a
string or a list of strings: the loader drops it before validation
(:func:`conductor.config_file.without_comments`). So the starting file explains itself where a
person reads it, beside the keys it explains, and still loads with the same strict loader, and
editing it keeps the explanations next to what they explain. (A companion file would drift from
the keys it describes, and JSON5 or JSONC would need a second parser that harnesses and editors
reading the file would not have.)

The file written is loaded back with :func:`conductor.config_file.load_config` before it is
kept: ``init`` never leaves a config the other commands would refuse.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from conductor.config import CONFIG_DIR, CONFIG_FILE, is_service_name
from conductor.config_file import load_config
from conductor.errors import UsageError

PLATFORMS = ("sim", "local", "kubernetes")

_TOP = [
    "Conductor's config for this repository (written by `conductor init`). Keys named // are comments: the",
    "loader drops them; every other key is checked strictly (a typo is an error, never ignored).",
    "Try it: `conductor orchestrate --dry-run canary 10`, then `conductor orchestrate canary 10`.",
]
_ORCHESTRATION = [
    "strategy: the strategy this repository usually releases with (each command names its own). services:",
    "released in dependency order (services.<name>.dependsOn); blue-green bakes a dependency level together.",
    "healthCheckInterval (s): how often the watchdog judges a new version taking traffic.",
    "rollbackThreshold: absolute limits (errorRate %, responseTime ms at latencyPercentile).",
    "canarySteps: the ramp (each step needs a person's approval unless requireApproval is false or --auto).",
    "bakeTime (s): time at 100% before the old version is retired. scaleDownDelay (s): the old color then",
    "stays warm, without traffic, so `conductor undo` flips back without a deploy (0: retire at once).",
]
_RELEASE = "The version each service should run next: `conductor orchestrate canary 10` releases these."
_SERVICES = "Per service: replicas, dependsOn (released after these), smoke checks run before any traffic."
_PLATFORM = {
    "sim": ["The simulator: virtual time and simulated traffic, nothing deployed anywhere; a safe place to",
            "learn the commands. Switch to local (processes on this machine) or kubernetes when ready."],
    "local": ["Real processes on this machine behind Conductor's router (HTTP on loopback). The command",
              "below starts the bundled demo app: replace it with your service's argv ({port} and",
              "{version} are filled in). `conductor up` starts the routers and the watchdog.",
              "router: \"builtin\" (needs nothing), \"haproxy\" (Debian's haproxy, driven through its",
              "runtime API) or \"auto\" (haproxy where installed); `conductor doctor` says which runs."],
    "kubernetes": ["Deployments <service>-blue/-green in the namespace, traffic by Service selector or a Gateway",
                   "API HTTPRoute (httpRoute). Metrics from Prometheus: set metrics.url to yours, and a preset",
                   "matching your ingress (router, ingress-nginx or istio). `conductor doctor` checks access."],
}


def starting_config(platform: str, services: list[str]) -> dict[str, Any]:
    """The starting config for ``platform`` and ``services`` (a plain dict, comments included)."""
    if platform not in PLATFORMS:
        raise UsageError(f"init: unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    bad = [s for s in services if not is_service_name(s)]
    if bad or not services:
        raise UsageError(f"init: {', '.join(map(repr, bad)) or 'no service'}: a service name is 1 to 63 lowercase "
                         "letters, digits or '-', starting and ending with a letter or digit (e.g. api, web-1)")
    if len(set(services)) != len(services):
        twice = sorted({s for s in services if services.count(s) > 1})
        raise UsageError(f"init: {', '.join(twice)}: a service is named twice (--service once per service)")
    return {
        "//": _TOP,
        "orchestration": {
            "//": _ORCHESTRATION,
            "strategy": "canary",
            "services": services,
            "healthCheckInterval": 10,
            "rollbackThreshold": {"errorRate": 5, "responseTime": 1000, "latencyPercentile": "p95"},
            "canarySteps": [5, 25, 50, 100],
            "requireApproval": True,
            "bakeTime": 900,
            "scaleDownDelay": 600,
        },
        "release": {"//": _RELEASE, **dict.fromkeys(services, "v1.1.0")},
        "services": {
            "//": _SERVICES,
            **{name: {"replicas": 2, "dependsOn": [], "smoke": [{"path": "/healthz", "expectStatus": 200}]}
               for name in services},
        },
        "platform": {"//": _PLATFORM[platform], **_platform_block(platform, services)},
    }


def _platform_block(platform: str, services: list[str]) -> dict[str, Any]:
    if platform == "sim":
        return {"kind": "sim", "initialVersion": "v1.0.0"}
    if platform == "local":
        demo = [sys.executable, "-m", "conductor.bundled.demo_app", "--service", "{service}", "--version", "{version}"]
        return {"kind": "local", "router": "builtin",
                "services": {name: {"command": demo, "initialVersion": "v1.0.0", "healthPath": "/healthz"}
                             for name in services}}
    return {"kind": "kubernetes", "namespace": "default",
            "services": {name: {"image": f"registry.example.com/{name}"} for name in services},
            "metrics": {"kind": "prometheus", "url": "http://prometheus.monitoring.svc:9090", "preset": "router"}}


def init_config(directory: Path | str | None = None, *, platform: str = "sim", services: tuple[str, ...] | list[str]
                = ("api",), force: bool = False) -> Path:
    """Write ``<directory>/.mothership/config.json`` (default: the current directory) for
    ``platform`` and return its path. An existing file is kept unless ``force`` (UsageError).
    The file is loaded back with the strict loader; if it does not load, nothing is left."""
    root = Path(directory) if directory is not None else Path.cwd()
    path = root / CONFIG_DIR / CONFIG_FILE
    config = starting_config(platform, list(services))
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; `conductor init --force` replaces it (force=True from Python)")
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = path.read_bytes() if path.exists() else None
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    try:
        load_config(path)
    except Exception:
        if previous is None:
            path.unlink()
        else:
            path.write_bytes(previous)
        raise
    return path


__all__ = ["PLATFORMS", "init_config", "starting_config"]
