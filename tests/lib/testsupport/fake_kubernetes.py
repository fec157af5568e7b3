"""A fake Kubernetes API server: real HTTP on 127.0.0.1, answering like the API server does.

It implements only what flightdeck's kubernetes providers call, for namespaced objects: GET of an
object or of a collection (equality label selectors), POST (409 AlreadyExists), PUT (409 Conflict
on a stale metadata.resourceVersion), PATCH with JSON merge patch (RFC 7386; a resourceVersion in
the patch is a precondition, as in Kubernetes) and the `status` subresource. Every write bumps the
resourceVersion; a change of `spec` bumps metadata.generation. Errors are `Status` objects.

There is no controller: the test decides when a Deployment has rolled out (`mark_rolled_out`), or
sets `auto_rollout` to have every Deployment write roll out at once, with pods that the test can
make restart (`restart_pods`). `fail_next` makes the next matching request fail with a status.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client

Obj = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    kind: str
    prefix: str  # /api/v1 or /apis/<group>/<version>
    plural: str

    @property
    def api_version(self) -> str:
        return self.prefix.removeprefix("/apis/").removeprefix("/api/")


RESOURCES = [
    Resource("Deployment", "/apis/apps/v1", "deployments"),
    Resource("Ingress", "/apis/networking.k8s.io/v1", "ingresses"),
    Resource("HTTPRoute", "/apis/gateway.networking.k8s.io/v1", "httproutes"),
    Resource("ConfigMap", "/api/v1", "configmaps"),
    Resource("Service", "/api/v1", "services"),
    Resource("Pod", "/api/v1", "pods"),
    Resource("Lease", "/apis/coordination.k8s.io/v1", "leases"),
    Resource("HorizontalPodAutoscaler", "/apis/autoscaling/v2", "horizontalpodautoscalers"),
]
BY_KIND = {resource.kind: resource for resource in RESOURCES}
BY_PATH = {(resource.prefix, resource.plural): resource for resource in RESOURCES}
PATH = re.compile(
    r"^(?P<prefix>/api/v1|/apis/[^/]+/[^/]+)/namespaces/(?P<namespace>[^/]+)/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"
)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _validate(obj: Obj) -> None:
    """The checks of the API server that a client can trip over: string-valued maps, names."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
        raise ApiError(422, "Invalid", f"metadata.name: Invalid value: {name!r}")
    for field in ("labels", "annotations"):
        for key, value in (metadata.get(field) or {}).items():
            if not isinstance(value, str):
                raise ApiError(
                    422, "Invalid", f"metadata.{field}[{key}]: must be a string, not {value!r}"
                )
    for key, value in (obj.get("data") or {}).items():
        if not isinstance(value, str):
            raise ApiError(422, "Invalid", f"data[{key}]: must be a string")


