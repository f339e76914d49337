"""``llmops validate``: the pre-merge gate (build, YAML, strict schemas, security, GitOps, serving)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops.repo import Repository
from llmops.support.files import atomic_write_text, report_path
from llmops.support.text import printable
from llmops.validation import formats, runner
from llmops.validation.types import REPOSITORY, Finding, Report, Rule, Severity

if TYPE_CHECKING:
    from rich.console import Console


def run(
    repo: Repository,
    environments: list[str],
    *,
    fmt: str = "table",
    changed_only: bool = False,
    base: str = "origin/main",
    output_file: Path | None = None,
    debug: bool = False,
    registry: Mapping[str, Rule] | None = None,
    policy_from: str | None = None,
) -> int:
    """Validate, print (or write) the report, and return 1 when a blocking finding exists.

    ``debug`` lets an exception raised inside a rule propagate (with its traceback)
    instead of becoming a "the rule could not finish" finding. ``registry``: the rules
    to run (tests pass their own; default: the built-in registry, loaded while kustomize runs).
    ``policy_from``: take the gate's settings from that revision (``--changed-only`` implies
    ``base``), and report what the change does to them.
    """
    if output_file is not None:
        output_file = _checked_output(repo, output_file)
    envs: list[str] | None = environments or None
    if changed_only:
        policy_from = policy_from or base
        envs = runner.environments_to_check(repo, base, environments)
        console.stderr.print(
            f"changed since {console.safe(base)}: {', '.join(envs) if envs else 'no environment'} "
            "(repository-wide checks always run)"
        )
    if policy_from is not None:
        where = console.safe(policy_from)
        console.stderr.print(f"gate settings from {where} (llmops.yaml, AppProjects, schema catalog)")
    result = runner.run(
        repo, registry or _builtin_rules, environments=envs, debug=debug, policy_from=policy_from
    )
    registry = registry or _builtin_rules()
    if fmt == "table":
        _table(result, console.stdout)
    elif output_file is not None:
        _write(output_file, formats.FORMATS[fmt](result, registry) + "\n")
        console.stderr.print(f"report written to {output_file}")
    else:
        console.plain(formats.FORMATS[fmt](result, registry))
    return result.exit_code


def _builtin_rules() -> Mapping[str, Rule]:
    from llmops.validation.rules import REGISTRY

    return REGISTRY


def _checked_output(repo: Repository, path: Path) -> Path:
    """The report's path, refused before the run when its folder is missing or leads out of the
    repository through a link."""
    full = report_path(repo.root, path)
    if not full.parent.is_dir():
        raise UsageError(
            f"cannot write the report {path}: No such file or directory",
            hint="pass --output a file in a folder that exists and that you can write to",
        )
    return full


def _write(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report {path}: {exc.strerror or exc}",
            hint="pass --output a file in a folder that exists and that you can write to",
        ) from exc


_STYLE = {Severity.error: "bold red", Severity.warning: "yellow", Severity.info: "cyan"}


def _table(report: Report, out: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    groups: dict[str, list[Finding]] = {}
    for f in report.findings:
        groups.setdefault(f.environment, []).append(f)
    for env, findings in groups.items():
        title = "repository (Applications, AppProject, files)" if env == REPOSITORY else f"environment {env}"
        table = Table(title=title, title_justify="left", show_lines=False, expand=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("where (resource, file:line:col)", no_wrap=True)
        table.add_column("message / hint", overflow="fold", ratio=1)
        for f in findings:
            sev = Text(f.severity.value, style=_STYLE[f.severity])
            if f.suppressed is not None:
                sev = Text(f"{f.severity.value} (suppressed)", style="dim")
            body = Text(f.message)
            body.append(f"\nhint: {f.hint}", style="dim")
            if f.suppressed is not None:
                body.append(f"\nsuppressed: {f.suppressed}", style="dim")
            elif f.justification and f.severity != Severity.error:
                body.append(f"\naccepted in llmops.yaml: {f.justification}", style="dim")
            where = Text(f.resource)
            if f.location:
                where.append("\n" + f.location, style="bold")
            table.add_row(sev, f.rule, where, body)
        out.print(table)
    for rule_id, reason in sorted(report.disabled.items()):
        out.print(Text(f"rule {rule_id} disabled in llmops.yaml: {printable(reason)}", style="dim"))
    style = "bold red" if report.exit_code else "bold green"
    out.print(Text(formats.summary_line(report), style=style))
