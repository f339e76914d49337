"""A fake Kubernetes API server for tests and benchmarks: kmock's emulator plus what llmops relies on.

`kmock <https://github.com/nolar/kmock>`_ (PyPI ``kmock``) is a maintained fake of the
Kubernetes API: it serves discovery, keeps objects in memory, lists, watches, creates and
merge-patches them. Its documentation invites subclassing where a test needs more of the
real API server's behaviour; :class:`FakeCluster` adds, from the Kubernetes API reference:

- server-side apply (``application/apply-patch+yaml``): creates a missing object, records the
  field manager in ``metadata.managedFields``, and changes ``resourceVersion`` only when the
  object changed (a no-op apply is a no-op, as on a real cluster);
- ``dryRun=All`` on patches: the answer shows the result, nothing is stored;
- JSON patch failures (a failed ``test``) answer 422, a stale ``metadata.resourceVersion`` in a
  merge patch answers 409, as the API server does;
- Status bodies shaped as the real server's (``reason: NotFound``, ``details.kind``), and
  "the server could not find the requested resource" for an API that is not installed;
- bearer-token authentication (401) and a small authorization table (403 with the API server's
  own sentence), answering ``SelfSubjectAccessReview`` and ``SelfSubjectReview`` from the same table.

The server runs on a free loopback port in a background thread (:func:`running`), so the
synchronous CLI can be called directly in a test.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
import yaml

APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
_VERBS = {"GET": "get", "POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Access:
    """Who may do what: tokens to user names, and (user, verb, plural, name) denials."""

    tokens: dict[str, str] = field(default_factory=dict)  # empty: every request is "admin"
    denied: set[tuple[str, str, str, str]] = field(default_factory=set)  # name "*" = any

    def user(self, header: str | None) -> str | None:
        if not self.tokens:
            return "admin"
        token = (header or "").removeprefix("Bearer ").strip()
        return self.tokens.get(token)

    def allows(self, user: str, verb: str, plural: str, name: str | None) -> bool:
        return not any((user, verb, plural, n) in self.denied for n in ("*", name or "*"))


class FakeCluster(kmock.KubernetesEmulator):  # type: ignore[misc]
    """kmock's Kubernetes emulator with server-side apply, dry run, realistic errors, auth and RBAC."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.access = Access()
        self._versions = itertools.count(1000)
        self._races: dict[tuple[Any, str | None, str], int] = {}

    # -- entry point ---------------------------------------------------------------------------

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        request = _namespace_object(request)
        user = self.access.user(request.headers.get("Authorization"))
        if user is None:
            return _json(status_body(401, "Unauthorized", "Unauthorized"), 401)
        review = await self._review(request, user)
        if review is not None:
            return review
        denied = self._denied(request, user)
        if denied is not None:
            return denied
        if request.resource is not None and request.method == kmock.method.PATCH and request.name:
            return await self._patch(request)
        if request.resource is not None and request.resource.plural == "namespaces" and request.name:
            found = self.get("v1/namespaces", None, request.name)  # kmock misroutes Namespace reads
            return _json(found, 200) if found is not None else _json(self._not_found(request), 404)
        try:
            return await super()._handle(request)  # type: ignore[no-any-return]
        except kmock.KubernetesObjectNotFoundError:
            return _json(self._not_found(request), 404)
        except kmock.KubernetesResourceNotFoundError:
            body = status_body(404, "NotFound", "the server could not find the requested resource")
            return _json(body, 404)

    def _not_found(self, request: kmock.Request) -> dict[str, Any]:
        res = request.resource
        group = res.group if res is not None else ""
        kind = res.plural if res is not None else ""
        qualified = f"{kind}.{group}" if group else str(kind)
        return status_body(
            404, "NotFound", f'{qualified} "{request.name}" not found',
            {"name": request.name, "group": group, "kind": kind},
        )  # fmt: skip

    def _denied(self, request: kmock.Request, user: str) -> aiohttp.web.StreamResponse | None:
        res = request.resource
        if res is None or res.plural is None:
            return None
        verb = _VERBS.get(str(request.method.value).upper(), "get")
        if verb == "get" and request.name is None:
            verb = "list"
        if self.access.allows(user, verb, str(res.plural), request.name):
            return None
        group = res.group or ""
        qualified = f"{res.plural}.{group}" if group else str(res.plural)
        where = f' in the namespace "{request.namespace}"' if request.namespace else " at the cluster scope"
        subject = (
            f'{qualified} "{request.name}" is forbidden' if request.name else f"{qualified} is forbidden"
        )
        message = (
            f'{subject}: User "{user}" cannot {verb} resource "{res.plural}" in API group "{group}"{where}'
        )
        details = {"name": request.name or "", "group": group, "kind": str(res.plural)}
        return _json(status_body(403, "Forbidden", message, details), 403)

    async def _review(self, request: kmock.Request, user: str) -> aiohttp.web.StreamResponse | None:
        """SelfSubjectAccessReview and SelfSubjectReview, answered from :attr:`access`."""
        path = request.url.path
        if request.method != kmock.method.POST:
            return None
        body = dict(request.data or {})
        if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
            allowed = self.access.allows(
                user, str(attrs.get("verb", "")), str(attrs.get("resource", "")), attrs.get("name")
            )
            return _json({**body, "status": {"allowed": allowed}}, 201)
        if path == "/apis/authentication.k8s.io/v1/selfsubjectreviews":
            info = {"username": user, "groups": ["system:authenticated"]}
            return _json({**body, "status": {"userInfo": info}}, 201)
        return None

    async def _serve_version(self, request: kmock.Request) -> Any:
        """kmock's discovery of a group version, with the core group's ``groupVersion`` as ``v1``."""
        body = dict(await super()._serve_version(request))
        body["groupVersion"] = str(body.get("groupVersion", "")).lstrip("/")
        return body

    async def _serve_list(self, request: kmock.Request) -> Any:
        """kmock's list with the ``apiVersion`` and ``kind`` the real server sends (kubectl needs them)."""
        body = dict(await super()._serve_list(request))
        res = request.resource
        items = body.get("items") or []
        kind = str(items[0].get("kind")) if items else str(res.plural if res else "").capitalize()
        api = (
            f"{res.group}/{res.version}"
            if res is not None and res.group
            else str(res.version if res else "v1")
        )
        return {"apiVersion": api, "kind": f"{kind}List", **body}

    # -- patches -------------------------------------------------------------------------------

    async def _patch(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        key = (request.resource, request.namespace, request.name)
        content_type = str(request.headers.get("Content-Type", "")).split(";")[0].strip()
        dry_run = request.params.get("dryRun") == "All"
        async with self._lock:
            self._race(key)
            exists = key in self.objects and not self.objects[key].deleted
            current = copy.deepcopy(self.objects[key].raw) if exists else None
            if current is None and content_type != APPLY:
                return _json(self._not_found(request), 404)
            try:
                updated = self._patched(current, request, content_type)
            except _Refused as exc:
                return _json(exc.body, exc.body["code"])
            changed = current is None or _content(updated) != _content(current)
            if changed:
                self._stamp(updated, current)
            if dry_run or not changed:
                return _json(updated if changed else current, 200)
            if current is None:
                self.objects[key] = updated
                if self.resources[request.resource].kind is None:  # discovery shows what was created
                    info = self.resources[request.resource]
                    info.kind, info.namespaced = updated.get("kind"), request.namespace is not None
            else:
                self.objects[key].create(updated)  # a new version in the object's history
            await self._buses[request.resource].put(
                {"type": "ADDED" if current is None else "MODIFIED", "object": updated}
            )
        return _json(updated, 201 if current is None else 200)

    def _patched(
        self, current: dict[str, Any] | None, request: kmock.Request, content_type: str
    ) -> dict[str, Any]:
        body = request.data if request.data is not None else yaml.safe_load(request.text or "{}")
        if content_type == APPLY:
            manager = request.params.get("fieldManager")
            if not manager:
                raise _Refused(status_body(400, "BadRequest", "fieldManager is required for apply requests"))
            return _apply(current or {}, body, manager)
        assert current is not None
        if content_type == JSON_PATCH:
            try:
                return dict(jsonpatch.apply_patch(current, body, in_place=False))
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise _Refused(
                    status_body(422, "Invalid", f"the server rejected our request: {exc}")
                ) from exc
        wanted = ((body or {}).get("metadata") or {}).get("resourceVersion")
        have = (current.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != have:
            message = (
                "the object has been modified; please apply your changes to the latest version and try again"
            )
            raise _Refused(status_body(409, "Conflict", f"Operation cannot be fulfilled: {message}"))
        return _merge(current, body or {})

    def _stamp(self, obj: dict[str, Any], previous: dict[str, Any] | None) -> None:
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        if previous is None:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            meta["generation"] = 1
        elif _spec(obj) != _spec(previous):
            meta["generation"] = int((previous.get("metadata") or {}).get("generation") or 1) + 1

    def _race(self, key: tuple[Any, str | None, str]) -> None:
        if self._races.get(key, 0) > 0 and key in self.objects and not self.objects[key].deleted:
            self._races[key] -= 1
            obj = copy.deepcopy(dict(self.objects[key].raw))
            obj.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))
            self.objects[key].create(obj)

    # -- helpers for tests ---------------------------------------------------------------------

    def another_writer(self, resource: str, namespace: str | None, name: str, times: int = 1) -> None:
        """Someone else changes the object just before each of the next ``times`` patches of it."""
        self._races[(kmock.resource(resource), namespace, name)] = times

    def declare(self, resource: str, kind: str, *, namespaced: bool = True) -> None:
        """Serve ``resource`` (``group/version/plural``) in discovery, as the kind a CRD names."""
        info = self.resources[resource]
        info.kind, info.namespaced = kind, namespaced
        info.verbs = {"get", "list", "watch", "create", "update", "patch", "delete"}

    def add(self, resource: str, obj: dict[str, Any]) -> None:
        """Put an object on the cluster (``resource`` as ``group/version/plural``), with server fields."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("resourceVersion", str(next(self._versions)))
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        self.declare(resource, str(obj.get("kind")), namespaced=bool(meta.get("namespace")))
        self.objects[resource, meta.get("namespace"), meta["name"]] = obj

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (kmock.resource(resource), namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(dict(self.objects[key].raw))

    def writes(self) -> list[kmock.Request]:
        """Every request that could change something (POST, PUT, PATCH, DELETE), in order."""
        return [
            r
            for r in self
            if r.method in (kmock.method.POST, kmock.method.PATCH, kmock.method.PUT, kmock.method.DELETE)
            and "review" not in r.url.path
        ]


_ACTIONS = {kmock.method.GET: kmock.action.FETCH, kmock.method.PATCH: kmock.action.UPDATE,
            kmock.method.DELETE: kmock.action.DELETE}  # fmt: skip


def _namespace_object(request: kmock.Request) -> kmock.Request:
    """kmock 0.8 reads ``/api/v1/namespaces/NAME`` as "namespace NAME, no resource": make it the Namespace."""
    res = request.resource
    path = request.url.path.rstrip("/")
    if res is None or res.group != "" or res.plural is not None or not request.namespace:
        return request
    if path != f"/api/{res.version}/namespaces/{request.namespace}":
        return request
    return attrs.evolve(
        request, resource=kmock.resource("", str(res.version), "namespaces"), namespace=None,
        name=request.namespace, action=_ACTIONS.get(request.method, request.action),
    )  # fmt: skip


class _Refused(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body


def _json(body: Any, status: int) -> aiohttp.web.Response:
    # The real API server answers application/json, without a charset.
    return aiohttp.web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json"
    )


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp"):
        meta.pop(key, None)
    return out


def _spec(obj: dict[str, Any]) -> Any:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _merge(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _apply(current: dict[str, Any], body: dict[str, Any], manager: str) -> dict[str, Any]:
    """Server-side apply, as far as tests need it: the applied fields win, the manager is recorded."""
    merged = _merge(current, {k: v for k, v in body.items() if k != "status"})
    meta = merged.setdefault("metadata", {})
    managers = [m for m in meta.get("managedFields") or [] if m.get("manager") != manager]
    owned = (current.get("metadata") or {}).get("managedFields") or []
    mine = next((m for m in owned if m.get("manager") == manager), None)
    fields = _fields_of(body)
    if mine is None or mine.get("fieldsV1") != fields:
        mine = {"manager": manager, "operation": "Apply", "apiVersion": body.get("apiVersion", ""),
                "time": _now(), "fieldsType": "FieldsV1", "fieldsV1": fields}  # fmt: skip
    meta["managedFields"] = [*managers, mine]
    return merged


def _fields_of(obj: Any) -> dict[str, Any]:
    """The ``fieldsV1`` set of an applied object (maps by key; lists are owned whole)."""
    if not isinstance(obj, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (key == "metadata" and not isinstance(value, dict)):
            continue
        if key == "metadata":
            value = {k: v for k, v in value.items() if k in ("labels", "annotations")}
        out[f"f:{key}"] = _fields_of(value) if isinstance(value, dict) else {}
    return out


# -- running it ------------------------------------------------------------------------------------


@dataclass
class Running:
    """A :class:`FakeCluster` served on a loopback port from a background thread."""

    api: FakeCluster
    url: str
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    stop: asyncio.Event


@contextmanager
def running(cls: type[FakeCluster] = FakeCluster) -> Iterator[Running]:
    """Start a fake API server on 127.0.0.1 (a free port); stop it on exit."""
    started = threading.Event()
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        async with cls() as api, kmock.Server(api) as server:
            box["api"], box["url"], box["stop"] = api, str(server.url).rstrip("/"), asyncio.Event()
            started.set()
            await box["stop"].wait()

    def main() -> None:
        try:
            loop.run_until_complete(serve())
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=main, name="fake-kube-api", daemon=True)
    thread.start()
    if not started.wait(30) or "api" not in box:
        raise RuntimeError("the fake Kubernetes API server did not start")
    handle = Running(box["api"], box["url"], loop, thread, box["stop"])
    try:
        yield handle
    finally:
        loop.call_soon_threadsafe(handle.stop.set)
        thread.join(30)


# -- kubeconfigs -----------------------------------------------------------------------------------


def write_kubeconfig(
    path: Path,
    server: str,
    *,
    user: dict[str, Any] | None = None,
    context: str = "fake",
    namespace: str | None = None,
    extra_contexts: dict[str, str] | None = None,
) -> Path:
    """A kubeconfig with one cluster and user (token auth unless ``user`` says otherwise)."""
    ctx: dict[str, Any] = {"cluster": "fake-cluster", "user": "fake-user"}
    if namespace:
        ctx["namespace"] = namespace
    contexts = [{"name": context, "context": ctx}]
    clusters = [{"name": "fake-cluster", "cluster": {"server": server}}]
    for name, address in (extra_contexts or {}).items():
        contexts.append({"name": name, "context": {"cluster": name, "user": "fake-user"}})
        clusters.append({"name": name, "cluster": {"server": address}})
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "contexts": contexts,
        "clusters": clusters,
        "users": [{"name": "fake-user", "user": user or {"token": "sha256~fake-token"}}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
