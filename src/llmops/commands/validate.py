"""``llmops validate``: the pre-merge gate (build, YAML, strict schemas, security, GitOps, serving)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops.repo import Repository
from llmops.validation import formats, runner
from llmops.validation.types import REPOSITORY, Finding, Report, Rule, Severity

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

DEFAULT_BASE = "origin/main"


def run(
    repo: Repository,
    environments: list[str],
    *,
    fmt: str = "table",
    changed_only: bool = False,
    base: str | None = None,
    output_file: Path | None = None,
    debug: bool = False,
    registry: Mapping[str, Rule] | None = None,
) -> int:
    """Validate, print (or write) the report, and return 1 when a blocking finding exists.

    ``debug`` lets an exception raised inside a rule propagate (with its traceback)
    instead of becoming a "the rule could not finish" finding. ``registry``: the rules
    to run (tests pass their own; default: the built-in registry, loaded while kustomize runs).
    """
    if base is not None and not changed_only:
        raise UsageError(
            "--base only applies with --changed-only",
            hint=f"add --changed-only (--changed-only --base {base})",
        )
    envs: list[str] | None = environments or None
    if changed_only:
        base = base or DEFAULT_BASE
        envs = runner.environments_to_check(repo, base, environments)
        console.note(
            f"changed since {base}: {', '.join(envs) if envs else 'no environment'} "
            "(repository-wide checks always run)"
        )
    result = runner.run(repo, registry or _builtin_rules, environments=envs, debug=debug)
    registry = registry or _builtin_rules()
    if fmt in formats.FORMATS and fmt != "json":
        console.write(formats.FORMATS[fmt](result, registry), output_file)
    else:
        console.emit(
            formats.to_data(result),
            fmt,
            output_file=output_file,
            human=lambda out: _table(result, out, wide=fmt == "wide"),
        )
    if output_file is not None:
        console.note(formats.summary_line(result))
    return result.exit_code


def _builtin_rules() -> Mapping[str, Rule]:
    from llmops.validation.rules import REGISTRY

    return REGISTRY


_STYLE = {Severity.error: "bold red", Severity.warning: "yellow", Severity.info: "cyan"}


def _table(report: Report, out: Console, *, wide: bool = False) -> None:
    """One table per environment. Narrow: rule above where, message above hint, folded to the
    width (never a column dropped); ``wide``: one column each, as wide as they need."""
    from rich.text import Text

    groups: dict[str, list[Finding]] = {}
    for f in report.findings:
        groups.setdefault(f.environment, []).append(f)
    for env, findings in groups.items():
        title = "repository (Applications, AppProject, files)" if env == REPOSITORY else f"environment {env}"
        headers = (
            ["severity", "rule", "resource", "file:line:col", "message", "hint", "note"]
            if wide
            else ["severity", "rule / where", "message / hint"]
        )
        table = console.table(title, headers, show_lines=not wide)
        for f in findings:
            table.add_row(*(_wide_row(f) if wide else _row(f)))
        out.print(table)
    for rule_id, reason in sorted(report.disabled.items()):
        out.print(Text(f"rule {rule_id} disabled in llmops.yaml: {reason}", style="dim"))
    style = "bold red" if report.exit_code else "bold green"
    out.print(Text(formats.summary_line(report), style=style))


def _severity(f: Finding) -> Text:
    from rich.text import Text

    if f.suppressed is not None:
        return Text(f"{f.severity.value}\n(suppressed)", style="dim")
    return Text(f.severity.value, style=_STYLE[f.severity])


def _note(f: Finding) -> str:
    if f.suppressed is not None:
        return f"suppressed: {f.suppressed}"
    if f.justification and f.severity != Severity.error:
        return f"accepted in llmops.yaml: {f.justification}"
    return ""


def _row(f: Finding) -> list[Text]:
    from rich.text import Text

    where = Text(f.rule, style="bold")
    where.append("\n" + f.resource)
    if f.location:
        where.append("\n" + f.location)
    body = Text(f.message)
    body.append(f"\nhint: {f.hint}", style="dim")
    if _note(f):
        body.append("\n" + _note(f), style="dim")
    return [_severity(f), where, body]


def _wide_row(f: Finding) -> list[Text | str]:
    return [_severity(f), f.rule, f.resource, f.location or "", f.message, f.hint, _note(f)]
