"""Which endpoint `llmops smoke` and `llmops bench` talk to, and with which token.

``--url`` always wins. For an environment name without ``--url`` the URL comes
from ``LLMOPS_ENDPOINT_<ENV>`` (``-`` becomes ``_``, upper case), else from the
environment's ``url`` in ``llmops.yaml``. Finding it from the cluster (the
InferenceService status URL or its Route) and from the embedded engine are later
capabilities; until then the error says to pass ``--url``.

Tokens: ``--token``, else ``--token-file`` (a mounted ServiceAccount token),
else ``LLMOPS_TOKEN``. Tokens never come from the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import UsageError

TOKEN_ENV = "LLMOPS_TOKEN"


@dataclass(frozen=True)
class Target:
    url: str
    environment: str | None
    # Where the URL came from, for messages: "--url", "LLMOPS_ENDPOINT_DEV", "llmops.yaml".
    source: str


def endpoint_env_var(environment: str) -> str:
    return "LLMOPS_ENDPOINT_" + environment.upper().replace("-", "_")


def resolve_url(environment: str | None, url: str | None, configured: str | None) -> Target:
    if url:
        return Target(url=url, environment=environment, source="--url")
    if not environment:
        raise UsageError("give an environment or --url", hint="e.g. llmops smoke --url http://127.0.0.1:8000")
    var = endpoint_env_var(environment)
    if os.environ.get(var):
        return Target(url=os.environ[var], environment=environment, source=var)
    if configured:
        return Target(url=configured, environment=environment, source="llmops.yaml")
    raise UsageError(
        f"no endpoint URL known for environment {environment!r}",
        hint=f"pass --url, set {var}, or set smoke/bench.environments.{environment}.url in llmops.yaml "
        "(finding it from the cluster comes with the cluster driver)",
    )


def resolve_token(token: str | None, token_file: Path | None) -> str | None:
    if token:
        return token.strip()
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(
                f"cannot read the token file {token_file}: {exc.strerror or exc}",
                hint="in a pod, the ServiceAccount token is at "
                "/var/run/secrets/kubernetes.io/serviceaccount/token (automountServiceAccountToken)",
            ) from exc
        if not text:
            raise UsageError(f"the token file {token_file} is empty")
        return text
    return os.environ.get(TOKEN_ENV) or None
