"""Read CustomResourceDefinitions from a live cluster through the Kubernetes API (for ``schemas pull``).

A deliberately small client: the current (or named) context of a kubeconfig,
bearer-token or client-certificate auth, the cluster CA, one paginated list call.
Tested against the ``kmock`` fake API server.
"""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from llmops.errors import LlmopsError

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class ClusterError(LlmopsError):
    """The Kubernetes API cannot be reached or refused the request."""


def _kubeconfig(path: Path | None) -> tuple[Path, dict[str, Any]]:
    file = path or Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / ".kube/config")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ClusterError(
            f"kubeconfig {file} does not exist", hint="pass --kubeconfig or log in (oc login)"
        ) from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ClusterError(f"kubeconfig {file} is unreadable: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ClusterError(f"kubeconfig {file} is not a mapping")
    return file, data


def _named(data: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    for entry in data.get(key) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            inner = entry.get(key.rstrip("s"))
            return inner if isinstance(inner, dict) else {}
    raise ClusterError(f"kubeconfig has no {key.rstrip('s')} named {name!r}")


def _materialise(stack: ExitStack, data: str) -> str:
    handle = stack.enter_context(tempfile.NamedTemporaryFile("wb", suffix=".pem"))
    handle.write(base64.b64decode(data))
    handle.flush()
    return handle.name


@dataclass(frozen=True, kw_only=True)
class _ApiAccess:
    """Where and as whom to call the API, from one kubeconfig context."""

    file: Path  # the kubeconfig, for messages
    cluster: dict[str, Any]
    user: dict[str, Any]
    server: str


def _api_access(kubeconfig: Path | None, context: str | None) -> _ApiAccess:
    file, data = _kubeconfig(kubeconfig)
    ctx_name = context or data.get("current-context")
    if not ctx_name:
        raise ClusterError(f"kubeconfig {file} has no current-context", hint="pass --context NAME")
    ctx = _named(data, "contexts", str(ctx_name))
    cluster = _named(data, "clusters", str(ctx.get("cluster")))
    user = _named(data, "users", str(ctx.get("user"))) if ctx.get("user") else {}
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise ClusterError(f"cluster {ctx.get('cluster')} in {file} has no server address")
    return _ApiAccess(file=file, cluster=cluster, user=user, server=server)


def _verify(stack: ExitStack, cluster: dict[str, Any]) -> bool | str:
    """How to check the server's certificate: not at all, or against the cluster's CA (a file)."""
    if cluster.get("insecure-skip-tls-verify"):
        return False
    if cluster.get("certificate-authority-data"):
        return _materialise(stack, str(cluster["certificate-authority-data"]))
    if cluster.get("certificate-authority"):
        return str(cluster["certificate-authority"])
    return True


def _client_cert(stack: ExitStack, user: dict[str, Any]) -> tuple[str, str] | None:
    """The user's client certificate and key files, when it authenticates with one."""
    if user.get("client-certificate-data") and user.get("client-key-data"):
        return (
            _materialise(stack, str(user["client-certificate-data"])),
            _materialise(stack, str(user["client-key-data"])),
        )
    if user.get("client-certificate") and user.get("client-key"):
        return (str(user["client-certificate"]), str(user["client-key"]))
    return None


def _client(stack: ExitStack, access: _ApiAccess, timeout: float) -> httpx.Client:
    headers = {"Accept": "application/json"}
    if access.user.get("token"):
        headers["Authorization"] = f"Bearer {access.user['token']}"
    client = httpx.Client(
        verify=_verify(stack, access.cluster),
        cert=_client_cert(stack, access.user),
        headers=headers,
        timeout=timeout,
    )
    return stack.enter_context(client)


def _page(client: httpx.Client, server: str, cont: str | None) -> dict[str, Any]:
    """One page of the CRD list; every failure is a :class:`ClusterError` with what to do."""
    params = {"limit": "200", **({"continue": cont} if cont else {})}
    try:
        resp = client.get(server + CRD_PATH, params=params)
    except httpx.HTTPError as exc:
        raise ClusterError(
            f"cannot reach {server}: {exc}", hint="check the kubeconfig and the network"
        ) from exc
    if resp.status_code != 200:
        raise ClusterError(
            f"{server} answered {resp.status_code} listing CRDs: {resp.text[:200]}",
            hint="log in again, or use an account allowed to list customresourcedefinitions",
        )
    try:
        body = resp.json()
    except ValueError as exc:
        raise ClusterError(f"{server} did not answer with JSON") from exc
    return body if isinstance(body, dict) else {}


def list_crds(
    kubeconfig: Path | None = None, context: str | None = None, timeout: float = 30.0
) -> Iterator[Any]:
    """Every CustomResourceDefinition the cluster serves."""
    access = _api_access(kubeconfig, context)
    with ExitStack() as stack:
        client = _client(stack, access, timeout)
        cont: str | None = None
        for _ in range(1000):
            body = _page(client, access.server, cont)
            yield from body.get("items") or []
            cont = (body.get("metadata") or {}).get("continue")
            if not cont:
                break
