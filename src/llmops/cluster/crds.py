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


def list_crds(
    kubeconfig: Path | None = None, context: str | None = None, timeout: float = 30.0
) -> Iterator[Any]:
    """Every CustomResourceDefinition the cluster serves."""
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
    with ExitStack() as stack:
        verify: Any = True
        if cluster.get("insecure-skip-tls-verify"):
            verify = False
        elif cluster.get("certificate-authority-data"):
            verify = _materialise(stack, str(cluster["certificate-authority-data"]))
        elif cluster.get("certificate-authority"):
            verify = str(cluster["certificate-authority"])
        headers = {"Accept": "application/json"}
        if user.get("token"):
            headers["Authorization"] = f"Bearer {user['token']}"
        cert: Any = None
        if user.get("client-certificate-data") and user.get("client-key-data"):
            cert = (
                _materialise(stack, str(user["client-certificate-data"])),
                _materialise(stack, str(user["client-key-data"])),
            )
        elif user.get("client-certificate") and user.get("client-key"):
            cert = (str(user["client-certificate"]), str(user["client-key"]))
        client = stack.enter_context(httpx.Client(verify=verify, cert=cert, headers=headers, timeout=timeout))
        cont: str | None = None
        for _ in range(1000):
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
            yield from body.get("items") or []
            cont = (body.get("metadata") or {}).get("continue")
            if not cont:
                break
