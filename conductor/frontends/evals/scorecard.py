"""The scorecard: one row per scenario and brain, as a rich table, JSON, or JUnit XML.

JSON (``conductor.evals/v1``) is for dashboards and diffs between runs; JUnit is what CI servers
already render, one test case per scenario and brain so a red build names the scenario.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from conductor.frontends.evals.results import ScenarioResult

SCHEMA = "conductor.evals/v1"


def _ratio(result: ScenarioResult) -> str:
    ratio = result.cache_hit_ratio
    return "—" if ratio is None else f"{ratio:.0%}"


def _rollback(result: ScenarioResult) -> str:
    return "—" if result.time_to_rollback is None else f"{result.time_to_rollback:.0f}s"


def problem(result: ScenarioResult) -> str | None:
    """The first thing wrong with a result, in one line (None when it passed)."""
    if result.known_bug and result.passed:
        return f"passes now: if the known bug is fixed, remove knownBug ({result.known_bug})"
    return result.first_violation or (result.failures[0] if result.failures else None)


def render_table(results: list[ScenarioResult], console: Console, seconds: float | None = None) -> None:
    table = Table(title="Conductor evals", show_lines=False, expand=False)
    for column, justify, width in (("scenario", "left", 0), ("brain", "left", 0), ("outcome", "left", 18),
                                   ("invariants", "left", 12), ("turns", "right", 0), ("tokens", "right", 0),
                                   ("cache hit", "right", 0), ("time to rollback", "right", 0),
                                   ("made safe by", "left", 30)):
        roomy = console.width >= 160  # a narrow terminal: every column may fold, so the table fits
        table.add_column(column, justify=justify, no_wrap=roomy and column in ("scenario", "brain", "time to rollback"),  # type: ignore[arg-type]
                         min_width=(width or None) if roomy else None, overflow="ellipsis" if roomy else "fold")
    for r in results:
        total = len(r.invariants)
        if r.invariants_ok:
            invariants = f"[green]{r.invariants_passed}/{total} ✓[/green]"
        else:
            invariants = f"[red]{r.invariants_passed}/{total} ✗ {r.first_violation or 'not checked'}[/red]"
        outcome = r.outcome if not r.failures else f"{r.outcome} [red]✗ {r.failures[0]}[/red]"
        if r.known_bug and not r.passed:
            outcome = f"{r.outcome} [yellow](known bug)[/]"
        table.add_row(r.scenario, f"replay·{r.origin}" if r.brain == "replay" else r.brain, outcome, invariants,
                      str(r.turns), f"{r.tokens:,}", _ratio(r), _rollback(r), ", ".join(r.made_safe_by) or "—")
    console.print(table)
    failed = [r for r in results if not r.ok]
    known = sum(1 for r in results if r.known_bug and not r.passed)
    summary = f"{len(results) - len(failed)}/{len(results)} ok"
    if known:
        summary += f" ({known} failing on a known engine bug, as expected)"
    if seconds is not None:
        summary += f" in {seconds:.1f}s"
    console.print(f"[{'red' if failed else 'green'}]{summary}[/]")
    malformed = sum(r.malformed for r in results)
    if malformed:
        still = sum(r.malformed_strict for r in results)
        console.print(f"malformed tool calls refused: {malformed} (without strict tool use); {still} of them fit the "
                      f"strict schemas, so {still} would remain with it (ranges and lengths are checked by the "
                      "dispatcher only)")
    for r in failed:
        console.print(f"[red]✗ {r.scenario} ({r.brain}): {problem(r)}[/red]")
    for r in results:
        if r.known_bug and not r.passed:
            console.print(f"[yellow]known bug: {r.scenario} ({r.brain}): {problem(r)}\n  {r.known_bug}[/yellow]")


def to_json(results: list[ScenarioResult], seconds: float | None = None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "passed": all(r.ok for r in results),
        "seconds": seconds,
        "results": [
            {
                "scenario": r.scenario, "title": r.title, "brain": r.brain, "cassette_origin": r.origin,
                "passed": r.passed, "ok": r.ok, "known_bug": r.known_bug, "outcome": r.outcome,
                "invariants": [{"name": i.name, "passed": i.passed, "violation": i.violation} for i in r.invariants],
                "failures": r.failures,
                "steps": [{"step": s.label, "exit_code": s.exit_code, "expected_exit": s.expected_exit}
                          for s in r.steps],
                "turns": r.turns, "usage": r.usage, "cache_hit_ratio": r.cache_hit_ratio,
                "time_to_rollback": r.time_to_rollback, "made_safe_by": r.made_safe_by,
                "malformed_calls": r.malformed, "malformed_calls_under_strict": r.malformed_strict,
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
    }


def write_json(results: list[ScenarioResult], path: Path, seconds: float | None = None) -> None:
    path.write_text(json.dumps(to_json(results, seconds), indent=2) + "\n", encoding="utf-8")


def write_junit(results: list[ScenarioResult], path: Path) -> None:
    failures = sum(1 for r in results if not r.ok)
    suite = ET.Element("testsuite", name="conductor-evals", tests=str(len(results)), failures=str(failures),
                       time=f"{sum(r.seconds for r in results):.3f}")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"evals.{r.brain}", name=r.scenario,
                             time=f"{r.seconds:.3f}")
        if r.known_bug and not r.passed:
            ET.SubElement(case, "skipped", message=f"known engine bug: {r.known_bug}")
        elif not r.ok:
            failure = ET.SubElement(case, "failure", message=problem(r) or "failed")
            failure.text = "\n".join([*(f"{i.name}: {i.violation}" for i in r.invariants if not i.passed),
                                      *r.failures])
        out = ET.SubElement(case, "system-out")
        out.text = (f"outcome={r.outcome} turns={r.turns} tokens={r.tokens} cache_hit={_ratio(r)} "
                    f"time_to_rollback={_rollback(r)} made_safe_by={','.join(r.made_safe_by) or '-'}")
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
