"""Guards: small checks that run before a tool call and refuse with a reason.

Which guards protect which tool is part of each tool's entry in :data:`conductor.toolbox.TOOLS`;
the dispatcher (:mod:`conductor.dispatch`) runs them in order and stops at the first refusal.
"""

from __future__ import annotations

from conductor.guards.approval import approved, within_ramp
from conductor.guards.bake import baked
from conductor.guards.base import Guard, GuardedCall
from conductor.guards.freeze import freeze
from conductor.guards.healthy import healthy_before_more_traffic
from conductor.guards.known_service import known_service
from conductor.guards.paused import not_paused
from conductor.guards.release_version import release_version
from conductor.guards.strategy_rules import strategy_rules
from conductor.guards.terminal import not_finished

__all__ = [
    "Guard",
    "GuardedCall",
    "approved",
    "baked",
    "freeze",
    "healthy_before_more_traffic",
    "known_service",
    "not_finished",
    "not_paused",
    "release_version",
    "strategy_rules",
    "within_ramp",
]
