"""The offline policy brain: follows the strategy's runbook through the same tools and guards a
model uses. Deterministic, free, and the default when no API key is configured.

It stops (ends its turn) instead of retrying when its last call was refused or failed — a refusal
means the runbook and the guards disagree about the world, which a person should look at — except
to roll back the rest of a release that cannot go on.
"""

from __future__ import annotations

from conductor.models.base import ModelRequest, ToolCall, Turn
from conductor.strategies import CallTool, Finished, WaitForPerson, next_action


class PolicyModel:
    name = "policy"

    def __init__(self) -> None:
        self._calls = 0

    def next_turn(self, request: ModelRequest) -> Turn:
        context = request.context
        last = context.last_results[-1] if context.last_results else None
        action = next_action(context.state, context.config, context.now)
        failed = last is not None and last.status in ("refused", "error")
        if failed and not (isinstance(action, CallTool) and action.tool == "rollback"):
            assert last is not None
            return _text_turn(f"Stopped: the last action was {last.status}: {last.message}")
        if isinstance(action, CallTool):
            self._calls += 1
            call = ToolCall(id=f"policy_{self._calls:04d}", name=action.tool, arguments=action.arguments)
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            return Turn(text="", tool_calls=[call], stop_reason="tool_use", content=[block])
        if isinstance(action, WaitForPerson):
            return _text_turn(f"Paused: {action.why}.")
        assert isinstance(action, Finished)
        return _text_turn(f"Done: {action.why}.")


def _text_turn(text: str) -> Turn:
    return Turn(text=text, tool_calls=[], stop_reason="end_turn", content=[{"type": "text", "text": text}])
