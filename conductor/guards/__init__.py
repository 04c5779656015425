"""Guards: small checks that run before every tool call and refuse with a reason.

``GUARDS_BY_TOOL`` is the one place that says which guards protect which tool; the executor
(:mod:`conductor.guards.executor`) runs them in order and stops at the first refusal. ``rollback``
has only ``known_service``: rolling back a known service is never refused.
"""

from __future__ import annotations

from conductor.guards.approval import approved, within_ramp
from conductor.guards.bake import baked
from conductor.guards.base import Guard, GuardedCall
from conductor.guards.freeze import freeze
from conductor.guards.healthy import healthy_before_more_traffic
from conductor.guards.known_service import known_service
from conductor.guards.release_version import release_version
from conductor.guards.strategy_rules import strategy_rules
from conductor.guards.terminal import not_finished

_MUTATING: list[Guard] = [known_service, freeze, not_finished, strategy_rules]

GUARDS_BY_TOOL: dict[str, list[Guard]] = {
    "get_status": [],
    "check_health": [known_service],
    "monitor": [known_service, not_finished],
    "request_approval": [known_service, not_finished],
    "deploy": [*_MUTATING, release_version],
    "shift_traffic": [*_MUTATING, healthy_before_more_traffic, approved, within_ramp],
    "update_instances": [*_MUTATING, healthy_before_more_traffic],
    "promote": [*_MUTATING, baked, healthy_before_more_traffic],
    "rollback": [known_service],
}

__all__ = ["GUARDS_BY_TOOL", "Guard", "GuardedCall"]
