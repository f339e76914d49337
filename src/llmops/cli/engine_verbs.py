"""Verbs of the environments as they run: the embedded engine (``up``, ``down``, ``patch``, ``logs``) and
the verbs shared with Argo CD on a cluster (``status``, ``sync``, ``wait``, ``history``, ``rollback``,
``refresh``; ``--target local|cluster``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from llmops.cli.app import Invocation, app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import cluster, output_format, target

if TYPE_CHECKING:
    from llmops.gitops.appstate import Driver

SECTION = "Engine"


def _driver(inv: Invocation, chosen: str | None, kube: dict[str, Any]) -> Driver:
    """The driver of ``--target``; ``kube`` holds the ``cluster`` options (used by ``--target cluster``)."""
    from llmops.commands.drivers import ClusterOptions, driver_for

    options = ClusterOptions(
        context=kube["kube_context"], namespace=kube["argocd_namespace"], kubeconfig=kube["kubeconfig"],
        timeout=kube["request_timeout"],
    )  # fmt: skip
    return driver_for(chosen, inv.repository, options)


def _user() -> str:
    from llmops.engine.engine import current_user

    return current_user()


@app.verb(SECTION)
@click.option("-d", "--detach", is_flag=True, help="Run in the background; `llmops down` stops it.")
@click.option("-q", "--quiet", is_flag=True, help="No live view (the endpoints are still printed).")
@click.option(
    "--api-host",
    metavar="ADDRESS",
    help="Address of the engine API (default 127.0.0.1; others need its token).",
)
@click.option(
    "--api-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Port of the engine API (0: a free one).",
)
@click.pass_context
def up(ctx: click.Context, detach: bool, quiet: bool, api_host: str | None, api_port: int | None) -> None:
    """Serve the environments locally: Argo CD's semantics, real vLLM, until Ctrl-C."""
    from llmops.commands import up as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(inv.repository(), detach=detach, quiet=quiet, api_host=api_host, api_port=api_port),
    )


@app.verb(SECTION)
@click.option(
    "--keep-processes", is_flag=True, help="Leave the vLLM processes running (the next `up` adopts them)."
)
@click.pass_context
def down(ctx: click.Context, keep_processes: bool) -> None:
    """Stop the engine running for this repository."""
    from llmops.commands import down as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(inv.repository(), keep_processes=keep_processes))


@app.verb(SECTION)
@click.argument("environment", required=False, metavar="[ENV]")
@output_format(["table", "json", "yaml"], "table")
@click.option("-w", "--watch", is_flag=True, help="Keep showing it as it changes (Ctrl-C ends).")
@target
@cluster
@click.pass_context
def status(
    ctx: click.Context, /, environment: str | None, fmt: str, watch: bool, target: str | None, **kube: Any
) -> None:
    """Sync and health of each environment: revision, endpoint, last operation."""
    from llmops.commands import status as cmd

    inv = invocation(ctx)
    driver = lambda: _driver(inv, target, kube)  # noqa: E731
    dispatch(inv.debug, lambda: cmd.run(driver, environment, fmt=fmt, watch=watch))


@app.verb(SECTION)
@click.argument("environment", metavar="ENV")
@click.option(
    "-y", "--yes", "assume_yes", is_flag=True, help="Do not ask for confirmation (manual environments)."
)
@click.option("--reason", help="Why: recorded in the history.")
@click.option("--revision", metavar="REV", help="Sync this revision instead of the target revision.")
@click.option(
    "--prune/--no-prune", default=None, help="Delete what left Git (default: as the Application says)."
)
@click.option("--async", "no_wait", is_flag=True, help="Return once the operation started.")
@click.option("--timeout", type=float, metavar="SECONDS", help="Stop waiting after this long (exit 2).")
@output_format(["text", "json", "yaml"], "text")
@target
@cluster
@click.pass_context
def sync(
    ctx: click.Context,
    /,
    environment: str,
    assume_yes: bool,
    reason: str | None,
    revision: str | None,
    prune: bool | None,
    no_wait: bool,
    timeout: float | None,
    fmt: str,
    target: str | None,
    **kube: Any,
) -> None:
    """Sync an environment to Git (asks first where a person must approve)."""
    from llmops.commands import sync as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            lambda: _driver(inv, target, kube),
            environment,
            initiator=_user(),
            reason=reason,
            revision=revision,
            prune=prune,
            assume_yes=assume_yes,
            wait=not no_wait,
            timeout=timeout,
            fmt=fmt,
        ),
    )


