"""``llmops schemas import|pull|list``: the CRD schema catalog used by ``llmops validate``."""

from __future__ import annotations

from pathlib import Path

from llmops.cluster import crds as crdpull
from llmops.commands import console
from llmops.errors import UsageError
from llmops.gitops.repo import Repository
from llmops.validation import catalog as schemas


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
        console.note(f"[yellow]skipped[/] {note}")
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
        human=lambda out: out.print("\n".join(f"wrote {f.name}" for f in written), markup=False),
    )
    console.note(
        f"wrote {len(written)} schema(s) ({len(new)} new, {len(written) - len(new)} replaced); "
        f"the catalog {where} now holds {total}"
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


def run_list(repo: Repository, *, catalog: Path | None = None) -> int:
    where = catalog_dir(repo, catalog)
    found = schemas.SchemaSet(where, repo.config.validate_.kubernetes_version).crd_kinds
    for api, kind in found:
        console.plain(f"{api}\t{kind}")
    console.stderr.print(f"{len(found)} CRD schema(s) in {where}; core kinds come from kubernetes-validate")
    return 0
