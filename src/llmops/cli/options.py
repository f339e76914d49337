"""Options and arguments shared by several verbs, as click decorators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]


def output_format(choices: Sequence[str], default: str, *names: str) -> Callable[[F], F]:
    """``-o/--format FORMAT`` (``names`` adds spellings), one of ``choices``."""
    return click.option(
        "-o", "--format", *names, "fmt", type=click.Choice(list(choices)), default=default,
        show_default=True, help="Output format.",
    )  # fmt: skip


def targets(fn: F) -> F:
    """``[TARGET]...``: environments or Application names (default: all)."""
    return click.argument("targets", nargs=-1, metavar="[TARGET]...")(fn)


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(fn: F) -> F:
        for deco in reversed(decorators):
            fn = deco(fn)
        return fn

    return apply


endpoint = _stack(
    click.argument("environment", required=False, metavar="[ENV]"),
    click.option("--url", help="Endpoint base URL, e.g. http://127.0.0.1:8000 (overrides ENV)."),
    click.option("-m", "--model", help="Served model name (default: the only one served)."),
    click.option("--token", help="Bearer token for auth-enabled endpoints (or set LLMOPS_TOKEN)."),
    click.option(
        "--token-file", type=click.Path(path_type=Path), metavar="PATH",
        help="Read the bearer token from a file (a mounted ServiceAccount token).",
    ),
    click.option(
        "--token-from-kubeconfig", is_flag=True,
        help="Use the bearer token of the current kubeconfig context (your `oc login`).",
    ),
)  # fmt: skip
"""ENV, --url, --model, --token, --token-file, --token-from-kubeconfig: which endpoint, which token."""

catalog = click.option(
    "--catalog", type=click.Path(path_type=Path), metavar="DIR",
    help="Catalog folder (default: validate.schemas in llmops.yaml).",
)  # fmt: skip


target = click.option(
    "--target", type=click.Choice(["local", "cluster"]),
    help="local: the embedded engine (llmops up); cluster: Argo CD on the kubeconfig's cluster "
    "(default: $LLMOPS_TARGET, else cluster.target in llmops.yaml, else local).",
)  # fmt: skip
"""``--target local|cluster``: which driver the environment verbs talk to."""

cluster = _stack(
    click.option(
        "--context", "kube_context", metavar="NAME", help="kubeconfig context (default: the current one)."
    ),
    click.option(
        "-n", "--namespace", "argocd_namespace", metavar="NS",
        help="Argo CD's namespace on the cluster (default: openshift-gitops).",
    ),
    click.option(
        "--kubeconfig", type=click.Path(path_type=Path), metavar="PATH", help="Default: $KUBECONFIG."
    ),
    click.option(
        "--request-timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
        metavar="SECONDS", help="Seconds per Kubernetes API request.",
    ),
)  # fmt: skip
"""--context, --namespace, --kubeconfig, --request-timeout: which cluster and Argo CD namespace."""
