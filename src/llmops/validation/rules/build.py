"""build: every overlay and every kustomization renders with real kustomize."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from llmops.errors import LlmopsError
from llmops.gitops import manifests
from llmops.gitops.kustomize_tree import closure, kustomization_file
from llmops.gitops.locate import Location
from llmops.validation.types import Context, FunctionRule, Issue, Severity

_PREFIX = re.compile(r"^kustomize failed on \S+: ")
_MISSING = re.compile(r"^(\S+) does not exist \(referenced from")


def _message(ctx: Context, error: LlmopsError) -> str:
    text = _PREFIX.sub("", error.message)
    return text.replace(str(ctx.repo.root) + "/", "")


def _entry_location(ctx: Context, directory: Path, message: str) -> Location | None:
    """The line of the kustomization entry that names a missing file, when there is one."""
    match = _MISSING.match(message)
    if not match:
        return None
    shown = Path(match.group(1))
    missing = (shown if shown.is_absolute() else directory / shown).resolve()
    for folder in closure(directory):
        file = kustomization_file(folder)
        if file is None:
            continue
        try:
            node = yaml.compose(manifests.read_text(file), Loader=manifests.Loader)
        except (LlmopsError, yaml.YAMLError):
            continue
        for entry in _scalars(node):
            if (folder / str(entry.value)).resolve() == missing:
                mark = entry.start_mark
                return Location(ctx.index.rel(file), mark.line + 1, mark.column + 1)
    return None


def _scalars(node: yaml.Node | None) -> Iterator[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            yield from _scalars(child)
    elif isinstance(node, yaml.MappingNode):
        for _, value in node.value:
            yield from _scalars(value)


def _issue(ctx: Context, directory: Path, error: LlmopsError, resource: str) -> Issue:
    message = _message(ctx, error)
    where = _entry_location(ctx, directory, message)
    if where is None:
        file = kustomization_file(directory)
        where = ctx.index.file_location(file) if file else Location(ctx.index.rel(directory))
    return Issue(message=message, resource=resource, location=where)


def check_overlays(ctx: Context) -> Iterator[Issue]:
    for app in ctx.apps:
        directory = ctx.repo.root / app.path
        error = ctx.build_errors.get(directory)
        if error is not None:
            yield _issue(ctx, directory, error, f"Application/{app.name}")


def check_kustomizations(ctx: Context) -> Iterator[Issue]:
    overlays = {ctx.repo.root / a.path for a in ctx.all_apps}
    for directory, error in sorted(ctx.build_errors.items()):
        if directory not in overlays:
            yield _issue(ctx, directory, error, f"Kustomization/{ctx.index.rel(directory)}")


def check_applications(ctx: Context) -> Iterator[Issue]:
    if ctx.app_error is not None:
        yield Issue(
            message=ctx.app_error.message.replace(str(ctx.repo.root) + "/", ""),
            resource="Application",
            hint=ctx.app_error.hint or "fix the Application manifests",
        )


RULES = [
    FunctionRule(
        id="build.overlay",
        severity=Severity.error,
        rationale="An overlay kustomize cannot build is an environment Argo CD cannot sync.",
        hint="run `kubectl kustomize <overlay>` and fix the file it names",
        scope="environment",
        fn=check_overlays,
    ),
    FunctionRule(
        id="build.kustomization",
        severity=Severity.error,
        rationale="Every kustomization in the repository (Argo CD objects, cluster set-up) must build too.",
        hint="run `kubectl kustomize <folder>` and fix the file it names",
        scope="repository",
        fn=check_kustomizations,
    ),
    FunctionRule(
        id="build.applications",
        severity=Severity.error,
        rationale="Environments are found from the Argo CD Applications; unreadable ones hide environments.",
        hint="fix the Application manifests (each needs metadata.name and spec.source.path)",
        scope="repository",
        fn=check_applications,
    ),
]
