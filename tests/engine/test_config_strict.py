"""Strict config, as a class: every boolean or number field of every model, given as a string, is refused.

The fields are found by walking the pydantic models (the config's and every platform backend's
settings), so a field added tomorrow is covered without editing this file. Identifiers that reach
a platform, a label or a signal are checked against their documented character set.
"""

from __future__ import annotations

import copy
import json
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from conductor.config import ConductorConfig, is_version
from conductor.config_file import load_config, parse_config
from conductor.errors import ConfigError
from conductor.platforms.registry import known_kinds, platform_kind
from tests.conftest import Workspace, release_config

SCALARS = (bool, int, float)


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for m in typing.get_args(annotation) if m is not type(None)]
    return [annotation]


def _scalar_kind(annotation: Any) -> type | None:
    """bool/int/float when every non-None member is one of them (``int | str`` takes strings)."""
    inner = [typing.get_args(m)[0] if typing.get_origin(m) is typing.Annotated else m for m in _members(annotation)]
    if inner and all(m in SCALARS for m in inner):
        return bool if bool in inner else int if int in inner else float
    return None


def _numeric_paths(model: type[BaseModel], prefix: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], type]]:
    """JSON paths (keys, 0 for a list item, "api" for a dict key) of every bool/int/float value."""
    found: list[tuple[tuple[Any, ...], type]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        members = _members(field.annotation)
        whole = _scalar_kind(field.annotation)
        for member in members if whole is None else [whole]:
            path, annotation = (*prefix, key), member
            while typing.get_origin(annotation) in (list, dict):
                args = typing.get_args(annotation)
                path, annotation = (*path, 0 if typing.get_origin(annotation) is list else "api"), args[-1]
            if typing.get_origin(annotation) is typing.Annotated:
                annotation = typing.get_args(annotation)[0]
            kind = _scalar_kind(annotation)
            if kind is not None:
                found.append((path, kind))
            elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
                found += [(p, k) for p, k in _numeric_paths(annotation, path)]
    return found


def _cases() -> list[tuple[str, dict[str, Any], str]]:
    cases = []
    roots: list[tuple[type[BaseModel], tuple[Any, ...], dict[str, Any]]] = [(ConductorConfig, (), {})]
    roots += [(platform_kind(kind).settings_model, ("platform",), {"kind": kind}) for kind in known_kinds()]
    for model, prefix, platform in roots:
        for path, kind in _numeric_paths(model, prefix):
            raw = release_config()
            if platform:
                raw["platform"] = dict(platform)
            node: Any = raw
            for part, following in zip(path, (*path[1:], None), strict=True):
                if following is None:
                    break
                empty: Any = [] if following == 0 else {}
                if isinstance(node, list):
                    node.append(empty)
                    node = node[-1]
                else:
                    node = node.setdefault(part, empty)
                if isinstance(node, dict) and path[:2] == ("platform", "metrics") and "kind" not in node:
                    node.update({"kind": "prometheus", "url": "http://prometheus:9090"})
            text = {bool: "true", int: "10", float: "10"}[kind]
            if isinstance(node, list):
                node.append(text)
            else:
                node[path[-1]] = text
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
            cases.append((where, raw, text))
    return cases


CASES = _cases()


def test_the_walk_finds_the_fields_the_issue_names() -> None:
    paths = {where for where, _, _ in CASES}
    assert {"orchestration.requireApproval", "orchestration.freeze", "orchestration.healthCheckInterval",
            "orchestration.canarySteps[0]", "platform.seed", "platform.metrics.timeout"} <= paths
    assert len(paths) > 60  # every backend's settings, not just the top level


@pytest.mark.parametrize(("where", "raw", "text"), CASES, ids=[c[0] for c in CASES])
def test_every_boolean_or_number_given_as_a_string_is_refused_at_its_path(
    where: str, raw: dict[str, Any], text: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(copy.deepcopy(raw), source="cfg.json")
    assert f"cfg.json: {where}: must be " in str(caught.value)
    assert f'got the string "{text}"' in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("canarySteps", [True, 25, 100], "canarySteps[0]: must be a whole number"),
        ("canarySteps", [5, 50.0, 100], "got 50.0"),
        ("failureLimit", True, "got true"),
        ("requireApproval", 0, "must be true or false"),
        ("requireApproval", "no", 'got the string "no"'),
    ],
)
def test_booleans_and_decimals_are_not_integers_nor_the_other_way(key: str, value: Any, message: str) -> None:
    raw = release_config()
    raw["orchestration"][key] = value
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(raw)


