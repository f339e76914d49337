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


def run_list(repo: Repository, *, catalog: Path | None = None) -> int:
    where = catalog_dir(repo, catalog)
    found = schemas.SchemaSet(where, repo.config.validate_.kubernetes_version).crd_kinds
    for api, kind in found:
        console.plain(f"{api}\t{kind}")
    console.stderr.print(f"{len(found)} CRD schema(s) in {where}; core kinds come from kubernetes-validate")
    return 0
