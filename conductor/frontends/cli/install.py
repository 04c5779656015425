"""`conductor install claude-code [--force] [--print] [--mcp] [--dir PATH]`."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from conductor.frontends.cli import exit_codes
from conductor.frontends.install import apply, plan_claude_code
from conductor.output import verbatim

DESCRIPTION = """Install Conductor into an assistant harness.

  conductor install claude-code          write .claude/commands/orchestrate.md
  conductor install claude-code --mcp    ... and register `conductor mcp` in .mcp.json
  conductor install claude-code --print  show what would be written; write nothing

Then type `/orchestrate canary 10` in Claude Code. Re-running is harmless; a file you edited is
kept unless you pass --force.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "install", help="install the /orchestrate slash command into Claude Code",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "installed (or printed)", 1: "a file could not be written", 2: None}),
    )
    parser.add_argument("harness", choices=["claude-code"], help="the harness to install into")
    parser.add_argument("--force", action="store_true", help="replace files that were edited since installed")
    parser.add_argument("--print", dest="print_only", action="store_true",
                        help="print what would be written, and where; change nothing")
    parser.add_argument("--mcp", action="store_true",
                        help="also register the Conductor MCP server in .mcp.json (project scope)")
    parser.add_argument("--dir", type=Path, metavar="PATH",
                        help="project root (default: the directory holding .mothership/, else the current one)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    root = (args.dir or _project_root(Path.cwd())).resolve()
    plans = plan_claude_code(root, force=args.force, mcp=args.mcp)
    if args.print_only:
        for plan in plans:
            sys.stdout.write(f"==> {plan.path} ({plan.action}{': ' + plan.reason if plan.reason else ''})\n")
            content = plan.content if plan.content.endswith("\n") or not plan.content else plan.content + "\n"
            with verbatim():  # Conductor's own file, which shows the signal format to the harness
                sys.stdout.write(content)
        return 0
    apply(plans)  # raises UsageError (exit 2) if any file would overwrite someone's edits
    for plan in plans:
        print(plan.describe(root))
    if shutil.which("conductor") is None:
        print("note: `conductor` is not on PATH here; Claude Code runs `conductor orchestrate …` through its "
              "shell, so install Conductor where that shell finds it", file=sys.stderr)
    return 0


def _project_root(start: Path) -> Path:
    """Where .mothership/ lives (the repository Conductor orchestrates), else ``start``."""
    for directory in (start, *start.parents):
        if (directory / ".mothership").is_dir():
            return directory
    return start
