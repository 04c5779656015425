"""``conductor doctor`` for Kubernetes: can this identity do everything Conductor needs, here?

Each permission is asked of the API server itself with a SelfSubjectAccessReview (what
``kubectl auth can-i`` does), in the configured namespace, so the answer accounts for every
Role, ClusterRole and admission quirk actually in force. ``deploy/rbac.yaml`` grants exactly
:data:`REQUIRED` (a test keeps the two in step), and nothing more: no Secrets, no exec, no
delete, no escalate/bind/impersonate.
"""

from __future__ import annotations

from dataclasses import dataclass

from conductor.errors import PlatformError
from conductor.platforms.kubernetes.api import KubeApi
from conductor.platforms.kubernetes.objects import names_for
from conductor.platforms.kubernetes.settings import KubernetesSettings


@dataclass(frozen=True)
class Permission:
    verb: str
    group: str
    resource: str
    subresource: str = ""
    why: str = ""
    route_only: bool = False

    def __str__(self) -> str:
        resource = self.resource + (f"/{self.subresource}" if self.subresource else "")
        return f"{self.verb} {resource}{'.' + self.group if self.group else ''}"


def _rw(group: str, resource: str, verbs: tuple[str, ...], why: str, route_only: bool = False) -> list[Permission]:
    return [Permission(verb, group, resource, why=why, route_only=route_only) for verb in verbs]


READ = ("get", "list", "watch")
REQUIRED: list[Permission] = [
    *_rw("apps", "deployments", (*READ, "create", "patch"), "slot Deployments: create, roll, scale"),
    *_rw("", "services", (*READ, "create", "patch"), "Service selector flips; slot Services for a route"),
    *_rw("", "pods", READ, "readiness and the cause of a failure"),
    Permission("get", "", "pods", "proxy", why="smoke probes on one slot, before any traffic"),
    *_rw("", "events", READ, "why a pod is not ready (pull errors, scheduling)"),
    *_rw("gateway.networking.k8s.io", "httproutes", (*READ, "patch"), "canary weights", route_only=True),
]


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str = ""


def needed(settings: KubernetesSettings) -> list[Permission]:
    uses_routes = any(spec.http_route for spec in settings.services.values())
    return [p for p in REQUIRED if uses_routes or not p.route_only]


def diagnose(api: KubeApi, settings: KubernetesSettings, services: list[str]) -> list[Finding]:
    """Every needed permission, then the objects each service starts from."""
    findings: list[Finding] = []
    try:
        for permission in needed(settings):
            allowed, reason = api.can_i(permission.verb, permission.group, permission.resource, permission.subresource)
            findings.append(Finding(allowed, f"can {permission}", reason if not allowed else permission.why))
    except PlatformError as exc:
        return [*findings, Finding(False, "reach the API server", str(exc))]
    for service in services:
        names = names_for(settings, service)
        slots = [api.get("deployment", names.deployment(slot)) for slot in ("blue", "green")]
        template = api.get("deployment", names.template_deployment) if names.template_deployment else None
        has_start = any(slots) or template is not None
        findings.append(
            Finding(
                has_start,
                f"{service}: a Deployment to start from",
                "found" if has_start else f"neither {names.deployment('blue')}/-green nor a templateDeployment exists",
            )
        )
        if names.route:
            route = api.get("httproute", names.route)
            findings.append(
                Finding(route is not None, f"{service}: HTTPRoute {names.route}", "" if route else "not found")
            )
    return findings
