"""The day-to-day verbs on the command line: `conductor promote | abort | pause | resume | undo |
history | list | init`, their exit codes, --json documents and --help's mapping to the grammar."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from conductor.config_file import load_config
from conductor.errors import ConfigError
from conductor.frontends.cli import build_parser
from conductor.frontends.cli.interrupted import interruption_message
from tests.conftest import Workspace, release_config

Capsys = pytest.CaptureFixture[str]


@pytest.mark.parametrize(("verb", "mapping"), [
    ("promote", "= the approval `canary`"),
    ("promote", "= `canary 100`"),
    ("abort", "= `rollback` of every release in flight, marked aborted"),
    ("undo", "as a blue-green"),
    ("pause", "`conductor resume`"),
])
def test_help_shows_the_mapping_to_the_grammar(verb: str, mapping: str, capsys: Capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([verb, "--help"])
    assert mapping in capsys.readouterr().out


def test_promote_pause_resume_and_abort(workspace: Workspace, capsys: Capsys) -> None:
    nothing = workspace.cli(capsys, "promote")
    assert nothing.code == 2 and "nothing in flight to promote" in nothing.err
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == 0
    step = workspace.cli(capsys, "promote", "api", "--json")
    assert step.code == 0
    assert {r["service"]: r["new_version_percent"] for r in step.json()["services"]} == {
        "api": 25, "web": 5, "worker": 5}
    paused = workspace.cli(capsys, "pause", "--reason", "watching a graph")
    assert paused.code == 0 and "paused orchestration #1" in paused.out
    gate = workspace.cli(capsys, "status", "--json")
    assert gate.code == 5 and gate.json()["state"] == "paused"
    resumed = workspace.cli(capsys, "resume")
    assert resumed.code == 0 and "resumed by person:cli" in resumed.out
    aborted = workspace.cli(capsys, "abort", "--reason", "wrong build")
    assert aborted.code == 3
    assert "<conductor>ROLLBACK:api:aborted by person:cli: wrong build</conductor>" in aborted.out
    history = workspace.cli(capsys, "history", "--json")
    assert history.code == 0
    [record] = history.json()["releases"]
    assert record["aborted"] == {"actor": "person:cli", "reason": "wrong build"}
    assert [(a["actor"], a["percent"], a["service"]) for a in record["approvals"]] == [
        ("person:cli", 5, None), ("person:cli", 25, "api")]
    assert workspace.cli(capsys, "abort").code == 0  # nothing left in flight: nothing to abort


def test_promote_full_completes_a_canary_in_flight(workspace: Workspace, capsys: Capsys) -> None:
    workspace.cli(capsys, "orchestrate", "canary", "5")
    done = workspace.cli(capsys, "promote", "--full")
    assert done.code == 0 and "<conductor>DEPLOYED:api,web,worker</conductor>" in done.out


def test_undo_history_and_list(workspace: Workspace, capsys: Capsys) -> None:
    workspace.write_config(release_config(scaleDownDelay=600))
    refused = workspace.cli(capsys, "undo")
    assert refused.code == 2 and "nothing to undo" in refused.err
    assert workspace.cli(capsys, "orchestrate", "blue-green").code == 0
    undone = workspace.cli(capsys, "undo", "web")
    assert undone.code == 0 and "web: v1.0.0 is still warm" in undone.out
    assert "<conductor>DEPLOYED:web</conductor>" in undone.out
    table = workspace.cli(capsys, "history")
    assert table.code == 0 and "(undo of #1)" in table.out and "web v1.1.0 → v1.0.0 (Complete)" in table.out
    listing = workspace.cli(capsys, "list", "--json")
    rows = {r["service"]: r for r in listing.json()["services"]}
    assert rows["web"]["version"] == "v1.0.0" and rows["api"]["version"] == "v1.1.0"
    assert rows["web"]["last_release"] == 2 and rows["api"]["last_release"] == 1
    bad = workspace.cli(capsys, "undo", "--to-revision", "7")
    assert bad.code == 2 and "no such release" in bad.err
    unknown = workspace.cli(capsys, "history", "nope")
    assert unknown.code == 2 and "unknown service 'nope'" in unknown.err


@pytest.mark.parametrize("platform", ["sim", "local", "kubernetes"])
def test_init_writes_a_commented_config_the_strict_loader_accepts(tmp_path: Path, platform: str,
                                                                  capsys: Capsys) -> None:
    from conductor.frontends.cli import main

    code = main(["init", "--platform", platform, "--service", "api", "--service", "web", "--dir", str(tmp_path)])
    assert code == 0
    path = tmp_path / ".mothership" / "config.json"
    raw = json.loads(path.read_text())
    assert isinstance(raw["//"], list) and "//" in raw["orchestration"] and "//" in raw["platform"]
    config = load_config(path)
    assert config.platform.kind == platform and config.orchestration.services == ["api", "web"]
    assert config.orchestration.scale_down_delay == 600
    before = path.read_bytes()
    again = main(["init", "--dir", str(tmp_path)])
    assert again == 2 and path.read_bytes() == before and "--force" in capsys.readouterr().err
    assert main(["init", "--dir", str(tmp_path), "--force", "--service", "Bad_Name"]) == 2
    assert path.read_bytes() == before


def test_comments_are_strings_and_nothing_else_is_ignored(workspace: Workspace) -> None:
    config = release_config()
    config["//"] = "a comment at the top"
    config["orchestration"]["//"] = ["one line", "another"]
    workspace.write_config(config)
    assert load_config(workspace.config_path).orchestration.services == ["api", "web", "worker"]
    config["orchestration"]["//"] = {"bakeTime": 1}  # a setting hidden in a comment
    workspace.write_config(config)
    with pytest.raises(ConfigError, match=re.escape('orchestration."//": a comment must be a string')):
        load_config(workspace.config_path)
    config["orchestration"].pop("//")
    config["orchestration"]["/"] = "near miss"
    workspace.write_config(config)
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(workspace.config_path)


def test_promote_and_resume_refuse_a_release_that_stopped(workspace: Workspace, capsys: Capsys) -> None:
    """After `rollback api`, the release has stopped: carrying it on would only roll the others
    back. promote and resume say so and change nothing; abort takes the rest back."""
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == 0
    assert workspace.cli(capsys, "orchestrate", "rollback", "api").code == 3
    before = len(workspace.journal_events("rolled_back"))
    refused = workspace.cli(capsys, "promote")
    assert refused.code == 2
    assert "orchestration #1 stopped when api was rolled back: the rest of it (web at 5%, worker at 5%) can only " \
        "be rolled back now, not promoted" in refused.err
    assert "`conductor abort`" in refused.err
    assert workspace.cli(capsys, "pause").code == 0
    assert workspace.cli(capsys, "resume").code == 2
    assert len(workspace.journal_events("rolled_back")) == before  # nothing was changed
    assert workspace.cli(capsys, "abort").code == 3
    busy = workspace.cli(capsys, "undo")
    assert busy.code == 2 and "nothing to undo" in busy.err


def test_undo_with_a_release_in_flight_names_real_commands(workspace: Workspace, capsys: Capsys) -> None:
    workspace.cli(capsys, "orchestrate", "canary", "5")
    busy = workspace.cli(capsys, "undo")
    assert busy.code == 2 and "`conductor orchestrate rollback`" in busy.err


@pytest.mark.parametrize("verb", ["promote", "resume", "undo", "abort"])
def test_ctrl_c_in_a_verb_says_what_takes_traffic(verb: str, workspace: Workspace, capsys: Capsys) -> None:
    """A verb that drives a release runs its watchdog inline, as orchestrate does: interrupted, it
    says the same (what still takes traffic; watch, resume, roll back), not a bare "interrupted"."""
    workspace.cli(capsys, "orchestrate", "canary", "5")
    message = interruption_message(argparse.Namespace(command=verb, config=workspace.config_path))
    assert "api: v1.1.0 takes 5% of traffic, v1.0.0 95%" in message
    assert "roll back:   conductor orchestrate rollback" in message


def test_the_exit_codes_wrap_under_their_meaning_on_a_narrow_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["promote", "--help"])
    epilog = capsys.readouterr().out.split("exit codes:", 1)[1]
    assert max(len(line) for line in epilog.splitlines()) <= 80
    assert re.search(r"^      \S", epilog, re.MULTILINE)  # a long meaning continues under itself
    assert re.findall(r"^  (\d+) ", epilog, re.MULTILINE) == ["0", "1", "2", "3", "4", "7", "130"]


def test_init_names_the_service_given_twice_and_the_flag_to_replace(tmp_path: Path, capsys: Capsys) -> None:
    twice = Workspace(tmp_path)
    done = twice.cli(capsys, "init", "--service", "api", "--service", "web", "--service", "api")
    assert done.code == 2 and "init: api: a service is named twice" in done.err
    assert twice.cli(capsys, "init").code == 0
    again = twice.cli(capsys, "init")
    assert again.code == 2 and "`conductor init --force` replaces it" in again.err


@pytest.mark.parametrize(("platform", "first"), [("sim", "next: `conductor orchestrate --dry-run canary 10`"),
                                                 ("local", "next: `conductor up --detach`, then"),
                                                 ("kubernetes", "`conductor doctor`, then")])
def test_init_says_what_to_run_first_on_its_platform(platform: str, first: str, tmp_path: Path, capsys: Capsys) -> None:
    done = Workspace(tmp_path).cli(capsys, "init", "--platform", platform)
    assert done.code == 0 and first in done.out


def test_the_report_of_a_paused_release_and_of_one_a_person_stopped_names_the_way_on(
        workspace: Workspace, capsys: Capsys) -> None:
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == 0
    assert workspace.cli(capsys, "pause").code == 0
    paused = workspace.cli(capsys, "status", "--json")
    assert paused.json()["report"]["next_steps"][0].startswith("Resume it: `conductor resume`")
    assert not any("Approve" in step for step in paused.json()["report"]["next_steps"])
    assert {r["status"] for r in paused.json()["report"]["services"]} == {"Paused at 5%"}
    assert workspace.cli(capsys, "resume").code == 0
    one = workspace.cli(capsys, "orchestrate", "rollback", "api", "--json")
    assert one.code == 3
    steps = one.json()["next_steps"]
    assert steps[0] == ("The release stopped when api rolled back: `conductor orchestrate rollback` (or "
                        "`conductor abort`) rolls back web, worker too"), steps
    assert not any("Approve" in step for step in steps)


def test_an_approval_of_a_release_a_person_stopped_is_refused_and_changes_nothing(
        workspace: Workspace, capsys: Capsys) -> None:
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == 0
    assert workspace.cli(capsys, "orchestrate", "rollback", "api").code == 3
    before = workspace.journal_events("tool_call")
    refused = workspace.cli(capsys, "orchestrate", "canary", "25")
    assert refused.code == 2, refused.out + refused.err
    assert "stopped when api rolled back" in refused.err and "web at 5%" in refused.err
    assert workspace.journal_events("tool_call") == before
    assert workspace.cli(capsys, "orchestrate", "rollback").code == 3  # the way on still works
