"""`conductor down`: drain and stop the local platform (routers first, then every instance).

If the control process is gone (killed with SIGKILL, say), ``down`` still stops the data planes
(routers) still serving and the instances it had recorded, each only if it is still that very
process, and any other process tagged with this state directory (an instance still starting
when it died is in no record), so nothing is left running unowned.
The versions, replica counts and split stay recorded: the next ``conductor up`` restores them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import stat
import time
from pathlib import Path
from typing import Any

from conductor.errors import EXIT_ERROR, EXIT_OK, PlatformError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option
from conductor.frontends.cli.up import load_local
from conductor.paths import check_owner, state_dir_for


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "down",
        help="drain and stop the local platform started by `conductor up`",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "stopped (or nothing was running)", 1: "something is still running", 2: None}),
    )
    add_config_option(parser)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the stop (default 120)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config_path, config, _settings = load_local(args.config)
    state_dir = state_dir_for(config_path, config)
    check_owner(state_dir, config_path)
    return stop_local(state_dir, args.timeout)


def stop_local(state_dir: Path, timeout: float = 120.0) -> int:
    # deferred: the local platform's HTTP client loads when `conductor down` runs, not on `--help`
    from conductor.platforms.local.client import ControlClient
    from conductor.platforms.local.process import start_time

    client = ControlClient(state_dir)
    info: dict[str, Any] = {}
    try:
        info = client.info()
        client.call("POST", "/v1/shutdown", {})
    except PlatformError as exc:
        if info and start_time(int(info["pid"])) == info.get("started"):
            print(f"conductor: the control process (pid {info['pid']}) is running but refused: {exc}")
            return EXIT_ERROR
        # deferred: the control server (aiohttp) loads when `conductor down` runs, not on `--help`
        from conductor.platforms.local.control import ControlLock

        try:
            lock = ControlLock(state_dir / "local" / "control.lock")
        except PlatformError:  # held: a control process is starting (or stopping) and owns the instances
            print("conductor: a control process is starting or stopping; run `conductor down` again in a moment")
            return EXIT_ERROR
        try:
            planes = stop_data_planes(state_dir)
            stopped = stop_leftovers(state_dir)
        finally:
            lock.release()
        print(
            f"conductor: the local platform is not running; stopped {stopped} leftover instance(s) "
            f"and {planes} data plane(s)"
        )
        return EXIT_OK
    finally:
        client.close()
    pid, started = int(info["pid"]), info.get("started")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = start_time(pid)
        if current is None or current != started:
            print(f"conductor: local platform stopped (pid {pid})")
            return EXIT_OK
        time.sleep(0.05)
    print(f"conductor: the control process (pid {pid}) is still stopping after {timeout:g}s")
    return EXIT_ERROR


def stop_data_planes(state_dir: Path) -> int:
    """Stop the data planes (routers, HAProxy) a control process that is gone left serving: each drains
    first (its port closes, requests in flight finish), and only if it is still that very process."""
    # deferred: the local data plane helpers load when `conductor down` runs, not on `--help`
    from conductor.platforms.local.dataplane import recorded_process, remove_socket_dir

    try:
        state = json.loads((state_dir / "local" / "state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return 0
    stopped = 0
    for service in state.get("services", {}).values():
        plane = service.get("dataPlane") or {}
        process = recorded_process(plane)
        if process is not None:
            if plane.get("kind") == "haproxy":  # its SIGTERM is a hard stop; SIGUSR1 closes the port and drains
                process.signal_group(signal.SIGUSR1)
                deadline = time.monotonic() + 10.0
                while process.alive() and time.monotonic() < deadline:
                    time.sleep(0.02)
            process.stop(timeout=10.0)  # SIGTERM: the built-in router drains; then SIGKILL
            stopped += 1
            for key in ("admin", "logSocket"):  # HAProxy's socket files: neither it nor a killed control removed them
                _remove_socket_file(plane.get(key))
    remove_socket_dir(state_dir / "local")
    return stopped


def _remove_socket_file(path: object) -> None:
    if isinstance(path, str) and path:
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)


def stop_leftovers(state_dir: Path) -> int:
    """Stop instances of a control process that is gone; returns how many were running.

    First those its state file records (each only if it is still that very process), then any other
    process tagged with this state directory: an instance that was still starting when the control
    process died is in no record.
    """
    # deferred: the local supervisor and HTTP client load when `conductor down` runs, not on `--help`
    from conductor.platforms.local.process import start_time, stop_untracked
    from conductor.platforms.local.supervisor import Supervisor

    home = state_dir / "local"
    try:
        state = json.loads((home / "state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return stop_untracked(home, set(), timeout=5.0)
    stopped = 0
    for service in state.get("services", {}).values():
        for slot in service.get("slots", {}).values():
            for record in slot.get("instances", []):
                if start_time(int(record["pid"])) == int(record["started"]):
                    Supervisor.kill_recorded(record, timeout=5.0)
                    stopped += 1
            slot["instances"] = []
    stopped += stop_untracked(home, set(), timeout=5.0)
    tmp = home / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(home / "state.json")
    for name in ("control.json", "control.pid"):
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()
    return stopped
