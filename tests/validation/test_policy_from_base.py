"""`validate --policy-from BASE` (and `--changed-only --base`): a pull request cannot relax its own gate.

Each test commits the reference repository as the base branch, then makes the change a pull
request would make, in the working tree, and validates it both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testing.repos import edit, line_of

REPO_URL = "https://github.com/your-org/llmops.git"
FORK = "https://github.com/attacker/fork.git"


def findings(result: Any, prefix: str = "") -> list[dict[str, Any]]:
    return [f for f in result.json()["findings"] if f["rule"].startswith(prefix)]


def retarget(repo: Path) -> None:
    """The change that passed before: Applications and the AppProject moved to another repository together."""
    edit(repo / "argocd/project.yaml", REPO_URL, FORK)
    for env in ("dev", "staging", "production"):
        edit(repo / f"argocd/applications/llmops-{env}.yaml", REPO_URL, FORK)


def test_a_change_that_widens_the_appproject_with_its_applications_fails_against_the_base(
    cli, gitops_repo: Path
) -> None:
    retarget(gitops_repo)
    own = cli("validate", "--repo", gitops_repo, "-o", "json")
    assert own.code == 0  # judged by its own AppProject, the change looks fine
    judged = cli("validate", "--repo", gitops_repo, "--policy-from", "main", "-o", "json")
    assert judged.code == 1
    repos = findings(judged, "security.allowed-repos")
    assert len(repos) == 3 and all(FORK in f["message"] for f in repos)
    (widened,) = findings(judged, "policy.appproject")
    assert widened["message"] == f'AppProject/llmops widens spec.sourceRepos: adds "{FORK}"'
    assert widened["file"] == "argocd/project.yaml" and widened["severity"] == "warning"
    assert judged.json()["policy_from"].startswith("main (")


def test_changed_only_takes_the_policy_from_its_base(cli, gitops_repo: Path) -> None:
    retarget(gitops_repo)
    result = cli("validate", "--repo", gitops_repo, "--changed-only", "--base", "main", "-o", "json")
    assert result.code == 1
    assert findings(result, "security.allowed-repos")
    assert "gate settings from main" in result.err


def test_relaxed_rules_and_limits_in_llmops_yaml_do_not_apply_to_the_change_itself(
    cli, gitops_repo: Path
) -> None:
    edit(
        gitops_repo / "deploy_model/base/servingruntime.yaml",
        "        runAsNonRoot: true\n",
        "        runAsNonRoot: true\n        privileged: true\n",
    )
    config = gitops_repo / "llmops.yaml"
    config.write_text(
        config.read_text()
        + "    security.privileged:\n      disabled: true\n      reason: the GPU needs it\n"
        + "limits:\n  kustomize_memory_mib: 65536\n",
        encoding="utf-8",
    )
    assert cli("validate", "--repo", gitops_repo, "-o", "json").code == 0
    judged = cli("validate", "--repo", gitops_repo, "--policy-from", "main", "-o", "json")
    assert judged.code == 1
    assert {f["environment"] for f in findings(judged, "security.privileged")} == {
        "dev",
        "staging",
        "production",
    }
    messages = sorted(f["message"] for f in findings(judged, "policy.config"))
    assert messages[0].startswith("llmops.yaml: limits.kustomize_memory_mib changes from 1024 to 65536")
    assert messages[1].startswith(
        'llmops.yaml: validate.rules.security.privileged changes from (unset) to {"severity": null'
    )


def test_a_new_suppression_is_shown_to_the_reviewer(cli, gitops_repo: Path) -> None:
    runtime = gitops_repo / "deploy_model/base/servingruntime.yaml"
    edit(runtime, "        runAsNonRoot: true\n", "        runAsNonRoot: true\n        privileged: true\n")
    edit(
        runtime,
        "  annotations:\n    openshift.io/display-name",
        '  annotations:\n    llmops.io/suppress: "security.privileged: needed"\n'
        "    openshift.io/display-name",
    )
    # ...and a suppression set for a whole overlay through kustomize
    kfile = gitops_repo / "deploy_model/overlays/production/kustomization.yaml"
    kfile.write_text(
        kfile.read_text() + 'commonAnnotations:\n  llmops.io/suppress: "security.image-digest: later"\n',
        encoding="utf-8",
    )
    judged = cli("validate", "--repo", gitops_repo, "--policy-from", "main", "-o", "json")
    new = findings(judged, "policy.suppression")
    new.sort(key=lambda f: f["file"])
    assert [(f["file"], f["line"]) for f in new] == [
        ("deploy_model/base/servingruntime.yaml", line_of(runtime, "llmops.io/suppress")),
        ("deploy_model/overlays/production/kustomization.yaml", kfile.read_text().count("\n")),
    ]
    assert "ServingRuntime/vllm-runtime gains a suppression of security.privileged" in new[0]["message"]
    assert "gains a suppression of security.image-digest" in new[1]["message"]
    # An existing suppression (the smoke Job's) moved or untouched is not news.
    assert not any("smoke-job" in (f["file"] or "") for f in new)


def test_changes_to_the_pipeline_and_the_schema_catalog_are_reported(cli, gitops_repo: Path) -> None:
    pipeline = gitops_repo / "pipelines/tasks/llmops-validate.yaml"
    edit(pipeline, "        - --changed-only\n", "")
    # A catalog folder of the repository's own overrides the built-in schema: an empty one would
    # let anything through.
    (gitops_repo / "schemas").mkdir()
    schema = gitops_repo / "schemas/serving.kserve.io_v1beta1_InferenceService.json"
    schema.write_text(
        '{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "schema": {}}\n'
    )
    lint = gitops_repo / ".yamllint"
    lint.write_text("extends: relaxed\n", encoding="utf-8")
    judged = cli("validate", "--repo", gitops_repo, "--policy-from", "main", "-o", "json")
    assert [f["file"] for f in findings(judged, "policy.pipeline")] == [
        ".yamllint",
        "pipelines/tasks/llmops-validate.yaml",
    ]
    assert [f["file"] for f in findings(judged, "policy.schemas")] == [
        "schemas/serving.kserve.io_v1beta1_InferenceService.json"
    ]
    # The base's catalog still judges the InferenceService: a wrong type is still found.
    edit(gitops_repo / "deploy_model/overlays/dev/environment.yaml", "minReplicas: 1", "minReplicas: one")
    judged = cli("validate", "--repo", gitops_repo, "--policy-from", "main", "-e", "dev", "-o", "json")
    assert any("minReplicas" in f["message"] for f in findings(judged, "schema.invalid"))


def test_policy_rules_can_be_made_blocking_on_the_base_branch(cli, gitops_repo: Path) -> None:
    import subprocess

    config = gitops_repo / "llmops.yaml"
    config.write_text(
        config.read_text() + "    policy.appproject:\n      severity: error\n", encoding="utf-8"
    )
    subprocess.run(
        ["git", "-C", str(gitops_repo), "commit", "-qam", "policy: AppProject changes block"], check=True
    )
    dev = "    - server: https://kubernetes.default.svc\n      namespace: llmops-dev\n"
    edit(gitops_repo / "argocd/project.yaml", dev, "    - server: '*'\n      namespace: kube-system\n" + dev)
    judged = cli("validate", "--repo", gitops_repo, "--policy-from", "main", "-o", "json")
    assert judged.code == 1
    (widened,) = findings(judged, "policy.appproject")
    assert widened["severity"] == "error" and "spec.destinations" in widened["message"]


def test_an_invalid_base_configuration_is_a_clear_error(cli, gitops_repo: Path) -> None:
    import subprocess

    (gitops_repo / "llmops.yaml").write_text("validate:\n  nonsense: 1\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(gitops_repo), "commit", "-qam", "broken"], check=True)
    (gitops_repo / "llmops.yaml").write_text("{}\n", encoding="utf-8")
    result = cli("validate", "--repo", gitops_repo, "--policy-from", "HEAD")
    assert result.code == 2
    assert result.error_lines[0].startswith("error: the base revision HEAD's llmops.yaml is invalid")


def test_no_policy_finding_without_a_change_to_the_gate(cli, gitops_repo: Path) -> None:
    edit(
        gitops_repo / "deploy_model/overlays/dev/release.yaml", "--max-model-len=8192", "--max-model-len=4096"
    )
    judged = cli("validate", "--repo", gitops_repo, "--policy-from", "main", "-o", "json")
    assert judged.code == 0 and findings(judged, "policy.") == []
