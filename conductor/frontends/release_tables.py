"""`history` and `list` as markdown tables, the same in the CLI and the chat REPL.

Both front ends show the releases the same way — who approved what and when, how each ended,
aborts and undos — so a person switching from a terminal to the REPL reads the same table. The
suggestions in them are in the CLI's words; the REPL rewrites them (``phrasing.for_repl``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conductor.history import ReleaseRecord
    from conductor.verbs import ServiceRelease


def history_markdown(records: Sequence[ReleaseRecord]) -> str:
    if not records:
        return "## Release history\n\nNo release yet: `conductor orchestrate canary 10` starts one.\n"
    lines = ["## Release history", "", "| # | Started (UTC) | Strategy | Changes | Outcome | Approvals |",
             "|---|---|---|---|---|---|"]
    for r in records:
        changes = "; ".join(f"{n} {s['from'] or '—'} → {s['to'] or '—'} ({s['result']})" for n, s in r.services.items())
        outcome = r.outcome
        if r.aborted is not None:
            outcome = f"aborted by {r.aborted['actor']}" + (f": {r.aborted['reason']}" if r.aborted["reason"] else "")
        if r.paused is not None:
            outcome += f", paused by {r.paused['actor']}"
        if r.undo_of is not None:
            outcome += f" (undo of #{r.undo_of})"
        approvals = "; ".join(f"{a.actor} {a.percent}%{' ' + a.service if a.service else ''} at {a.at[11:19]}"
                              for a in r.approvals) or ("— (from DEPLOYMENTS.md)" if r.source != "journal" else "—")
        lines.append(f"| {r.id} | {r.started[:19].replace('T', ' ')} | {r.strategy} | {changes} | {outcome} | "
                     f"{approvals} |")
    return "\n".join(lines) + "\n"


def services_markdown(rows: Sequence[ServiceRelease]) -> str:
    lines = ["## Services", "", "| Service | Running | Slot | Last release | In flight |", "|---|---|---|---|---|"]
    for r in rows:
        last = f"#{r.last_release} {r.last_outcome}" if r.last_release is not None else "—"
        lines.append(f"| {r.service} | {r.version or '—'} | {r.slot or '—'} | {last} | {r.in_flight or '—'} |")
    return "\n".join(lines) + "\n"
