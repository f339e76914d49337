"""The schema catalog shipped inside llmops, so strict checks work on a repository with no catalog.

It holds the CRDs this field deploys (KServe, Argo CD and its operator, Tekton Pipelines
and Triggers, Pipelines-as-Code, the OpenShift Route) as the same compact JSON files a
repository's own catalog holds (:mod:`llmops.validation.catalog`), in the package folder
``validation/data/schemas/``, beside a manifest, ``SOURCES.json``, that records for each
entry the CRD file it came from, the upstream repository, path and commit, and the CRD
file's SHA-256.

The folder is made by :func:`import_folder` from a folder of real CRDs with a
``SOURCES.md`` table (the project's ``../shared/crds``), through
``scripts/import_builtin_schemas.py``; a test checks that the shipped files equal a
fresh import. A repository's catalog extends it and overrides it per API version and
kind.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from llmops.support.files import atomic_write_text
from llmops.validation.catalog import BUILTIN_DIR, CatalogEntry, SchemaError, read_crds, write_entries

MANIFEST = "SOURCES.json"
SOURCES_TABLE = "SOURCES.md"


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where one built-in schema comes from."""

    api_version: str
    kind: str
    file: str  # the catalog file name
    crd: str  # the CRD file, relative to the imported folder
    repository: str  # upstream owner/name
    path: str  # the CRD's path in that repository
    commit: str  # the upstream commit the CRD file was read from
    sha256: str  # of the CRD file

    def describe(self) -> str:
        return f"{self.repository} {self.path} @ {self.commit[:12]}"


@cache
def provenance() -> dict[tuple[str, str], Provenance]:
    """(apiVersion, kind) -> where the shipped schema comes from (empty when none is shipped)."""
    try:
        body = json.loads((BUILTIN_DIR / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[tuple[str, str], Provenance] = {}
    for row in body.get("entries") or []:
        item = Provenance(
            api_version=row["apiVersion"],
            kind=row["kind"],
            file=row["file"],
            crd=row["crd"],
            repository=row["repository"],
            path=row["path"],
            commit=row["commit"],
            sha256=row["sha256"],
        )
        out[(item.api_version, item.kind)] = item
    return out


# -- making the folder ------------------------------------------------------------------------

_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*`([^`]+)`\s*\|\s*`([0-9a-f]{40})`")


def read_sources_table(text: str) -> dict[str, tuple[str, str, str]]:
    """``SOURCES.md`` rows: local file -> (repository, upstream path, commit)."""
    table: dict[str, tuple[str, str, str]] = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            local, repository, path, commit = match.groups()
            table[local] = (repository.strip("` "), path, commit)
    return table


def _provenance_rows(crds: Path, entries_by_file: dict[Path, list[CatalogEntry]]) -> list[dict[str, str]]:
    try:
        table = read_sources_table((crds / SOURCES_TABLE).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaError(
            f"{crds / SOURCES_TABLE} is missing: the built-in catalog records where each CRD comes from",
            hint="add a SOURCES.md table (local file, repository, upstream path, commit) beside the CRDs",
        ) from exc
    rows: list[dict[str, str]] = []
    for file, entries in sorted(entries_by_file.items()):
        local = file.relative_to(crds).as_posix()
        if local not in table:
            raise SchemaError(f"{local} has no row in {crds / SOURCES_TABLE}", hint="record its source there")
        repository, path, commit = table[local]
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        source = {"crd": local, "repository": repository, "path": path, "commit": commit, "sha256": digest}
        rows += [{"apiVersion": e.api_version, "kind": e.kind, "file": e.filename, **source} for e in entries]
    return sorted(rows, key=lambda r: r["file"])


def import_folder(crds: Path, dest: Path) -> list[Path]:
    """Import every CRD under ``crds`` into ``dest`` with its provenance manifest; returns the files."""
    entries_by_file: dict[Path, list[CatalogEntry]] = {}
    for file in sorted(p for p in crds.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()):
        entries, _ = read_crds(file)
        entries_by_file[file] = entries
    rows = _provenance_rows(crds, entries_by_file)
    written = write_entries(dest, [e for entries in entries_by_file.values() for e in entries])
    manifest = {
        "about": "Built-in CRD schemas of llmops; made by scripts/import_builtin_schemas.py. Do not edit.",
        "entries": rows,
    }
    target = dest / MANIFEST
    atomic_write_text(target, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    provenance.cache_clear()
    return [*written, target]
