"""`conductor up [--detach]`: start the local platform's control process for this project.

The control process hosts every service's instances and routers, and the watchdog, so they
outlive any one command; ``conductor orchestrate`` in another terminal talks to it. In the
foreground, Ctrl-C (or SIGTERM) drains and stops everything. With ``--detach`` the same process
runs in the background (its own session, output in ``.mothership/logs/control.log``), and this
command returns once it answers. Running ``up`` while it is already up changes nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from conductor.config import ConductorConfig, find_config
from conductor.config_file import load_config
from conductor.errors import EXIT_ERROR, EXIT_OK, PlatformError, UsageError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option
from conductor.paths import claim, project_root, state_dir_for
from conductor.platforms.local.settings import LocalSettings
from conductor.platforms.registry import validate_platform_settings


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "up",
        help="start the local platform: instances, routers and watchdog (platform.kind = local)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "stopped cleanly (--detach: running and answering)",
                                  1: "the control process failed or did not answer",
                                  2: "bad usage or config, or (without --detach) it already runs here: nothing "
                                     "was changed"}),
    )
    add_config_option(parser)
    parser.add_argument("--detach", action="store_true", help="run in the background and return once ready")
    parser.add_argument("--timeout", type=float, default=180.0, help="--detach: seconds to wait (default 180)")
    parser.set_defaults(handler=run)


def load_local(config_arg: Path | None) -> tuple[Path, ConductorConfig, LocalSettings]:
    """The config file, the config, and the local platform's settings; UsageError for another kind."""
    config_path = (config_arg or find_config(Path.cwd())).resolve()
    config = load_config(config_path)
    settings = validate_platform_settings(config)
    if not isinstance(settings, LocalSettings):
        raise UsageError(
            f"{config_path}: platform.kind is {config.platform.kind!r}; `conductor up` and `conductor down` "
            f'run the local platform (set "platform": {{"kind": "local", ...}})'
        )
    return config_path, config, settings


def describe(info: dict[str, Any]) -> str:
    routers = ", ".join(f"{name} http://127.0.0.1:{port}" for name, port in sorted(info["routers"].items()))
    plane = info.get("dataPlane")
    return (
        f"conductor: local platform up (pid {info['pid']})\n"
        f"  routers: {routers}\n"
        + (f"  data plane: {plane['kind']} ({plane['why']})\n" if plane else "")
        + f"  metrics: http://127.0.0.1:{info['adminPort']}/metrics\n"
        f"  control API: http://127.0.0.1:{info['port']} (token in .mothership/local/token)"
    )


def run(args: argparse.Namespace) -> int:
    config_path, config, settings = load_local(args.config)
    state_dir = state_dir_for(config_path, config)
    claim(state_dir, config_path)  # the platform's state is this environment's
    # deferred: the data plane helpers load the HTTP client when `conductor up` runs, not on `--help`
    from conductor.platforms.local.dataplane import resolve_kind

    resolve_kind(settings.router)  # "haproxy" without haproxy installed: exit 2 here, before anything starts
    if args.detach:
        return _detach(config_path, state_dir, args.timeout)
    # deferred: the control server (aiohttp) loads when `conductor up` runs, not on `--help`
    from conductor.platforms.local.control import serve

    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        print(f"conductor: {signal.Signals(signum).name}: draining and stopping", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serve(
        config,
        settings,
        state_dir,
        stop,
        on_ready=lambda info: print(describe(info), flush=True),
        on_running=lambda runtime: _start_watchdog(config_path, stop),
        on_event=print_event,
    )
    print("conductor: local platform stopped", flush=True)
    return EXIT_OK


def print_event(event: dict[str, Any]) -> None:
    """One line per platform event on the control process's output (the terminal, or control.log)."""
    when = time.strftime("%H:%M:%S", time.localtime(event["at"]))
    details = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("seq", "at", "kind", "service", "log_tail"))
    print(f"{when} {event['service']}: {event['kind']} {details}", flush=True)
    if event.get("log_tail"):
        print("  " + str(event["log_tail"]).replace("\n", "\n  "), flush=True)


def _start_watchdog(config_path: Path, stop: threading.Event) -> None:
    """Host the watchdog, so a release keeps being watched between two `orchestrate` commands."""
    # deferred: the hosted watchdog loads the whole engine; every subcommand's parser is built at start-up
    from conductor.frontends.cli.hosted_watchdog import start_watchdog

    start_watchdog(config_path, stop)


def _child_env() -> dict[str, str]:
    """The environment of the detached control process: ours, plus this package on its path."""
    package_root = str(Path(__file__).resolve().parents[3])
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": package_root + (os.pathsep + path if path else ""),
    }


def _detach(config_path: Path, state_dir: Path, timeout: float) -> int:
    # deferred: the local platform's HTTP client loads when `conductor up` runs, not on `--help`
    from conductor.platforms.local.client import ControlClient, LocalPlatform

    platform = LocalPlatform(ControlClient(state_dir))
    try:
        print(describe(platform.status()) + "\nconductor: it was already running; nothing changed")
        return EXIT_OK
    except PlatformError:
        pass
    log_path = state_dir / "logs" / "control.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log_start = log.tell()  # what this child writes starts here (earlier runs' lines are not its reason)
        child = subprocess.Popen(
            [sys.executable, "-m", "conductor", "up", "--config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=project_root(state_dir),
            env=_child_env(),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            running = _running_other(platform, child.pid, state_dir, deadline)
            if running is not None:
                # Another `conductor up` started at the same time won the control lock: it is up, as asked.
                print(
                    describe(running) + "\nconductor: it was already running (started by another `conductor up` "
                    "at the same moment); nothing changed"
                )
                return EXIT_OK
            print(f"conductor: the control process exited with code {child.returncode}:", file=sys.stderr)
            print(_log_since(log_path, log_start), file=sys.stderr)
            return child.returncode if child.returncode in (1, 2) else EXIT_ERROR
        try:
            status = platform.status()
            if int(status["pid"]) == child.pid:
                print(describe(status) + f"\n  log: {log_path}\nconductor: stop it with `conductor down`")
                return EXIT_OK
        except PlatformError:
            pass
        time.sleep(0.1)
    print(
        f"conductor: the control process (pid {child.pid}) did not answer within {timeout:g}s; see {log_path}",
        file=sys.stderr,
    )
    return EXIT_ERROR


def _running_other(platform: Any, child_pid: int, state_dir: Path, deadline: float) -> dict[str, Any] | None:
    """The status of another control process, if one holds this state directory (then ``child_pid``
    lost the control lock to it): waited for until it answers, since it may still be starting."""
    # deferred: the control server (aiohttp) loads when `conductor up` runs, not on `--help`
    from conductor.platforms.local.control import ControlLock

    while True:
        try:
            status: dict[str, Any] = platform.status()
            return status if int(status["pid"]) != child_pid else None
        except PlatformError:
            pass
        try:
            ControlLock(state_dir / "local" / "control.lock").release()
            return None  # nobody holds it: the child failed for a reason of its own
        except PlatformError:
            pass  # held: another control process is starting (or stopping)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def _log_since(log_path: Path, offset: int, lines: int = 20) -> str:
    """The last ``lines`` lines written to the control log from ``offset`` on (this child's output)."""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"
