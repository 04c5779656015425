"""Reading ``.mothership/config.json``: the file, its JSON, and every section validated, the
platform's settings by the backend that owns them.

:mod:`conductor.config` holds the typed models and sits at the bottom of the package; validating
``platform`` needs the backend registry, which sits above it, so loading a file lives here, above
both (config <- platforms.registry <- config_file), and nothing imports in a circle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from conductor.config import ConductorConfig, describe_errors, parse_core_config
from conductor.errors import ConfigError
from conductor.platforms.registry import platform_kind, validate_platform_settings


def load_config(path: Path) -> ConductorConfig:
    """Read, parse and validate ``path``; every problem raises ConfigError with file and JSON path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply to be a config") from None
    if _depth(raw) > MAX_DEPTH:
        raise ConfigError(f"{path}: JSON nested more than {MAX_DEPTH} levels deep; no config key is that deep")
    return parse_config(raw, source=str(path))


MAX_DEPTH = 32  # the deepest real key (platform.metrics.queries…) is under 8


def _depth(value: Any) -> int:
    """Nesting depth, iteratively (a recursive walk would itself overflow on a hostile file)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
            stack.extend((child, level + 1) for child in children)
    return deepest


COMMENT_KEY = "//"


def without_comments(value: Any, source: str = "<config>", where: str = "") -> Any:
    """``value`` without its ``"//"`` keys, at any depth: JSON has no comments, so a config
    documents itself with ``"//": "why this is set"`` beside the keys it explains (``conductor
    init`` writes them). Only that exact key, and only with a string or a list of strings as its
    value: a comment never carries a setting, and any other unknown key stays an error."""
    if isinstance(value, list):
        return [without_comments(item, source, f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    note = value.get(COMMENT_KEY)
    if COMMENT_KEY in value and not (isinstance(note, str) or (
            isinstance(note, list) and all(isinstance(line, str) for line in note))):
        raise ConfigError(f'{source}: {where + "." if where else ""}"//": a comment must be a string or a list of '
                          "strings")
    return {key: without_comments(item, source, f"{where}.{key}" if where else key)
            for key, item in value.items() if key != COMMENT_KEY}


def parse_config(raw: Any, source: str = "<config>") -> ConductorConfig:
    raw = without_comments(raw, source)
    config = parse_core_config(raw, source)
    try:
        validate_platform_settings(config)
    except ValidationError as exc:
        try:
            root: type[BaseModel] | None = platform_kind(config.platform.kind).settings_model
        except KeyError:
            root = None
        raise ConfigError(describe_errors(exc, source, prefix=("platform",), root=root)) from None
    return config
