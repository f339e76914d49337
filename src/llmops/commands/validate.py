"""``llmops validate``: the pre-merge gate (build, YAML, strict schemas, security, GitOps, serving)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops.repo import Repository
from llmops.support.text import printable
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
    if base is not None and not changed_only:
        raise UsageError(
            "--base only applies with --changed-only",
            hint=f"add --changed-only (--changed-only --base {base})",
        )
    if output_file is not None:  # refused before the run, not after it
        output_file = console.output_path(output_file)
    extra = [(f, console.output_path(p)) for f, p in (_report_target(r) for r in reports or [])]
    rules = _Rules(repo, registry, policies or [])
    if list_rules:
        return _list_rules(rules, fmt, output_file)
    envs: list[str] | None = environments or None
    if changed_only:
        base = base or DEFAULT_BASE
        policy_from = policy_from or base
        envs = runner.environments_to_check(repo, base, environments)
        console.note(
            f"changed since {console.safe(base)}: {', '.join(envs) if envs else 'no environment'} "
            "(repository-wide checks always run)"
        )
    if policy_from is not None:
        where = console.safe(policy_from)
        console.note(f"gate settings from {where} (llmops.yaml, AppProjects, schema catalog)")
    with console.progress("validate: kustomize renders and rules"):
        result = runner.run(
            repo,
            rules.load,
            environments=envs,
            debug=debug,
            base=base if changed_only else None,
            policy_from=policy_from,
        )
    if fmt in formats.FORMATS and fmt != "json":
        console.write(formats.FORMATS[fmt](result, rules.load()), output_file)
    else:
        console.emit(
            formats.to_data(result),
            fmt,
            output_file=output_file,
            human=lambda out: _table(result, out, wide=fmt == "wide"),
        )
    for extra_fmt, path in extra:
        console.write(_render(extra_fmt, result, rules.load()), path, label=f"{extra_fmt} report")
    if output_file is not None or extra:
        console.note(formats.summary_line(result))
    return result.exit_code


def _render(fmt: str, report: Report, registry: Mapping[str, Rule]) -> str:
    """A report as text: JSON and YAML in the documented shape, the other formats their own."""
    if fmt in console.DATA_FORMATS:
        return console.serialize(formats.to_data(report), fmt)
    return formats.FORMATS[fmt](report, registry)


def _report_target(spec: str) -> tuple[str, Path]:
    fmt, sep, path = spec.partition("=")
    known = sorted({*formats.FORMATS, *console.DATA_FORMATS})
    if not sep or fmt not in known or not path:
        raise UsageError(
            f"--report {spec!r} is not FORMAT=PATH",
            hint=f"e.g. --report junit=validate.xml; formats: {', '.join(known)}",
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
    if fmt not in ("table", "wide", *console.DATA_FORMATS):
        raise UsageError(
            f"--list-rules prints table, wide, json or yaml, not {fmt}",
            hint="pass -o table, -o wide, -o json or -o yaml",
        )
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
    console.emit(rows, fmt, output_file=output_file, human=lambda out: _rules_table(rows, out))
    return 0


def _rules_table(rows: list[dict[str, Any]], out: Console) -> None:
    table = console.table("validation rules", ["rule", "severity", "scope", "from", "why"])
    for row in rows:
        severity = row["severity"] + "".join(f"\n{e}: {s}" for e, s in row["environments"].items())
        cells = (row["id"], severity, row["scope"], row["origin"], row["rationale"] or "")
        table.add_row(*(console.safe(c) for c in cells))
    out.print(table)


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
        out.print(Text(f"rule {rule_id} disabled in llmops.yaml: {printable(reason)}", style="dim"))
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


def _wide_row(f: Finding) -> list[Text]:
    from rich.text import Text  # Text, not str: a finding's words are never read as markup

    cells = [f.rule, f.resource, f.location or "", f.message, f.hint, _note(f)]
    return [_severity(f), *(Text(printable(c)) for c in cells)]