class FakeKubernetes:
    """The server and its object store; use as a context manager."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.lock = threading.RLock()
        self.resource_version = 1000
        self.auto_rollout = False
        self.requests: list[tuple[str, str, str]] = []  # method, path, content type
        self._failures: list[tuple[str, str, int]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeKubernetes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def api_client(self) -> client.ApiClient:
        """An official client pointed at this server."""
        configuration = client.Configuration(host=self.url)
        configuration.retries = 0
        return client.ApiClient(configuration)

    # -- test helpers ----------------------------------------------------------------------------
    def add(self, obj: Obj, namespace: str = "default") -> Obj:
        """Store a manifest as if `kubectl create` had sent it."""
        resource = BY_KIND[obj["kind"]]
        with self.lock:
            return self._create(resource, obj["metadata"].get("namespace") or namespace, obj)

    def install(self, objects: list[Obj], namespace: str = "default") -> None:
        """Store the objects of a rendered chart that this server serves (others are skipped)."""
        for obj in objects:
            if obj.get("kind") in BY_KIND:
                self.add(obj, namespace)

    def get(self, kind: str, name: str, namespace: str = "default") -> Obj | None:
        with self.lock:
            found = self.objects.get((BY_KIND[kind].plural, namespace, name))
            return copy.deepcopy(found)

    def update(self, kind: str, name: str, change: Obj, namespace: str = "default") -> Obj:
        """Merge `change` into an object (and its status) as another client would."""
        with self.lock:
            resource = BY_KIND[kind]
            current = self._require(resource, namespace, name)
            stored = self._store(resource, current, merge_patch(current, change))
            if "status" in change:
                stored = self._store(resource, stored, merge_patch(stored, change), status=True)
            return stored

    def fail_next(self, method: str, path_part: str, code: int) -> None:
        """The next `method` request whose path contains `path_part` fails with `code`."""
        with self.lock:
            self._failures.append((method, path_part, code))

    def mark_rolled_out(self, name: str, namespace: str = "default") -> None:
        """Do what the Deployment controller and kubelet do when a rollout succeeds."""
        with self.lock:
            deployment = self._require(BY_KIND["Deployment"], namespace, name)
            self._roll_out(deployment)

    def restart_pods(self, deployment_name: str, namespace: str = "default") -> int:
        """Count one container restart on every pod of a Deployment; returns how many."""
        with self.lock:
            pods = [
                pod
                for (plural, ns, _), pod in self.objects.items()
                if plural == "pods"
                and ns == namespace
                and pod["metadata"]["labels"].get("fake/deployment") == deployment_name
            ]
            for pod in pods:
                for status in pod["status"]["containerStatuses"]:
                    status["restartCount"] += 1
            return len(pods)

    # -- the store -------------------------------------------------------------------------------
    def _next_version(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    def _require(self, resource: Resource, namespace: str, name: str) -> Obj:
        found = self.objects.get((resource.plural, namespace, name))
        if found is None:
            raise ApiError(404, "NotFound", f'{resource.plural} "{name}" not found')
        return found

    def _create(self, resource: Resource, namespace: str, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        metadata = obj.setdefault("metadata", {})
        _validate(obj)
        key = (resource.plural, namespace, metadata["name"])
        if key in self.objects:
            raise ApiError(
                409, "AlreadyExists", f'{resource.plural} "{metadata["name"]}" already exists'
            )
        metadata.update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_version(),
            creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        if "spec" in obj:
            metadata["generation"] = 1
        if resource.kind == "Deployment":
            obj["spec"].setdefault("replicas", 1)  # the API server's default
        self.objects[key] = obj
        self._after_write(obj)
        return obj

    def _store(self, resource: Resource, current: Obj, new: Obj, status: bool = False) -> Obj:
        """Write `new` over `current`; the status subresource only changes status, and back."""
        _validate(new)
        metadata = current["metadata"]
        sent_version = (new.get("metadata") or {}).get("resourceVersion")
        if sent_version and sent_version != metadata["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{metadata["name"]}": the '
                "object has been modified; please apply your changes to the latest version and "
                "try again",
            )
        stored = copy.deepcopy(current)
        if status:
            stored["status"] = copy.deepcopy(new.get("status"))
        else:
            keep = {key: metadata[key] for key in ("namespace", "uid", "creationTimestamp")}
            stored = copy.deepcopy(new)
            stored["metadata"] = {**new.get("metadata", {}), **keep}
            stored["apiVersion"], stored["kind"] = resource.api_version, resource.kind
            if "status" in current:
                stored["status"] = copy.deepcopy(current["status"])
            else:
                stored.pop("status", None)
            if "generation" in metadata:
                changed = stored.get("spec") != current.get("spec")
                stored["metadata"]["generation"] = metadata["generation"] + int(changed)
        stored["metadata"]["resourceVersion"] = self._next_version()
        self.objects[(resource.plural, metadata["namespace"], metadata["name"])] = stored
        self._after_write(stored)
        return stored

    def _after_write(self, obj: Obj) -> None:
        if obj["kind"] == "Deployment" and self.auto_rollout:
            self._roll_out(obj)

    def _roll_out(self, deployment: Obj) -> None:
        spec = deployment["spec"]
        replicas = spec.get("replicas", 1)
        metadata = deployment["metadata"]
        deployment["status"] = {
            "observedGeneration": metadata["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }
        namespace, name = metadata["namespace"], metadata["name"]
        for key in [
            key
            for key, pod in self.objects.items()
            if key[0] == "pods"
            and key[1] == namespace
            and pod["metadata"]["labels"].get("fake/deployment") == name
        ]:
            del self.objects[key]
        template = spec["template"]
        for index in range(replicas):
            pod_name = f"{name}-{metadata['generation']}-{index}"
            self.objects[("pods", namespace, pod_name)] = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": namespace,
                    "labels": {**template["metadata"]["labels"], "fake/deployment": name},
                    "resourceVersion": self._next_version(),
                },
                "spec": copy.deepcopy(template["spec"]),
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        {"name": container["name"], "ready": True, "restartCount": 0}
                        for container in template["spec"]["containers"]
                    ],
                },
            }

    # -- HTTP ------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, content_type: str, body: bytes) -> tuple[int, Obj]:
        url = urlsplit(raw_path)
        with self.lock:
            self.requests.append((method, url.path, content_type))
            for failure in self._failures:
                if failure[0] == method and failure[1] in url.path:
                    self._failures.remove(failure)
                    raise ApiError(failure[2], "Injected", f"injected failure {failure[2]}")
            match = PATH.match(url.path)
            resource = match and BY_PATH.get((match["prefix"], match["plural"]))
            if not match or not resource:
                raise ApiError(404, "NotFound", f"the server could not find {url.path}")
            namespace, name, sub = match["namespace"], match["name"], match["sub"]
            payload = json.loads(body) if body else None
            if method == "GET" and name is None:
                return 200, self._list(resource, namespace, parse_qs(url.query))
            if method == "POST" and name is None:
                return 201, self._create(resource, namespace, payload)
            if name is None:
                raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
            current = self._require(resource, namespace, name)
            if method == "GET":
                return 200, copy.deepcopy(current)
            if method == "PUT":
                if (payload.get("metadata") or {}).get("name") != name:
                    raise ApiError(400, "BadRequest", "the name in the body does not match")
                return 200, self._store(resource, current, payload, status=bool(sub))
            if method == "PATCH":
                if content_type != "application/merge-patch+json":
                    raise ApiError(
                        415,
                        "UnsupportedMediaType",
                        f"the fake only does merge patch, not {content_type}",
                    )
                if not isinstance(payload, dict):
                    raise ApiError(400, "BadRequest", "a merge patch is a JSON object")
                return 200, self._store(
                    resource, current, merge_patch(current, payload), status=bool(sub)
                )
            raise ApiError(405, "MethodNotAllowed", method)

    def _list(self, resource: Resource, namespace: str, query: dict[str, list[str]]) -> Obj:
        selector: dict[str, str] = {}
        for term in (query.get("labelSelector") or [""])[0].split(","):
            if term:
                key, _, value = term.partition("=")
                selector[key] = value.lstrip("=")
        items = [
            copy.deepcopy(obj)
            for (plural, ns, _), obj in sorted(self.objects.items())
            if plural == resource.plural
            and ns == namespace
            and all(
                (obj["metadata"].get("labels") or {}).get(key) == value
                for key, value in selector.items()
            )
        ]
        return {
            "apiVersion": resource.api_version,
            "kind": resource.kind + "List",
            "metadata": {"resourceVersion": str(self.resource_version)},
            "items": items,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                content_type = (self.headers.get("Content-Type") or "").split(";")[0]
                try:
                    code, answer = fake.handle(self.command, self.path, content_type, body)
                except ApiError as exc:
                    code, answer = (
                        exc.code,
                        {
                            "kind": "Status",
                            "apiVersion": "v1",
                            "status": "Failure",
                            "message": exc.message,
                            "reason": exc.reason,
                            "code": exc.code,
                        },
                    )
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
