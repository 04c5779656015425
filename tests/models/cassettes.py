"""Recording the committed cassette fixtures, offline, from the scripted Messages API.

    .venv/bin/python -m tests.models.cassettes      # rewrites tests/cassettes/*.json

Run it after a deliberate change to the prompts, the tool schemas or tool messages: the replay
test of a fixture fails (with the first difference) until the fixture is re-recorded.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conductor.frontends.cli import main
from tests.models.fake_api import FakeMessagesAPI, message, text, tool

FIXTURES = Path(__file__).resolve().parents[1] / "cassettes"
CANARY_CONFIG: dict[str, Any] = {
    "orchestration": {"strategy": "canary", "services": ["api"], "healthCheckInterval": 10, "bakeTime": 60},
    "release": {"api": "v1.1.0"},
}


def canary_to_approval() -> list[Any]:
    """Claude's turns for `/orchestrate canary 10` on CANARY_CONFIG, up to the approval request."""
    usage = {"input_tokens": 180, "output_tokens": 45, "cache_read_input_tokens": 2900,
             "cache_creation_input_tokens": 0}
    return [
        message(text("Checking the current state first."), tool("get_status", id="toolu_0001"),
                usage={**usage, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 2900}),
        message(tool("deploy", id="toolu_0002", service="api", version="v1.1.0"), usage=usage),
        message(tool("shift_traffic", id="toolu_0003", service="api", percent=10), usage=usage),
        message(tool("check_health", id="toolu_0004", service="api"), usage=usage),
        message(tool("request_approval", id="toolu_0005", service="api", percent=25,
                     recommendation="error rate and p95 within baseline at 10%"), usage=usage),
    ]  # no closing turn: the run ends at the approval request (its recommendation is the text)


def record(path: Path, config: dict[str, Any], replies: list[Any], *commands: list[str]) -> None:
    """Run ``commands`` in a fresh workspace with the scripted API, recording to ``path``."""
    if path.exists():
        path.unlink()
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        root = Path(tmp)
        (root / ".mothership").mkdir()
        (root / ".mothership" / "config.json").write_text(json.dumps(config))
        FakeMessagesAPI(replies).install(patch)
        patch.setenv("CONDUCTOR_RECORD", str(path))
        patch.delenv("CONDUCTOR_MODEL", raising=False)
        patch.delenv("ANTHROPIC_BASE_URL", raising=False)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            for command in commands:
                main(["orchestrate", *command])
        finally:
            os.chdir(cwd)


def record_fixtures() -> None:
    record(FIXTURES / "canary_10_approval.json", CANARY_CONFIG, canary_to_approval(), ["canary", "10"])


if __name__ == "__main__":
    record_fixtures()
