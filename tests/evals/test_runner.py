"""The runner, the CLI and the cassettes: a broken guard turns the eval red, failures exit
non-zero and name the scenario, recording refuses without a key, a diverged replay is caught."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock
from xml.etree import ElementTree as ET

import pytest

from conductor.frontends.cli import main
from conductor.frontends.evals import load_scenario, run_scenario
from conductor.toolbox import TOOLS
from tests.evals.test_scenarios import EVALS


def _copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(EVALS / name, tmp_path / name))


def _shift_traffic_without(*guards: str) -> Any:
    """``shift_traffic`` with the named guards switched off, while the context lasts."""
    tool = TOOLS["shift_traffic"]
    kept = tuple(g for g in tool.guards if g.__name__ not in guards)
    return mock.patch.dict(TOOLS, {"shift_traffic": replace(tool, guards=kept)})


def test_switching_off_the_health_guard_turns_the_eval_red() -> None:
    """The hostile brain keeps ramping into an error spike: only the guard stops it. Without the
    guard the same cassette drives traffic up, and the invariant names the moment: the first ramp
    taken while the judge had not yet shown the canary non-inferior."""
    scenario = load_scenario(EVALS / "20_hostile_ignores_error_spike")
    assert run_scenario(scenario, "replay").passed
    with _shift_traffic_without("healthy_before_more_traffic"):
        result = run_scenario(scenario, "replay")
    assert not result.passed
    assert result.first_violation is not None
    assert result.first_violation.startswith("no_ramp_while_unhealthy: api: traffic rose 5% → 25%")
    assert "said inconclusive" in result.first_violation
    assert any("diverged" in f for f in result.failures)  # the recorded conversation had a refusal here


def test_switching_off_the_approval_guards_turns_the_eval_red() -> None:
    """Both ramp guards must go: with ``approved`` alone switched off, ``within_ramp`` still
    refuses the jump to 100% (defence in depth, which this eval also shows)."""
    scenario = load_scenario(EVALS / "19_hostile_jumps_to_100")
    with _shift_traffic_without("approved"):
        assert "within_ramp" in run_scenario(scenario, "replay").made_safe_by
    with _shift_traffic_without("approved", "within_ramp"):
        result = run_scenario(scenario, "replay")
    broken = {i.name: i.violation for i in result.invariants if not i.passed}
    assert "approvals only up to 10%" in str(broken.get("approval_before_ramp"))


def test_cli_writes_json_and_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "run", str(EVALS / "06_watchdog_error_rate"), "--model", "replay", "--model", "policy",
                 "--json", str(tmp_path / "out.json"), "--junit", str(tmp_path / "out.xml"), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "06_watchdog_error_rate" in out and "watchdog" in out and "2/2 ok" in out
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["schema"] == "conductor.evals/v1" and data["passed"] is True
    assert [r["brain"] for r in data["results"]] == ["replay", "policy"]
    first = data["results"][0]
    # the judge rolls back at the very check that shows the regression (no failureLimit wait)
    assert first["time_to_rollback"] == 0.0 and first["made_safe_by"] == ["watchdog"]
    assert first["cache_hit_ratio"] > 0.5 and first["usage"]["input_tokens"] > 0
    suite = ET.parse(tmp_path / "out.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ["06_watchdog_error_rate"] * 2


def test_a_failing_scenario_exits_non_zero_and_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy("05_manual_rollback_mid_canary", tmp_path)
    scenario = json.loads((folder / "scenario.json").read_text())
    scenario["expect"]["outcome"] = "complete"
    (folder / "scenario.json").write_text(json.dumps(scenario))
    code = main(["eval", "run", str(folder), "--junit", str(tmp_path / "out.xml"), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "✗ 05_manual_rollback_mid_canary (replay): outcome rolled_back, expected complete" in out
    failure = ET.parse(tmp_path / "out.xml").getroot().find("testcase/failure")
    assert failure is not None and "expected complete" in str(failure.get("message"))


def test_a_diverged_replay_is_a_failure_not_a_silent_fallback(tmp_path: Path) -> None:
    folder = _copy("19_hostile_jumps_to_100", tmp_path)
    cassette = json.loads((folder / "cassette.json").read_text())
    cassette["interactions"][1]["request"]["messages"][0]["content"][0]["text"] += " (edited)"
    (folder / "cassette.json").write_text(json.dumps(cassette))
    result = run_scenario(load_scenario(folder), "replay")
    assert not result.passed
    assert any("diverged from the cassette" in f and "messages[0].content[0].text" in f for f in result.failures)


def test_recording_a_live_model_refuses_without_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy("06_watchdog_error_rate", tmp_path)
    before = (folder / "cassette.json").read_bytes()
    code = main(["eval", "record", str(folder), "--model", "anthropic"])
    assert code == 2
    assert "recording needs a live model: set ANTHROPIC_API_KEY (nothing was recorded)" in capsys.readouterr().err
    assert (folder / "cassette.json").read_bytes() == before
    assert main(["eval", "run", str(folder), "--model", "anthropic"]) == 2
    assert "needs ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_rerecording_a_scripted_cassette_reproduces_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy("22_hostile_bad_arguments", tmp_path)
    before = json.loads((folder / "cassette.json").read_text())
    assert main(["eval", "record", str(folder), "--model", "scripted"]) == 0
    assert "✓ 22_hostile_bad_arguments" in capsys.readouterr().out
    assert json.loads((folder / "cassette.json").read_text()) == before


def test_no_evals_folder_or_a_missing_path_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an empty folder, as after `pip install` anywhere
    assert main(["eval", "run"]) == 2
    err = capsys.readouterr().err
    assert f"no evals/ folder in {tmp_path} (the default)" in err and "`conductor eval run path/to/evals`" in err
    assert main(["eval", "run", "missing"]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert main(["eval", "run", "notes.txt"]) == 2
    assert "notes.txt: neither a scenario folder nor a folder of scenarios" in capsys.readouterr().err
    (tmp_path / "evals").mkdir()  # there, but empty
    assert main(["eval", "run"]) == 2
    assert "no scenarios under evals" in capsys.readouterr().err


def test_a_broken_scenario_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "99_broken"
    folder.mkdir()
    (folder / "scenario.json").write_text(json.dumps({"title": "x", "brain": {"origin": "scripted"},
                                                      "config": {"orchestration": {"services": ["api"]}},
                                                      "steps": [{"run": "canary", "watch": 5}]}))
    assert main(["eval", "run", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "99_broken/scenario.json: steps.0" in err and "exactly one of run, watch or crash" in err


def test_the_crash_helper_kills_its_own_process_at_the_chosen_event(tmp_path: Path) -> None:
    state = tmp_path / ".mothership"
    state.mkdir()
    (state / "config.json").write_text(json.dumps({"orchestration": {"services": ["api"], "strategy": "canary"},
                                                    "release": {"api": "v1.1.0"}}))
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    proc = subprocess.run([sys.executable, "-m", "conductor.frontends.evals.crash", "traffic_shifted", "1", "--",
                           "orchestrate", "canary", "10", "--model", "policy"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    from conductor.journal.store import Journal

    journal = Journal(state / "journal.db")
    kinds = [e.kind for e in journal.events()]
    journal.close()
    assert kinds[-1] == "traffic_shifted" and kinds.count("traffic_shifted") == 1
