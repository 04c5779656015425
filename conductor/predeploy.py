"""The spec's pre-deploy steps: checks and builds from the config, run before anything deploys.

Commands are argv lists from ``preDeploy`` in the config only — never a shell string, never a
command a model wrote — run in the repository root with a timeout.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conductor.config import PreDeploy
from conductor.errors import ConductorError


class PreDeployFailed(ConductorError):
    """A pre-deploy check or build failed; nothing was deployed."""


def run_pre_deploy(pre: PreDeploy, cwd: Path) -> list[str]:
    """Run every check, then every build; return one line per command; raise on the first failure."""
    done: list[str] = []
    for stage, commands in (("check", pre.checks), ("build", pre.build)):
        for argv in commands:
            shown = " ".join(argv)
            try:
                proc = subprocess.run(
                    argv, cwd=cwd, capture_output=True, text=True, timeout=pre.timeout, check=False
                )
            except FileNotFoundError:
                raise PreDeployFailed(f"preDeploy {stage} `{shown}`: command not found; nothing was deployed") from None
            except subprocess.TimeoutExpired:
                raise PreDeployFailed(
                    f"preDeploy {stage} `{shown}` timed out after {pre.timeout:g}s; nothing was deployed"
                ) from None
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
                raise PreDeployFailed(
                    f"preDeploy {stage} `{shown}` failed with exit {proc.returncode}; nothing was deployed"
                    + (f"\n{tail}" if tail else "")
                )
            done.append(f"{stage} `{shown}` passed")
    return done
