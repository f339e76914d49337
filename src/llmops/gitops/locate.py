"""Where a rendered field came from: file:line:column in the repository's YAML.

kustomize output carries no source positions, so a finding on a rendered resource
is traced back by identity: the documents of the same kind whose name matches
the rendered name (overlays add prefixes and suffixes) in the kustomization's
folders, the overlay's own files first (their values win in the render). The
first document that holds the field path gives the position; files are parsed
lazily, only when a finding needs a location.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from llmops.errors import ManifestError
from llmops.gitops import manifests
from llmops.gitops.kustomize_tree import closure, resource_files


@dataclass(frozen=True)
class Location:
    file: str  # relative to the repository root
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


@dataclass(frozen=True)
class _Doc:
    file: Path
    kind: str
    name: str
    node: yaml.MappingNode


def _scalar(node: yaml.Node | None) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def _child(node: yaml.Node, key: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node or item node, value node) for one path step, or None."""
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        for k, v in node.value:
            if _scalar(k) == key:
                return k, v
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        item = node.value[key]
        return item, item
    return None


def _docs_of(file: Path) -> list[_Doc]:
    try:
        text = manifests.read_text(file)  # within the YAML budget: the file may be hostile
        nodes = list(yaml.compose_all(text, Loader=manifests.Loader))
    except (ManifestError, yaml.YAMLError):
        return []
    docs = []
    for node in nodes:
        if not isinstance(node, yaml.MappingNode):
            continue
        kind = _child(node, "kind")
        meta = _child(node, "metadata")
        name = _child(meta[1], "name") if meta else None
        docs.append(_Doc(file, _scalar(kind[1]) if kind else "", _scalar(name[1]) if name else "", node))
    return docs


class SourceIndex:
    """Lazily parsed YAML documents of a repository, for tracing findings to lines."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._docs: dict[Path, list[_Doc]] = {}
        self._closures: dict[Path, list[Path]] = {}

    def _file_docs(self, file: Path) -> list[_Doc]:
        if file not in self._docs:
            self._docs[file] = _docs_of(file)
        return self._docs[file]

    def _files(self, directory: Path) -> list[Path]:
        if directory not in self._closures:
            files: list[Path] = []
            for folder in closure(directory):
                files.extend(sorted(p for p in folder.glob("*.y*ml") if p.is_file()))
                files.extend(f for f in resource_files(folder) if f not in files)  # e.g. tasks/x.yaml
            self._closures[directory] = files
        return self._closures[directory]

    def rel(self, file: Path) -> str:
        try:
            return str(file.relative_to(self.root))
        except ValueError:
            return str(file)

    def locate(self, source: Path, kind: str, name: str, path: tuple[str | int, ...] = ()) -> Location | None:
        """Position of ``path`` inside the resource ``kind``/``name`` rendered from ``source``.

        ``source`` is a kustomization folder (searched with its bases) or a single file.
        """
        candidates = self._candidates(source, kind, name)
        if not candidates:
            return None
        best: tuple[int, yaml.Node, _Doc] | None = None
        for doc in candidates:
            depth, node = self._walk(doc.node, path)
            if depth == len(path):
                return self._at(doc.file, node)
            if best is None or depth > best[0]:
                best = (depth, node, doc)
        assert best is not None
        return self._at(best[2].file, best[1])

    def defined_in(self, source: Path, kind: str, name: str, path: tuple[str | int, ...]) -> Location | None:
        """Where ``path`` of ``kind``/``name`` is written, the overlay's own files first; None when
        no source document holds the whole path (the value comes from kustomize or a default)."""
        for doc in self._candidates(source, kind, name):
            depth, node = self._walk(doc.node, path)
            if depth == len(path):
                return self._at(doc.file, node)
        return None

    def _candidates(self, source: Path, kind: str, name: str) -> list[_Doc]:
        """Source documents of ``kind`` named ``name``, then those whose name is part of it."""
        files = [source] if source.is_file() else self._files(source)
        docs = [d for file in files for d in self._file_docs(file) if d.kind == kind and d.name]
        exact = [d for d in docs if d.name == name]
        return exact + [d for d in docs if d.name != name and d.name in name]

    @staticmethod
    def _walk(node: yaml.Node, path: tuple[str | int, ...]) -> tuple[int, yaml.Node]:
        depth, here, shown = 0, node, node
        for step in path:
            found = _child(here, step)
            if found is None:
                break
            shown, here = found
            depth += 1
        return depth, shown

    def _at(self, file: Path, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.rel(file), mark.line + 1, mark.column + 1)

    def key_location(self, file: Path, path: tuple[str | int, ...]) -> Location:
        """Position of ``path`` in the first document of ``file`` (e.g. a kustomization's namespace)."""
        docs = [d.node for d in self._file_docs(file)]
        if not docs:
            return self.file_location(file)
        depth, node = self._walk(docs[0], path)
        return self._at(file, node) if depth else self.file_location(file)

    def file_location(self, file: Path, line: int | None = None, column: int | None = None) -> Location:
        return Location(self.rel(file), line, column)
