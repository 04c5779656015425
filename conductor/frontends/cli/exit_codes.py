"""The exit codes of every command, in one table: the README's table and each ``--help`` epilog
come from here (a test holds the README to it), so a pipeline can rely on what a code means.

A command lists the codes it can return, each with its own wording where the general meaning
needs a word more (``watch`` exits 3 when it rolled something back).
"""

from __future__ import annotations

from conductor.errors import (
    EXIT_BRAIN_STOPPED,
    EXIT_ERROR,
    EXIT_IN_PROGRESS,
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_REFUSED,
    EXIT_ROLLED_BACK,
    EXIT_USAGE,
)

EXIT_INTERRUPTED = 130  # Ctrl-C (the shell's 128 + SIGINT); SIGTERM is handled the same way

MEANINGS: dict[int, str] = {
    EXIT_OK: "done, status shown, or paused awaiting approval",
    EXIT_ERROR: "error: a platform failure, the brain failing or stopping short, a rollback that could not "
    "complete, a bug",
    EXIT_USAGE: "bad usage or config: nothing was changed",
    EXIT_ROLLED_BACK: "rolled back (by request or by the watchdog)",
    EXIT_REFUSED: "refused (a freeze): nothing was changed",
    EXIT_PAUSED: "status: paused, awaiting a person's approval",
    EXIT_IN_PROGRESS: "status: still in progress (with --wait: the timeout came first)",
    EXIT_BRAIN_STOPPED: "the brain stopped early: it ended its turn with a runbook step due and no person asked, "
    "even after two reminders; the release stays in flight (`--model policy` finishes it)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); stderr says what is left taking traffic",
}


def epilog(codes: dict[int, str | None]) -> str:
    """``exit codes:`` and one line per code (None: the general meaning), for argparse's epilog
    (the parser needs ``formatter_class=argparse.RawDescriptionHelpFormatter``)."""
    lines = ["exit codes:"]
    for code, meaning in codes.items():
        lines.append(f"  {code:<3} {meaning or MEANINGS[code]}")
    return "\n".join(lines) + "\n"


ALL = epilog(dict.fromkeys(MEANINGS))
