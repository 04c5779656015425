"""`conductor chat`: the interactive REPL (see :mod:`conductor.frontends.repl`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_brain_option, add_config_option, add_record_option, apply_record
from conductor.models.registry import choose_brain

if TYPE_CHECKING:
    from conductor.agent.questions import Ask
    from conductor.models.base import Model
    from conductor.session import Conductor

DESCRIPTION = """Open the chat REPL in this repository.

Type `/orchestrate canary 10` (the same grammar and options as `conductor orchestrate`:
`--auto`, `--dry-run`, `--release api=v1.2.0`, ...), `/status`, `/approve`, `/rollback [service]`,
the verbs `/promote`, `/abort`, `/pause`, `/resume`, `/undo`, `/history`, `/list`, then `/help`,
`/quit`. A canary waiting for approval asks "Ramp api canary 10% → 25%? [y/N]" right there; the
answer never lands in the history (↑ recalls commands only). Tab completes what the state allows
(the next canary steps, the services in flight); the bottom bar shows each service's phase, live.
With ANTHROPIC_API_KEY set, any other text is a question for Claude about the deployment ("why
did api roll back?"), answered as it is written, with read-only tools (the status, the journal);
it never acts — the commands do.

History file: $CONDUCTOR_HISTORY, default ~/.local/state/conductor/history.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "chat", help="interactive REPL: type /orchestrate …, approve ramp-ups inline, ask questions",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "the session ended (/quit, Ctrl-D)", 1: None, 2: None}),
    )
    add_config_option(parser)
    add_brain_option(parser)
    add_record_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # deferred: the REPL and the session load the whole engine only when `conductor chat` runs, not on `--help`
    from conductor.frontends.repl import run_terminal
    from conductor.session import Conductor

    conductor = Conductor.from_config(args.config, model=args.model)
    apply_record(conductor, args.record)
    try:
        brain = choose_brain(args.model, conductor.config, conductor.state_dir)
        return run_terminal(conductor, ask=make_ask(conductor, brain.model), brain_note=brain.note)
    finally:
        conductor.close()


def make_ask(conductor: Conductor, model: Model) -> Ask | None:
    """The REPL's question answerer when the brain is Claude (or a replay of it), else None.

    Questions use the brain's own SDK client — same key, gateway, retries and, with ``--record``,
    the same cassette — in a read-only loop of their own (:mod:`conductor.agent.questions`): a
    question is never an orchestration turn, so it cannot spend the orchestration's turn budget
    or act on its behalf. The offline policy brain follows a runbook and has no words for free
    text, so it gets None and the REPL says what a question needs.
    """
    # deferred: the anthropic SDK is heavy: only a chat whose brain is Claude needs its class
    from conductor.models.anthropic import AnthropicModel

    if not isinstance(model, AnthropicModel):
        return None
    # deferred: the question loop loads the anthropic SDK: only a chat whose brain is Claude builds it
    from conductor.agent.questions import QuestionAsker

    client = model.client  # the brain's own client: its key, gateway, retries and recorder
    return QuestionAsker(conductor, client, model.model, actor=f"brain:{model.name}")
