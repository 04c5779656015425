"""`conductor demo`'s display, without the minute of real processes: the live table's cells are
styled text (never raw markup), piped runs get a progress line every few seconds, a signal is
never wrapped, and the final reports are rendered on a terminal."""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass
from typing import Any

import pytest
from rich.console import Console

from conductor.frontends.cli import demo
from conductor.signals import Signal


@dataclass
class Window:
    requests: int
    errors: int
    p95_ms: float | None


class Runtime:
    def window(self, service: str, slot: Any, seconds: float) -> Window:
        return Window(240, 72 if slot == "green" else 0, 45.0)


def display(live: bool, width: int = 120, terminal: bool = False) -> tuple[demo.Display, io.StringIO]:
    view = demo.Display(live=live)
    out = io.StringIO()
    view.console = Console(file=out, width=width, force_terminal=terminal, no_color=True, highlight=False)
    return view, out


def test_table_cells_are_styled_text_not_markup() -> None:
    view, out = display(live=True)
    view._runtime = Runtime()
    cell = view._cell("api", "green")
    view.console.print(cell)
    assert out.getvalue().strip() == "120 req/s  30.0% errors  p95 45 ms"
    assert cell.spans and cell.spans[0].style == "red"  # the colour is a span, not "[red]" in the text


def test_piped_progress_is_steady_not_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 1.0, 2.0, 3.5, 3.6, 3.7])
    monkeypatch.setattr(time, "monotonic", lambda: next(clock))
    view, out = display(live=False)
    for done in (1, 2, 3, 4):
        view.progress("baking api", done, 3)
    view.progress("observing web", 1, 2)  # a new wait: said at once
    assert out.getvalue().splitlines() == ["   baking api: 1/3s", "   baking api: 4/3s", "   observing web: 1/2s"]


def test_a_signal_is_never_wrapped() -> None:
    view, out = display(live=False, width=40)
    signal = Signal("ROLLBACK", ("api",), "p95 latency 51ms vs stable 23ms: worse by more than +50% at 99%")
    view.signal(signal)
    assert out.getvalue() == signal.format() + "\n"


def test_reports_are_rendered_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    signal = Signal("DEPLOYED", ("api",), "")

    @dataclass
    class Result:
        report: str
        signals: list[Signal]

    report = f"## Deployment Orchestration\n\n- api verdict: **non-inferior**\n\n{signal.format()}\n"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    view, out = display(live=True, terminal=True)
    view.report("1. Blue-green of v1.1.0", Result(report, [signal]))
    screen = out.getvalue()
    assert "Deployment Orchestration" in screen and "non-inferior" in screen
    assert "**" not in screen and "## " not in screen  # rendered, not raw markdown
    assert screen.rstrip().endswith(signal.format())  # the signal on a line of its own, as it is
