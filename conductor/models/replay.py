"""The replay brain: the real Anthropic SDK client, served offline from a cassette.

The cassette format, the recorder and the replaying transport are in
:mod:`conductor.models.cassette`; this module is the registry's hook that puts them together.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx2

from conductor.config import ConductorConfig
from conductor.errors import UsageError
from conductor.models.anthropic import AnthropicModel, make_client
from conductor.models.cassette import Cassette, Replayer
from conductor.models.registry import BrainChoice
from conductor.paths import project_root

CASSETTE_ENV = "CONDUCTOR_CASSETTE"
REPLAY_KEY = "replay-needs-no-key"


def cassette_path(config: ConductorConfig, state_dir: Path) -> Path:
    """``CONDUCTOR_CASSETTE`` (relative to the working directory) or ``model.cassette`` (relative
    to the repository root)."""
    if os.environ.get(CASSETTE_ENV):
        return Path(os.environ[CASSETTE_ENV]).resolve()
    if config.model.cassette:
        path = Path(config.model.cassette)
        return path if path.is_absolute() else project_root(state_dir) / path
    raise UsageError(f'the replay brain needs a cassette: set "model": {{"cassette": "PATH"}} in the config '
                     f"or {CASSETTE_ENV}=PATH")


def build_brain(config: ConductorConfig, state_dir: Path) -> BrainChoice:
    """The registry's hook: the real SDK client, served from the cassette. Needs no key."""
    path = cassette_path(config, state_dir)
    cassette = Cassette.load(path)
    replayer = Replayer(cassette)
    client = make_client(REPLAY_KEY, base_url="http://replay.invalid",
                         http_client=httpx2.Client(transport=replayer.transport()),
                         max_retries=config.model.max_retries)
    # A scripted or policy-recorded cassette's usage was modelled from request sizes, not counted.
    estimated = cassette.origin != "recorded"
    model = AnthropicModel(client, cassette.model or "unknown-model", name="replay", estimated_usage=estimated)
    return BrainChoice(model, f"replay brain: {path.name} ({len(cassette.interactions)} recorded exchanges)")
