"""The narrow slice of the Kubernetes API that Conductor uses, over the official client.

Objects go in and come out as plain JSON dicts (``_preload_content=False``), the same shape as
``kubectl get -o json``: no model classes leak out of this module, and the fake API server in the
tests stores exactly what a real one would.

Optimistic concurrency: :meth:`KubeApi.converge` reads an object, asks a function for the patch
that makes it right (None when it already is, which makes every action idempotent), sends it
with the ``resourceVersion`` it read, and on ``409 Conflict`` reads again and recomputes. A patch
is never retried blind on stale data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from conductor.errors import PlatformError
from conductor.platforms.kubernetes.objects import Obj, label_selector
from conductor.platforms.kubernetes.settings import KubernetesSettings

PatchKind = Literal["strategic", "merge", "json"]
CONTENT_TYPES: dict[PatchKind, str] = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}
Kind = Literal["deployment", "service", "httproute"]
GATEWAY = ("gateway.networking.k8s.io", "v1", "httproutes")
CONFLICT_RETRIES = 5
FIELD_MANAGER = "conductor"


class Conflict(Exception):
    """409: somebody changed the object since we read it (or it already exists)."""


def api_client_for(settings: KubernetesSettings) -> client.ApiClient:
    """In-cluster service account, or a kubeconfig file/context; errors name what was tried."""
    import os

    in_cluster = settings.in_cluster
    if in_cluster is None:
        in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and settings.kubeconfig is None
    try:
        if in_cluster:
            configuration = client.Configuration()
            load_incluster: Callable[..., None] = config.load_incluster_config
            load_incluster(client_configuration=configuration)
            return client.ApiClient(configuration)
        new_client: Callable[..., client.ApiClient] = config.new_client_from_config
        return new_client(config_file=settings.kubeconfig, context=settings.context)
    except (config.ConfigException, OSError, TypeError) as exc:
        where = "in-cluster service account" if in_cluster else f"kubeconfig {settings.kubeconfig or '(default)'}"
        raise PlatformError(f"kubernetes: cannot load {where}: {exc}") from exc


class KubeApi:
    """Get, create and patch the objects of one namespace. Errors become PlatformError."""

    def __init__(self, api_client: client.ApiClient, namespace: str, request_timeout: float) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self._timeout = request_timeout
        self._apps = client.AppsV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        self._authz = client.AuthorizationV1Api(api_client)

    def close(self) -> None:
        close: Callable[[], None] = self.api_client.close
        close()

    # -- plumbing --------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, raw: bool = False, **kwargs: Any) -> Any:
        try:
            response = fn(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(what) from exc
            if exc.status == 404:
                raise KeyError(what) from exc
            raise PlatformError(f"kubernetes: {what}: HTTP {exc.status} {exc.reason}: {_message(exc)}") from exc
        except TransportError as exc:
            raise PlatformError(f"kubernetes: {what}: API server unreachable: {exc}") from exc
        data = response.data
        if raw:
            return data
        return json.loads(data) if data else {}

    # -- reads -----------------------------------------------------------------------------------

    def get(self, kind: Kind, name: str) -> Obj | None:
        ns = self.namespace
        try:
            if kind == "deployment":
                result: Obj = self._call(f"get deployment {name}", self._apps.read_namespaced_deployment, name, ns)
            elif kind == "service":
                result = self._call(f"get service {name}", self._core.read_namespaced_service, name, ns)
            else:
                result = self._call(
                    f"get httproute {name}",
                    self._custom.get_namespaced_custom_object,
                    *GATEWAY[:2],
                    ns,
                    GATEWAY[2],
                    name,
                )
        except KeyError:
            return None
        return result

    def list_pods(self, selector: dict[str, str]) -> list[Obj]:
        result = self._call(
            "list pods",
            self._core.list_namespaced_pod,
            self.namespace,
            label_selector=label_selector(selector),
        )
        items: list[Obj] = result.get("items") or []
        return sorted(items, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))

    def list_events(self, involved_name: str) -> list[Obj]:
        result = self._call(
            f"list events of {involved_name}",
            self._core.list_namespaced_event,
            self.namespace,
            field_selector=f"involvedObject.name={involved_name}",
        )
        items: list[Obj] = result.get("items") or []
        return items

    def pod_proxy_status(self, pod: str, port: int | str, path: str) -> int:
        """HTTP status of GET ``path`` on the pod, through the API server's pod proxy."""
        try:
            self._call(
                f"probe pod {pod}",
                self._core.connect_get_namespaced_pod_proxy_with_path,
                f"{pod}:{port}",
                self.namespace,
                path.lstrip("/") or "/",
                raw=True,
            )
        except PlatformError as exc:
            cause = exc.__cause__
            if isinstance(cause, ApiException) and cause.status is not None:
                return int(cause.status)
            raise
        except KeyError:
            return 404
        return 200

    def can_i(self, verb: str, group: str, resource: str, subresource: str = "") -> tuple[bool, str]:
        """SelfSubjectAccessReview: may the current identity do this in our namespace?"""
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": self.namespace,
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                    "subresource": subresource,
                }
            },
        }
        result = self._call("create selfsubjectaccessreview", self._authz.create_self_subject_access_review, body)
        status = result.get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or status.get("evaluationError") or "")

    # -- writes ----------------------------------------------------------------------------------

    def create(self, kind: Kind, body: Obj) -> Obj:
        ns, name = self.namespace, body["metadata"]["name"]
        what = f"create {kind} {name}"
        if kind == "deployment":
            result: Obj = self._call(
                what, self._apps.create_namespaced_deployment, ns, body, field_manager=FIELD_MANAGER
            )
        elif kind == "service":
            result = self._call(what, self._core.create_namespaced_service, ns, body, field_manager=FIELD_MANAGER)
        else:
            raise PlatformError(f"kubernetes: Conductor never creates a {kind}")
        return result

    def patch(self, kind: Kind, name: str, body: Any, patch_kind: PatchKind) -> Obj:
        ns, what = self.namespace, f"patch {kind} {name}"
        options: dict[str, Any] = {"_content_type": CONTENT_TYPES[patch_kind], "field_manager": FIELD_MANAGER}
        if kind == "deployment":
            result: Obj = self._call(what, self._apps.patch_namespaced_deployment, name, ns, body, **options)
        elif kind == "service":
            result = self._call(what, self._core.patch_namespaced_service, name, ns, body, **options)
        else:
            result = self._call(
                what,
                self._custom.patch_namespaced_custom_object,
                *GATEWAY[:2],
                ns,
                GATEWAY[2],
                name,
                body,
                **options,
            )
        return result

    def converge(
        self,
        kind: Kind,
        name: str,
        change: Callable[[Obj], tuple[Any, PatchKind] | None],
    ) -> Obj:
        """Read ``name``, patch it with ``change(obj)`` guarded by its resourceVersion; retry 409s.

        ``change`` returns None when the object is already as wanted (nothing is sent), or a
        patch whose body should carry ``metadata.resourceVersion`` (see :func:`with_version`).
        """
        for _attempt in range(CONFLICT_RETRIES):
            current = self.get(kind, name)
            if current is None:
                raise PlatformError(f"kubernetes: {kind} {name} not found in namespace {self.namespace}")
            wanted = change(current)
            if wanted is None:
                return current
            body, patch_kind = wanted
            try:
                return self.patch(kind, name, body, patch_kind)
            except Conflict:
                continue
        raise PlatformError(f"kubernetes: {kind} {name} kept changing under us ({CONFLICT_RETRIES} conflicts in a row)")


def with_version(obj: Obj, patch: Any, patch_kind: PatchKind) -> Any:
    """Add the resourceVersion read in ``obj`` to ``patch``, so a stale write gets 409, not applied."""
    version = obj["metadata"].get("resourceVersion")
    if version is None:
        return patch
    if patch_kind == "json":
        return [{"op": "add", "path": "/metadata/resourceVersion", "value": version}, *patch]
    body = dict(patch)
    body["metadata"] = {**body.get("metadata", {}), "resourceVersion": version}
    return body


def _message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return str(exc.body or "")[:300]
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)[:300]
