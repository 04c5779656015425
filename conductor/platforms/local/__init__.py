"""The local platform: real OS processes behind a weighted data plane, on this machine.

What a team with one server uses, and what makes ``conductor demo`` real. ``conductor up`` starts
the control process (:mod:`.control`), which hosts every instance (:mod:`.supervisor`) and drives
one data plane per service (:mod:`.dataplane`: the built-in :mod:`.router` in a process of its own,
or HAProxy, :mod:`.haproxy`), tied together by the runtime (:mod:`.runtime`). The data planes
outlive the control process. Everything else, including ``conductor orchestrate``, talks to it
through :mod:`.client`, which is what the registry builds: a client-backed Platform, the
``router`` metrics provider, and real time.
"""

from __future__ import annotations

from conductor.clock import RealClock
from conductor.metrics.router import RouterMetrics
from conductor.platforms.local.settings import LocalSettings
from conductor.platforms.registry import PlatformBundle, PlatformContext, PlatformKind


def _build(context: PlatformContext) -> PlatformBundle:
    # deferred: the adapter and its HTTP client (httpx) load only when this backend is built
    from conductor.platforms.local.client import ControlClient, LocalPlatform

    assert isinstance(context.settings, LocalSettings)
    platform = LocalPlatform(ControlClient(context.state_dir))
    return PlatformBundle(platform=platform, metrics=RouterMetrics(platform), clock=RealClock())


KIND = PlatformKind(settings_model=LocalSettings, build=_build)
