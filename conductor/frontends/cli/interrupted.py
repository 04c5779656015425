"""What Ctrl-C leaves behind, said plainly: which new versions still take traffic, and how to
watch them or roll them back.

An interrupted ``orchestrate`` stops the brain *and* the watchdog that ran inline with it; a
release left at 100% "Baking" is then watched by nothing until someone runs ``conductor watch``
(or ``conductor up`` hosts it). A resume is possible — the journal holds the state — but it is
one of three choices, not the only thing worth saying.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# The commands whose process drives a release (and runs its watchdog inline): Ctrl-C in any of
# them leaves the same question of what still takes traffic.
DRIVERS = ("orchestrate", "promote", "resume", "undo", "abort", "chat", None)


def interruption_message(args: argparse.Namespace) -> str:
    """The lines printed on stderr after Ctrl-C; never raises (the process is already stopping)."""
    command = getattr(args, "command", None)
    if command not in DRIVERS or not hasattr(args, "config"):
        return "conductor: interrupted"
    return in_flight_message(args.config)


def in_flight_message(config: Path | None) -> str:
    """What an interruption left taking traffic, and how to watch, resume or roll it back (also
    for a dashboard stopped in the middle of an action it ran); never raises."""
    try:
        return _in_flight_message(config)
    except KeyboardInterrupt:  # a second Ctrl-C: stop explaining
        return "conductor: interrupted"
    except Exception as exc:  # the journal could not be read: say so rather than guess
        return (f"conductor: interrupted; the state could not be read ({exc}). Run `conductor orchestrate` "
                "to see what takes traffic, `conductor orchestrate rollback` to roll back")


def _in_flight_message(config: Path | None) -> str:
    # deferred: the session loads the whole engine, not on `--help`
    from conductor.session import Conductor

    conductor = Conductor.from_config(config)
    try:
        flights = conductor.in_flight()
    finally:
        conductor.close()
    if not flights:
        return "conductor: interrupted; no orchestration is in flight, nothing new takes traffic"
    hosted = conductor.config.platform.kind == "local"  # `conductor up` hosts a watchdog of its own
    lines = ["conductor: interrupted. " + (
        "The watchdog of `conductor up` (if it runs) keeps watching what still takes traffic:" if hosted
        else "Nothing watches this release now (the watchdog ran in this process):")]
    for state in flights:
        for svc in state.services.values():
            if svc.terminal:
                continue
            percent = svc.candidate_percent
            where = (f"{svc.target_version} takes {percent}% of traffic, {svc.stable_version} {100 - percent}%"
                     if svc.new_version_live else f"{svc.target_version} takes no traffic yet")
            lines.append(f"  {svc.name}: {where} ({svc.phase.value}, orchestration #{state.id} {state.strategy})")
    config_flag = f" --config {config}" if config is not None else ""
    strategy = flights[0].strategy
    lines += [
        f"  watch it:    conductor watch{config_flag}   (the watchdog rolls back a bad version by itself)",
        f"  resume it:   conductor orchestrate {strategy}{config_flag}",
        f"  roll back:   conductor orchestrate rollback{config_flag}",
    ]
    return "\n".join(lines)
