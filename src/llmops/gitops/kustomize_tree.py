"""The static shape of kustomizations: what an overlay reads, without running kustomize.

Reads ``kustomization.yaml`` files only, following every resource, component, patch,
generator input and configuration they name. Used to find the overlays a changed
file affects (:mod:`llmops.gitops.affected`), the folders behind an overlay (tracing
validation findings to source lines) and every kustomization of a repository.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import ManifestError
from llmops.gitops import manifests
from llmops.support.files import escape_reason

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


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
    # The kustomization folders visited, the overlay first.
    folders: tuple[str, ...] = ()
    # Entries that lead out of the repository ("../..", absolute paths, symbolic links), with why.
    outside: tuple[str, ...] = ()
    # Remote entries (URLs, git repositories) kustomize would fetch.
    remote: tuple[str, ...] = ()
    # Kustomization files over the YAML budget (refused unread), with why.
    over_budget: tuple[str, ...] = ()


def _is_remote(entry: str) -> bool:
    return any(marker in entry for marker in _REMOTE_MARKERS)


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


@dataclass
class _Walk:
    """What :func:`overlay_dependencies` collects while it follows one overlay."""

    files: set[str] = field(default_factory=set)
    seen: list[str] = field(default_factory=list)
    external: str | None = None
    outside: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    over_budget: list[str] = field(default_factory=list)


def _note(found: list[str], text: str) -> None:
    if text not in found:
        found.append(text)


def _load(path: Path, shown: str) -> Any:
    return manifests.safe_load(manifests.read_text(path, shown), shown)


def _visit(root: Path, rel: str, walk: _Walk, stack: list[str]) -> None:
    """Read the kustomization at ``rel`` and queue the folders it names."""
    why = escape_reason(root, rel)
    if why is not None:
        _note(walk.outside, f"{rel} ({why})")
        walk.external = walk.external or f"it reads {rel}, outside the repository"
        return
    kfile = kustomization_file(root / rel)
    if kfile is None:
        # Missing here (perhaps present at the other side of a diff): the folder's
        # kustomization is still what the render depends on.
        walk.files.update(posixpath.join(rel, name) for name in KUSTOMIZATION_FILES)
        return
    shown = posixpath.normpath(posixpath.join(rel, kfile.name))
    walk.files.add(shown)
    try:
        doc = _load(kfile, shown)
    except manifests.YamlBudgetError as exc:
        _note(walk.over_budget, exc.message)
        walk.external = walk.external or f"{shown} is over the YAML budget"
        return
    except (ManifestError, yaml.YAMLError):
        walk.external = walk.external or f"{shown} cannot be read as YAML"
        return
    if not isinstance(doc, dict):
        return
    entries, helm = _entries(doc)
    walk.external = walk.external or helm
    _follow(root, rel, entries, walk, stack)


def overlay_dependencies(root: Path, overlay: str) -> Dependencies:
    """Every file the kustomization at ``overlay`` reads, followed through folders it names."""
    walk = _Walk()
    stack = [posixpath.normpath(overlay)]
    while stack:
        rel = stack.pop(0)
        if rel in walk.seen:
            continue
        walk.seen.append(rel)
        _visit(root, rel, walk, stack)
    return Dependencies(
        frozenset(walk.files),
        walk.external,
        tuple(walk.seen),
        outside=tuple(walk.outside),
        remote=tuple(walk.remote),
        over_budget=tuple(walk.over_budget),
    )


def _follow(root: Path, rel: str, entries: list[str], walk: _Walk, folders: list[str]) -> None:
    """Sort the entries of the kustomization at ``rel`` into files and folders (to visit).

    Remote entries and entries that leave the repository are noted; the first makes
    the overlay external (its render cannot be judged from files).
    """
    for entry in entries:
        if _is_remote(entry):
            _note(walk.remote, entry)
            walk.external = walk.external or f"it uses the remote resource {entry}"
            continue
        target = posixpath.normpath(posixpath.join(rel, entry))
        if target == ".." or target.startswith("../") or posixpath.isabs(entry):
            _note(walk.outside, f"{rel}: {entry} (it points outside the repository)")
            walk.external = walk.external or f"it reads {entry}, outside the repository"
            continue
        why = escape_reason(root, target)
        if why is not None:
            _note(walk.outside, f"{rel}: {entry} ({why})")
            walk.external = walk.external or f"it reads {entry}, outside the repository"
            continue
        if (root / target).is_dir():
            folders.append(target)
        else:
            walk.files.add(target)


def secret_values(root: Path, folders: Iterable[str]) -> set[str]:
    """Values a secretGenerator of these kustomization folders holds (literals and env files).

    kustomize quotes them in some error messages; :mod:`llmops.gitops.kustomize` removes them.
    A literal without ``=`` (malformed) counts whole: it is probably a value.
    """
    found: set[str] = set()
    for rel in folders:
        kfile = kustomization_file(root / rel)
        if kfile is None or escape_reason(root, kfile) is not None:
            continue
        try:
            doc = _load(kfile, f"{rel}/{kfile.name}")
        except (ManifestError, yaml.YAMLError):
            continue
        gens = doc.get("secretGenerator") if isinstance(doc, dict) else None
        for gen in gens if isinstance(gens, list) else []:
            if isinstance(gen, dict):
                found |= _generator_secrets(root, rel, gen)
    return found


def _generator_secrets(root: Path, rel: str, gen: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for literal in gen.get("literals") or []:
        if isinstance(literal, str):
            found.add(literal)
            found.add(literal.partition("=")[2] or literal)
    envs = [e for e in (gen.get("envs") or []) if isinstance(e, str)]
    if isinstance(gen.get("env"), str):
        envs.append(gen["env"])
    for env in envs:
        path = posixpath.normpath(posixpath.join(rel, env))
        if escape_reason(root, path) is not None:
            continue
        try:
            text = manifests.read_text(root / path, path)
        except ManifestError:
            continue
        for line in text.splitlines():
            key, eq, value = line.partition("=")
            if eq and not key.lstrip().startswith("#"):
                found.add(value.strip())
    return found


def resource_files(folder: Path) -> list[Path]:
    """The YAML files a kustomization folder names itself (``resources:`` in sub-folders included)."""
    kfile = kustomization_file(folder)
    if kfile is None:
        return []
    try:
        doc = yaml.load(kfile.read_text(encoding="utf-8"), Loader=manifests.Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    entries, _ = _entries(doc) if isinstance(doc, dict) else ([], None)
    found = [(folder / e).resolve() for e in entries if not _is_remote(e) and e.endswith((".yaml", ".yml"))]
    return sorted(f for f in found if f.is_file())


def closure(directory: Path) -> list[Path]:
    """The kustomization folder and every local folder it pulls in, itself first (absolute paths)."""
    here = directory.resolve()
    root = Path(here.anchor)
    deps = overlay_dependencies(root, here.relative_to(root).as_posix())
    return [root / folder for folder in deps.folders]


@dataclass(frozen=True, kw_only=True)
class ImageEntry:
    """One entry of a kustomization's ``images:`` list, and where it is written."""

    file: str  # relative to the repository root
    line: int  # 1-based line of the entry
    name: str  # the image name manifests use
    new_name: str | None
    digest: str | None

    @property
    def renders_as(self) -> str:
        """The image name (without tag or digest) this entry makes rendered manifests show."""
        return self.new_name or self.name


def image_entries(root: Path, folder: str) -> list[ImageEntry]:
    """The ``images:`` entries of the kustomization at ``folder`` and of every folder it pulls in."""
    out: list[ImageEntry] = []
    for rel in overlay_dependencies(root, folder).folders:
        kfile = kustomization_file(root / rel)
        if kfile is None:
            continue
        try:
            node = yaml.compose(kfile.read_text(encoding="utf-8"), Loader=manifests.Loader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        for entry in _image_nodes(node):
            values = {k.value: v.value for k, v in entry.value if isinstance(v, yaml.ScalarNode)}
            if isinstance(values.get("name"), str):
                out.append(
                    ImageEntry(
                        file=posixpath.join(rel, kfile.name),
                        line=entry.start_mark.line + 1,
                        name=values["name"],
                        new_name=values.get("newName"),
                        digest=values.get("digest"),
                    )
                )
    return out


def _image_nodes(node: yaml.Node | None) -> list[yaml.MappingNode]:
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "images" and isinstance(value, yaml.SequenceNode):
            return [n for n in value.value if isinstance(n, yaml.MappingNode)]
    return []
