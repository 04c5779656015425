"""The watchdog hosted by the control process.

A canary left at 10% awaiting approval is still taking users' traffic after ``conductor
orchestrate`` has returned; someone must keep watching it. The control process is alive exactly
as long as the services are, so it hosts :func:`conductor.watchdog.watch_forever` over every
orchestration in flight, reaching its own API through the same client as any other command.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path


def start_watchdog(config_path: Path, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=_watch, args=(config_path, stop), name="local-watchdog", daemon=True)
    thread.start()
    return thread


def _watch(config_path: Path, stop: threading.Event) -> None:
    from conductor.session import Conductor
    from conductor.watchdog import watch_forever

    conductor = Conductor.from_config(config_path)
    interval = conductor.config.orchestration.health_check_interval

    def rolled_back(service: str) -> None:
        print(f"conductor: watchdog rolled back {service}", file=sys.stderr, flush=True)

    try:
        while not stop.is_set():
            try:
                watch_forever(conductor, stop, on_rollback=rolled_back)
            except Exception as exc:  # one bad round must not end the watching for good
                print(f"conductor: watchdog error (retrying): {exc}", file=sys.stderr, flush=True)
                time.sleep(min(interval, 5.0))
    finally:
        conductor.close()
