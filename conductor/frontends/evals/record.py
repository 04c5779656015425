"""Writing a scenario's cassette: from its script (offline) or from a live Claude model.

    conductor eval record evals/19_hostile_jumps_to_100 --model scripted    # offline, from script.json
    conductor eval record evals/19_hostile_jumps_to_100 --model anthropic   # needs ANTHROPIC_API_KEY

Re-record scripted cassettes after a deliberate change to the prompts, the tool schemas or the
guards' messages: replay compares every request with the recording, so such a change makes the
replay diverge (and the eval fail, naming the first difference) until the cassette is rewritten.
A live recording replaces a scripted cassette and its metadata says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from unittest import mock

from conductor.errors import UsageError
from conductor.frontends.evals.results import ScenarioResult, StepRecord
from conductor.frontends.evals.runner import run_scenario
from conductor.frontends.evals.scenario import Scenario, Step
from conductor.frontends.evals.scripted import Script, scripted_brains
from conductor.journal.store import Journal
from conductor.session import Conductor

SCRIPTED_NOTE = ("scripted: hand-written model turns recorded through the real SDK client against a scripted "
                 "Messages API; not a recording of a live model")
POLICY_NOTE = ("policy-recorded: the offline policy brain's turns put on the wire of the real SDK client; "
               "not a recording of a live model")


class _Killed(BaseException):
    """Stands in for SIGKILL while recording in-process: nothing catches a BaseException here."""


def _crash_in_process(step: Step, root: Path, brain: str, record: StepRecord) -> StepRecord:
    """The recording twin of the runner's SIGKILLed subprocess: killed after the same event."""
    assert step.crash is not None
    crash = step.crash
    append_all = Journal.append_all  # every append goes through it, one transaction each
    seen = 0

    def append_then_maybe_die(self: Journal, entries: Any, **fields: Any) -> Any:
        nonlocal seen
        events = append_all(self, entries, **fields)
        seen += sum(1 for event in events if event.kind == crash.after_event)
        if seen >= crash.count and any(event.kind == crash.after_event for event in events):
            raise _Killed
        return events

    conductor = Conductor.from_config(root / ".mothership" / "config.json", model=brain)
    try:
        with mock.patch.object(Journal, "append_all", append_then_maybe_die):
            conductor.run(crash.run, auto=crash.auto)
        record.notes.append("the process was not killed: the kill point never came")
        record.exit_code = 0
    except _Killed:
        record.exit_code = -9
    finally:
        conductor.close()
    return record


def record_scripted(scenario: Scenario) -> ScenarioResult:
    """Rewrite the scenario's cassette from its script (or from the policy brain), then replay-check it."""
    origin = scenario.brain.origin
    if origin == "recorded":
        raise UsageError(f"{scenario.name}: its cassette is a live recording; re-record it with --model anthropic")
    cassette = scenario.folder / scenario.brain.cassette
    if scenario.brain.script:
        script = Script.load(scenario.folder / scenario.brain.script)
    else:
        # one policy run per step is enough: steps that do not drive the brain leave theirs unused
        script = Script(model="claude-sonnet-5-5", runs=[[{"policy": "rest"}] for _ in scenario.steps])
    cassette.unlink(missing_ok=True)
    with scripted_brains(script, cassette), mock.patch("conductor.frontends.evals.runner._crash", _crash_in_process):
        recorded = run_scenario(scenario, brain="replay")
    if not cassette.exists():
        raise UsageError(f"{scenario.name}: no run drove the brain, so there is nothing to record")
    _label(cassette, SCRIPTED_NOTE if scenario.brain.script else POLICY_NOTE, scenario.brain.script)
    replayed = run_scenario(scenario, brain="replay")
    if not replayed.ok:
        return replayed
    return recorded


def record_live(scenario: Scenario) -> ScenarioResult:
    """Run the scenario on Claude, recording every exchange to its cassette (needs a key)."""
    if not os.environ.get("ANTHROPIC_API_KEY"):
        raise UsageError("recording needs a live model: set ANTHROPIC_API_KEY (nothing was recorded). "
                         "To rewrite a scripted cassette offline, use --model scripted")
    cassette = scenario.folder / scenario.brain.cassette
    cassette.unlink(missing_ok=True)
    with mock.patch.dict(os.environ, {"CONDUCTOR_RECORD": str(cassette)}):
        result = run_scenario(scenario, brain="anthropic")
    if cassette.exists():
        _label(cassette, "recorded: a live model's exchanges", None)
        _set_origin(scenario.folder / "scenario.json", "recorded")
    return result


def _label(cassette: Path, note: str, script: str | None) -> None:
    data = json.loads(cassette.read_text(encoding="utf-8"))
    data["meta"] = {"origin": note.split(":", 1)[0], "note": note, **({"script": script} if script else {})}
    cassette.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _set_origin(scenario_file: Path, origin: str) -> None:
    data = json.loads(scenario_file.read_text(encoding="utf-8"))
    data.setdefault("brain", {})["origin"] = origin
    data["brain"].pop("script", None)
    scenario_file.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
