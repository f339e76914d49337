"""``llmops validate``: the pre-merge gate (build, YAML, strict schemas, security, GitOps, serving)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops.repo import Repository
from llmops.support.files import atomic_write_text
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
    reports: list[str] | None = None,
    debug: bool = False,
    registry: Mapping[str, Rule] | None = None,
) -> int:
    """Validate, print (or write) the report, and return 1 when a blocking finding exists.

    ``debug`` lets an exception raised inside a rule propagate (with its traceback)
    instead of becoming a "the rule could not finish" finding. ``registry``: the rules
    to run (tests pass their own; default: the built-in registry, loaded while kustomize runs).
    ``reports``: ``FORMAT=PATH`` pairs, each written besides the output asked for (a CI step
    prints the table to its log and leaves JUnit and SARIF files for the platform).
    """
    extra = [_report_target(r) for r in reports or []]  # bad input fails before the run
    envs: list[str] | None = environments or None
    if changed_only:
        envs = runner.environments_to_check(repo, base, environments)
        console.stderr.print(
            f"changed since {base}: {', '.join(envs) if envs else 'no environment'} "
            "(repository-wide checks always run)"
        )
    result = runner.run(
        repo, registry or _builtin_rules, environments=envs, debug=debug, base=base if changed_only else None
    )
    registry = registry or _builtin_rules()
    if fmt == "table":
        _table(result, console.stdout)
    elif output_file is not None:
        _write(output_file, formats.FORMATS[fmt](result, registry) + "\n")
        console.stderr.print(f"report written to {output_file}")
    else:
        console.plain(formats.FORMATS[fmt](result, registry))
    for extra_fmt, path in extra:
        _write(path, formats.FORMATS[extra_fmt](result, registry) + "\n", parents=True)
        console.stderr.print(f"{extra_fmt} report written to {path}")
    return result.exit_code


def _report_target(spec: str) -> tuple[str, Path]:
    fmt, sep, path = spec.partition("=")
    if not sep or fmt not in formats.FORMATS or not path:
        raise UsageError(
            f"--report {spec!r} is not FORMAT=PATH",
            hint=f"e.g. --report junit=validate.xml; formats: {', '.join(sorted(formats.FORMATS))}",
        )
    return fmt, Path(path)


def _builtin_rules() -> Mapping[str, Rule]:
    from llmops.validation.rules import REGISTRY

    return REGISTRY


def _write(path: Path, text: str, *, parents: bool = False) -> None:
    try:
        atomic_write_text(path, text, parents=parents)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report {path}: {exc.strerror or exc}",
            hint="write the report to a file in a folder that exists and that you can write to",
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
        out.print(f"[dim]rule {rule_id} disabled in llmops.yaml: {reason}[/]")
    style = "bold red" if report.exit_code else "bold green"
    out.print(Text(formats.summary_line(report), style=style))
