"""The objects the fake cluster holds are real: they validate against Argo CD's, the argocd-operator's,
KServe's and OpenShift's own CRD schemas (strictly: unknown fields are errors)."""

from __future__ import annotations

from pathlib import Path

import pytest
from testing import argocd, kube
from testing.argocd import APPLICATIONS, APPPROJECTS, ARGOCDS, ISVCS, NS, ROUTES, AppState

from llmops.validation import catalog


@pytest.fixture
def schemas(shared_dir: Path, tmp_path: Path) -> catalog.SchemaSet:
    where = tmp_path / "catalog"
    for file in (
        "argocd/application-crd.yaml", "argocd/appproject-crd.yaml",
        "argocd-operator/argoproj.io_argocds.yaml", "kserve/serving.kserve.io_inferenceservices.yaml",
        "openshift/routes.crd.yaml",
    ):  # fmt: skip
        entries, _ = catalog.read_crds(shared_dir / "crds" / file)
        catalog.write_entries(where, entries)
    return catalog.SchemaSet(where)


def test_argo_cd_and_kserve_objects_match_their_crds(
    schemas: catalog.SchemaSet, cluster: kube.Running, our_repo: Path
) -> None:
    head = argocd.revisions(our_repo, 2)
    running = {"operation": {"sync": {"revision": head[1]}, "initiatedBy": {"username": "alice"}},
               "phase": "Running", "message": "syncing", "startedAt": "2026-11-20T10:00:00Z"}  # fmt: skip
    argocd.deployed(
        cluster.api, our_repo,
        {"dev": AppState(history=[(1, head[0]), (2, head[1])]),
         "production": AppState(health="Progressing", history=[(1, head[0])], operation=running,
                                exposed=False)},
    )  # fmt: skip
    objects = [
        cluster.api.get(APPLICATIONS, NS, "llmops-dev"),
        cluster.api.get(APPLICATIONS, NS, "llmops-production"),
        cluster.api.get(APPPROJECTS, NS, "llmops"),
        cluster.api.get(ARGOCDS, NS, "openshift-gitops"),
        cluster.api.get(ISVCS, "llmops-dev", "dev-qwen25-05b-instruct"),
        cluster.api.get(ISVCS, "llmops-prod", "prod-qwen25-05b-instruct"),
        cluster.api.get(ROUTES, "llmops-dev", "dev-qwen25-05b-instruct"),
    ]
    for obj in objects:
        assert obj is not None
        found = schemas.violations(obj)
        assert found is not None, f"no schema for {obj['kind']}"
        assert found == [], f"{obj['kind']} {obj['metadata']['name']}: {[v.dotted for v in found]}"
