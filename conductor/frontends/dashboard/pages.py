"""The dashboard's pages, rendered with jinja2 from ``templates/``: HTML escaping is on for every
template, and every value a template prints first passes :func:`conductor.output.safe_text`
(secrets scrubbed, ``<`` neutralised), so no string read from the journal, the config or a
platform can become markup, a script or a ``<conductor>`` signal. The only markup inserted as is:
the SVG charts (:mod:`.svg`, which escapes its own texts) and links this module builds.

The same pages serve the live dashboard (links carry the token, a region streams updates) and the
self-contained report file (``inline_assets``: the stylesheet inlined, no script, no link out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from conductor.frontends.dashboard import svg
from conductor.frontends.dashboard.charts import service_charts
from conductor.output import safe_data, safe_text
from conductor.release_history import Check, ReleaseHistory, ReleaseSummary

TIMELINE_ROWS = 200
VERDICT_ROWS = 60


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return safe_text(value)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("conductor.frontends.dashboard", "templates"),
        autoescape=True, finalize=_finalize, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(duration=svg.duration, pct=pct, ms=ms)
    return env


def asset(name: str) -> str:
    return (resources.files("conductor.frontends.dashboard") / "static" / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Action:
    name: str  # approve | rollback
    label: str
    href: str


@dataclass(frozen=True)
class Note:
    """A line about an action this dashboard ran; ``href`` links what it made (an undo's release)."""

    text: str
    href: str | None = None
    label: str = ""


Linker = Callable[[str], Markup]


def plain_link(path: str) -> Markup:
    return Markup(escape(path, quote=True))


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}%"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}ms"


def _page(template: str, link: Linker, **values: Any) -> str:
    values.setdefault("inline_assets", False)
    values.setdefault("mode", "")
    values.setdefault("stream", None)
    values.setdefault("css", Markup(asset("dashboard.css")) if values["inline_assets"] else "")
    return environment().get_template(template).render(link=link, **values)


def releases_page(rows: list[ReleaseSummary], link: Linker, mode: str, stream: Markup | None,
                  missing: str = "") -> str:
    return _page("releases.html.j2", link, title="Releases", releases=rows, mode=mode, stream=stream,
                 missing=missing)


def releases_region(rows: list[ReleaseSummary], link: Linker, missing: str = "") -> str:
    return environment().get_template("releases_table.html.j2").render(link=link, releases=rows, missing=missing)


def charts_of(history: ReleaseHistory) -> list[tuple[str, list[Markup]]]:
    return [(name, [Markup(svg.render(chart)) for chart in service_charts(history, series)])
            for name, series in history.services.items()]


def _body_values(history: ReleaseHistory, actions: list[Action], notes: list[Note],
                 journal_href: str | None) -> dict[str, Any]:
    checks = [(name, c) for name, s in history.services.items() for c in verdict_changes(s.checks)]
    checks.sort(key=lambda pair: (pair[1].at, pair[1].seq), reverse=True)
    return {
        "h": history, "charts": charts_of(history), "actions": actions, "notes": notes,
        "verdicts": checks[:VERDICT_ROWS], "verdicts_left": max(0, len(checks) - VERDICT_ROWS),
        "timeline": history.timeline[::-1][:TIMELINE_ROWS],
        "timeline_left": len(history.timeline) > TIMELINE_ROWS, "journal_href": journal_href,
        "chart_links": None if journal_href is None else True,  # the report file links nothing outside it
        "signals": [Markup(escape(s)) for s in signal_texts(history)],  # Conductor's own, rebuilt
    }


def signal_texts(history: ReleaseHistory) -> list[str]:
    """The release's signals, each rebuilt from its parts by the signal module
    (:func:`conductor.output.safe_data`): Conductor's own text, never a string copied from the journal."""
    return [str(s["text"]) for s in safe_data(history.signals) if isinstance(s, dict) and "text" in s]


def release_page(history: ReleaseHistory, link: Linker, *, mode: str, stream: Markup | None,
                 actions: Sequence[Action] = (), notes: Sequence[Note] = (), inline_assets: bool = False,
                 output_format: str = "") -> str:
    journal_href = None if inline_assets else f"/release/{history.id}/journal"
    return _page("release.html.j2", link, title=f"Release #{history.id}", mode=mode, stream=stream,
                 inline_assets=inline_assets, output_format=output_format,
                 **_body_values(history, list(actions), list(notes), journal_href))


def release_region(history: ReleaseHistory, link: Linker, actions: list[Action], notes: list[Note]) -> str:
    values = _body_values(history, actions, notes, f"/release/{history.id}/journal")
    return environment().get_template("release_body.html.j2").render(link=link, **values)


def journal_page(history: ReleaseHistory, link: Linker, mode: str, offset: int, size: int = 500) -> str:
    entries = history.timeline[offset:offset + size]
    prev_href = f"/release/{history.id}/journal?offset={max(0, offset - size)}" if offset > 0 else None
    next_href = f"/release/{history.id}/journal?offset={offset + size}" \
        if offset + size < len(history.timeline) else None
    return _page("journal.html.j2", link, title=f"Release #{history.id} journal", mode=mode, h=history,
                 entries=entries, first=offset + 1, last=offset + len(entries), prev_href=prev_href,
                 next_href=next_href)


def confirm_page(link: Linker, *, mode: str, release: int, name: str, description: str, command: str,
                 actor: str, csrf: str, fingerprint: str, action_href: str) -> str:
    return _page("confirm.html.j2", link, title="Confirm", mode=mode, release=release, name=name,
                 description=description, command=command, actor=actor, csrf=csrf, fingerprint=fingerprint,
                 action_href=action_href)


def message_page(link: Linker, *, mode: str, title: str, message: str, back: str | None = None) -> str:
    return _page("message.html.j2", link, title=title, mode=mode, message=message, back=back)


def verdict_changes(checks: list[Check]) -> list[Check]:
    """The checks worth a row: each change of verdict, and the latest one."""
    kept = [c for i, c in enumerate(checks) if i == 0 or checks[i - 1].verdict != c.verdict]
    if checks and (not kept or kept[-1] is not checks[-1]):
        kept.append(checks[-1])
    return kept
