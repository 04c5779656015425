"""`conductor init [--platform KIND] [--service NAME ...]`: write a commented starting config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from conductor.frontends.cli import exit_codes
from conductor.starter_config import PLATFORMS, init_config

DESCRIPTION = """Write a commented starting .mothership/config.json for the platform chosen.

  conductor init                               the simulator, one service "api"
  conductor init --platform local --service api --service web
  conductor init --platform kubernetes --service api

JSON has no comments: the file explains itself with keys named "//" (a string or a list of
strings), which the loader drops; every other key is checked strictly. The file is loaded back
before init returns, so it is a config every command accepts. An existing file is kept unless
--force.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "init", help="write a commented starting .mothership/config.json",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "written", 1: "the file could not be written (a bug, or the disk)",
                                  2: "bad usage, or the file exists (without --force): nothing was written"}),
    )
    parser.add_argument("--platform", choices=PLATFORMS, default="sim", help="where releases run (default: sim)")
    parser.add_argument("--service", action="append", default=[], metavar="NAME",
                        help="a service to release (repeatable; default: api)")
    parser.add_argument("--dir", type=Path, default=None, metavar="PATH",
                        help="the repository root to write .mothership/ into (default: the current directory)")
    parser.add_argument("--force", action="store_true", help="replace an existing config")
    parser.set_defaults(handler=run)


# What to run first, per platform: the local platform's routers must be up before any command
# reads it, and a cluster's access is worth checking before a release is planned against it.
NEXT = {
    "sim": "`conductor orchestrate --dry-run canary 10`",
    "local": "`conductor up --detach`, then `conductor orchestrate --dry-run canary 10`",
    "kubernetes": "edit the images and metrics.url, `conductor doctor`, then "
                  "`conductor orchestrate --dry-run canary 10`",
}


def run(args: argparse.Namespace) -> int:
    path = init_config(args.dir, platform=args.platform, services=args.service or ["api"], force=args.force)
    print(f"wrote {path} ({args.platform}); next: {NEXT[args.platform]}")
    return 0
