"""What an installed Conductor needs beyond its Python files is package data, declared and loaded as such.

A wheel carries only the files ``[tool.setuptools.package-data]`` names, and an installed module
cannot see the source checkout around it, so a template or schema kept outside ``conductor/`` (or
inside it but undeclared) works under ``pip install -e`` and breaks under ``pip install .``,
``pipx``, ``uv tool`` and the container image. ``.ci/wheel_smoke.sh`` proves the real install end
to end; these tests catch the same mistake in milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import jinja2

import conductor
from conductor.agent.prompt import environment
from conductor.schema import SCHEMA_PATH

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "conductor"


def _package_data_globs() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs: list[str] = config["tool"]["setuptools"]["package-data"]["conductor"]
    return globs


def test_every_non_python_file_in_the_package_is_declared_package_data() -> None:
    data_files = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert data_files, "the package has templates and a schema"
    globs = _package_data_globs()
    undeclared = [f for f in data_files if not any(fnmatch(f, g) for g in globs)]
    assert undeclared == [], f"add these to [tool.setuptools.package-data] or the wheel lacks them: {undeclared}"


def test_templates_load_through_the_package_not_the_checkout() -> None:
    env = environment()
    assert isinstance(env.loader, jinja2.PackageLoader)
    assert sorted(env.list_templates()) == ["orchestrate.md", "report.md.j2", "state.md.j2"]


def test_one_copy_of_templates_and_schema() -> None:
    # The package data is the single source: no top-level duplicate that could drift from it.
    assert not (ROOT / "prompts").exists() and not (ROOT / "schema").exists()
    assert SCHEMA_PATH.is_relative_to(PACKAGE) and SCHEMA_PATH.is_file()


def test_version_flag_prints_the_installed_version() -> None:
    out = subprocess.run([sys.executable, "-m", "conductor", "--version"], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == f"conductor {conductor.__version__}"
    assert conductor.__version__ != "0.0.0"
