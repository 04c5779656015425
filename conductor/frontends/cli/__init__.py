"""The `conductor` command line: one module per subcommand, registered in ``SUBCOMMANDS``.

Each module in this package defines ``add_parser(subparsers)`` which adds its parser and sets
``handler`` (a function taking the parsed args and returning the exit code). Errors derived from
ConductorError print their message on stderr and exit with their code (with ``--json``, also a
``conductor.error/v1`` document on stdout); anything else is a bug and exits 1 with the
traceback hidden unless CONDUCTOR_DEBUG is set.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

from conductor import __version__, output
from conductor.errors import EXIT_ERROR, EXIT_USAGE, ConductorError
from conductor.frontends.cli import chat, exit_codes
from conductor.frontends.cli.common import HelpFormatter, closest_option, describe
from conductor.frontends.cli.interrupted import interruption_message
from conductor.frontends.phrasing import for_cli

SUBCOMMANDS = ["orchestrate", "status", "view", "watch", "up", "down", "demo", "doctor", "mcp", "install", "chat",
               "eval", "dashboard", "report", "promote", "abort", "pause", "resume", "undo", "history", "init"]

EPILOG = exit_codes.ALL
_ARGV: list[str] = []  # the words being parsed, for the suggestion of a mistyped option


class _Parser(argparse.ArgumentParser):
    """Every parser of the CLI: the whole description (a module docstring is fine, see
    :func:`~conductor.frontends.cli.common.describe`), wrapped to the terminal, an exit-code
    epilog even where a subcommand forgot one, and a suggestion for a mistyped option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("formatter_class") in (None, argparse.RawDescriptionHelpFormatter, argparse.HelpFormatter):
            kwargs["formatter_class"] = HelpFormatter
        kwargs["description"] = describe(kwargs.get("description"))
        if kwargs.get("epilog") is None:
            kwargs["epilog"] = EPILOG
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        message, parser = self._suggest(message)
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"{parser.prog}: error: {message}\n")
        raise _BadArguments(f"{parser.prog}: {message}")

    def _suggest(self, message: str) -> tuple[str, argparse.ArgumentParser]:
        """``unrecognized arguments: --autp`` → ``… (did you mean --auto?)``, from the options of
        the subcommand the line names (the root parser reports its subcommands' leftovers)."""
        parser: argparse.ArgumentParser = self
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if choice is not None:  # `conductor orchestrat`, `--model polcy`
            options = re.findall(r"'([^']*)'", choice.group(2))
            close = closest_option(choice.group(1), options)
            return (f"{message}; did you mean {close!r}?" if close else message), parser
        if not message.startswith("unrecognized arguments: "):
            return message, parser
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                named = next((w for w in _ARGV if w in action.choices), None)
                if named is not None:
                    parser = action.choices[named]
        options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
        hints = []
        for word in message.removeprefix("unrecognized arguments: ").split():
            close = closest_option(word, options) if word.startswith("--") else None
            if close is not None:
                hints.append(close)
        return (f"{message}; did you mean {' '.join(hints)}?" if hints else message), parser


class _BadArguments(SystemExit):
    """argparse refused the command line (exit 2); the message, for a --json error document."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.message = message


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="conductor",
        description="Conductor: deployment orchestration you do not have to trust blindly. "
        "Blue-green, canary and rolling releases, planned by a model (or an offline policy), "
        "executed through guarded tools, watched by a watchdog that rolls back on its own.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"conductor {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"conductor.frontends.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command with stdout and stderr behind :class:`conductor.output.SafeStream`: nothing
    printed can forge a signal or show a secret, and a closed pipe (``| head -1``) never stops the
    work — the command finishes (a rollback completes) and exits quietly with its own code."""
    real = sys.stdout, sys.stderr
    stdout, _ = output.install()
    try:
        code = _main(argv)
        if stdout.failed is not None and not stdout.broken:  # a full disk is not a closed pipe
            sys.stderr.write(f"conductor: the output could not be written: {stdout.failed}\n")
            code = code or EXIT_ERROR
        return code
    finally:
        sys.stdout.flush()
        sys.stdout, sys.stderr = real


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except _BadArguments as exc:
        if "--json" in (sys.argv[1:] if argv is None else argv):
            _json_error(argparse.Namespace(json=True), exc.message, "UsageError", EXIT_USAGE)
        raise
    if not getattr(args, "handler", None):
        if sys.stdin.isatty() and sys.stdout.isatty():  # bare `conductor` in a terminal: the chat REPL
            args = argparse.Namespace(config=None, model=None, record=None, handler=chat.run)
        else:
            parser.print_help()
            return EXIT_USAGE
    try:
        _terminate_like_ctrl_c()
        code: int = args.handler(args)
        return code
    except ConductorError as exc:
        message = for_cli(str(exc))  # "continue it with `conductor orchestrate canary`"
        print(f"conductor: {message}", file=sys.stderr)
        if getattr(args, "json", False) is True:  # machines get a document even when nothing ran
            error = {"schema": "conductor.error/v1", "error": message, "kind": type(exc).__name__,
                     "exit_code": exc.exit_code}
            print(json.dumps(error, indent=2))
        return exc.exit_code
    except KeyboardInterrupt:
        if sys.stderr.isatty():  # the terminal echoed ^C after a progress bar: start a line of our own
            print(file=sys.stderr)
        print(interruption_message(args), file=sys.stderr)
        _json_error(args, "interrupted", "Interrupted", exit_codes.EXIT_INTERRUPTED)
        return exit_codes.EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("CONDUCTOR_DEBUG"):
            raise
        last = "".join(traceback.format_exc().splitlines(keepends=True)[-1:])
        print("conductor: unexpected error (set CONDUCTOR_DEBUG=1 for the traceback):", file=sys.stderr)
        print(last, file=sys.stderr, end="")
        _json_error(args, f"unexpected error: {last.strip() or type(exc).__name__}", "UnexpectedError", EXIT_ERROR)
        return EXIT_ERROR


def _terminate_like_ctrl_c() -> None:
    """SIGTERM (a cancelled CI job, systemd, Kubernetes) ends a command the way Ctrl-C does, so it
    says what is left taking traffic instead of dying silently. Only where nobody chose a handler
    already (``up`` and ``demo`` install their own, which drain and stop what they started)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _json_error(args: argparse.Namespace, message: str, kind: str, code: int) -> None:
    """With --json, every ending that is not a report still yields a document on stdout."""
    if getattr(args, "json", False) is True:
        print(json.dumps({"schema": "conductor.error/v1", "error": message, "kind": kind, "exit_code": code},
                         indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
