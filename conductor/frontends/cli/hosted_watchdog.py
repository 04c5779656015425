"""The watchdog hosted by the local platform's control process (``conductor up``).

A canary left at 10% awaiting approval is still taking users' traffic after ``conductor
orchestrate`` has returned; someone must keep watching it. The control process is alive exactly
as long as the services are, so it hosts the watchdog (:class:`conductor.watchdog.Patrol`) over
every orchestration in flight, reaching its own API through the same client as any other command.

The host outlives edits of the config: before every round it checks the file's fingerprint. A
valid edit is reloaded (and said so), so the hosted watchdog and a ``conductor orchestrate`` in
another terminal judge one canary by the same thresholds; an invalid edit keeps the last good
config, loudly, until it is fixed. Platform settings (commands, ports) belong to the running
instances and routers: those need ``conductor down`` and ``conductor up``, which it says too.

It drives whole :class:`~conductor.session.Conductor` objects, so it sits with the front ends,
above the session, rather than inside the platform adapter the session builds.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from conductor.config import config_fingerprint
from conductor.errors import ConductorError
from conductor.session import Conductor
from conductor.watchdog import Patrol


def start_watchdog(config_path: Path, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=_watch, args=(config_path, stop), name="local-watchdog", daemon=True)
    thread.start()
    return thread


def _say(text: str) -> None:
    print(f"conductor: {text}", file=sys.stderr, flush=True)


class ConfigFollower:
    """The host's current :class:`Conductor`, replaced when the config file changes validly."""

    def __init__(self, config_path: Path) -> None:
        self.path = config_path
        self.conductor: Conductor = Conductor.from_config(config_path)
        self.fingerprint = config_fingerprint(self.conductor.config)
        self._complaint = ""

    def refresh(self) -> bool:
        """Reload a changed, valid config (True when it did); never raises."""
        try:
            fresh = Conductor.from_config(self.path)
        except ConductorError as exc:
            complaint = str(exc)
            if complaint != self._complaint:  # once per distinct problem, not every round
                _say(f"the config changed but cannot be used ({complaint}); the watchdog keeps judging with the "
                     f"config it loaded (fingerprint {self.fingerprint}) until it is fixed")
                self._complaint = complaint
            return False
        self._complaint = ""
        fingerprint = config_fingerprint(fresh.config)
        if fingerprint == self.fingerprint:
            fresh.close()
            return False
        if fresh.state_dir != self.conductor.state_dir:
            _say(f"the config now names another environment ({fresh.state_dir}); this control process keeps "
                 f"watching {self.conductor.state_dir}: restart it with `conductor down` and `conductor up`")
            fresh.close()
            return False
        old, self.conductor = self.conductor, fresh
        _say(f"config changed (fingerprint {self.fingerprint} -> {fingerprint}): the watchdog now judges with it")
        if old.config.platform != fresh.config.platform:
            _say("platform settings changed too: they apply to instances and routers after `conductor down` "
                 "and `conductor up`")
        self.fingerprint = fingerprint
        old.close()
        return True


def _watch(config_path: Path, stop: threading.Event) -> None:
    follower = ConfigFollower(config_path)
    patrol = Patrol(follower.conductor)
    try:
        while not stop.wait(follower.conductor.config.orchestration.health_check_interval):
            try:
                if follower.refresh():
                    patrol = Patrol(follower.conductor)
                for service in patrol.round():
                    _say(f"watchdog rolled back {service}")
            except Exception as exc:  # one bad round must not end the watching for good
                _say(f"watchdog error (retrying): {exc}")
                time.sleep(min(follower.conductor.config.orchestration.health_check_interval, 5.0))
    finally:
        follower.conductor.close()
