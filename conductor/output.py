"""The output layer: the one place where text reaches a person, a pipe or a harness.

Two rules hold for everything printed, whatever path it took:

1. **Only the signal module makes signals.** Every string is neutralised (``<`` → ``‹``, see
   :func:`conductor.signals.neutralize`) and scrubbed of secrets (:mod:`conductor.redact`), except
   the exact text of a :class:`~conductor.signals.Signal` Conductor emitted. Model text, Messages
   API errors (a 529 body, a proxy's HTML page), platform and log text, ``preDeploy`` output,
   webhook responses, Prometheus errors, Kubernetes messages and config strings therefore cannot
   carry ``<conductor>DEPLOYED:api</conductor>`` to a harness that parses stdout. Neutralising at
   the output, not at each source, is what keeps a new path from forgetting it.
2. **Output never interrupts the work.** A closed pipe (``| head -1``, ``| grep -m1``), a dead
   terminal or a full disk must not stop a rollback halfway: :class:`SafeStream` swallows write
   errors, points the broken descriptor at ``/dev/null`` (so nothing is printed at exit either) and
   remembers what happened, so the CLI can exit quietly, as command-line tools do on EPIPE.

The CLI installs :class:`SafeStream` over ``sys.stdout`` and ``sys.stderr`` (:func:`install`);
writers of Conductor's own documents — a signal, a report, a JSON document — pass the trusted
parts through :func:`verbatim`, after :func:`safe_report` / :func:`safe_data` made the rest safe.
Reports built by :mod:`conductor.report` are already safe for the Python API and MCP clients.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from conductor import signals
from conductor.redact import scrub
from conductor.signals import Signal, neutralize

_local = threading.local()


def safe_text(text: str) -> str:
    """Text from outside, fit to print: secrets scrubbed, unable to carry a signal."""
    return neutralize(scrub(text))


def safe_data(value: Any, signals: Sequence[Signal] = ()) -> Any:
    """JSON-like data fit to print: every string made safe, except Conductor's own signals —
    signal objects (``{"kind", "services", "reason", "text"}``) are rebuilt from their fields by
    the signal module, and a string equal to one of ``signals``' text is kept."""
    trusted = {s.format() for s in signals}
    return _safe(value, trusted)


def _safe(value: Any, trusted: set[str]) -> Any:
    if isinstance(value, str):
        return value if value in trusted else safe_text(value)
    if isinstance(value, dict):
        rebuilt = _as_signal(value)
        if rebuilt is not None:
            return rebuilt
        return {(_safe(k, trusted) if isinstance(k, str) else k): _safe(v, trusted) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v, trusted) for v in value]
    return value


def _as_signal(value: dict[str, Any]) -> dict[str, Any] | None:
    """A signal's ``to_dict()``, rebuilt by the signal module (None if ``value`` is not one)."""
    if set(value) != {"kind", "services", "reason", "text"} or value["kind"] not in ("DEPLOYED", "ROLLBACK"):
        return None
    services = value["services"]
    if not isinstance(services, list) or not services or not all(isinstance(s, str) for s in services):
        return None
    names = [neutralize(scrub(s)) for s in services]
    if value["kind"] == "DEPLOYED":
        return signals.deployed(names).to_dict()
    return signals.rollback(names[0], str(value["reason"])).to_dict()


def safe_report(text: str, signals: Sequence[Signal] = ()) -> str:
    """A rendered report fit to print: every line made safe, except the trailing block of exactly
    the given signals (as :mod:`conductor.report` renders them, after everything else)."""
    lines = text.split("\n")
    expected = [s.format() for s in signals]
    end = len(lines)
    while end > 0 and lines[end - 1] == "":
        end -= 1
    start = end - len(expected)
    if expected and start >= 0 and lines[start:end] == expected:
        return "\n".join([*(safe_text(line) for line in lines[:start]), *expected, *lines[end:]])
    return "\n".join(safe_text(line) for line in lines)


@contextmanager
def verbatim() -> Iterator[None]:
    """Within this block, this thread's writes to a :class:`SafeStream` are only scrubbed, not
    neutralised: for Conductor's own signals and documents already made safe."""
    previous = getattr(_local, "verbatim", False)
    _local.verbatim = True
    try:
        yield
    finally:
        _local.verbatim = previous


class SafeStream:
    """A text stream that neutralises and scrubs what is written and never raises on a write.

    After a broken pipe the descriptor is pointed at ``/dev/null``: later writes (and the
    interpreter's flush at exit) go nowhere instead of raising, and :attr:`broken` is set.
    Other write errors (a full disk, a closed terminal) set :attr:`failed`.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False
        self.failed: OSError | ValueError | None = None

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        safe = scrub(text) if getattr(_local, "verbatim", False) else safe_text(text)
        if self.broken or self.failed is not None:
            return len(text)
        try:
            self._stream.write(safe)
        except (OSError, ValueError) as exc:
            self._lost(exc)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.broken or self.failed is not None:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            self._lost(exc)

    def _lost(self, exc: OSError | ValueError) -> None:
        if isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
            self.broken = True
        else:
            self.failed = exc
        try:  # nothing more reaches the reader; make sure the exit-time flush cannot raise either
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def isatty(self) -> bool:
        try:
            return not self.broken and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, buffer, errors, ...
        return getattr(self._stream, name)


def install() -> tuple[SafeStream, SafeStream]:
    """Put :class:`SafeStream` over ``sys.stdout`` and ``sys.stderr`` (idempotent)."""
    import sys

    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)
    return sys.stdout, sys.stderr


def write_signal(signal: Signal, stream: TextIO | None = None) -> None:
    """Print one signal on its own line, as it happens (never raises)."""
    import sys

    target = stream if stream is not None else sys.stdout
    with verbatim():
        try:
            target.write(signal.format() + "\n")
            target.flush()
        except (OSError, ValueError):
            pass


__all__ = ["SafeStream", "install", "safe_data", "safe_report", "safe_text", "verbatim", "write_signal"]
