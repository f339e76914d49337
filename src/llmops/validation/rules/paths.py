"""paths: nothing the repository names may lead out of it (``..``, absolute paths, symbolic links).

A pull request can plant a link to a file of the CI machine (a kubeconfig, a token) or
point an Application or a kustomization outside the repository; llmops refuses to read
or write such paths (:func:`llmops.support.files.inside`), and this rule says where they are.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from llmops.gitops.kustomize_tree import KUSTOMIZATION_FILES, kustomization_file, overlay_dependencies
from llmops.gitops.locate import Location
from llmops.support.files import SKIP_DIRS, escape_reason, escaping_links
from llmops.validation.types import Context, FunctionRule, Issue, Severity


def _links(ctx: Context) -> Iterator[Issue]:
    for rel, target in escaping_links(ctx.repo.root, SKIP_DIRS):
        yield Issue(
            message=f"{rel} is a symbolic link to {target}, outside the repository: llmops will not read it",
            resource=rel,
            location=Location(rel),
        )


def _applications(ctx: Context) -> Iterator[Issue]:
    root = ctx.repo.root
    release = ctx.repo.config.release.file
    for app in ctx.all_apps:
        file = root / app.file
        for what, path, key in (
            ("source.path", app.path, ("spec", "source", "path")),
            ("release file", posixpath.join(app.path, release), ("spec", "source", "path")),
        ):
            why = escape_reason(root, path)
            if why is None:
                continue
            where = ctx.index.locate(file, "Application", app.name, key) or ctx.index.file_location(file)
            yield Issue(
                message=f"Application {app.name}'s {what} {path} leaves the repository: {why}",
                resource=f"Application/{app.name}",
                location=where,
                manifest=app.manifest,
            )
            break  # the release file of an overlay outside the repository is outside too


def _kustomizations(ctx: Context) -> Iterator[Issue]:
    root = ctx.repo.root
    folders = {ctx.index.rel(f.parent) for f in ctx.files if f.name in KUSTOMIZATION_FILES}
    folders |= {a.path for a in ctx.all_apps if escape_reason(root, a.path) is None}
    seen: set[str] = set()
    for folder in sorted(folders):
        for entry in overlay_dependencies(root, folder).outside:
            if entry in seen:
                continue
            seen.add(entry)
            owner = entry.partition(": ")[0] if ": " in entry else folder
            kfile = kustomization_file(root / owner) if escape_reason(root, owner) is None else None
            yield Issue(
                message=f"a kustomization reads outside the repository: {entry}",
                resource=f"Kustomization/{owner}",
                location=ctx.index.file_location(kfile) if kfile is not None else None,
            )


def check_outside(ctx: Context) -> Iterator[Issue]:
    yield from _links(ctx)
    yield from _applications(ctx)
    yield from _kustomizations(ctx)


RULES = [
    FunctionRule(
        id="paths.outside-repository",
        severity=Severity.error,
        rationale="A link or path that leaves the repository makes the gate read (or promotion write) "
        "files of the machine it runs on: credentials end up in output, commits and renders.",
        hint="keep every file inside the repository; replace the link with the file itself",
        scope="repository",
        fn=check_outside,
    ),
]
