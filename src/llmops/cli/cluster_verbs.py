"""Verbs that set up and control Argo CD on a cluster: ``bootstrap``, ``freeze``, ``unfreeze``."""

from __future__ import annotations

from pathlib import Path

import click

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import cluster, output_format, target
from llmops.commands.drivers import ClusterOptions

SECTION = "Cluster"


def _options(
    kube_context: str | None, namespace: str | None, kubeconfig: Path | None, timeout: float
) -> ClusterOptions:
    return ClusterOptions(context=kube_context, namespace=namespace, kubeconfig=kubeconfig, timeout=timeout)


@app.verb(SECTION)
@click.option(
    "--dry-run", is_flag=True, help="Check and show what would change (a diff per object); write nothing."
)
@click.option(
    "--repo-secret", metavar="NAME",
    help="The Argo CD repository Secret to use (it must exist), or the name of the one "
    "--repo-credentials-file creates (default llmops-repository).",
)  # fmt: skip
@click.option(
    "--repo-credentials-file", type=click.Path(path_type=Path, allow_dash=True), metavar="PATH",
    help="Create the repository Secret from a YAML file with username and password (a token), or "
    "sshPrivateKey; `-` reads standard input. Never pass a password on the command line.",
)  # fmt: skip
@click.option(
    "--force-conflicts", is_flag=True, help="Take over fields another manager owns (server-side apply force)."
)
@cluster
@output_format(["text", "json"], "text")
@click.pass_context
def bootstrap(
    ctx: click.Context,
    dry_run: bool,
    repo_secret: str | None,
    repo_credentials_file: Path | None,
    force_conflicts: bool,
    kube_context: str | None,
    argocd_namespace: str | None,
    kubeconfig: Path | None,
    request_timeout: float,
    fmt: str,
) -> None:
    """Set up a cluster for llmops: check prerequisites; apply setup/, argocd/, Argo CD customizations."""
    from llmops.commands import bootstrap as cmd

    inv = invocation(ctx)
    options = _options(kube_context, argocd_namespace, kubeconfig, request_timeout)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(), options, dry_run=dry_run, force_conflicts=force_conflicts,
            repo_secret=repo_secret, credentials_file=repo_credentials_file, fmt=fmt,
        ),
    )  # fmt: skip


@app.verb(SECTION)
@click.argument("environment", metavar="ENV")
@click.option("--reason", required=True, help="Why (recorded on the AppProject with your name).")
@target
@cluster
@click.pass_context
def freeze(
    ctx: click.Context,
    environment: str,
    reason: str,
    target: str | None,
    kube_context: str | None,
    argocd_namespace: str | None,
    kubeconfig: Path | None,
    request_timeout: float,
) -> None:
    """Stop every sync of an environment (a deny sync window) until unfreeze."""
    from llmops.commands import freeze as cmd

    inv = invocation(ctx)
    options = _options(kube_context, argocd_namespace, kubeconfig, request_timeout)
    dispatch(
        inv.debug, lambda: cmd.run_freeze(inv.repository, environment, reason, target=target, cluster=options)
    )


@app.verb(SECTION)
@click.argument("environment", metavar="ENV")
@click.option("--reason", help="Why the freeze ends (optional).")
@target
@cluster
@click.pass_context
def unfreeze(
    ctx: click.Context,
    environment: str,
    reason: str | None,
    target: str | None,
    kube_context: str | None,
    argocd_namespace: str | None,
    kubeconfig: Path | None,
    request_timeout: float,
) -> None:
    """Allow syncs of a frozen environment again (removes only llmops' freeze window)."""
    from llmops.commands import freeze as cmd

    inv = invocation(ctx)
    options = _options(kube_context, argocd_namespace, kubeconfig, request_timeout)
    dispatch(
        inv.debug,
        lambda: cmd.run_unfreeze(inv.repository, environment, reason, target=target, cluster=options),
    )
