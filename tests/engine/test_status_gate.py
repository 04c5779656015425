"""`conductor status` gates a pipeline: each state of the release is an exit code, and `--wait
--timeout` blocks until the orchestration ends or pauses (like `kubectl argo rollouts status`)."""

from __future__ import annotations

import threading
import time

import pytest

from conductor.errors import EXIT_ERROR, EXIT_IN_PROGRESS, EXIT_OK, EXIT_PAUSED, EXIT_ROLLED_BACK, EXIT_USAGE
from tests.conftest import Workspace, release_config

BAD_API = {"kind": "sim", "versions": {"api@v1.1.0": {"errorRate": 30}}}


def _status(workspace: Workspace, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, object]]:
    result = workspace.cli(capsys, "status", "--json", *extra)
    return result.code, result.json()


def test_nothing_released_yet_is_exit_0_idle(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.write_config(release_config())
    code, doc = _status(workspace, capsys)
    assert (code, doc["state"], doc["schema"]) == (EXIT_OK, "idle", "conductor.status/v1")
    assert not (workspace.state_dir / "journal.db").exists()  # status only reads


def test_paused_complete_and_rolled_back_each_have_their_code(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(release_config())
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == EXIT_OK
    code, doc = _status(workspace, capsys)
    assert (code, doc["state"]) == (EXIT_PAUSED, "awaiting_approval")
    assert doc["report"]["status"] == "awaiting_approval"  # type: ignore[index]
    # --wait returns at once on a pause: a person must act, waiting longer would only hang the job
    started = time.monotonic()
    assert _status(workspace, capsys, "--wait", "--timeout", "30")[0] == EXIT_PAUSED
    assert time.monotonic() - started < 10
    assert workspace.cli(capsys, "orchestrate", "canary", "100").code == EXIT_OK
    code, doc = _status(workspace, capsys)
    assert (code, doc["state"]) == (EXIT_OK, "complete")

    workspace.write_config(release_config() | {"release": {"api": "v1.2.0"}})
    assert workspace.cli(capsys, "orchestrate", "canary", "5").code == EXIT_OK
    assert workspace.cli(capsys, "orchestrate", "rollback").code == EXIT_ROLLED_BACK
    code, doc = _status(workspace, capsys)
    assert (code, doc["state"]) == (EXIT_ROLLED_BACK, "rolled_back")


def test_orchestrate_after_a_watchdog_rollback_exits_3_and_status_agrees(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(release_config(failureLimit=1) | {"platform": BAD_API})
    result = workspace.cli(capsys, "orchestrate", "canary", "--auto")
    assert result.code == EXIT_ROLLED_BACK
    assert _status(workspace, capsys)[0] == EXIT_ROLLED_BACK


def test_a_failed_release_is_exit_1_for_orchestrate_and_status(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    config = release_config() | {"platform": {"kind": "sim", "versions": {"api@v1.1.0": {"neverReady": True}},
                                              "readinessTimeout": 5}}
    workspace.write_config(config)
    assert workspace.cli(capsys, "orchestrate", "blue-green").code == EXIT_ERROR
    assert _status(workspace, capsys)[0] == EXIT_ERROR


def test_wait_times_out_with_6_while_in_flight_and_returns_when_it_ends(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    """An orchestration in flight that nothing drives (its process was stopped): --wait gives up
    at --timeout with 6; when another process ends it, --wait returns that outcome."""
    from conductor.session import Conductor

    workspace.write_config(release_config())
    conductor = Conductor.from_config(workspace.config_path)
    try:
        from conductor.starting import plan_release, start_orchestration

        command = __import__("conductor").parse_command("canary 5")
        plan = plan_release(conductor.config, conductor.bundle, command, {})
        start_orchestration(conductor.journal, plan, command, False, "person:cli", "policy", 0.0)
    finally:
        conductor.close()
    started = time.monotonic()
    code, doc = _status(workspace, capsys, "--wait", "--timeout", "0.5", "--interval", "0.1")
    assert (code, doc["state"], doc["timed_out"]) == (EXIT_IN_PROGRESS, "running", True)
    assert 0.4 <= time.monotonic() - started < 10
    assert _status(workspace, capsys)[0] == EXIT_IN_PROGRESS  # without --wait: at once

    rollback = threading.Timer(0.3, lambda: workspace.subprocess("orchestrate", "rollback"))
    rollback.start()
    try:
        code, doc = _status(workspace, capsys, "--wait", "--timeout", "60", "--interval", "0.1")
    finally:
        rollback.join()
    assert (code, doc["state"], doc["timed_out"]) == (EXIT_ROLLED_BACK, "rolled_back", False)


@pytest.mark.parametrize("args", [["--timeout", "5"], ["--wait", "--timeout", "-1"], ["--wait", "--timeout", "nan"],
                                  ["--wait", "--interval", "0"]])
def test_bad_wait_options_are_usage_errors(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    workspace.write_config(release_config())
    try:
        code = workspace.cli(capsys, "status", *args).code
    except SystemExit as exc:  # argparse's own errors
        code = int(str(exc.code))
    assert code == EXIT_USAGE
