"""``llmops validate``: the pre-merge gate (build, YAML, strict schemas, security, GitOps, serving)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    reports: list[str] | None = None,
    debug: bool = False,
    registry: Mapping[str, Rule] | None = None,
    policies: list[Path] | None = None,
    list_rules: bool = False,
    policy_from: str | None = None,
) -> int:
    """Validate, print (or write) the report, and return 1 when a blocking finding exists.

    ``debug`` lets an exception raised inside a rule propagate (with its traceback)
    instead of becoming a "the rule could not finish" finding. ``registry``: the rules
    to run (tests pass their own; default: the built-in registry plus the repository's own
    rules and policies, loaded while kustomize runs). ``policies``: more policy files or
    folders (``--policy``). ``list_rules``: list the rules and where each comes from instead.
    ``reports``: ``FORMAT=PATH`` pairs, each written besides the output asked for (a CI step
    prints the table to its log and leaves JUnit and SARIF files for the platform).
    ``policy_from``: take the gate's settings from that revision (``--changed-only`` implies
    ``base``), and report what the change does to them.
    """
    if output_file is not None:
        output_file = _checked_output(repo, output_file)
    extra = [(f, report_path(repo.root, p)) for f, p in (_report_target(r) for r in reports or [])]
    rules = _Rules(repo, registry, policies or [])
    if list_rules:
        return _list_rules(rules, fmt, output_file)
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
        repo,
        rules.load,
        environments=envs,
        debug=debug,
        base=base if changed_only else None,
        policy_from=policy_from,
    )
    if fmt == "table":
        _table(result, console.stdout)
    else:
        _emit(_render(fmt, result, rules.load()), output_file)
    for extra_fmt, path in extra:
        _write(path, _render(extra_fmt, result, rules.load()).rstrip("\n") + "\n", parents=True)
        console.stderr.print(f"{extra_fmt} report written to {path}")
    return result.exit_code


def _render(fmt: str, report: Report, registry: Mapping[str, Rule]) -> str:
    if fmt == "yaml":
        return _yaml(json.loads(formats.render_json(report, registry)))
    return formats.FORMATS[fmt](report, registry)


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _emit(text: str, output_file: Path | None) -> None:
    if output_file is not None:
        _write(output_file, text.rstrip("\n") + "\n")
        console.stderr.print(f"report written to {output_file}")
    else:
        console.plain(text)


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


class _Rules:
    """The rules of one run, loaded once on first use: the built-in ones and the repository's own."""

    def __init__(self, repo: Repository, given: Mapping[str, Rule] | None, policies: list[Path]) -> None:
        self._repo, self._given, self._policies = repo, given, policies
        self._loaded: tuple[dict[str, Rule], dict[str, str]] | None = None

    def _get(self) -> tuple[dict[str, Rule], dict[str, str]]:
        if self._loaded is None:
            if self._given is not None:
                self._loaded = dict(self._given), {}
            else:
                from llmops.validation import custom  # CEL and policies load only when validate runs

                builtin = _builtin_rules()
                own = custom.rules(self._repo, builtin.keys(), policies=self._policies)
                self._loaded = {**builtin, **own.rules}, own.origins
        return self._loaded

    def load(self) -> Mapping[str, Rule]:
        return self._get()[0]

    def origin(self, rule: Rule) -> str:
        origins = self._get()[1]
        if rule.id in origins:
            return origins[rule.id]
        fn: Callable[..., Any] | None = getattr(rule, "fn", None)
        return f"built-in ({fn.__module__})" if fn is not None else "built-in"


def _list_rules(rules: _Rules, fmt: str, output_file: Path | None) -> int:
    rows = [
        {
            "id": r.id,
            "severity": r.severity.value,
            "environments": {env: sev.value for env, sev in r.env_severity.items()},
            "scope": r.scope,
            "origin": rules.origin(r),
            "rationale": r.rationale,
            "hint": r.hint,
        }
        for r in rules.load().values()
    ]
    if fmt == "json":
        _emit(json.dumps(rows, indent=2), output_file)
    elif fmt == "yaml":
        _emit(_yaml(rows), output_file)
    elif fmt == "table":
        _rules_table(rows, console.stdout)
    else:
        raise UsageError(
            f"--list-rules prints table, json or yaml, not {fmt}", hint="pass -o table, -o json or -o yaml"
        )
    return 0


def _rules_table(rows: list[dict[str, Any]], out: Console) -> None:
    from rich.table import Table

    table = Table(title="validation rules", title_justify="left", expand=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("scope", no_wrap=True)
    table.add_column("from", overflow="fold", ratio=2)
    table.add_column("why", overflow="fold", ratio=3)
    for row in rows:
        severity = row["severity"] + "".join(f"\n{e}: {s}" for e, s in row["environments"].items())
        table.add_row(row["id"], severity, row["scope"], row["origin"], row["rationale"])
    out.print(table)


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
        out.print(Text(f"rule {rule_id} disabled in llmops.yaml: {printable(reason)}", style="dim"))
    style = "bold red" if report.exit_code else "bold green"
    out.print(Text(formats.summary_line(report), style=style))
