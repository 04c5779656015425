"""`conductor doctor`: check that the platform lets Conductor do everything a release needs.

On Kubernetes it asks the API server, permission by permission (SelfSubjectAccessReview, like
`kubectl auth can-i`), whether the current identity may do what Conductor does in the
configured namespace, then checks that each service has a Deployment to start from. It prints
every check and exits non-zero if anything is missing, before a release finds out halfway.

`--adopt` (once, before the first release) moves each service's traffic from the team's own
Deployment (`templateDeployment`) onto a Conductor-managed blue slot running the same image:
the new pods are ready before the Service selector flips, so nothing is dropped, and the
adopted Deployment is left running, untouched, for you to scale down.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from conductor.config import ConductorConfig, find_config
from conductor.config_file import load_config
from conductor.errors import EXIT_ERROR, EXIT_OK
from conductor.frontends.cli import exit_codes
from conductor.frontends.cli.common import add_config_option, print_json
from conductor.paths import state_dir_for
from conductor.platforms.kubernetes.settings import KubernetesSettings
from conductor.platforms.registry import build_platform, validate_platform_settings


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check platform permissions and prerequisites",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_codes.epilog({0: "everything needed is allowed", 1: "something is missing or unreachable",
                                  2: None}),
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument(
        "--adopt", action="store_true", help="move each service onto a managed blue slot first (see above)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config_path = args.config if args.config is not None else find_config(Path.cwd())
    config = load_config(config_path)
    if config.platform.kind == "local":
        return _local(config, config_path, args.json)
    if config.platform.kind != "kubernetes":
        print(f"doctor: platform {config.platform.kind!r} needs no permissions check")
        return EXIT_OK
    # deferred: the kubernetes client is heavy: only `conductor doctor` on kubernetes loads it
    from conductor.platforms.kubernetes.api import KubeApi, api_client_for
    from conductor.platforms.kubernetes.doctor import diagnose

    settings = validate_platform_settings(config)
    assert isinstance(settings, KubernetesSettings)
    if args.adopt:
        _adopt(config, config_path)
    api = KubeApi(api_client_for(settings), settings.namespace, settings.request_timeout)
    try:
        findings = diagnose(api, settings, list(config.orchestration.services))
    finally:
        api.close()
    missing = [f for f in findings if not f.ok]
    if args.json:
        print_json(
            {
                "namespace": settings.namespace,
                "ok": not missing,
                "checks": [{"ok": f.ok, "check": f.what, "detail": f.detail} for f in findings],
            }
        )
    else:
        print(f"doctor: namespace {settings.namespace}")
        for finding in findings:
            mark = "ok     " if finding.ok else "MISSING"
            print(f"  {mark} {finding.what}" + (f"  ({finding.detail})" if finding.detail else ""))
        if missing:
            print(f"doctor: {len(missing)} missing; deploy/rbac.yaml grants everything Conductor needs")
        else:
            print("doctor: everything Conductor needs is allowed")
    return EXIT_ERROR if missing else EXIT_OK


def _local(config: ConductorConfig, config_path: Path, as_json: bool) -> int:
    """The local platform: which data plane carries the traffic, why, and whether it runs now."""
    # deferred: the local platform's helpers load only when `conductor doctor` checks a local platform
    from conductor.errors import ConfigError
    from conductor.platforms.local.dataplane import data_plane_report
    from conductor.platforms.local.settings import LocalSettings

    settings = validate_platform_settings(config)
    assert isinstance(settings, LocalSettings)
    try:
        report = data_plane_report(settings, state_dir_for(config_path, config))
    except ConfigError as exc:
        if as_json:
            print_json({"ok": False, "checks": [{"ok": False, "check": "data plane", "detail": str(exc)}]})
        else:
            print(f"doctor: MISSING data plane: {exc}")
        return EXIT_ERROR
    if as_json:
        print_json({"ok": True, **report})
        return EXIT_OK
    print(f"doctor: data plane {report['kind']}: {report['why']}")
    if report.get("version"):
        print(f"  {report['version']}")
    print(f"  control process: {report['control']}")
    for service, running in sorted(report["running"].items()):
        print(f"  {service}: {running}")
    return EXIT_OK


def _adopt(config: ConductorConfig, config_path: Path) -> None:
    # deferred: the kubernetes client is heavy: only `conductor doctor` on kubernetes loads it
    from conductor.platforms.kubernetes.platform import KubernetesPlatform

    bundle = build_platform(config, state_dir_for(config_path, config))
    platform = bundle.platform
    assert isinstance(platform, KubernetesPlatform)
    try:
        for service in config.orchestration.services:
            print(f"doctor: adopt {platform.adopt(service)}", flush=True)
    finally:
        platform.close()
