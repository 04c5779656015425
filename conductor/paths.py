"""Where state lives: one state directory per environment, so two configs never share a journal.

    .mothership/config.json                the default environment: state beside it, in .mothership/
    .mothership/prod.json                  environment "prod" (the file's name) ...
    .mothership/environments/prod/         ... keeps its state here
    {"environment": "staging", ...}        an explicit name: .mothership/environments/staging/

A state directory holds the journal (``journal.db``), the service locks (``locks/``), the
platform's own state (``sim/``, ``local/``, ``logs/``), ``DEPLOYMENTS.md`` and ``OWNER``: the path of
the config it belongs to, relative to the directory (so a moved or cloned repository still
matches). A second config that would use the same directory is refused (ConfigError, exit 2)
before anything is read or written, so ``--config staging.json`` can never act on prod's canary.
"""

from __future__ import annotations

import os
from pathlib import Path

from conductor.config import CONFIG_FILE, ConductorConfig
from conductor.errors import ConfigError

ENVIRONMENTS = "environments"
OWNER = "OWNER"


def environment_name(config_path: Path, config: ConductorConfig) -> str | None:
    """The environment's name; None for the default one (``config.json`` without ``environment``)."""
    if config.environment is not None:
        return config.environment
    return None if config_path.name == CONFIG_FILE else config_path.stem


def state_dir_for(config_path: Path, config: ConductorConfig) -> Path:
    """Absolute, so that a relative ``--config prod.json`` typed in its own folder still has the
    parents that :func:`project_root` and :func:`freeze_markers` climb to."""
    name = environment_name(config_path, config)
    folder = config_path.absolute().parent
    return folder if name is None else folder / ENVIRONMENTS / name


def project_root(state_dir: Path) -> Path:
    """The repository root a state directory belongs to (pre-deploy commands and relative cassette
    paths are resolved against it): the parent of the config's directory."""
    state_dir = state_dir.absolute()
    if state_dir.parent.name == ENVIRONMENTS:
        return state_dir.parents[2]
    return state_dir.parent


def freeze_markers(state_dir: Path) -> list[Path]:
    """``FREEZE`` files that stop releases here: the environment's own, and for a named
    environment also the one beside its config (which freezes every environment configured there)."""
    state_dir = state_dir.absolute()
    markers = [state_dir / "FREEZE"]
    if state_dir.parent.name == ENVIRONMENTS:
        markers.append(state_dir.parents[1] / "FREEZE")
    return markers


def check_owner(state_dir: Path, config_path: Path) -> None:
    """Refuse a config whose state directory already belongs to another config file."""
    recorded = _recorded_owner(state_dir)
    if recorded is None:
        return
    mine = _relative(config_path, state_dir)
    if recorded != mine and (state_dir / recorded).resolve() != config_path.resolve():
        raise ConfigError(
            f"{config_path}: its state directory {state_dir} belongs to {(state_dir / recorded).resolve()} "
            f"(see {state_dir / OWNER}); two configs must not share a journal, locks and platform state. "
            'Give this one its own "environment" name (or rename the file)'
        )


def claim(state_dir: Path, config_path: Path) -> None:
    """Record ``config_path`` as the owner of ``state_dir`` (before the first thing written there)."""
    check_owner(state_dir, config_path)
    if _recorded_owner(state_dir) is None:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / f".{OWNER}.{os.getpid()}"
        tmp.write_text(_relative(config_path, state_dir) + "\n", encoding="utf-8")
        os.replace(tmp, state_dir / OWNER)


def _recorded_owner(state_dir: Path) -> str | None:
    try:
        text = (state_dir / OWNER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{state_dir / OWNER}: unreadable: {exc}") from None
    return text or None


def _relative(config_path: Path, state_dir: Path) -> str:
    return os.path.relpath(config_path.resolve(), state_dir.resolve())
