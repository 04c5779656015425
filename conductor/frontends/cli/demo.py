"""`conductor demo`: two real releases on this machine in about a minute, with nothing to set up.

It creates a temporary workspace, starts the bundled demo app (``conductor/bundled/demo_app.py``)
as three services (api, web, worker) on the local platform, sends them steady HTTP load through
their routers, then runs:

1. a blue-green release of a good v1.1.0, which ends in the signal DEPLOYED:api,web,worker;
2. a 10% canary of a bad v1.2.0 (errors and latency set by the app's flags), which the watchdog
   rolls back by itself, ending in the signal ROLLBACK:api:<the breached metric and its values>.

On a terminal a live view shows each service's split and its stable and canary error rate and
latency as the router measures them; piped, a progress line every few seconds says what it waits
for. Then come the reports (rendered on a terminal, the exact markdown when piped), and everything
is stopped: no process
is left running and every port is free. Intervals and the bake are short so it fits in 90 s;
the brain is Claude when ANTHROPIC_API_KEY is set, otherwise the offline policy brain.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markdown import Markdown
from rich.text import Text

from conductor.config_file import load_config
from conductor.errors import EXIT_ERROR, EXIT_OK, PlatformError
from conductor.frontends import terminal
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.exit_codes import EXIT_INTERRUPTED
from conductor.output import safe_report, verbatim
from conductor.platforms.local.settings import LocalSettings
from conductor.platforms.registry import validate_platform_settings
from conductor.signals import Signal

SERVICES = ("api", "web", "worker")
DEMO_APP = Path(__file__).resolve().parents[2] / "bundled" / "demo_app.py"
LOAD_PER_SERVICE = 120.0  # requests/s through each router


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="a blue-green and a canary with automatic rollback, on real local processes (~1 min)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "the good release deployed and the bad one rolled back", 1: "anything else",
                                  2: None, 130: "interrupted (Ctrl-C): everything stopped, the workspace removed"}),
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace afterwards")
    parser.add_argument("--no-live", action="store_true", help="no live view, even on a terminal")
    parser.add_argument("--model", help="brain: policy, anthropic, or a Claude model id (default: automatic)")
    parser.set_defaults(handler=run)


def demo_config() -> dict[str, Any]:
    base = [sys.executable, str(DEMO_APP), "--service", "{service}", "--version", "{version}", "--jitter-ms", "4"]
    service: dict[str, Any] = {
        "command": [*base, "--latency-ms", "20"],
        "readinessTimeout": 15,
        "versions": {
            "v1.1.0": {"args": ["--latency-ms", "18"]},
            "v1.2.0": {"args": ["--latency-ms", "45", "--error-rate", "30"]},
        },
    }
    return {
        "orchestration": {
            "strategy": "blue-green",
            "services": list(SERVICES),
            "healthCheckInterval": 1.5,
            "rollbackThreshold": {"errorRate": 5, "responseTime": 400},
            "canarySteps": [10, 50, 100],
            "bakeTime": 3,
            "failureLimit": 2,
            "minRequests": 10,
            "baseline": {"responseTimeRatio": 3},  # a busy laptop's latency noise is not the bad release
            # A demo's minute of traffic cannot rule out +20% on a near-zero error rate: judge it
            # against tolerances that minute can decide (the bad release is far beyond them).
            "judge": {"errorRateFloor": 1.0, "latencyTolerance": 0.5},
            "requireApproval": True,
        },
        "release": dict.fromkeys(SERVICES, "v1.1.0"),
        "services": {name: {"replicas": 2, "smoke": [{"path": "/healthz"}]} for name in SERVICES},
        "platform": {"kind": "local", "services": dict.fromkeys(SERVICES, service), "drainTimeout": 5},
    }


def run(args: argparse.Namespace) -> int:
    # deferred: the local runtime (aiohttp routers, load generator) loads when the demo runs, not on `--help`
    from conductor.platforms.local.control import serve
    from conductor.platforms.local.loadgen import SteadyLoad
    from conductor.platforms.local.runtime import LocalRuntime

    started = time.monotonic()
    workspace = Path(tempfile.mkdtemp(prefix="conductor-demo-"))
    state_dir = workspace / ".mothership"
    state_dir.mkdir()
    config_path = state_dir / "config.json"
    config_path.write_text(json.dumps(demo_config(), indent=2), encoding="utf-8")
    config = load_config(config_path)
    settings = validate_platform_settings(config)
    assert isinstance(settings, LocalSettings)
    view = Display(live=sys.stdout.isatty() and not args.no_live)
    brain = args.model or ("anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "policy")
    view.say(f"conductor demo: workspace {workspace}")
    view.say(
        "brain: Claude (ANTHROPIC_API_KEY is set)"
        if brain == "anthropic"
        else f"brain: {brain}"
        if args.model
        else "brain: offline policy (no ANTHROPIC_API_KEY set)"
    )

    stop = threading.Event()
    ready: dict[str, Any] = {}
    failure: list[BaseException] = []

    def host() -> None:
        try:
            serve(config, settings, state_dir, stop, on_running=lambda rt: ready.setdefault("runtime", rt))
        except BaseException as exc:
            failure.append(exc)
            ready.setdefault("runtime", None)

    load: SteadyLoad | None = None
    results: list[Any] = []
    code = EXIT_ERROR
    interrupted = False
    restore = _sigterm_as_interrupt()  # `kill` gets the same clean shutdown as Ctrl-C
    control = threading.Thread(target=host, name="demo-control", daemon=True)
    control.start()
    try:  # from here on, however it ends (Ctrl-C, SIGTERM, an error), every process is stopped
        while "runtime" not in ready:
            time.sleep(0.05)
        runtime: LocalRuntime | None = ready["runtime"]
        if runtime is None:
            raise failure[0]
        load = SteadyLoad(
            {n: f"http://127.0.0.1:{p}/" for n, p in runtime.router_ports().items()},
            rate=LOAD_PER_SERVICE,
            workers=3,
        ).start()
        view.say(f"v1.0.0 of {', '.join(SERVICES)} is up (2 instances each); {LOAD_PER_SERVICE:g} requests/s each")
        view.start(runtime, load)
        time.sleep(2.0)
        results = _releases(config_path, args.model, view)
        code = EXIT_OK if _as_expected(results) else EXIT_ERROR
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop everything below, then say so (no resume to offer)
        interrupted = True
    finally:
        view.stop()
        if load is not None:
            load.stop()
        stop.set()
        control.join(timeout=300)  # the control thread drains and stops every instance
        restore()
    if interrupted:
        leftovers = _leftover_processes(state_dir / "local")
        if not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
        where = f"workspace kept: {workspace}" if args.keep else "the temporary workspace was removed"
        stopped = "every process stopped" if not leftovers else f"{len(leftovers)} process(es) left!"
        print(f"conductor demo: interrupted; {stopped}, {where}. It was a demo: nothing to resume, "
              "run `conductor demo` again to watch it from the start", file=sys.stderr)
        return EXIT_INTERRUPTED if not leftovers else EXIT_ERROR
    for title, result in zip(("1. Blue-green of v1.1.0", "2. Canary of v1.2.0"), results, strict=False):
        view.report(title, result)
    served = sum(c.ok for c in load.counts.values()) if load else 0
    failed = sum(c.failed for c in load.counts.values()) if load else 0
    print(f"load: {served} requests served, {failed} failed (the failures are the bad canary's, before the rollback)")
    leftovers = _leftover_processes(state_dir / "local")
    print(
        f"shutdown: {'clean, no process left' if not leftovers else f'{len(leftovers)} process(es) left!'}; "
        f"{time.monotonic() - started:.0f}s in total"
    )
    if args.keep:
        print(f"workspace kept: {workspace}")
    else:
        shutil.rmtree(workspace, ignore_errors=True)
    return code if not leftovers else EXIT_ERROR


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Until the returned function is called, SIGTERM raises KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _releases(config_path: Path, model: str | None, view: Display) -> list[Any]:
    # deferred: the session loads the whole engine when the demo runs, not on `--help`
    from conductor.session import Conductor

    conductor = Conductor.from_config(config_path, model=model)
    try:
        view.phase("1/2 blue-green: v1.1.0 (good)")
        first = conductor.run("/orchestrate blue-green", on_signal=view.signal, on_progress=view.progress)
        view.phase("2/2 canary 10%: v1.2.0 (bad: 30% errors, slower)")
        second = conductor.run(
            "/orchestrate canary 10",
            release=dict.fromkeys(SERVICES, "v1.2.0"),
            on_signal=view.signal,
            on_progress=view.progress,
        )
        if not any(s.kind == "ROLLBACK" for s in second.signals):
            second = _await_watchdog(conductor, view, second)
        return [first, second]
    finally:
        conductor.close()


def _await_watchdog(conductor: Any, view: Display, result: Any) -> Any:
    """The canary paused for approval at 10%: the watchdog keeps watching it, as it would in `up`."""
    # deferred: the watchdog loads the judge and the engine when the demo runs, not on `--help`
    from conductor.watchdog import watch_forever

    stop = threading.Event()
    rolled_back: list[str] = []

    def done(service: str) -> None:
        rolled_back.append(service)
        stop.set()

    watcher = threading.Thread(
        target=watch_forever,
        args=(conductor, stop),
        kwargs={"on_rollback": done, "on_signal": lambda sig: view.signal(sig)},
    )
    watcher.start()
    try:
        deadline = time.monotonic() + 40
        while watcher.is_alive() and time.monotonic() < deadline:
            watcher.join(timeout=1.0)
            view.progress("the watchdog is watching the canary at 10% (paused for approval)",
                          40 - (deadline - time.monotonic()), 40)
    finally:
        stop.set()  # even on Ctrl-C: a watchdog left running would keep the demo from exiting
    if rolled_back:
        return conductor.run("/orchestrate")
    return result


def _as_expected(results: list[Any]) -> bool:
    if len(results) != 2:
        return False
    deployed = any(s.kind == "DEPLOYED" and set(s.services) == set(SERVICES) for s in results[0].signals)
    rolled_back = any(s.kind == "ROLLBACK" and s.services == ("api",) for s in results[1].signals)
    return deployed and rolled_back


def _leftover_processes(home: Path) -> list[int]:
    # deferred: the local process helpers load the HTTP client, not on `--help`
    from conductor.platforms.local.process import HOME_ENV, start_time

    tag = f"{HOME_ENV}={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if tag in (entry / "environ").read_bytes().split(b"\0") and start_time(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Display:
    """A rich live view on a terminal; plain lines otherwise (logs, CI, pipes), with a progress
    line every few seconds so a long wait (the blue-green's smoke checks and bake) is never silent."""

    PROGRESS_EVERY = 3.0  # seconds between two progress lines when piped

    def __init__(self, live: bool) -> None:
        self.live = live
        self._phase = "starting"
        self._detail = ""
        self._live: Any = None
        self._runtime: Any = None
        self._load: Any = None
        self._said_at = 0.0
        self._said_label = ""
        self.console = terminal.console()

    def progress(self, label: str, done: float, total: float) -> None:
        """A wait in progress: in the live table's title on a terminal; piped, one line when the
        wait changes and then every few seconds."""
        self._detail = f"{label} {done:.0f}/{total:.0f}s"
        if self.live:
            return
        now = time.monotonic()
        if label != self._said_label or now - self._said_at >= self.PROGRESS_EVERY:
            self._said_label, self._said_at = label, now
            self.say(f"   {label}: {done:.0f}/{total:.0f}s")

    def report(self, title: str, result: Any) -> None:
        """A final report: rendered markdown on a terminal (its signals printed as they are, the
        lines harnesses look for), the exact markdown text when piped."""
        report = safe_report(result.report, result.signals).rstrip() + "\n"
        if not sys.stdout.isatty():
            with verbatim():  # the report's own signals stay signals; the rest is made safe
                print(f"\n# {title}\n\n{report}")
            return
        for sig in result.signals:
            report = report.replace(sig.format() + "\n", "")
        self.console.print()
        self.console.print(Markdown(f"# {title}\n\n{report}"))
        for sig in result.signals:
            self.signal(sig)

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, soft_wrap=not self.live)

    def signal(self, sig: Signal) -> None:
        with verbatim():  # the one kind of line that may read as a signal: never wrapped, or it no longer parses
            self.console.print(sig.format(), markup=False, soft_wrap=True)

    def phase(self, text: str) -> None:
        self._phase, self._detail = text, ""
        self.say(f"== {text}")

    def start(self, runtime: Any, load: Any) -> None:
        self._runtime, self._load = runtime, load
        if self.live:
            from rich.live import Live

            self._live = Live(
                self._render(), console=self.console, refresh_per_second=4, get_renderable=self._render, transient=True
            )
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _render(self) -> Any:
        from rich.table import Table

        title = f"conductor demo: {self._phase}" + (f" — {self._detail}" if self._detail else "")
        table = Table(title=title, title_justify="left")
        for column in ("service", "split", "stable", "canary"):
            table.add_column(column)
        for service in SERVICES:
            try:
                snapshot = self._runtime.snapshot(service)
            except PlatformError:
                continue
            weights = snapshot.weights
            stable = max(weights, key=lambda s: (weights[s], s == "blue"))
            canary = "green" if stable == "blue" else "blue"
            split = f"{snapshot.slots[stable].version} {weights[stable]}%"
            if snapshot.slots[canary].version:
                split += f" / {snapshot.slots[canary].version} {weights[canary]}%"
            table.add_row(service, split, self._cell(service, stable), self._cell(service, canary))
        return table

    def _cell(self, service: str, slot: Any) -> Text:
        """Styled as a Text, never as markup in a string: a cell's text is shown as it is."""
        window = self._runtime.window(service, slot, 2.0)
        if window.requests == 0:
            return Text("-")
        rate = 100.0 * window.errors / window.requests
        errors = (f"{rate:.1f}% errors", "red" if rate > 5 else "green")
        return Text.assemble(f"{window.requests / 2:.0f} req/s  ", errors, f"  p95 {window.p95_ms or 0:.0f} ms")
