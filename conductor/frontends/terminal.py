"""How every front end writes to a terminal: one rule for ``NO_COLOR``, one for pipes.

- ``NO_COLOR`` set (to anything but the empty string, https://no-color.org): no escape code for
  colour *or* emphasis (bold, underline, dim), from every command and the REPL alike. The layout
  stays (tables, rendered markdown, a live view redrawing in place), since that is not colour.
- stdout not a terminal (a pipe, a file, a CI log): no live redraw and the exact markdown text,
  which harnesses parse.

``rich`` itself drops only the colours for ``NO_COLOR`` and keeps bold and underline; a console
with no colour system renders no style at all, which is what people who set it ask for.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from rich.console import Console


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def console(file: IO[str] | None = None, **options: Any) -> Console:
    """A rich console for ``file`` (default stdout) that honours ``NO_COLOR`` fully."""
    if no_color():
        options.setdefault("color_system", None)
        options.setdefault("no_color", True)
    options.setdefault("highlight", False)
    return Console(file=file or sys.stdout, **options)
