"""`--help` everywhere: the whole description (what the command does comes first), wrapped to the
terminal, no RST markup, `--config PATH` named alike, the exit codes at the end; and a mistyped
option gets the closest one suggested."""

from __future__ import annotations

import argparse

import pytest

from conductor.frontends.cli import SUBCOMMANDS, build_parser, common, main


def helps(monkeypatch: pytest.MonkeyPatch, columns: int = 80) -> dict[str, str]:
    monkeypatch.setenv("COLUMNS", str(columns))
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    texts = {name: sub.choices[name].format_help() for name in SUBCOMMANDS}
    texts[""] = parser.format_help()
    return texts


def test_every_help_is_whole_plain_alike_and_ends_with_exit_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = helps(monkeypatch)
    for name, text in texts.items():
        assert "``" not in text, name
        assert "--config CONFIG" not in text, name
        assert "exit codes:" in text, name
    assert "Drain and stop the local platform (routers first, then every instance)." in texts["down"]
    assert "Start the local platform's control process for this project." in texts["up"]
    assert "Two real releases on this machine in about a minute" in texts["demo"]
    assert "The release's state as an exit code, for pipelines." in texts["status"]
    assert all("--config PATH" in texts[name] for name in ("up", "down", "orchestrate", "view", "status"))


def test_prose_is_wrapped_to_the_terminal_and_layout_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    top = helps(monkeypatch, columns=80)[""]
    description = top.split("\n\n")[1]
    assert len(description.splitlines()) > 1 and all(len(line) <= 80 for line in description.splitlines())
    formatter = common.HelpFormatter("conductor", width=40)
    text = formatter._fill_text("one two three four five six seven eight nine ten eleven\n\n  kept   as is\n"
                                "1. a list item stays on its line", 40, "")
    assert text == ("one two three four five six seven eight\nnine ten eleven\n\n  kept   as is\n"
                    "1. a list item stays on its line\n")


def test_describe_keeps_the_first_paragraph_without_the_command_name() -> None:
    doc = "`conductor down`: drain and stop it.\n\nIf ``down`` runs twice, nothing happens.\n"
    assert common.describe(doc) == "Drain and stop it.\n\nIf `down` runs twice, nothing happens."
    assert common.describe(None) is None


def test_a_mistyped_option_gets_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as typo:
        main(["orchestrate", "canary", "10", "--autp"])
    err = capsys.readouterr().err
    assert typo.value.code == 2
    assert "conductor orchestrate: error: unrecognized arguments: --autp; did you mean --auto?" in err
    assert "usage: conductor orchestrate" in err  # the usage of the command typed, not the root's
    with pytest.raises(SystemExit):
        main(["status", "--zzzzzz"])
    assert "did you mean" not in capsys.readouterr().err


def test_every_subcommand_shares_the_column_of_help(monkeypatch: pytest.MonkeyPatch) -> None:
    top = helps(monkeypatch, columns=100)[""]
    assert "    orchestrate  deploy, ramp up, roll back" in top  # not on a line of its own


def test_a_mistyped_command_or_choice_gets_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["orchestrat"])
    assert capsys.readouterr().err.rstrip().endswith("did you mean 'orchestrate'?")
    with pytest.raises(SystemExit):
        main(["orchestrate", "--model", "polcy"])
    assert capsys.readouterr().err.rstrip().endswith("did you mean 'policy'?")
