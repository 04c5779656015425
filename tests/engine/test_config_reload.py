"""`conductor up` notices an edited config: the hosted watchdog reloads a valid edit (and says
so), keeps the last good config on an invalid one (and says so once), and never follows a config
into another environment's state."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from conductor.config import config_fingerprint
from conductor.config_file import parse_config
from conductor.frontends.cli.hosted_watchdog import ConfigFollower
from tests.conftest import Workspace, release_config


def _write(workspace: Workspace, config: dict[str, Any]) -> None:
    workspace.config_path.write_text(json.dumps(config), encoding="utf-8")


def test_a_valid_edit_is_reloaded_and_announced(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    _write(workspace, release_config(minRequests=20))
    follower = ConfigFollower(workspace.config_path)
    try:
        assert follower.refresh() is False  # nothing changed
        _write(workspace, release_config(minRequests=500))
        assert follower.refresh() is True
        assert follower.conductor.config.orchestration.min_requests == 500
        err = capsys.readouterr().err
        assert "config changed (fingerprint" in err and "now judges with it" in err
        assert "platform settings changed" not in err
    finally:
        follower.conductor.close()


def test_reformatting_is_not_a_change() -> None:
    a = parse_config(release_config())
    b = parse_config(json.loads(json.dumps(release_config(), indent=4, sort_keys=True)))
    assert config_fingerprint(a) == config_fingerprint(b)
    assert config_fingerprint(a) != config_fingerprint(parse_config(release_config(minRequests=21)))


def test_an_invalid_edit_keeps_the_last_good_config_and_says_so_once(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(workspace, release_config(minRequests=20))
    follower = ConfigFollower(workspace.config_path)
    try:
        _write(workspace, release_config(minRequests="500"))  # strict types: a string is refused
        assert follower.refresh() is False
        assert follower.refresh() is False
        err = capsys.readouterr().err
        assert err.count("cannot be used") == 1 and "keeps judging with the config it loaded" in err
        assert follower.conductor.config.orchestration.min_requests == 20
        _write(workspace, release_config(minRequests=30))
        assert follower.refresh() is True and follower.conductor.config.orchestration.min_requests == 30
    finally:
        follower.conductor.close()


def test_a_platform_change_says_it_needs_a_restart_and_an_environment_change_is_not_followed(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(workspace, release_config())
    follower = ConfigFollower(workspace.config_path)
    try:
        _write(workspace, release_config() | {"platform": {"kind": "sim", "requestRate": 80.0}})
        assert follower.refresh() is True
        assert "`conductor down` and `conductor up`" in capsys.readouterr().err
        before = follower.conductor
        _write(workspace, release_config() | {"environment": "elsewhere"})
        assert follower.refresh() is False and follower.conductor is before
        assert "another environment" in capsys.readouterr().err
    finally:
        follower.conductor.close()


def test_the_hosted_watchdog_judges_with_the_edited_config(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loop the control process runs: after an edit, its next round uses the new config."""
    import conductor.frontends.cli.hosted_watchdog as hosted

    _write(workspace, release_config(healthCheckInterval=0.05))
    seen: list[int] = []
    stop = threading.Event()

    class Recording(hosted.ConfigFollower):
        def refresh(self) -> bool:
            changed = super().refresh()
            seen.append(self.conductor.config.orchestration.min_requests)
            if len(seen) == 2:
                _write(workspace, release_config(healthCheckInterval=0.05, minRequests=777))
            if len(seen) >= 5:
                stop.set()
            return changed

    original = hosted.ConfigFollower
    hosted.ConfigFollower = Recording  # type: ignore[misc]
    try:
        thread = threading.Thread(target=hosted._watch, args=(workspace.config_path, stop))
        thread.start()
        thread.join(timeout=30)
    finally:
        hosted.ConfigFollower = original  # type: ignore[misc]
        stop.set()
    assert seen[:2] == [20, 20] and seen[-1] == 777
