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

import posixpath
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmops import git
from llmops.repo import Repository

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Keys whose entries are paths (files or kustomization folders).
_PATH_LISTS = (
    "resources",
    "bases",
    "components",
    "configurations",
    "crds",
    "generators",
    "transformers",
    "validators",
    "patchesStrategicMerge",
)
# Keys whose entries are mappings with a ``path``.
_PATH_MAPPINGS = ("patches", "patchesJson6902", "replacements")
_REMOTE_MARKERS = ("://", "github.com/", "gitlab.com/", "bitbucket.org/", "git@", "?ref=", "?version=")


@dataclass(frozen=True)
class Dependencies:
    """The files one overlay's render depends on, relative to the repository root."""

    files: frozenset[str]
    # Set when something outside the repository is used, so files alone cannot tell.
    external: str | None = None


@dataclass(frozen=True)
class Impact:
    """Why one Application is affected by a change."""

    app: str
    environment: str
    files: tuple[str, ...]  # changed files it depends on
    reason: str  # a sentence for people


def _is_remote(entry: str) -> bool:
    return any(marker in entry for marker in _REMOTE_MARKERS)


def _kustomization_file(folder: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _generator_paths(generators: Any) -> Iterable[str]:
    for gen in generators if isinstance(generators, list) else []:
        if not isinstance(gen, dict):
            continue
        for entry in gen.get("files") or []:
            if isinstance(entry, str):
                yield entry.split("=", 1)[-1]
        for entry in gen.get("envs") or []:
            if isinstance(entry, str):
                yield entry
        if isinstance(gen.get("env"), str):
            yield gen["env"]


def _entries(doc: dict[str, Any]) -> tuple[list[str], str | None]:
    """Path entries named by one kustomization, and why it is external (if it is)."""
    out: list[str] = []
    for key in _PATH_LISTS:
        for entry in doc.get(key) or []:
            # Inline patches (a YAML string with a newline) and inline plugin configs are not paths.
            if isinstance(entry, str) and "\n" not in entry:
                out.append(entry)
    for key in _PATH_MAPPINGS:
        for entry in doc.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                out.append(entry["path"])
    out.extend(_generator_paths(doc.get("configMapGenerator")))
    out.extend(_generator_paths(doc.get("secretGenerator")))
    openapi = doc.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        out.append(openapi["path"])
    if doc.get("helmCharts") or doc.get("helmChartInflationGenerator"):
        return out, "it inflates Helm charts"
    return out, None


def overlay_dependencies(root: Path, overlay: str) -> Dependencies:
    """Every file the kustomization at ``overlay`` reads, followed through folders it names."""
    files: set[str] = set()
    external: str | None = None
    seen: set[str] = set()
    stack = [posixpath.normpath(overlay)]
    while stack:
        rel = stack.pop()
        if rel in seen:
            continue
        seen.add(rel)
        kfile = _kustomization_file(root / rel)
        if kfile is None:
            # Missing here (perhaps present at the other side of a diff): the folder's
            # kustomization is still what the render depends on.
            files.update(posixpath.join(rel, name) for name in KUSTOMIZATION_FILES)
            continue
        files.add(posixpath.normpath(posixpath.join(rel, kfile.name)))
        try:
            doc = yaml.safe_load(kfile.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            external = external or f"{rel}/{kfile.name} cannot be read as YAML"
            continue
        if not isinstance(doc, dict):
            continue
        entries, why = _entries(doc)
        external = external or why
        for entry in entries:
            if _is_remote(entry):
                external = external or f"it uses the remote resource {entry}"
                continue
            target = posixpath.normpath(posixpath.join(rel, entry))
            if target == ".." or target.startswith("../"):
                external = external or f"it reads {entry}, outside the repository"
                continue
            if (root / target).is_dir():
                stack.append(target)
            else:
                files.add(target)
    return Dependencies(frozenset(files), external)


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
