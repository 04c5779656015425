"""Opt-in: one real canary with Claude. Skipped unless ANTHROPIC_API_KEY and CONDUCTOR_LIVE_TESTS=1.

    CONDUCTOR_LIVE_TESTS=1 ANTHROPIC_API_KEY=sk-… .venv/bin/pytest -m live tests/models/test_live.py

It checks what must hold whatever the model says: the guards were obeyed, the run stopped in a
consistent state (waiting for approval, or rolled back), the API accepted the request shape (strict
tools, thinking, effort, 1-hour cache breakpoints), its own usage was journaled, and the key never
reached the cassette.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.models.cassettes import CANARY_CONFIG

# Read at import: the suite's autouse fixture removes the key from every test's environment.
LIVE_KEY = os.environ.get("ANTHROPIC_API_KEY")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not (LIVE_KEY and os.environ.get("CONDUCTOR_LIVE_TESTS") == "1"),
                       reason="live: needs ANTHROPIC_API_KEY and CONDUCTOR_LIVE_TESTS=1"),
]


def test_a_real_canary_to_the_first_approval(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert LIVE_KEY is not None
    workspace.write_config({**CANARY_CONFIG, "model": {"fallbackToPolicy": False, "maxTurns": 20}})
    cassette = tmp_path / "live.json"
    monkeypatch.setenv("ANTHROPIC_API_KEY", LIVE_KEY)
    monkeypatch.setenv("CONDUCTOR_RECORD", str(cassette))
    result = workspace.cli(capsys, "orchestrate", "canary", "10")
    assert result.code in (0, 3), result.out + result.err
    assert "Awaiting approval (10% → 25%)" in result.out or "ROLLBACK" in result.out
    turns = workspace.journal_events("brain_turn")
    assert turns and all(t.data["usage"]["output_tokens"] > 0 for t in turns)
    # strict tools, thinking, effort and the chosen cache lifetimes were accepted; usage is the API's own
    assert all(t.data["cache_ttl"] in ("5m", "1h") and not t.data["usage_estimated"] for t in turns)
    assert LIVE_KEY not in cassette.read_text()
