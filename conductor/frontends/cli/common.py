"""Options and output shared by subcommands: --config, --json, rich on a terminal, plain when piped."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markdown import Markdown

from conductor.frontends import terminal
from conductor.frontends.phrasing import for_cli, report_for_cli
from conductor.models.registry import BRAINS
from conductor.output import safe_data, safe_report, verbatim
from conductor.signals import Signal

if TYPE_CHECKING:
    from conductor.session import Conductor


def describe(doc: str | None) -> str | None:
    """A module docstring as a ``--help`` description, whole.

    Its first line names the command and says what it does ("`conductor down`: drain and stop
    the local platform"): argparse prints the usage already, so the name goes and what it does
    stays, as the first sentence. RST's double backticks become the single ones a terminal
    reader knows from Markdown. Paragraphs are re-wrapped by :class:`HelpFormatter`.
    """
    if not doc:
        return None
    text = textwrap.dedent(doc).strip()
    first, _, rest = text.partition("\n")
    named = re.match(r"`conductor[^`]*`:\s*(.*)", first)
    if named:
        summary = named.group(1).strip()
        first = summary[:1].upper() + summary[1:]
    text = (first + "\n" + rest).strip()
    return text.replace("``", "`")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs fitted to the terminal: a paragraph of plain prose is re-wrapped
    to the width; anything laid out by hand (indented lines, numbered or bulleted lists, tables
    such as the exit codes) is kept exactly as written."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("width", min(shutil.get_terminal_size((100, 24)).columns, 100) - 2)
        super().__init__(prog, **kwargs)

    def add_argument(self, action: argparse.Action) -> None:
        """argparse measures subcommand names one indent short, so the longest (``orchestrate``)
        got a line of its own: count them where they are printed."""
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS and isinstance(action, argparse._SubParsersAction):
            longest = max((len(name) for name in action.choices), default=0)
            self._action_max_length = max(self._action_max_length,
                                          longest + self._current_indent + self._indent_increment)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = re.split(r"\n\s*\n", text.strip("\n"))
        out = []
        for paragraph in paragraphs:
            lines = paragraph.splitlines()
            laid_out = any(line[:1].isspace() or re.match(r"(\d+\.|[-*•]) ", line) for line in lines)
            if laid_out or (paragraph.rstrip().endswith(":") and len(lines) == 1):
                out.append("\n".join(_hanging(indent + line, width) for line in lines))
            else:
                out.append(textwrap.fill(" ".join(line.strip() for line in lines), width,
                                         initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(out) + "\n"


def _hanging(line: str, width: int) -> str:
    """A table row too long for the terminal (an exit code and its meaning) wrapped under its own
    meaning, so the code column stays clear; any other laid-out line is kept as written."""
    row = re.match(r"(\s+\d+\s+)\S", line)
    if row is None or len(line) <= width:
        return line
    return textwrap.fill(line, width, subsequent_indent=" " * len(row.group(1)))


def closest_option(word: str, options: list[str]) -> str | None:
    """The option ``word`` was probably meant to be (``--autp`` → ``--auto``), if any is close."""
    name = word.split("=", 1)[0]
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return close[0] if close else None


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="PATH",
        help="config file (default: the nearest .mothership/config.json from the current directory up)",
    )


def add_brain_option(parser: argparse.ArgumentParser, purpose: str = "the brain") -> None:
    parser.add_argument("--model", choices=BRAINS,
                        help=f"{purpose} (default: anthropic when ANTHROPIC_API_KEY is set, else policy)")


def add_record_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--record", type=Path, metavar="FILE",
                        help="with the anthropic brain: write every Messages API exchange to this cassette")


def apply_record(conductor: Conductor, path: Path | None) -> None:
    """``--record FILE``: the config's ``model.record``, for this run only."""
    if path is not None:
        settings = conductor.config.model.model_copy(update={"record": str(path.resolve())})
        conductor.config = conductor.config.model_copy(update={"model": settings})


def print_json(data: Any, signals: Sequence[Signal] = ()) -> None:
    """A JSON document: every string made safe (:func:`conductor.output.safe_data`), Conductor's
    signal objects and the given ``signals`` kept; a report's advice in CLI words."""
    text = json.dumps(safe_data(_cli_words(data), signals), indent=2, sort_keys=False, default=str) + "\n"
    with verbatim():
        sys.stdout.write(text)
        sys.stdout.flush()


def print_markdown(text: str, signals: Sequence[Signal] = ()) -> None:
    """Rich markdown on a terminal; the exact markdown text when piped (harnesses parse it).
    Only a trailing block of exactly ``signals`` may read as signals. Suggested commands are
    shown as the CLI's (``conductor orchestrate canary 25``, :mod:`conductor.frontends.phrasing`)."""
    text = safe_report(for_cli(text), signals)
    with verbatim():
        if sys.stdout.isatty():
            terminal.console().print(Markdown(text))
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()


def _cli_words(data: Any) -> Any:
    """Every ``conductor.report/v1`` document inside ``data`` with its advice in CLI words."""
    if isinstance(data, dict):
        data = {k: _cli_words(v) for k, v in data.items()}
        return report_for_cli(data) if data.get("schema") == "conductor.report/v1" else data
    if isinstance(data, list):
        return [_cli_words(v) for v in data]
    return data
