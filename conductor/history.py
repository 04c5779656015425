"""The releases this environment has seen: ``conductor history`` / ``conductor list``.

The journal is the record: for each orchestration, what it released (from which version to
which), who approved what and when, how it ended, whether a person paused or aborted it, and
which release an undo took back. ``.mothership/DEPLOYMENTS.md`` (the spec's deployment log,
committed by people) adds the releases the journal no longer holds — a journal deleted, or
started afresh on another machine — as far as that file tells them.

The revision numbers ``conductor undo --to-revision N`` takes are the release ids shown here.
Everything is read-only: no lock, no platform call.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conductor.journal.events import ApprovalGranted, OrchestrationEnded
from conductor.journal.state import Phase, fold
from conductor.journal.store import Journal

JOURNAL = "journal"
DEPLOYMENTS = "DEPLOYMENTS.md"


@dataclass(frozen=True)
class Approval:
    actor: str
    percent: int
    exact: bool
    via: str
    at: str  # UTC wall clock
    service: str | None = None  # None: the whole release


@dataclass
class ReleaseRecord:
    """One release (one orchestration), newest first in :func:`release_history`."""

    id: int
    command: str
    strategy: str
    started: str  # UTC wall clock
    ended: str | None
    outcome: str  # complete | rolled_back | failed | in flight | the outcome DEPLOYMENTS.md names
    services: dict[str, dict[str, str | None]] = field(default_factory=dict)  # name -> from, to, result
    approvals: list[Approval] = field(default_factory=list)
    aborted: dict[str, str] | None = None  # actor, reason
    paused: dict[str, str] | None = None  # actor, reason (in flight only)
    undo_of: int | None = None
    source: str = JOURNAL

    def completed(self, service: str) -> bool:
        return self.services.get(service, {}).get("result") == Phase.COMPLETE.value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def release_history(journal: Journal | None, state_dir: Path, service: str | None = None,
                    limit: int | None = None) -> list[ReleaseRecord]:
    """Every release, newest first (``service``: those that touched it; ``limit``: the newest N)."""
    records = _from_journal(journal) if journal is not None else []
    known = {(r.id, r.command) for r in records}
    records += [r for r in _from_deployments_log(state_dir / DEPLOYMENTS) if (r.id, r.command) not in known]
    records.sort(key=lambda r: (r.source == JOURNAL, r.started, r.id), reverse=True)
    if service is not None:
        records = [r for r in records if service in r.services]
    return records[:limit] if limit is not None else records


def _from_journal(journal: Journal) -> list[ReleaseRecord]:
    records = []
    for oid, command, strategy, created in journal.orchestrations():
        events = journal.events(oid)
        state = fold(events)
        if state is None:
            continue
        ended = next((e.wall for e in events if isinstance(e.payload, OrchestrationEnded)), None)
        approvals = [
            Approval(e.actor, e.payload.percent, e.payload.exact, e.payload.via, e.wall, e.service)
            for e in events if isinstance(e.payload, ApprovalGranted) and e.actor.startswith("person:")
        ]
        services = {
            s.name: {"from": s.from_version, "to": s.target_version,
                     "result": s.phase.value + (f": {s.rollback_reason}" if s.rollback_reason else "")
                     if s.phase is not Phase.COMPLETE else s.phase.value}
            for s in state.services.values()
        }
        note = state.aborted
        pause = state.paused if state.in_flight else None
        records.append(ReleaseRecord(
            id=oid, command=command, strategy=strategy, started=created, ended=ended,
            outcome=state.outcome or "in flight", services=services, approvals=approvals,
            aborted={"actor": note.actor, "reason": note.reason} if note else None,
            paused={"actor": pause.actor, "reason": pause.reason} if pause else None,
            undo_of=state.undo_of,
        ))
    return records


_HEADING = re.compile(r"^## #(\d+) (\S+) — (.+?) — (.+)$")
_COMMAND = re.compile(r"^Command: `([^`]*)`(?:.* · undo of #(\d+))?")
_APPROVED = re.compile(r"(person:\S+) (\d+)%(?: \(([a-z0-9-]+)\))? at (\d\d:\d\d:\d\d) UTC")
_ABORTED = re.compile(r"^Aborted by (\S+?)(?:: (.*))?$")
_ROW = re.compile(r"^\| ([a-z0-9-]+) \| ([^|]*) \| ([^|]*) \| (.*) \|$")


def _from_deployments_log(path: Path) -> list[ReleaseRecord]:
    """The records of DEPLOYMENTS.md, as far as its format tells (approvals carry the time of
    day; their date is the record's). A file people edit: lines that do not parse are skipped,
    never guessed at."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    records: list[ReleaseRecord] = []
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            records.append(ReleaseRecord(id=int(heading[1]), command="", strategy=heading[2], started=heading[4],
                                         ended=heading[4], outcome=heading[3], source=DEPLOYMENTS))
            continue
        if not records:
            continue
        record = records[-1]
        command, row, aborted = _COMMAND.match(line), _ROW.match(line), _ABORTED.match(line)
        if command:
            record.command = command[1]
            record.undo_of = int(command[2]) if command[2] else None
        elif line.startswith("Approved: "):
            day = record.started[:10]
            record.approvals = [Approval(m[1], int(m[2]), False, "", f"{day}T{m[4]}", m[3])
                                for m in _APPROVED.finditer(line)]
        elif aborted:
            record.aborted = {"actor": aborted[1], "reason": aborted[2] or ""}
        elif row and row[1] != "Service":
            record.services[row[1]] = {"from": _version(row[2]), "to": _version(row[3]), "result": row[4].strip()}
    return records


def _version(cell: str) -> str | None:
    value = cell.strip()
    return None if value in ("", "—") else value


__all__ = ["Approval", "ReleaseRecord", "release_history"]
