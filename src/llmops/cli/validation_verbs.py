"""Verbs of the pre-merge gate: ``validate`` and the ``schemas`` catalog."""

from __future__ import annotations

from pathlib import Path

import click

from llmops.cli.app import CONTEXT, app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import catalog, output_format

SECTION = "Pre-merge gate"


@app.verb(SECTION)
@click.option(
    "-e", "--env", "env", multiple=True, metavar="ENV",
    help="Environment to validate (repeatable; default: all).",
)  # fmt: skip
@output_format(["table", "lines", "json", "yaml", "junit", "sarif", "github"], "table")
@click.option("--changed-only", is_flag=True, help="Only the environments a change since --base affects.")
@click.option(
    "--base", default="origin/main", show_default=True, help="Git ref to compare with for --changed-only."
)
@click.option(
    "--output-file", "--output", "output_file", type=click.Path(path_type=Path), metavar="PATH",
    help="Write the (non-table) report to this file.",
)  # fmt: skip
@click.option(
    "--report", "reports", multiple=True, metavar="FORMAT=PATH",
    help="Also write the report as FORMAT (lines, json, junit, sarif, github) to PATH (repeatable).",
)  # fmt: skip
@click.option(
    "--policy", "policy", multiple=True, type=click.Path(path_type=Path), metavar="FILE",
    help="Also evaluate the ValidatingAdmissionPolicies in this file or folder (repeatable).",
)  # fmt: skip
@click.option("--list-rules", is_flag=True, help="List the rules and where each comes from.")
@click.option(
    "--policy-from", metavar="REV",
    help="Take the gate's settings (llmops.yaml, AppProjects, schemas) from this revision and report "
    "what the change does to them (--changed-only takes them from --base).",
)  # fmt: skip
@click.pass_context
def validate(
    ctx: click.Context,
    env: tuple[str, ...],
    fmt: str,
    changed_only: bool,
    base: str,
    output_file: Path | None,
    reports: tuple[str, ...],
    policy: tuple[Path, ...],
    list_rules: bool,
    policy_from: str | None,
) -> None:
    """The pre-merge gate: build, YAML lint, strict schemas, security, GitOps and vLLM serving rules,
    plus the repository's own admission policies and rules.

    Exit 0 when there is no error, 1 when there are errors, 2 when validation could not run.
    """
    from llmops.commands import validate as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(),
            list(env),
            fmt=fmt,
            changed_only=changed_only,
            base=base,
            output_file=output_file,
            reports=list(reports),
            debug=inv.debug,
            policies=list(policy),
            list_rules=list_rules,
            policy_from=policy_from,
        ),
    )


@click.group(context_settings=CONTEXT)
def schemas() -> None:
    """The CRD schema catalog used by `llmops validate`."""


app.add_command(schemas)
app.sections[SECTION].append("schemas")


@schemas.command("import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PATH...")
@catalog
@click.pass_context
def schemas_import(ctx: click.Context, sources: tuple[Path, ...], catalog: Path | None) -> None:
    """Import CRD schemas from YAML files (or folders of them) into the repository's catalog."""
    from llmops.commands import schemas as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run_import(inv.repository(), list(sources), catalog=catalog))


@schemas.command("pull")
@click.option("--kubeconfig", type=click.Path(path_type=Path), metavar="PATH", help="Default: $KUBECONFIG.")
@click.option("--context", "kube_context", metavar="NAME", help="kubeconfig context.")
@click.option(
    "-g", "--group", multiple=True, metavar="GROUP", help="Only CRDs of this API group (repeatable)."
)
@catalog
@click.pass_context
def schemas_pull(
    ctx: click.Context,
    kubeconfig: Path | None,
    kube_context: str | None,
    group: tuple[str, ...],
    catalog: Path | None,
) -> None:
    """Import the CRD schemas a live cluster serves (through the Kubernetes API)."""
    from llmops.commands import schemas as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run_pull(
            inv.repository(), kubeconfig=kubeconfig, context=kube_context, groups=list(group), catalog=catalog
        ),
    )


@schemas.command("list")
@catalog
@output_format(["table", "json", "yaml"], "table")
@click.pass_context
def schemas_list(ctx: click.Context, catalog: Path | None, fmt: str) -> None:
    """List the CRD schemas validate uses and where each comes from (built-in or the repository)."""
    from llmops.commands import schemas as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run_list(inv.repository(), catalog=catalog, fmt=fmt))
