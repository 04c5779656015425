"""The one registry of platform backends. An unknown kind is an error, never a fallback.

Each backend package exposes ``KIND``, a :class:`PlatformKind`: the pydantic model of its
``platform`` settings (cheap to import) and a factory that builds the platform, its metrics
provider and its clock (free to import heavy SDKs lazily). Adding a backend is one package and
one line in ``_BACKENDS``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails

from conductor.clock import Clock
from conductor.metrics.base import MetricsProvider
from conductor.platforms.base import Platform

if TYPE_CHECKING:
    from conductor.config import ConductorConfig

_BACKENDS = {
    "sim": "conductor.platforms.sim",
    "local": "conductor.platforms.local",
    "kubernetes": "conductor.platforms.kubernetes",
}


@dataclass(frozen=True)
class PlatformBundle:
    platform: Platform
    metrics: MetricsProvider
    clock: Clock


@dataclass(frozen=True)
class PlatformContext:
    config: ConductorConfig
    settings: BaseModel
    state_dir: Path  # the .mothership directory: backends keep their own files under it


@dataclass(frozen=True)
class PlatformKind:
    settings_model: type[BaseModel]
    build: Callable[[PlatformContext], PlatformBundle]


def known_kinds() -> list[str]:
    return sorted(_BACKENDS)


def platform_kind(kind: str) -> PlatformKind:
    module_name = _BACKENDS.get(kind)
    if module_name is None:
        raise KeyError(kind)
    module = importlib.import_module(module_name)
    result: PlatformKind = module.KIND
    return result


def validate_platform_settings(config: ConductorConfig) -> BaseModel:
    """Validate ``platform`` with the backend's own model (raises pydantic ValidationError)."""
    raw: dict[str, Any] = config.platform.model_dump()
    kind = raw.get("kind", "sim")
    try:
        backend = platform_kind(kind)
    except KeyError:
        raise ValidationError.from_exception_data(
            "platform",
            [
                InitErrorDetails(
                    type="literal_error",
                    loc=("kind",),
                    input=kind,
                    ctx={"expected": ", ".join(repr(k) for k in known_kinds())},
                )
            ],
        ) from None
    return backend.settings_model.model_validate(raw)


def build_platform(config: ConductorConfig, state_dir: Path) -> PlatformBundle:
    settings = validate_platform_settings(config)
    backend = platform_kind(config.platform.kind)
    return backend.build(PlatformContext(config=config, settings=settings, state_dir=state_dir))
