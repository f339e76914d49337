"""yaml.*: yamllint (the real package) over the repository's YAML, with its ``.yamllint``.

yamllint is pure Python and the slowest part of a run, so its results are cached per
file content (and configuration, and yamllint version) under the user's cache folder
(``$XDG_CACHE_HOME/llmops``, never inside the repository); ``LLMOPS_NO_CACHE=1`` turns
the cache off.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llmops.errors import LlmopsError
from llmops.gitops import manifests
from llmops.gitops.locate import Location
from llmops.support.files import atomic_write_text, inside, user_cache_dir
from llmops.validation.types import YAMLLINT_CONFIG_FILES, Context, FunctionRule, Issue, Severity

if TYPE_CHECKING:  # yamllint is imported where used: a run starts kustomize first
    from yamllint.config import YamlLintConfig

Problem = tuple[str, int, int, str, str | None, str]
BUDGET = "(budget)"  # the problem's rule when a file is over the YAML budget (not linted)


def _config(ctx: Context) -> tuple[YamlLintConfig, str]:
    from yamllint.config import YamlLintConfig

    for name in YAMLLINT_CONFIG_FILES:
        file = ctx.settings_root / name  # the base revision's under --policy-from
        if file.is_file() or file.is_symlink():
            text = manifests.read_text(inside(ctx.settings_root, name, what="the yamllint configuration"))
            return YamlLintConfig(text), text
    return YamlLintConfig("extends: default"), "extends: default"


def _cache_file(root: Path) -> Path | None:
    base = user_cache_dir()
    if base is None:
        return None
    return base / f"yamllint-{hashlib.sha256(str(root).encode()).hexdigest()[:16]}.json"


def _load_cache(file: Path | None) -> dict[str, Any]:
    if file is None:
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(file: Path | None, data: dict[str, Any]) -> None:
    if file is None:
        return
    try:
        atomic_write_text(file, json.dumps(data), parents=True)
    except OSError:
        pass  # a cache that cannot be written only costs time


def _lint(text: str, conf: YamlLintConfig, rel: str) -> list[Problem]:
    from yamllint import linter

    found: list[Problem] = []
    try:
        for p in linter.run(text, conf, rel):
            found.append((rel, p.line, p.column, p.level, p.rule, p.desc))
    except yaml.YAMLError as exc:  # yamllint lets the reader's errors (control characters) escape
        pos = int(getattr(exc, "position", 0) or 0)
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        found.append((rel, line, column, "error", None, str(exc).splitlines()[0]))
    except Exception as exc:  # yamllint's own bugs: a lone "]" makes it compare None with an int
        found.append(_parse_problem(text, rel) or _unchecked(rel, exc))
    return found


def _parse_problem(text: str, rel: str) -> Problem | None:
    """PyYAML's syntax error in ``text``, worded as yamllint words it; None when it parses."""
    try:
        for _event in yaml.parse(text, Loader=manifests.Loader):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return (rel, line, column, "error", None, f"syntax error: {exc.problem} (syntax)")
    except yaml.YAMLError as exc:
        return (rel, 1, 1, "error", None, f"syntax error: {str(exc).splitlines()[0]} (syntax)")
    return None


def _unchecked(rel: str, exc: Exception) -> Problem:
    return (rel, 1, 1, "error", "yamllint", f"yamllint could not check the file: {type(exc).__name__}: {exc}")


def _problems(ctx: Context) -> list[Problem]:
    import yamllint
    from yamllint.config import YamlLintConfig, YamlLintConfigError

    key = "yaml.problems"
    if key not in ctx.memo:
        found: list[Problem] = []
        try:
            conf, conf_text = _config(ctx)
        except LlmopsError as exc:
            found.append((".yamllint", 1, 1, "error", "config", exc.message))
            conf, conf_text = YamlLintConfig("extends: default"), "extends: default"
        except YamlLintConfigError as exc:
            found.append((".yamllint", 1, 1, "error", "config", f"invalid yamllint configuration: {exc}"))
            conf, conf_text = YamlLintConfig("extends: default"), "extends: default"
        cache_file = _cache_file(ctx.repo.root)
        old = _load_cache(cache_file)
        new: dict[str, Any] = {}
        salt = f"{yamllint.__version__}\0{conf_text}\0"
        for file in ctx.files:
            rel = ctx.index.rel(file)
            if conf.is_file_ignored(rel):
                continue
            try:
                text = file.read_text(encoding="utf-8")
                manifests.check_budget(text, rel)
            except (OSError, UnicodeDecodeError) as exc:
                found.append((rel, 1, 1, "error", None, f"cannot read the file: {exc}"))
                continue
            except manifests.YamlBudgetError as exc:
                found.append((rel, 1, 1, "error", BUDGET, exc.message.removeprefix(f"{rel}: ")))
                continue
            key_ = hashlib.sha256(f"{salt}{rel}\0{text}".encode()).hexdigest()
            cached = old.get(key_)
            problems = [tuple(p) for p in cached] if isinstance(cached, list) else _lint(text, conf, rel)
            new[key_] = [list(p) for p in problems]
            found.extend(problems)
        if new != old:
            _save_cache(cache_file, new)
        ctx.memo[key] = found
    result: list[Problem] = ctx.memo[key]
    return result


def check_syntax(ctx: Context) -> Iterator[Issue]:
    for file, line, column, _level, rule, desc in _problems(ctx):
        if rule is None:
            yield Issue(
                message=desc.removeprefix("syntax error: "),
                resource=file,
                location=Location(file, line, column),
            )


def check_lint(ctx: Context) -> Iterator[Issue]:
    for file, line, column, level, rule, desc in _problems(ctx):
        if rule is not None and rule != BUDGET:
            severity = Severity.error if level == "error" else Severity.warning
            yield Issue(
                message=f"{desc} ({rule})",
                resource=file,
                location=Location(file, line, column),
                severity=severity,
            )


def check_budget(ctx: Context) -> Iterator[Issue]:
    for path, why in sorted(ctx.refused.items()):
        rel = ctx.index.rel(path)
        yield Issue(message=f"{rel} is {why}", resource=rel, location=Location(rel))
    for file, line, column, _level, rule, desc in _problems(ctx):
        if rule == BUDGET:
            yield Issue(message=desc, resource=file, location=Location(file, line, column))


RULES = [
    FunctionRule(
        id="yaml.budget",
        severity=Severity.error,
        rationale="Hostile YAML (a huge file, nested aliases) can cost minutes and gigabytes to read.",
        hint="split the file or write the aliased values out; the limits are `limits` in llmops.yaml",
        scope="files",
        fn=check_budget,
    ),
    FunctionRule(
        id="yaml.syntax",
        severity=Severity.error,
        rationale="A file that does not parse breaks the render and hides every other check on it.",
        hint="fix the YAML syntax at the reported line and column",
        scope="files",
        fn=check_syntax,
    ),
    FunctionRule(
        id="yaml.lint",
        severity=Severity.error,
        rationale="Consistent, unambiguous YAML (no duplicate keys, no truthy surprises) reviews cleanly.",
        hint="fix the line, or tune the rule in the repository's .yamllint",
        scope="files",
        fn=check_lint,
    ),
]
