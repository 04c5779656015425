"""How long the loop is about to wait, and so which prompt-cache lifetime a turn should ask for.

A cache entry lives 5 minutes unless it is read again (each read renews it); a 1-hour entry
costs 2× the input price to write instead of 1.25×. What decides is the gap before the *next*
request: a turn that answers with ``monitor`` for a 15-minute bake, or with ``request_approval``
(the next request comes when a person types the approval, minutes or hours later, in another
process that shares the system prompt and tools), leaves the cache idle past 5 minutes. The
turn's answer is not known when it is sent, so the gap is predicted from the runbook
(:func:`conductor.strategies.next_action`, the same one the prompt tells the model): if the
runbook's next step waits ``LONG_WAIT`` seconds or more, or waits for a person, the turn asks
for 1 hour; otherwise 5 minutes. A brain that strays from the runbook makes the guess wrong in
one direction or the other; it costs a re-write or a slightly dearer write, never correctness.

The static prefix (tool definitions, system prompt) is one entry shared by every run of the
orchestration — the approval typed minutes later starts a new conversation with the same
prefix — and is written once, then only read. It asks for 1 hour whenever the orchestration can
wait that long at all (approvals required, a bake or a step of ``LONG_WAIT`` or more): a write at
2× instead of 1.25×, once, instead of a re-write after every pause. The API wants 1-hour
breakpoints before 5-minute ones; the static prefix comes first, so it is never shorter-lived
than the moving breakpoint after it (:func:`plan_cache`).
"""

from __future__ import annotations

from dataclasses import dataclass

from conductor.agent.messages import CacheTTL
from conductor.config import ConductorConfig
from conductor.journal.state import OrchestrationState
from conductor.strategies import CallTool, WaitForPerson, next_action

FIVE_MINUTES = 300.0
LONG_WAIT = 240.0  # a wait this long (plus the model's own latency) may outlive a 5-minute entry
FOREVER = float("inf")


def upcoming_wait(state: OrchestrationState, config: ConductorConfig, now: float) -> float:
    """Seconds the runbook's next step lets pass before the brain is asked again (inf: a person)."""
    action = next_action(state, config, now)
    if isinstance(action, WaitForPerson):
        return FOREVER
    if isinstance(action, CallTool):
        if action.tool == "request_approval":
            return FOREVER if config.orchestration.require_approval else 0.0
        if action.tool == "monitor":
            seconds = action.arguments.get("seconds", 0.0)
            return float(seconds) if isinstance(seconds, int | float) else 0.0
    return 0.0


@dataclass(frozen=True)
class CachePlan:
    """The lifetimes one request asks for: the static prefix's breakpoints (tools, system) and
    the moving one before the live state (``messages``). None: no such breakpoint; a plan with
    no ``prefix`` is caching off."""

    prefix: CacheTTL | None
    messages: CacheTTL | None
    reread: bool = False  # the moving breakpoint stays where the last turn put it: read, write nothing new

    @property
    def label(self) -> str | None:
        """What the turn journals as its ``cache_ttl``: the moving breakpoint's lifetime (the one
        chosen per turn; the static prefix's follows the config), None with caching off."""
        return self.messages or self.prefix


def plan_cache(setting: str, state: OrchestrationState, config: ConductorConfig, now: float) -> CachePlan:
    """``model.promptCache``: ``off`` → no breakpoints; ``5m``/``1h`` → that lifetime everywhere;
    ``auto`` → from the coming wait (module docstring). Before a person's answer the run ends,
    and the next run starts a new conversation that shares only the static prefix: that request
    keeps the moving breakpoint where the previous turn put it (``reread``): the history cached so
    far is read, and the newest results — never read again — are not written."""
    if setting == "off":
        return CachePlan(None, None)
    if setting in ("5m", "1h"):
        fixed: CacheTTL = "1h" if setting == "1h" else "5m"
        return CachePlan(fixed, fixed)
    wait = upcoming_wait(state, config, now)
    if wait == FOREVER:
        return CachePlan("1h", "5m", reread=True)
    if wait >= LONG_WAIT:
        return CachePlan("1h", "1h")
    return CachePlan(static_ttl(config), "5m")


def static_ttl(config: ConductorConfig) -> CacheTTL:
    """The static prefix's lifetime when the coming wait is short (see the module docstring)."""
    o = config.orchestration
    return "1h" if o.require_approval or max(o.bake_time, o.max_step_duration) >= LONG_WAIT else "5m"
