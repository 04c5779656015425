"""Which brain runs: ``--model`` > ``model.provider`` in the config > anthropic when
``ANTHROPIC_API_KEY`` is set > the offline policy. One registry; an unknown name is an error."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from conductor.config import ConductorConfig
from conductor.errors import UsageError
from conductor.models.base import Model

BRAINS = ("policy", "anthropic", "replay")


@dataclass(frozen=True)
class BrainChoice:
    model: Model
    note: str  # shown in the report, e.g. why the policy brain ran


def choose_brain(requested: str | None, config: ConductorConfig, state_dir: Path) -> BrainChoice:
    name = requested or config.model.provider
    if name is None:
        name = "anthropic" if os.environ.get("ANTHROPIC_API_KEY") else "policy"
        if name == "policy":
            # deferred: the policy brain loads the strategies and the judge (scipy); `--help` needs only BRAINS
            from conductor.models.policy import PolicyModel

            return BrainChoice(PolicyModel(), "offline policy brain (no ANTHROPIC_API_KEY set)")
    if name not in BRAINS:
        raise UsageError(f"unknown brain {name!r}; choose one of: {', '.join(BRAINS)}")
    if name == "policy":
        # deferred: the policy brain loads the strategies and the judge (scipy)
        from conductor.models.policy import PolicyModel

        return BrainChoice(PolicyModel(), "offline policy brain")
    try:
        module = importlib.import_module(f"conductor.models.{name}")
    except ModuleNotFoundError:
        raise UsageError(f"the {name} brain is not available in this build; use --model policy") from None
    choice: BrainChoice = module.build_brain(config, state_dir)
    return choice
