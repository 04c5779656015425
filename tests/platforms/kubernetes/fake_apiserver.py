"""A wire-level fake Kubernetes API server on loopback, for driving the real ``kubernetes`` client.

It implements what Conductor uses, the way the real server does it: get/list/watch/create/patch
for Deployments, ReplicaSets, pods, Services, HTTPRoutes and events; SelfSubjectAccessReview;
the pod proxy; resourceVersion on every write with ``409 Conflict`` for a stale one (also inside
a patch body) and ``AlreadyExists`` on create; strategic-merge, JSON merge and JSON patch;
generation bumps on spec changes; immutable Deployment selectors. A controller loop
(:mod:`fake_controller`) moves the world one step per request.

Test hooks: ``image_behaviour[image]``, ``proxy_status[image]``, ``denied`` (access reviews),
``fail(...)`` to make matching requests fail, ``before_patch`` to simulate a concurrent writer.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.platforms.kubernetes import fake_controller
from tests.platforms.kubernetes.patching import PatchError, json_patch, merge_patch, strategic_merge_patch

Obj = dict[str, Any]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
ROUTES = [
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/(deployments|replicasets)(?:/([^/]+))?$"), None),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/(pods|services|events)(?:/([^/]+))?$"), None),
    (re.compile(r"^/apis/gateway\.networking\.k8s\.io/v1/namespaces/([^/]+)/(httproutes)(?:/([^/]+))?$"), None),
]
PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/:]+)(?::(\d+))?/proxy(/.*)?$")
KINDS = {
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "pods": "Pod",
    "services": "Service",
    "events": "Event",
    "httproutes": "HTTPRoute",
}


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    skip: int = 0


class FakeCluster:
    """The store, the hooks and the HTTP server. Use as a context manager."""

    def __init__(self, namespace: str = "shop") -> None:
        self.namespace = namespace
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.objects: dict[tuple[str, str], Obj] = {}
        self.log: list[tuple[int, str, str, Obj]] = []  # (resourceVersion, resource, type, object)
        self.rv = 100
        self.clock = 0
        self.pod_counter = 0
        self.ready_after_ticks = 1
        self.image_behaviour: dict[str, str] = {}
        self.proxy_status: dict[str, int] = {}
        self.denied: set[tuple[str, str, str, str]] = set()
        self.faults: list[Fault] = []
        self.before_patch: dict[str, Callable[[FakeCluster], None]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content type)
        self.ticking = True
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeCluster:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "fake-token"}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": self.namespace}}
                    ],
                }
            )
        )
        return path

    # -- test hooks ------------------------------------------------------------------------------

    def fail(self, method: str, path_pattern: str, status: int = 500, times: int = 1, skip: int = 0) -> None:
        """Answer the next ``times`` matching requests (after letting ``skip`` through) with ``status``."""
        self.faults.append(Fault(method, re.compile(path_pattern), status, times, skip))

    def settle(self, ticks: int = 30) -> None:
        with self.lock:
            for _ in range(ticks):
                fake_controller.tick(self)

    def seed(self, resource: str, obj: Obj) -> Obj:
        with self.lock:
            return self.create_internal(resource, copy.deepcopy(obj))

    # -- store -----------------------------------------------------------------------------------

    def _next(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _record(self, resource: str, kind: str, obj: Obj) -> None:
        self.log.append((int(obj["metadata"]["resourceVersion"]), resource, kind, copy.deepcopy(obj)))
        self.changed.notify_all()

    def get(self, resource: str, name: str) -> Obj | None:
        return self.objects.get((resource, name))

    def list(self, resource: str) -> list[Obj]:
        return [obj for (res, _), obj in sorted(self.objects.items()) if res == resource]

    def create_internal(self, resource: str, obj: Obj) -> Obj:
        metadata = obj.setdefault("metadata", {})
        name = metadata.get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        if (resource, name) in self.objects:
            raise ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists')
        self.clock += 1
        metadata.update(
            namespace=self.namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=self._next(),
            generation=1,
            creationTimestamp=(EPOCH + timedelta(seconds=self.clock)).isoformat(),
        )
        obj.setdefault("apiVersion", "v1")
        obj["kind"] = KINDS[resource]
        self.objects[(resource, name)] = obj
        self._record(resource, "ADDED", obj)
        return obj

    def update_internal(self, resource: str, obj: Obj) -> Obj:
        obj["metadata"]["resourceVersion"] = self._next()
        self.objects[(resource, obj["metadata"]["name"])] = obj
        self._record(resource, "MODIFIED", obj)
        return obj

    def delete_internal(self, resource: str, name: str) -> None:
        obj = self.objects.pop((resource, name))
        obj["metadata"]["resourceVersion"] = self._next()
        self._record(resource, "DELETED", obj)

    def add_event(self, pod: Obj, reason: str, message: str) -> None:
        self.pod_counter += 1
        self.create_internal(
            "events",
            {
                "apiVersion": "v1",
                "metadata": {"name": f"{pod['metadata']['name']}.{self.pod_counter:x}"},
                "involvedObject": {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": self.namespace},
                "reason": reason,
                "message": message,
                "type": "Warning",
                "count": 1,
                "lastTimestamp": (EPOCH + timedelta(seconds=self.clock)).isoformat(),
            },
        )

    # -- verbs -----------------------------------------------------------------------------------

    def create(self, resource: str, body: Obj) -> Obj:
        if resource == "deployments":
            _validate_deployment(body)
        return self.create_internal(resource, copy.deepcopy(body))

    def patch(self, resource: str, name: str, content_type: str, body: Any) -> Obj:
        hook = self.before_patch.pop(name, None)
        if hook is not None:
            hook(self)
        current = self.get(resource, name)
        if current is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        try:
            if content_type.startswith("application/json-patch+json"):
                patched = json_patch(current, body)
            elif content_type.startswith("application/merge-patch+json"):
                patched = merge_patch(current, body)
            elif content_type.startswith("application/strategic-merge-patch+json"):
                if resource == "httproutes":
                    raise ApiError(415, "UnsupportedMediaType", "strategic merge patch is not supported for CRDs")
                patched = strategic_merge_patch(current, body)
            else:
                raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {content_type}")
        except PatchError as exc:
            raise ApiError(422, "Invalid", str(exc)) from exc
        if patched["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource} "{name}": the object '
                "has been modified; please apply your changes to the latest version and try again",
            )
        if resource == "deployments":
            if patched["spec"]["selector"] != current["spec"]["selector"]:
                raise ApiError(422, "Invalid", "spec.selector: Invalid value: field is immutable")
            _validate_deployment(patched)
        if patched.get("spec") != current.get("spec"):
            patched["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        return self.update_internal(resource, patched)

    def access_review(self, body: Obj) -> Obj:
        attrs = body["spec"]["resourceAttributes"]
        key = (attrs.get("verb", ""), attrs.get("group", ""), attrs.get("resource", ""), attrs.get("subresource", ""))
        allowed = key not in self.denied
        return {**body, "status": {"allowed": allowed, "reason": "" if allowed else "no RBAC rule allows it"}}


def _validate_deployment(body: Obj) -> None:
    selector = body.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    labels = body.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}
    if not selector or not fake_controller.matches(labels, selector):
        raise ApiError(
            422, "Invalid", "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
        )


def _selected(obj: Obj, query: dict[str, list[str]]) -> bool:
    for term in filter(None, (query.get("labelSelector") or [""])[0].split(",")):
        key, _, value = term.partition("=")
        if (obj["metadata"].get("labels") or {}).get(key) != value.lstrip("="):
            return False
    for term in filter(None, (query.get("fieldSelector") or [""])[0].split(",")):
        key, _, value = term.partition("=")
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != value:
            return False
    return True


def _public(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k != "age"}


def _handler_for(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ApiError) -> None:
            self._send(
                error.code,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "message": error.message,
                    "reason": error.reason,
                    "code": error.code,
                },
            )

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null")

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            path, query = unquote(url.path), parse_qs(url.query)
            content_type = self.headers.get("Content-Type", "")
            body = self._body() if method in ("POST", "PATCH", "PUT") else None
            with cluster.lock:
                cluster.requests.append((method, path, content_type))
                if cluster.ticking:
                    fake_controller.tick(cluster)
                for fault in cluster.faults:
                    if fault.times > 0 and fault.method == method and fault.path.search(path):
                        if fault.skip > 0:
                            fault.skip -= 1
                            continue
                        fault.times -= 1
                        return self._error(ApiError(fault.status, "InternalError", "injected fault"))
                try:
                    if query.get("watch", [""])[0] in ("true", "1", "True"):
                        return self._watch(path, query)
                    return self._send(*self._dispatch(method, path, query, content_type, body))
                except ApiError as error:
                    return self._error(error)

        def _dispatch(
            self, method: str, path: str, query: dict[str, list[str]], ctype: str, body: Any
        ) -> tuple[int, Any]:
            if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" and method == "POST":
                return 201, cluster.access_review(body)
            proxy = PROXY.match(path)
            if proxy and method == "GET":
                pod = cluster.get("pods", proxy.group(2))
                if pod is None:
                    raise ApiError(404, "NotFound", f'pods "{proxy.group(2)}" not found')
                return cluster.proxy_status.get(pod["spec"]["containers"][0]["image"], 200), {"path": proxy.group(4)}
            for pattern, _ in ROUTES:
                match = pattern.match(path)
                if match:
                    break
            else:
                raise ApiError(404, "NotFound", f"no route for {path}")
            _ns, resource, name = match.groups()
            if name is None and method == "GET":
                items = [_public(o) for o in cluster.list(resource) if _selected(o, query)]
                return 200, {
                    "kind": f"{KINDS[resource]}List",
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": str(cluster.rv)},
                    "items": items,
                }
            if name is None and method == "POST":
                return 201, _public(cluster.create(resource, body))
            if name is not None and method == "GET":
                obj = cluster.get(resource, name)
                if obj is None:
                    raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
                return 200, _public(obj)
            if name is not None and method == "PATCH":
                return 200, _public(cluster.patch(resource, name, ctype, body))
            raise ApiError(405, "MethodNotAllowed", f"{method} {path}")

        def _watch(self, path: str, query: dict[str, list[str]]) -> None:
            """Chunked, one JSON event per line, like the real server (clients read per chunk)."""
            match = next((m for p, _ in ROUTES if (m := p.match(path))), None)
            if match is None:
                raise ApiError(404, "NotFound", path)
            resource = match.group(2)
            since = int((query.get("resourceVersion") or ["0"])[0] or 0)
            timeout = float((query.get("timeoutSeconds") or ["5"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def send(kind: str, obj: Obj) -> None:
                data = (json.dumps({"type": kind, "object": _public(obj)}) + "\n").encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

            sent = since
            if since == 0:  # the current objects first, as ADDED
                for obj in cluster.list(resource):
                    if _selected(obj, query):
                        send("ADDED", obj)
                sent = cluster.rv
            deadline = threading.Event()

            def expire() -> None:
                deadline.set()
                _notify(cluster)

            timer = threading.Timer(timeout, expire)
            timer.start()
            try:
                while not deadline.is_set():
                    for rv, res, kind, obj in list(cluster.log):
                        if rv > sent and res == resource and _selected(obj, query):
                            send(kind, obj)
                        sent = max(sent, rv)
                    self.wfile.flush()
                    cluster.changed.wait(0.05)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped watching
            finally:
                timer.cancel()
                self.close_connection = True

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    return Handler


def _notify(cluster: FakeCluster) -> None:
    with cluster.lock:
        cluster.changed.notify_all()
