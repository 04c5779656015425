"""The spec's pre/post steps: preDeploy checks, smoke checks, readiness, webhooks, the deployment record."""

from __future__ import annotations

import json
import sys

import httpx2
import pytest
import respx

from tests.conftest import Workspace, release_config


def test_failing_pre_deploy_check_stops_before_anything_deploys(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    config = release_config()
    config["preDeploy"] = {"checks": [[sys.executable, "-c", "print('2 failed'); raise SystemExit(1)"]]}
    workspace.write_config(config)
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 1
    assert "preDeploy check" in result.err and "failed with exit 1" in result.err and "2 failed" in result.err
    assert not workspace.journal_events("deploying") if (workspace.state_dir / "journal.db").exists() else True


def test_passing_pre_deploy_checks_and_builds_run_in_the_repository_root(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    config = release_config()
    marker = "import pathlib; pathlib.Path('built.txt').write_text('ok')"
    config["preDeploy"] = {"checks": [[sys.executable, "-c", "pass"]], "build": [[sys.executable, "-c", marker]]}
    workspace.write_config(config)
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 0
    assert (workspace.root / "built.txt").read_text() == "ok"
    assert "build `" in result.out


def test_failed_smoke_check_leaves_traffic_untouched(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    config = release_config()
    config["services"] = {"api": {"smoke": [{"path": "/healthz"}]}}
    config["platform"] = {"kind": "sim", "versions": {"api@v1.1.0": {"smokeStatus": 503}}}
    workspace.write_config(config)
    result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 1
    assert "smoke check GET /healthz returned 503, expected 200" in result.out
    assert not workspace.journal_events("traffic_shifted")
    sim = json.loads((workspace.state_dir / "sim" / "state.json").read_text())
    assert sim["services"]["api"]["weights"] == {"blue": 100, "green": 0}


def test_version_that_never_becomes_ready_fails_without_touching_traffic(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    config = release_config()
    config["platform"] = {"kind": "sim", "versions": {"web@v1.1.0": {"neverReady": True}}}
    workspace.write_config(config)
    result = workspace.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 1
    assert "was not ready after 300s" in result.out and "log tail" in result.out
    sim = json.loads((workspace.state_dir / "sim" / "state.json").read_text())
    assert all(sim["services"][s]["weights"] == {"blue": 100, "green": 0} for s in ("api", "web", "worker"))
    assert "| web | v1.0.0 | v1.1.0 | Failed |" in result.out


def test_webhooks_hear_start_steps_and_the_outcome_and_a_dead_one_never_blocks(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    config = release_config()
    config["release"] = {"api": "v1.1.0"}
    config["notify"] = {"webhooks": ["https://hooks.example.test/deploys", "https://down.example.test/x"]}
    workspace.write_config(config)
    with respx.mock(assert_all_called=True) as mock:
        hook = mock.post("https://hooks.example.test/deploys").mock(return_value=httpx2.Response(204))
        mock.post("https://down.example.test/x").mock(side_effect=httpx2.ConnectError("refused"))
        result = workspace.cli(capsys, "orchestrate", "blue-green")
    assert result.code == 0
    events = [json.loads(call.request.content)["event"] for call in hook.calls]
    assert events[0] == "start" and events[-2:] == ["deployed", "complete"]
    assert "step" in events
    failures = workspace.journal_events("notify_failed")
    assert failures and all(f.data["url"] == "https://down.example.test/…" for f in failures)  # path: a credential?


def test_deployment_record_is_appended_for_rollbacks_too(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.cli(capsys, "orchestrate", "canary", "10")
    workspace.cli(capsys, "orchestrate", "rollback")
    record = (workspace.state_dir / "DEPLOYMENTS.md").read_text()
    assert record.startswith("# Deployments")
    assert "canary — rolled_back" in record
    assert "| api | v1.0.0 | v1.1.0 | Rolled back: manual |" in record


def test_a_platform_error_mid_release_exits_1_and_leaves_traffic_guarded(workspace: Workspace) -> None:
    from conductor.errors import PlatformError
    from conductor.session import Conductor

    conductor = Conductor.from_config(workspace.config_path)
    assert conductor.run("/orchestrate canary 10").exit_code == 0
    platform = conductor.bundle.platform

    def refuse(*args: object, **kwargs: object) -> None:
        raise PlatformError("router admin API answered 503")

    platform.set_weights = refuse  # type: ignore[method-assign,assignment]
    result = conductor.run("/orchestrate canary 25")
    conductor.close()
    assert result.exit_code == 1
    assert "router admin API answered 503" in result.report
    assert result.data["status"] in ("running", "awaiting_approval")  # still in flight, still watched
