"""Options and output shared by subcommands: --config, --json, rich on a terminal, plain when piped."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="PATH",
        help="config file (default: the nearest .mothership/config.json from the current directory up)",
    )


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def print_markdown(text: str) -> None:
    """Rich markdown on a terminal; the exact markdown text when piped (harnesses parse it)."""
    if sys.stdout.isatty():
        Console().print(Markdown(text))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