def test_a_string_requireapproval_in_a_file_exits_2_and_touches_nothing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = release_config()
    raw["orchestration"]["requireApproval"] = "no"
    workspace.write_config(raw)
    before = workspace.state_files()
    result = workspace.cli(capsys, "orchestrate", "canary", "10")
    assert result.code == 2
    assert f"{workspace.config_path}: orchestration.requireApproval: must be true or false" in result.err
    assert workspace.state_files() == before


# -- identifiers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.1.0\n", "v1.1.0 ", " v1", "v1/2", "v1\tx", "", "-v1", "v1;rm", "v1\u00e9"])
def test_a_version_outside_its_character_set_is_refused_everywhere(version: str) -> None:
    assert not is_version(version)
    raw = release_config()
    raw["release"] = {"api": version}
    with pytest.raises(ConfigError, match=r"release\.api"):
        parse_config(raw)


def test_release_flag_with_a_trailing_newline_exits_2_and_changes_nothing(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.write_config(release_config())
    before = workspace.state_files()
    result = workspace.cli(capsys, "orchestrate", "canary", "10", "--release", "api=v1.1.0\n")
    assert result.code == 2
    assert "not a valid version" in result.err
    assert workspace.state_files() == before


@pytest.mark.parametrize(
    ("platform", "where"),
    [
        ({"kind": "sim", "initialVersion": "v1\n"}, "platform.initialVersion"),
        ({"kind": "sim", "initial": {"api": "v 1"}}, "platform.initial.api"),
        ({"kind": "sim", "initial": {"API": "v1"}}, "platform.initial.API"),
        ({"kind": "sim", "versions": {"api@v1 ": {"errorRate": 1}}}, "platform.versions"),
        ({"kind": "sim", "timeline": [{"at": 1, "target": "api@\n"}]}, "platform.timeline[0].target"),
        ({"kind": "kubernetes", "services": {"api": {"deployment": "Api_Blue"}}}, "platform.services.api.deployment"),
        ({"kind": "kubernetes", "services": {"api": {"httpRoute": "r\n"}}}, "platform.services.api.httpRoute"),
        ({"kind": "kubernetes", "services": {"api": {"image": "repo/api x"}}}, "platform.services.api.image"),
        ({"kind": "kubernetes", "services": {"Api": {}}}, "platform.services"),
        ({"kind": "kubernetes", "metrics": {"kind": "prometheus", "url": "http://p", "services": {"a b": {}}}},
         "platform.metrics.services"),
        ({"kind": "local", "services": {"api": {"command": ["python3"], "env": {"A=B": "1"}}}},
         "platform.services.api.env"),
        ({"kind": "local", "routerHost": "127.0.0.1\n"}, "platform.routerHost"),
    ],
)
def test_platform_identifiers_are_validated(platform: dict[str, Any], where: str) -> None:
    raw = release_config() | {"platform": platform}
    with pytest.raises(ConfigError, match=where.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")):
        parse_config(raw)


def test_model_name_and_price_keys_are_validated() -> None:
    for model in ({"name": "claude\n<conductor>"}, {"prices": {"inptu": 3.0}}, {"prices": {"input": -1.0}}):
        with pytest.raises(ConfigError, match=r"model\."):
            parse_config(release_config() | {"model": model})


# -- files a person may have broken ------------------------------------------------------------------


def test_a_non_utf8_config_exits_2(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    workspace.config_path.write_bytes(b'{"orchestration": {"services": ["api"]}, "x": "\xff"}')
    result = workspace.cli(capsys, "orchestrate")
    assert result.code == 2
    assert "not UTF-8" in result.err


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_deeply_nested_config_exits_2(
    workspace: Workspace, capsys: pytest.CaptureFixture[str], depth: int
) -> None:
    workspace.config_path.write_text('{"orchestration": {"services": ["api"]}, "x": ' + "[" * depth + "]" * depth + "}")
    result = workspace.cli(capsys, "orchestrate")
    assert result.code == 2
    assert "nested" in result.err
    assert "unexpected" not in result.err


def test_load_config_reads_what_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(release_config()))
    assert load_config(path).release == release_config()["release"]