@app.verb(SECTION)
@click.argument("environment", metavar="ENV")
@click.option("--health", is_flag=True, help="Until Healthy.")
@click.option("--sync", "synced", is_flag=True, help="Until Synced.")
@click.option("--operation", is_flag=True, help="Until no operation runs.")
@click.option(
    "--timeout",
    type=float,
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="Give up after this long (exit 1).",
)
@output_format(["text", "json", "yaml"], "text")
@target
@cluster
@click.pass_context
def wait(
    ctx: click.Context,
    /,
    environment: str,
    health: bool,
    synced: bool,
    operation: bool,
    timeout: float,
    fmt: str,
    target: str | None,
    **kube: Any,
) -> None:
    """Wait until an environment is Healthy and/or Synced (default: both, and no operation runs)."""
    from llmops.commands import wait as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            lambda: _driver(inv, target, kube),
            environment,
            health=health,
            sync=synced,
            operation=operation,
            timeout=timeout,
            fmt=fmt,
        ),
    )


@app.verb(SECTION)
@click.argument("environment", metavar="ENV")
@output_format(["table", "json", "yaml"], "table")
@target
@cluster
@click.pass_context
def history(ctx: click.Context, /, environment: str, fmt: str, target: str | None, **kube: Any) -> None:
    """Every sync and rollback of an environment: revision, who, why, result."""
    from llmops.commands import history as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(lambda: _driver(inv, target, kube), environment, fmt=fmt))


@app.verb(SECTION)
@click.argument("environment", metavar="ENV")
@click.argument("history_id", type=int, required=False, metavar="[ID]")
@click.option("--reason", help="Why: recorded in the history.")
@click.option("--async", "no_wait", is_flag=True, help="Return once the operation started.")
@output_format(["text", "json", "yaml"], "text")
@target
@cluster
@click.pass_context
def rollback(
    ctx: click.Context,
    /,
    environment: str,
    history_id: int | None,
    reason: str | None,
    no_wait: bool,
    fmt: str,
    target: str | None,
    **kube: Any,
) -> None:
    """Redeploy an earlier revision from the history (not for environments that sync themselves)."""
    from llmops.commands import rollback as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            lambda: _driver(inv, target, kube),
            environment,
            history_id,
            initiator=_user(),
            reason=reason,
            wait=not no_wait,
            fmt=fmt,
        ),
    )


@app.verb(SECTION)
@click.argument("environment", required=False, metavar="[ENV]")
@target
@cluster
@click.pass_context
def refresh(ctx: click.Context, /, environment: str | None, target: str | None, **kube: Any) -> None:
    """Look at Git now (fetching remotes) instead of at the next poll."""
    from llmops.commands import refresh as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(lambda: _driver(inv, target, kube), environment))


@app.verb(SECTION)
@click.argument("environment", metavar="ENV")
@click.argument("ref", metavar="KIND/NAME")
@click.option(
    "--type",
    "patch_type",
    type=click.Choice(["merge", "json"]),
    default="merge",
    show_default=True,
    help="JSON merge patch or JSON patch.",
)
@click.option("-p", "--patch", "patch", required=True, metavar="JSON", help="The patch.")
@click.option(
    "--field-manager", default="kubectl-patch", show_default=True, help="Who the changed fields belong to."
)
@output_format(["text", "json", "yaml"], "text")
@click.pass_context
def patch(
    ctx: click.Context, environment: str, ref: str, patch_type: str, patch: str, field_manager: str, fmt: str
) -> None:
    """Change a live object of the local engine, as `oc patch` does (drift)."""
    from llmops.commands import patch as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(),
            environment,
            ref,
            patch_type=patch_type,
            patch=patch,
            field_manager=field_manager,
            fmt=fmt,
        ),
    )


@app.verb(SECTION)
@click.argument("environment", metavar="ENV")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C ends).")
@click.option(
    "--tail",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Lines of each log to start with.",
)
@click.pass_context
def logs(ctx: click.Context, environment: str, follow: bool, tail: int) -> None:
    """The vLLM logs of an environment on the local engine."""
    from llmops.commands import logs as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(inv.repository(), environment, follow=follow, tail=tail))
