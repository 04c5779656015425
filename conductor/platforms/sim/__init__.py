"""The simulated platform: versions, traffic and metrics in virtual time, persisted to a file.

Used by tests and evals, and by anyone trying Conductor without real services. Behaviour per
version and a timeline of events come from ``platform`` in the config (see settings.py).
"""

from __future__ import annotations

from conductor.platforms.registry import PlatformBundle, PlatformContext, PlatformKind
from conductor.platforms.sim.settings import SimSettings


def _build(context: PlatformContext) -> PlatformBundle:
    # deferred: the simulator draws with scipy; validating a config needs only SimSettings
    from conductor.platforms.sim.platform import SimPlatform

    assert isinstance(context.settings, SimSettings)
    sim = SimPlatform.open(context.state_dir / "sim" / "state.json", context.settings, context.config)
    return PlatformBundle(platform=sim, metrics=sim, clock=sim.clock)


KIND = PlatformKind(settings_model=SimSettings, build=_build)
