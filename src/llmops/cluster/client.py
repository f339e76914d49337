"""The one Kubernetes client of llmops, on lightkube: kubeconfig, authentication, generic resources, errors.

Everything llmops does on a cluster goes through :class:`KubeApi`; lightkube (and its HTTP
library) is imported nowhere else (``.importlinter``: ``kube-client-seam``). The kubeconfig is
lightkube's reading of it: contexts, token, token file, client certificates, the cluster CA,
``insecure-skip-tls-verify`` and exec plugins (``oc login`` writes a token; cloud logins write an
exec plugin). Objects are plain dictionaries of generic resources (:mod:`llmops.cluster.kinds`).

Failures become :class:`~llmops.errors.ClusterError` subclasses that say what to do: a
kubeconfig that is missing or names no such context, a cluster that does not answer (with
the address tried), 401 (log in again), 403 (the server's sentence: who cannot do what),
an API the cluster does not serve (which operator installs it), 409 (a conflict).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from lightkube import Client, KubeConfig
from lightkube.config.client_adapter import user_auth
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.types import PatchType

from llmops.cluster.kinds import SELF_ACCESS_REVIEW, SELF_REVIEW, Kind
from llmops.errors import ClusterError

FIELD_MANAGER = "llmops"
DEFAULT_TIMEOUT = 15.0
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
T = TypeVar("T")


class ClusterConfigError(ClusterError):
    """No usable kubeconfig: missing file, unknown context, an exec plugin that fails."""


class ClusterUnreachable(ClusterError):
    """The API server did not answer (refused, timed out, TLS failure)."""


class ClusterAuthError(ClusterError):
    """401: the cluster does not accept the credentials (an expired ``oc login`` token)."""


class ClusterForbidden(ClusterError):
    """403: the user is known but lacks a right (the message names the verb and resource)."""


class MissingApiError(ClusterError):
    """The cluster does not serve a resource type (a CRD or an operator is not installed)."""


class ClusterConflict(ClusterError):
    """409: someone else changed the object, or another field manager owns the field."""


def kubeconfig_candidates(explicit: Path | None) -> list[Path]:
    """Where the kubeconfig is: ``--kubeconfig``, else ``$KUBECONFIG``'s files, else ~/.kube/config."""
    if explicit is not None:
        return [explicit]
    listed = [Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [Path("~/.kube/config").expanduser()]


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.is_file()


def load_config(kubeconfig: Path | None, context: str | None) -> tuple[SingleConfig, str]:
    """The chosen context of the kubeconfig (or the pod's ServiceAccount), and where it came from."""
    candidates = kubeconfig_candidates(kubeconfig)
    found = next((p for p in candidates if p.is_file()), None)
    try:
        if found is None:
            if kubeconfig is None and context is None and _in_cluster():
                return _single(KubeConfig.from_service_account(), None), "the pod's ServiceAccount"
            raise ClusterConfigError(
                f"no kubeconfig: {', '.join(str(p) for p in candidates)} does not exist",
                hint="log in with `oc login --server=https://api.CLUSTER:6443` (it writes ~/.kube/config), "
                "or pass --kubeconfig PATH",
            )
        config = KubeConfig.from_file(found)
    except (LightkubeConfigError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ClusterConfigError(f"kubeconfig {found} is unusable: {_first_line(exc)}") from exc
    return _single(config, context, found), str(found)


def _single(config: KubeConfig, context: str | None, file: Path | None = None) -> SingleConfig:
    known = sorted(config.contexts)
    try:
        single = config.get(context)
    except (LightkubeConfigError, KeyError) as exc:
        wanted = context or config.current_context
        what = f"no context named {wanted!r}" if wanted else "no current context"
        raise ClusterConfigError(
            f"kubeconfig {file or ''} has {what}".replace("  ", " "),
            hint=f"pass --context with one of: {', '.join(known) or 'none (log in with oc login)'}",
        ) from exc
    if single is None:  # pragma: no cover - lightkube raises instead
        raise ClusterConfigError("kubeconfig has no current context", hint="pass --context NAME")
    return single


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _status_of(exc: httpx2.HTTPStatusError) -> dict[str, Any]:
    try:
        body = json.loads(exc.response.content or b"{}")
    except ValueError:
        body = {}
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True, kw_only=True)
class Target:
    """Which cluster and as whom, for messages."""

    server: str
    context: str
    source: str  # the kubeconfig file, or "the pod's ServiceAccount"


class KubeApi:
    """A connection to one cluster's API server (one kubeconfig context)."""

    def __init__(
        self,
        *,
        kubeconfig: Path | None = None,
        context: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        field_manager: str = FIELD_MANAGER,
    ) -> None:
        self._config, source = load_config(kubeconfig, context)
        self.target = Target(
            server=self._config.cluster.server, context=self._config.context_name, source=source
        )
        self.timeout = timeout
        self.field_manager = field_manager
        try:
            self._client = Client(self._config, timeout=httpx2.Timeout(timeout), field_manager=field_manager)
        except (LightkubeConfigError, OSError, ValueError) as exc:
            raise ClusterConfigError(
                f"cannot use context {self.target.context} of {source}: {_first_line(exc)}",
                hint="check the certificate files the kubeconfig names",
            ) from exc

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> KubeApi:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        res = _resource(kind)
        ns = namespace if kind.namespaced else None
        try:
            obj = self._call(
                kind, f"get {kind.kind} {name}", lambda: self._client.get(res, name, namespace=ns)
            )
        except _NotFound as exc:
            if not exc.named:
                raise self._missing(kind) from exc
            return None
        return _plain(obj)

    def objects(
        self, kind: Kind, namespace: str | None = None, labels: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every object of ``kind`` (in ``namespace`` when namespaced; all namespaces with ``"*"``)."""
        res = _resource(kind)
        ns = namespace if kind.namespaced else None

        def run() -> list[Any]:
            return list(self._client.list(res, namespace=ns, labels=labels))  # type: ignore[arg-type]

        try:
            return [_plain(o) for o in self._call(kind, f"list {kind.plural}", run)]
        except _NotFound as exc:
            raise self._missing(kind) from exc

    # -- writing -------------------------------------------------------------------------------

    def apply(
        self, kind: Kind, obj: dict[str, Any], *, dry_run: bool = False, force: bool = False
    ) -> dict[str, Any]:
        """Server-side apply with llmops' field manager (``dry_run``: the server's answer, nothing stored)."""
        meta = obj.get("metadata") or {}
        name, ns = str(meta.get("name")), meta.get("namespace") if kind.namespaced else None
        verb = "apply (dry run)" if dry_run else "apply"

        def run() -> Any:
            return self._client.patch(
                _resource(kind), name, obj, namespace=ns, patch_type=PatchType.APPLY,
                field_manager=self.field_manager, force=force, dry_run=dry_run,
            )  # fmt: skip

        try:
            return _plain(self._call(kind, f"{verb} {kind.kind} {name}", run))
        except _NotFound as exc:
            raise self._missing(kind, exc.namespace_missing and ns) from exc

    def merge_patch(
        self, kind: Kind, name: str, body: dict[str, Any], *, namespace: str | None
    ) -> dict[str, Any]:
        return self._patch(kind, name, body, namespace, PatchType.MERGE)

    def json_patch(
        self, kind: Kind, name: str, ops: list[dict[str, Any]], *, namespace: str | None
    ) -> dict[str, Any]:
        return self._patch(kind, name, ops, namespace, PatchType.JSON)

    def _patch(
        self, kind: Kind, name: str, body: Any, namespace: str | None, how: PatchType
    ) -> dict[str, Any]:
        ns = namespace if kind.namespaced else None

        def run() -> Any:
            return self._client.patch(_resource(kind), name, body, namespace=ns, patch_type=how)

        try:
            return _plain(self._call(kind, f"patch {kind.kind} {name}", run))
        except _NotFound as exc:
            raise ClusterError(f"{kind.kind} {name} does not exist in namespace {ns}") from exc

    def create(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        ns = (obj.get("metadata") or {}).get("namespace") if kind.namespaced else None
        body = _resource(kind)(obj)
        try:
            return _plain(
                self._call(kind, f"create {kind.kind}", lambda: self._client.create(body, namespace=ns))
            )
        except _NotFound as exc:
            raise self._missing(kind) from exc

    # -- who am I, what may I do ---------------------------------------------------------------

    def can_i(self, verb: str, kind: Kind, *, namespace: str | None = None, name: str | None = None) -> bool:
        """``oc auth can-i``: a SelfSubjectAccessReview."""
        attrs = {"verb": verb, "group": kind.group, "resource": kind.plural}
        if namespace:
            attrs["namespace"] = namespace
        if name:
            attrs["name"] = name
        review = {"apiVersion": SELF_ACCESS_REVIEW.api_version, "kind": SELF_ACCESS_REVIEW.kind,
                  "spec": {"resourceAttributes": attrs}}  # fmt: skip
        answer = self.create(SELF_ACCESS_REVIEW, review)
        return bool((answer.get("status") or {}).get("allowed"))

    def whoami(self) -> str | None:
        """The user name the cluster sees (a SelfSubjectReview), None when the cluster cannot say."""
        try:
            answer = self.create(
                SELF_REVIEW, {"apiVersion": SELF_REVIEW.api_version, "kind": SELF_REVIEW.kind}
            )
        except (MissingApiError, ClusterForbidden):
            return None
        name = ((answer.get("status") or {}).get("userInfo") or {}).get("username")
        return str(name) if name else None

    def bearer_token(self) -> str:
        """The bearer token this context authenticates with (token, token file or exec plugin)."""
        user = self._config.user
        auth = user_auth(user) if user is not None else None
        if auth is None:
            raise ClusterConfigError(
                f"context {self.target.context} does not authenticate with a bearer token",
                hint="log in with `oc login` (a token), or pass --token-file / set LLMOPS_TOKEN",
            )
        request = httpx2.Request("GET", self.target.server)
        try:
            signed = next(auth.sync_auth_flow(request))
        except (LightkubeConfigError, OSError, ValueError, KeyError) as exc:
            raise self._exec_error(exc) from exc
        header = signed.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise ClusterConfigError(f"context {self.target.context} gives no bearer token")
        return header.removeprefix("Bearer ").strip()

    # -- errors --------------------------------------------------------------------------------

    def _call(self, kind: Kind, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except httpx2.HTTPStatusError as exc:
            raise self._status_error(kind, what, exc) from exc
        except httpx2.TimeoutException as exc:
            raise ClusterUnreachable(
                f"{self.target.server} did not answer within {self.timeout:g}s ({what})",
                hint=f"check the address of context {self.target.context} in {self.target.source}, "
                "the VPN or proxy, and that the cluster is up",
            ) from exc
        except httpx2.TransportError as exc:
            raise ClusterUnreachable(
                f"cannot reach {self.target.server} ({what}): {_first_line(exc)}",
                hint=f"check the address of context {self.target.context} in {self.target.source} "
                "and the network; `oc whoami --show-server` shows where you are logged in",
            ) from exc
        except (LightkubeConfigError, FileNotFoundError, PermissionError) as exc:
            raise self._exec_error(exc) from exc

    def _exec_error(self, exc: BaseException) -> ClusterConfigError:
        user = self._config.user
        plugin = user.exec if user is not None else None
        if plugin is not None:
            hint = plugin.installHint or f"check that `{plugin.command}` is installed and you are logged in"
            return ClusterConfigError(
                f"the credential plugin `{plugin.command}` of context {self.target.context} failed: "
                f"{_first_line(exc)}",
                hint=hint.strip().splitlines()[0],
            )
        return ClusterConfigError(f"cannot authenticate to {self.target.server}: {_first_line(exc)}")

    def _status_error(self, kind: Kind, what: str, exc: httpx2.HTTPStatusError) -> Exception:
        code = exc.response.status_code
        status = _status_of(exc)
        message = str(status.get("message") or exc.response.reason_phrase or code)
        server, context = self.target.server, self.target.context
        if code == 401:
            return ClusterAuthError(
                f"{server} rejected the credentials of context {context} (401 Unauthorized)",
                hint=f"log in again: oc login {server} (tokens of `oc login` expire)",
            )
        if code == 403:
            return ClusterForbidden(
                f"{what}: {message}",
                hint="ask a cluster admin for the missing right; the llmops roles are in "
                "setup/gitops-roles.yaml (docs/openshift-guide.md, Roles)",
            )
        if code == 404:
            details = status.get("details") or {}
            return _NotFound(
                message, named=bool(details.get("name")), namespace_missing="namespaces" in message
            )
        if code == 409:
            return ClusterConflict(
                f"{what}: {message}", hint="someone changed it meanwhile: run the command again"
            )
        return ClusterError(f"{server} answered {code} to {what}: {message[:300]}")

    def _missing(self, kind: Kind, namespace: str | bool | None = None) -> ClusterError:
        if namespace:
            return ClusterError(
                f"namespace {namespace} does not exist on {self.target.server}",
                hint="run `llmops bootstrap` (it creates the namespaces of setup/)",
            )
        provider = kind.provider or "the operator that defines it"
        return MissingApiError(
            f"{self.target.server} does not serve {kind.describe()}: "
            f"the CRD {kind.crd_name} is not installed",
            hint=f"install {provider}; `llmops bootstrap --dry-run` lists every prerequisite",
        )


class _NotFound(ClusterError):
    """A 404: the object (``named``) or the whole API is missing; handled inside this module."""

    def __init__(self, message: str, *, named: bool, namespace_missing: bool = False) -> None:
        super().__init__(message)
        self.named = named
        self.namespace_missing = namespace_missing


def _plain(obj: Any) -> dict[str, Any]:
    to_dict = getattr(obj, "to_dict", None)
    data = to_dict() if callable(to_dict) else obj
    return dict(data) if isinstance(data, dict) else {}


_RESOURCES: dict[Kind, Any] = {}


def _resource(kind: Kind) -> Any:
    """lightkube's generic resource class for ``kind`` (made once per kind)."""
    found = _RESOURCES.get(kind)
    if found is None:
        make = create_namespaced_resource if kind.namespaced else create_global_resource
        found = make(kind.group, kind.version, kind.kind, kind.plural)
        _RESOURCES[kind] = found
    return found


@contextmanager
def connect(
    *, kubeconfig: Path | None = None, context: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Iterator[KubeApi]:
    """A :class:`KubeApi` closed on exit."""
    api = KubeApi(kubeconfig=kubeconfig, context=context, timeout=timeout)
    try:
        yield api
    finally:
        api.close()
