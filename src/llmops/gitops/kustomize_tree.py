"""The static shape of kustomizations: what an overlay reads, without running kustomize.

Reads ``kustomization.yaml`` files only, following every resource, component, patch,
generator input and configuration they name. Used to find the overlays a changed
file affects (:mod:`llmops.gitops.affected`), the folders behind an overlay (tracing
validation findings to source lines) and every kustomization of a repository.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmops.gitops import manifests

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


def overlay_dependencies(root: Path, overlay: str) -> Dependencies:
    """Every file the kustomization at ``overlay`` reads, followed through folders it names."""
    files: set[str] = set()
    external: str | None = None
    seen: list[str] = []
    stack = [posixpath.normpath(overlay)]
    while stack:
        rel = stack.pop(0)
        if rel in seen:
            continue
        seen.append(rel)
        kfile = kustomization_file(root / rel)
        if kfile is None:
            # Missing here (perhaps present at the other side of a diff): the folder's
            # kustomization is still what the render depends on.
            files.update(posixpath.join(rel, name) for name in KUSTOMIZATION_FILES)
            continue
        files.add(posixpath.normpath(posixpath.join(rel, kfile.name)))
        try:
            doc = yaml.load(kfile.read_text(encoding="utf-8"), Loader=manifests.Loader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            external = external or f"{rel}/{kfile.name} cannot be read as YAML"
            continue
        if not isinstance(doc, dict):
            continue
        entries, why = _entries(doc)
        outside = _follow(root, rel, entries, files, stack)
        external = external or why or outside
    return Dependencies(frozenset(files), external, tuple(seen))


def _follow(root: Path, rel: str, entries: list[str], files: set[str], folders: list[str]) -> str | None:
    """Sort the entries of the kustomization at ``rel`` into ``files`` and ``folders`` (to visit).

    Returns why the kustomization is external (its first remote or out-of-repository entry).
    """
    external: str | None = None
    for entry in entries:
        if _is_remote(entry):
            external = external or f"it uses the remote resource {entry}"
            continue
        target = posixpath.normpath(posixpath.join(rel, entry))
        if target == ".." or target.startswith("../"):
            external = external or f"it reads {entry}, outside the repository"
            continue
        if (root / target).is_dir():
            folders.append(target)
        else:
            files.add(target)
    return external


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
