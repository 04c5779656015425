"""Catching a brain that ends its turn before the work is done.

A model may end its turn with the release neither advanced to a pause a person must answer nor
finished — confused, lazy, or talked out of it by text it read. The runbook
(:func:`conductor.strategies.next_action`) is the judge of what is due: when it names a tool to
call now, an ``end_turn`` is early; when it waits for a person (an approval, an inconclusive
step) or has nothing left, ending the turn is the right thing to do. Two more cases are not
early: the brain's last call in this run was refused or failed (the guards and the brain
disagree about the world, which a person should look at), and the brain says plainly that it
cannot go on (its answer starts with :data:`CANNOT`).

An early stop is told to the model (:func:`nudge_text`) at most ``MAX_NUDGES`` times, each
journaled as a ``brain_nudged`` event; after that the run ends with the outcome
``stopped_early`` (exit code 7), whose note names the policy brain (``--model policy``) as the
way to finish the release.
"""

from __future__ import annotations

from dataclasses import dataclass

from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState
from conductor.strategies import CallTool, next_action
from conductor.tools.schemas import ToolResult

MAX_NUDGES = 2
CANNOT = "CANNOT CONTINUE"


@dataclass(frozen=True)
class EarlyStop:
    """The runbook's step the brain left undone (shown to the model and journaled)."""

    tool: str
    why: str


def stopped_early(state: OrchestrationState, config: ConductorConfig, now: float, text: str,
                  last_results: list[ToolResult]) -> EarlyStop | None:
    """The undone step when ending the turn now is early, else None (see the module docstring)."""
    if not state.in_flight or state.waits_for_person:  # an approval asked, or held by `conductor pause`
        return None
    if any(r.status in ("refused", "error") for r in last_results[-1:]):
        return None
    if states_inability(text):
        return None
    action = next_action(state, config, now)
    if not isinstance(action, CallTool):
        return None
    return EarlyStop(action.tool, action.why)


def states_inability(text: str) -> bool:
    return text.lstrip().upper().startswith(CANNOT)


def nudge_text(stop: EarlyStop, nudge: int) -> str:
    """What the model is told (the live state block follows it in the same message)."""
    return (f"You ended your turn, but the orchestration is neither finished nor waiting for a person: "
            f"the runbook's next step is {stop.why} (`{stop.tool}`), and nothing has asked for a person's "
            f"answer. Continue with your tools, ask for approval with `request_approval` when the runbook "
            f"says so, or, if you cannot go on, answer with a line starting `{CANNOT}:` and the reason. "
            f"(Reminder {nudge} of {MAX_NUDGES}.)")
