"""RBAC objects are checked for what they grant (the case that used to pass with 0 errors)."""

from __future__ import annotations

from pathlib import Path

from testing.repos import edit

from llmops.gitops.repo import Repository
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import run

BASE = Path("deploy_model/base")
OPEN_DOOR = """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: everything
rules:
  - apiGroups: ["*"]
    resources: ["*"]
    verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: everyone
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: everything
subjects:
  - kind: Group
    name: system:authenticated
  - kind: Group
    name: system:unauthenticated
"""


def test_a_wildcard_role_bound_to_everyone_fails_the_gate(gitops_repo: Path) -> None:
    (gitops_repo / BASE / "rbac.yaml").write_text(OPEN_DOOR, encoding="utf-8")
    edit(
        gitops_repo / BASE / "kustomization.yaml",
        "  - inferenceservice.yaml\n",
        "  - inferenceservice.yaml\n  - rbac.yaml\n",
    )
    report = run(Repository(gitops_repo), REGISTRY, environments=["dev"])
    assert report.exit_code == 1
    dev = [f for f in report.findings if f.environment == "dev" and f.rule.startswith("rbac.")]
    by_rule = {r: [f for f in dev if f.rule == r] for r in {f.rule for f in dev}}
    assert len(by_rule["rbac.wildcard"]) == 3  # verbs, resources and apiGroups
    assert [f.message.split(" (")[0] for f in by_rule["rbac.everyone"]] == [
        "RoleBinding/dev-everyone binds system:authenticated",
        "RoleBinding/dev-everyone binds system:unauthenticated",
    ]
    # The workloads' ServiceAccounts are members of system:authenticated: they can read Secrets.
    assert by_rule["rbac.secret-access"]
    assert all(f.file == "deploy_model/base/rbac.yaml" and f.line for f in dev)


def test_the_reference_setup_grants_only_what_argo_cd_needs(gitops_repo: Path) -> None:
    report = run(Repository(gitops_repo), REGISTRY)
    assert [f for f in report.findings if f.rule.startswith("rbac.")] == []
