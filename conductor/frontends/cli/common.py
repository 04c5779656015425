"""Options and output shared by subcommands: --config, --json, rich on a terminal, plain when piped."""

from __future__ import annotations

import argparse
import json
import sys
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
