"""``llmops schemas import|pull|list``: the CRD schema catalog used by ``llmops validate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmops.cluster import crds as crdpull
from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops.repo import Repository
from llmops.validation import catalog as schemas

if TYPE_CHECKING:
    from rich.console import Console


def catalog_dir(repo: Repository, catalog: Path | None) -> Path:
    return catalog if catalog is not None else repo.root / repo.config.validate_.schemas


def _report(
    written: list[Path],
    before: set[Path],
    skipped: list[str],
    where: Path,
    fmt: str,
    output_file: Path | None,
) -> None:
    """What this run wrote (new or replaced entries), told apart from what the catalog holds now."""
    for note in skipped:
        console.note(f"[yellow]skipped[/] {console.safe(note)}")
    total = len(schemas.entry_files(where))
    new = [f for f in written if f not in before]
    data = {
        "catalog": str(where),
        "written": [f.name for f in written],
        "new": len(new),
        "replaced": len(written) - len(new),
        "skipped": skipped,
        "catalog_size": total,
    }
    console.emit(
        data,
        fmt,
        output_file=output_file,
        human=lambda out: out.print("\n".join(f"wrote {console.safe(f.name)}" for f in written)),
    )
    console.note(
        f"wrote {len(written)} schema(s) ({len(new)} new, {len(written) - len(new)} replaced); "
        f"the catalog {console.safe(where)} now holds {total}"
    )


def run_import(
    repo: Repository,
    sources: list[Path],
    *,
    catalog: Path | None = None,
    fmt: str = "text",
    output_file: Path | None = None,
) -> int:
    where = catalog_dir(repo, catalog)
    before = set(schemas.entry_files(where))
    entries: list[schemas.CatalogEntry] = []
    skipped: list[str] = []
    for source in sources:
        found, notes = schemas.read_crds(source)
        entries += found
        skipped += notes
    _report(schemas.write_entries(where, entries), before, skipped, where, fmt, output_file)
    return 0


def run_pull(
    repo: Repository,
    *,
    kubeconfig: Path | None = None,
    context: str | None = None,
    groups: list[str] | None = None,
    catalog: Path | None = None,
    fmt: str = "text",
    output_file: Path | None = None,
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
    before = set(schemas.entry_files(where))
    _report(schemas.write_entries(where, entries), before, [], where, fmt, output_file)
    return 0


def run_list(
    repo: Repository, *, catalog: Path | None = None, fmt: str = "table", output_file: Path | None = None
) -> int:
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
    console.emit(rows, fmt, output_file=output_file, human=lambda out: _list_table(rows, out))
    own = sum(1 for o in origins if o.origin == schemas.REPOSITORY)
    folder = console.escape(str(where))
    console.note(
        f"{len(origins)} CRD schema(s): {len(origins) - own} built-in, {own} from {folder}; "
        "core kinds come from kubernetes-validate"
    )
    return 0


def _rel(repo: Repository, file: Path) -> str:
    try:
        return str(file.relative_to(repo.root))
    except ValueError:
        return str(file)


def _list_table(rows: list[dict[str, str]], out: Console) -> None:
    table = console.table("CRD schemas used by llmops validate", ["API version", "kind", "origin", "source"])
    for row in rows:
        table.add_row(*(console.safe(row[k]) for k in ("apiVersion", "kind", "origin", "source")))
    out.print(table)
