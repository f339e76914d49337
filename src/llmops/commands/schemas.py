"""``llmops schemas import|pull|list``: the CRD schema catalog used by ``llmops validate``."""

from __future__ import annotations

from pathlib import Path

import yaml

from llmops.cluster import crds as crdpull
from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops import manifests
from llmops.gitops.repo import Repository
from llmops.validation import catalog as schemas


def catalog_dir(repo: Repository, catalog: Path | None) -> Path:
    return catalog if catalog is not None else repo.root / repo.config.validate_.schemas


def _report(written: list[Path], skipped: list[str], where: Path) -> None:
    for note in skipped:
        console.stderr.print(f"[yellow]skipped[/] {console.safe(note)}")
    for file in written:
        console.plain(f"wrote {file.name}")
    console.stderr.print(f"{len(written)} schema(s) in {where}")


def run_import(repo: Repository, sources: list[Path], *, catalog: Path | None = None) -> int:
    where = catalog_dir(repo, catalog)
    written: list[Path] = []
    skipped: list[str] = []
    for source in sources:
        entries, notes = schemas.read_crds(source)
        written += schemas.write_entries(where, entries)
        skipped += notes
    _report(written, skipped, where)
    return 0


def run_pull(
    repo: Repository,
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    groups: list[str] | None = None,
    catalog: Path | None = None,
) -> int:
    where = catalog_dir(repo, catalog)
    entries: list[schemas.CatalogEntry] = []
    for crd in crdpull.list_crds(kubeconfig, context):
        group = str(((crd.get("spec") or {}).get("group")) or "") if isinstance(crd, dict) else ""
        if groups and group not in groups:
            continue
        name = (crd.get("metadata") or {}).get("name", "?") if isinstance(crd, dict) else "?"
        entries += schemas.entries_from_crd({"kind": "CustomResourceDefinition", **crd}, f"CRD {name}")
    if not entries:
        raise UsageError(
            "the cluster serves no matching CustomResourceDefinition",
            hint="check --group, or the account's permission to list CRDs",
        )
    _report(schemas.write_entries(where, entries), [], where)
    return 0


def run_list(repo: Repository, *, catalog: Path | None = None, fmt: str = "table") -> int:
    """Every CRD kind with a schema, and where it comes from (built-in, or the repository's catalog)."""
    from llmops.validation.builtin_schemas import provenance

    where = catalog_dir(repo, catalog)
    origins = schemas.SchemaSet(where, repo.config.validate_.kubernetes_version).origins
    shipped = provenance()
    rows = []
    for o in origins:
        upstream = shipped.get((o.api_version, o.kind))
        source = upstream.describe() if o.origin == schemas.BUILTIN and upstream else _rel(repo, o.file)
        origin = o.origin + (" (overrides built-in)" if o.overrides_builtin else "")
        rows.append({"apiVersion": o.api_version, "kind": o.kind, "origin": origin, "source": source})
    if fmt == "table":
        _list_table(rows)
    else:
        console.plain(manifests.dump_json(rows) if fmt == "json" else yaml.safe_dump(rows, sort_keys=False))
    own = sum(1 for o in origins if o.origin == schemas.REPOSITORY)
    console.stderr.print(
        f"{len(origins)} CRD schema(s): {len(origins) - own} built-in, {own} from {where}; "
        "core kinds come from kubernetes-validate"
    )
    return 0


def _rel(repo: Repository, file: Path) -> str:
    try:
        return str(file.relative_to(repo.root))
    except ValueError:
        return str(file)


def _list_table(rows: list[dict[str, str]]) -> None:
    from rich.table import Table

    table = Table(title="CRD schemas used by llmops validate", title_justify="left")
    for column in ("API version", "kind", "origin", "source"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["apiVersion"], row["kind"], row["origin"], row["source"])
    console.stdout.print(table)
