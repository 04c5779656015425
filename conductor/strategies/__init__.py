"""Strategies: the runbook of each deployment strategy as a pure function of journaled state.

``next_action(state, config, now)`` says what the runbook does next — call a tool, wait for a
person, or nothing (finished). The offline policy brain follows it step by step; a model is told
the same runbook in its prompt; the guards enforce its rules either way. Strategies never import
a platform or a vendor SDK.
"""

from __future__ import annotations

from conductor.strategies.plan import Action, CallTool, Finished, WaitForPerson, next_action

__all__ = ["Action", "CallTool", "Finished", "WaitForPerson", "next_action"]
