"""yaml: yamllint (the real package) over the repository's YAML, with its ``.yamllint``."""

from __future__ import annotations

from collections.abc import Iterator

import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig, YamlLintConfigError

from llmops.locate import Location
from llmops.validate import Context, FunctionRule, Issue, Severity

CONFIG_FILES = (".yamllint", ".yamllint.yaml", ".yamllint.yml")


def _config(ctx: Context) -> YamlLintConfig:
    for name in CONFIG_FILES:
        file = ctx.repo.root / name
        if file.is_file():
            return YamlLintConfig(file=str(file))
    return YamlLintConfig("extends: default")


def _problems(ctx: Context) -> list[tuple[str, int, int, str, str | None, str]]:
    key = "yaml.problems"
    if key not in ctx.memo:
        found: list[tuple[str, int, int, str, str | None, str]] = []
        try:
            conf = _config(ctx)
        except YamlLintConfigError as exc:
            found.append((".yamllint", 1, 1, "error", "config", f"invalid yamllint configuration: {exc}"))
            conf = YamlLintConfig("extends: default")
        for file in ctx.files:
            rel = ctx.index.rel(file)
            if conf.is_file_ignored(rel):
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                found.append((rel, 1, 1, "error", None, f"cannot read the file: {exc}"))
                continue
            try:
                for p in linter.run(text, conf, rel):
                    found.append((rel, p.line, p.column, p.level, p.rule, p.desc))
            except yaml.YAMLError as exc:  # yamllint lets the reader's errors (control characters) escape
                pos = int(getattr(exc, "position", 0) or 0)
                line = text.count("\n", 0, pos) + 1
                column = pos - (text.rfind("\n", 0, pos) + 1) + 1
                found.append((rel, line, column, "error", None, str(exc).splitlines()[0]))
        ctx.memo[key] = found
    result: list[tuple[str, int, int, str, str | None, str]] = ctx.memo[key]
    return result


def check_syntax(ctx: Context) -> Iterator[Issue]:
    for file, line, column, _level, rule, desc in _problems(ctx):
        if rule is None:
            yield Issue(desc.removeprefix("syntax error: "), file, Location(file, line, column))


def check_lint(ctx: Context) -> Iterator[Issue]:
    for file, line, column, level, rule, desc in _problems(ctx):
        if rule is not None:
            severity = Severity.error if level == "error" else Severity.warning
            yield Issue(f"{desc} ({rule})", file, Location(file, line, column), severity=severity)


RULES = [
    FunctionRule(
        "yaml.syntax",
        Severity.error,
        "A file that does not parse breaks the render and hides every other check on it.",
        "fix the YAML syntax at the reported line and column",
        "files",
        check_syntax,
    ),
    FunctionRule(
        "yaml.lint",
        Severity.error,
        "Consistent, unambiguous YAML (no duplicate keys, no truthy surprises) reviews cleanly.",
        "fix the line, or tune the rule in the repository's .yamllint",
        "files",
        check_lint,
    ),
]
