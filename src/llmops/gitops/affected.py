"""Which environments a change affects, from the files it touches.

An Application is affected when a changed file is one its overlay depends on:
the overlay's kustomization and, recursively, every resource, component, patch,
generator input and configuration it names (``kustomization.yaml`` is read, not
rendered, so this is cheap), or the Application manifest itself. A change to the
shared base therefore affects every environment; a change to one overlay affects
that environment only. An overlay that pulls something from outside the
repository (a remote base, a Helm chart) cannot be judged from files and is
always counted as affected.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmops.gitops import git
from llmops.gitops.kustomize_tree import overlay_dependencies
from llmops.gitops.repo import Repository


@dataclass(frozen=True)
class Impact:
    """Why one Application is affected by a change."""

    app: str
    environment: str
    files: tuple[str, ...]  # changed files it depends on
    reason: str  # a sentence for people


def impacts(sides: Sequence[Repository], changed: Iterable[str]) -> dict[str, Impact]:
    """Affected Applications by name, judged at every side given (e.g. base and head trees).

    A file counts if the overlay depends on it at either side: a patch removed by
    the change is still a change to the environment that used it.
    """
    changed_set = set(changed)
    found: dict[str, Impact] = {}
    for side in sides:
        for app in side.applications():
            if app.name in found:
                continue
            deps = overlay_dependencies(side.root, app.path)
            hits = sorted(changed_set & deps.files)
            if app.file.as_posix() in changed_set:
                hits.append(app.file.as_posix())
            if hits:
                reason = "changes " + ", ".join(hits)
            elif deps.external and changed_set:
                reason = f"always rendered: {deps.external}"
            else:
                continue
            found[app.name] = Impact(app.name, app.environment, tuple(hits), reason)
    return found


def environments_of(impacted: Iterable[Impact], order: Sequence[str]) -> list[str]:
    envs = {i.environment for i in impacted}
    return [e for e in order if e in envs]


def affected_environments(repo: Repository | Path, base_ref: str, head_ref: str | None = None) -> list[str]:
    """Environments (in promotion order) whose render may differ between two revisions.

    ``repo`` is a :class:`Repository` or any path inside one. ``head_ref`` None
    compares ``base_ref`` with the working tree. The working tree is never
    modified: other revisions are checked out into temporary folders.
    """
    if not isinstance(repo, Repository):
        repo = Repository.discover(Path(repo))
    base_sha = git.resolve_commit(repo.root, base_ref)
    head_sha = git.resolve_commit(repo.root, head_ref) if head_ref is not None else None
    changed = git.changed_files(repo.root, base_sha, head_sha)
    if not changed:
        return []
    with tempfile.TemporaryDirectory(prefix="llmops-affected-") as tmp:
        sides = [repo]
        for label, sha in (("base", base_sha), ("head", head_sha)):
            if sha is None:
                continue
            tree = Path(tmp) / label
            git.export_tree(repo.root, sha, tree)
            sides.append(Repository(tree))
        if head_sha is not None:
            sides = sides[1:]  # the working tree plays no part when both sides are commits
        found = impacts(sides, changed)
    return environments_of(found.values(), repo.config.environment_names())
