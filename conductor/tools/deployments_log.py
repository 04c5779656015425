"""The spec's "update documentation": one record per finished orchestration, appended to
``.mothership/DEPLOYMENTS.md`` (a file people read and commit).

Reasons and failures quote the outside (metrics, the platform, a model's tool argument): each
line is made safe like any output (:func:`conductor.output.safe_text`), so a committed file never
holds a secret nor a line a harness would read as a signal."""

from __future__ import annotations

from datetime import UTC, datetime

from conductor.journal.events import ApprovalGranted
from conductor.output import safe_text
from conductor.tools.runtime import Runtime

HEADER = "# Deployments\n\nAppended by Conductor when an orchestration completes or rolls back.\n"


def append_record(rt: Runtime) -> None:
    state = rt.state()
    path = rt.state_dir / "DEPLOYMENTS.md"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "",
        f"## #{state.id} {state.strategy} — {state.outcome or 'in flight'} — {stamp}",
        "",
        f"Command: `{state.command}` · brain: {state.brain}"
        + (f" · undo of #{state.undo_of}" if state.undo_of is not None else ""),
        "",
        *_approvals(rt),
        *([f"Aborted by {state.aborted.actor}" + (f": {state.aborted.reason}" if state.aborted.reason else ""), ""]
          if state.aborted is not None else []),
        "| Service | From | To | Result |",
        "|---------|------|----|--------|",
    ]
    for svc in state.services.values():
        result = svc.phase.value + (f": {svc.rollback_reason}" if svc.rollback_reason else "")
        result += f": {svc.failure}" if svc.failure else ""
        lines.append(f"| {svc.name} | {svc.from_version or '—'} | {svc.target_version or '—'} | {result} |")
    with open(path, "a", encoding="utf-8") as handle:
        if handle.tell() == 0:
            handle.write(HEADER)
        handle.write("\n".join(safe_text(line) for line in lines) + "\n")


def _approvals(rt: Runtime) -> list[str]:
    """Who approved what, and when (UTC): the approvals the guards counted (people only)."""
    parts = [f"{e.actor} {e.payload.percent}%" + (f" ({e.service})" if e.service else "") + f" at {e.wall[11:19]} UTC"
             for e in rt.journal.events(rt.orchestration_id, kinds=("approval_granted",))
             if isinstance(e.payload, ApprovalGranted) and e.actor.startswith("person:")]
    if not parts:
        return []
    return ["Approved: " + "; ".join(parts), ""]
