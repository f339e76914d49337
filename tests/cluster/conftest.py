"""A fake OpenShift cluster (kmock's Kubernetes emulator, testing/kube.py) for the cluster tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from testing import argocd, kube
from testing.repos import commit, edit

OUR_REPO = "https://github.com/acme/llmops-gitops.git"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[kube.Running]:
    """A fake API server with OpenShift GitOps, OpenShift AI and a GPU node; KUBECONFIG points at it."""
    with kube.running() as running:
        argocd.openshift(running.api)
        config = kube.write_kubeconfig(tmp_path / "kubeconfig", running.url)
        monkeypatch.setenv("KUBECONFIG", str(config))
        yield running


@pytest.fixture
def our_repo(gitops_repo: Path) -> Path:
    """The reference repository pointed at a real repository URL (not the placeholder)."""
    for rel in (
        "argocd/applications/llmops-dev.yaml", "argocd/applications/llmops-staging.yaml",
        "argocd/applications/llmops-production.yaml", "argocd/project.yaml",
    ):  # fmt: skip
        edit(gitops_repo / rel, "https://github.com/your-org/llmops.git", OUR_REPO)
    commit(gitops_repo, "Deploy from our repository")
    return gitops_repo
