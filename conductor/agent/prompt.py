"""Prompt rendering: the static system prompt (cached) and the live state block (per turn).

Both are jinja2 templates in ``conductor/prompts/``, package data loaded through the package
(``jinja2.PackageLoader``), so a wheel, ``pipx``/``uv tool`` install or container image finds them
exactly as a source checkout does. The state block is rendered from the journal every
turn and attached to the newest message only, never accumulated in the history, so the model
always reads the current truth and the history stays small.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from conductor.journal.state import OrchestrationState, Phase
from conductor.strategies.ramp import ramp_target
from conductor.tools.observation import service_summary
from conductor.tools.runtime import Runtime


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("conductor", "prompts"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)


def system_prompt(rt: Runtime) -> str:
    o = rt.config.orchestration
    return render(
        "orchestrate.md",
        strategy=rt.state().strategy,
        services=list(rt.state().services),
        interval=o.health_check_interval,
        threshold=o.rollback_threshold,
        steps=o.canary_steps,
        bake_time=o.bake_time,
        failure_limit=o.failure_limit,
        require_approval=o.require_approval,
        tolerance=o.baseline,
        min_requests=o.min_requests,
        no_data_limit=o.no_data_limit,
        batch_size=o.rolling_batch_size,
    )


def state_block(rt: Runtime, state: OrchestrationState) -> str:
    services = [service_summary(rt, s) for s in state.services.values()]
    return render(
        "state.md.j2",
        state=state,
        services=services,
        now=rt.now(),
        next_steps={s.name: ramp_target(state, s, rt.config.orchestration.canary_steps)
                    for s in state.services.values()},
        finished=[str(Phase.COMPLETE), str(Phase.ROLLED_BACK)],  # a Failed service may still need a rollback
    )
