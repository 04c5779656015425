"""`conductor report [release]`: one release as a file to share (a CI artifact, a pull request, a
post-mortem), from the journal alone.

    conductor report                        the latest release, markdown on stdout
    conductor report 7 --html release.html  release #7 as one self-contained HTML file: the spec's
                                            report at the top, then the charts (inline SVG), the
                                            verdicts with their evidence, approvals, signals, timeline
    conductor report --md release.md --charts charts/
                                            markdown, with every chart written on its own to
                                            charts/ as SVG and PNG (for a chat notification) and
                                            linked from the markdown

It reads the journal only: a release still in flight is reported as it stands.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Any

from conductor.errors import EXIT_OK, UsageError
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option
from conductor.frontends.phrasing import for_cli
from conductor.output import verbatim


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="one release as a shareable HTML or markdown file, with its charts (SVG/PNG)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "written", 1: "an unexpected error (a bug)",
                                  2: "bad usage or config, no such release, or a file that cannot be written"}),
    )
    add_config_option(parser)
    parser.add_argument("release", nargs="?", type=_release, help="the release number (default: the latest)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML file (- for stdout)")
    parser.add_argument("--md", type=Path, metavar="FILE", help="write a markdown file (- for stdout)")
    parser.add_argument("--charts", type=Path, metavar="DIR",
                        help="write every chart on its own to DIR, as SVG and PNG")
    parser.set_defaults(handler=run)


def _release(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a release number (1, 2, ...), got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    # deferred: the session and the page templates load when a report is made, not on `conductor --help`
    from conductor.frontends.dashboard import report
    from conductor.session import Conductor

    if _stdout(args.html) and _stdout(args.md):
        raise UsageError("--html - and --md - would both write to stdout: send one of them to a file")
    for target in (args.html, args.md):
        if target is not None and not _stdout(target) and target.is_dir():
            raise UsageError(f"{target} is a directory: name the file to write")
    conductor = Conductor.from_config(args.config)
    try:
        made = report.load(conductor, args.release)
    finally:
        conductor.close()
    # the next steps as a person types them where this file was made: `conductor orchestrate canary 25`
    made = dataclasses.replace(made, output_format=for_cli(made.output_format))
    written: list[str] = []
    try:
        charts = report.write_charts(made, args.charts) if args.charts is not None else {}
        written += [f"{p} and {p.with_suffix('.png').name}" for p in charts.values()]
        if args.html is not None:
            written += _write(args.html, report.html(made), markup=True)
        if args.md is not None:
            base = Path.cwd() if _stdout(args.md) else args.md.absolute().parent
            links = {slug: report.relative(path, base) for slug, path in charts.items()}
            written += _write(args.md, report.markdown(made, links))
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc}") from exc
    if args.html is None and args.md is None and args.charts is None:
        sys.stdout.write(report.markdown(made))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _stdout(target: Path | None) -> bool:
    """``-`` names stdout, as for most tools (``conductor report --md - | less``)."""
    return target is not None and str(target) == "-"


def _write(target: Path, text: str, *, markup: bool = False) -> list[str]:
    """Write ``text`` to the file (or stdout for ``-``); what to say was written. ``markup``: an
    HTML page, every string in it escaped already (:mod:`conductor.frontends.dashboard.pages`), so
    stdout's guard only scrubs it instead of neutralising its tags (it could not carry a signal:
    ``<`` in any text is ``&lt;``)."""
    if _stdout(target):
        with verbatim() if markup else contextlib.nullcontext():
            sys.stdout.write(text)
            sys.stdout.flush()
        return []
    target.write_text(text, encoding="utf-8")
    return [str(target)]
