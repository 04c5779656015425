"""A platform handed to :class:`~conductor.session.Conductor` whose chosen operations fail.

It wraps the workspace's real backend (the simulator), so everything else behaves exactly as in
production; the test says which operation breaks and how, instead of patching a backend class.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conductor.session import Conductor


class FailingPlatform:
    def __init__(self, inner: Any, **failures: Exception) -> None:
        self._inner = inner
        self._failures = failures

    def __getattr__(self, name: str) -> Any:
        if name in self._failures:
            error = self._failures[name]

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise error

            return fail
        return getattr(self._inner, name)


@contextmanager
def conductor_where(config_path: Path, **failures: Exception) -> Iterator[Conductor]:
    """A Conductor on the config's own backend, except that ``failures`` (operation name ->
    exception) raise: ``with conductor_where(path, set_weights=PlatformError("down")) as c: ...``."""
    real = Conductor.from_config(config_path)
    bundle = real.bundle
    conductor = Conductor.from_config(config_path, platform=FailingPlatform(bundle.platform, **failures),
                                      metrics=bundle.metrics, clock=bundle.clock)
    try:
        yield conductor
    finally:
        conductor.close()
        real.close()
