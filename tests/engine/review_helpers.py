"""Helpers for the review regression tests: run a command in a fresh Conductor, start an
orchestration by hand (to stop at any point of it), and a stand-in for SIGKILL."""

from __future__ import annotations

from typing import Any

from conductor.command import parse_command
from conductor.session import Conductor
from conductor.starting import plan_release, start_orchestration
from conductor.tools.runtime import Runtime
from tests.conftest import Workspace


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after the raise runs, nothing is cleaned up."""


def run(workspace: Workspace, text: str, **options: Any) -> Any:
    conductor = Conductor.from_config(workspace.config_path)
    try:
        return conductor.run(text, **options)
    finally:
        conductor.close()


def in_flight(workspace: Workspace) -> list[int]:
    conductor = Conductor.from_config(workspace.config_path)
    try:
        return [s.id for s in conductor.in_flight()]
    finally:
        conductor.close()


def started(conductor: Conductor, text: str) -> Runtime:
    """An orchestration started as the command would, with no brain driving it."""
    command = parse_command(text)
    plan = plan_release(conductor.config, conductor.bundle, command, {})
    oid = start_orchestration(conductor.journal, plan, command, False, "person:cli", "test",
                              conductor.bundle.clock.now())
    return conductor.runtime(oid)


def instance_versions(workspace: Workspace, service: str) -> set[str | None]:
    conductor = Conductor.from_config(workspace.config_path)
    try:
        return {i.version for i in conductor.bundle.platform.snapshot(service).slots["blue"].instances}
    finally:
        conductor.close()
