"""The spec's config loads unchanged; every bad config is one clear message, exit 2, nothing touched."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conductor.config_file import load_config, parse_config
from conductor.errors import ConfigError
from tests.conftest import SPEC_CONFIG, Workspace, release_config


def test_the_spec_config_loads_unchanged_with_documented_defaults() -> None:
    config = parse_config(SPEC_CONFIG)
    o = config.orchestration
    assert o.strategy == "blue-green"
    assert o.services == ["api", "web", "worker"]
    assert o.health_check_interval == 10
    assert (o.rollback_threshold.error_rate, o.rollback_threshold.response_time) == (5, 1000)
    assert o.rollback_threshold.latency_percentile == "p95"
    assert o.canary_steps == [5, 25, 50, 100]
    assert o.require_approval is True
    assert o.failure_limit == 2
    assert o.bake_time == 900
    assert config.platform.kind == "sim"


def _with(path: str, value: Any) -> dict[str, Any]:
    config = release_config()
    node = config
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return config


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (_with("orchestration.rollbackThreshold.errorRate", -1), "orchestration.rollbackThreshold.errorRate"),
        (_with("orchestration.rollbackThreshold.errorRate", 101), "less than or equal to 100"),
        (_with("orchestration.healthCheckInterval", "ten"), "orchestration.healthCheckInterval"),
        (_with("orchestration.strategy", "big-bang"), "orchestration.strategy"),
        (_with("orchestration.bakeTme", 30), 'orchestration.bakeTme: unknown key (did you mean "bakeTime"?)'),
        (_with("orchestration.canarySteps", [5, 3, 100]), "steps must increase strictly"),
        (_with("orchestration.canarySteps", [5, 50]), "the last step must be 100"),
        (_with("release.db", "v2"), "release.db: service 'db' is not in orchestration.services"),
        (_with("platform.kind", "nomad"), "platform.kind"),
        (_with("services.api", {"replica": 3}), 'services.api.replica: unknown key (did you mean "replicas"?)'),
        (_with("services.api", {"dependsOn": ["web"]}) | {"services": {"api": {"dependsOn": ["web"]},
                                                                      "web": {"dependsOn": ["api"]}}},
         "dependency cycle"),
        (_with("preDeploy.checks", ["pytest -q"]), "preDeploy.checks[0]"),
    ],
)
def test_bad_config_exits_2_naming_file_and_path_and_touches_nothing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], config: dict[str, Any], expected: str
) -> None:
    workspace.write_config(config)
    before = workspace.state_files()
    result = workspace.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 2
    assert str(workspace.config_path) in result.err
    assert expected in result.err
    assert workspace.state_files() == before


def test_invalid_json_names_line_and_column(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.config_path.write_text('{"orchestration": {"services": ["api",]}}')
    result = workspace.cli(capsys, "orchestrate")
    assert result.code == 2
    assert "invalid JSON at line 1 column" in result.err
    assert not (workspace.state_dir / "journal.db").exists()


def test_config_found_from_a_subdirectory_and_overridable(workspace: Workspace, tmp_path: Any) -> None:
    from conductor.config import find_config

    sub = workspace.root / "src" / "deep"
    sub.mkdir(parents=True)
    assert find_config(sub) == workspace.config_path
    with pytest.raises(ConfigError, match=r"no \.mothership/config\.json found"):
        find_config(tmp_path / "elsewhere")


def test_missing_config_file_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.json")


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="top level must be a JSON object"):
        parse_config(json.loads("[1, 2]"))
