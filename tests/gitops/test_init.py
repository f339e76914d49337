"""`llmops init`: a commented llmops.yaml from what a repository holds, and the example layout."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml
from testing.cli import CliResult
from testing.repos import commit, edit, git, init_repo, line_of

RELEASE_PATHS = ["spec.predictor.model.image", "spec.predictor.model.storageUri", "spec.predictor.model.args"]


def _without_config(repo: Path) -> Path:
    (repo / "llmops.yaml").unlink()
    shutil.rmtree(repo / "schemas", ignore_errors=True)
    commit(repo, "a repository that never heard of llmops")
    return repo


def test_init_then_validate_gives_strict_schema_findings_without_a_catalog(
    gitops_repo: Path, cli: Callable[..., CliResult]
) -> None:
    repo = _without_config(gitops_repo)
    result = cli("init", "--repo", repo)
    assert result.code == 0, result.err
    assert "wrote llmops.yaml" in result.err
    config = yaml.safe_load((repo / "llmops.yaml").read_text())
    assert config["environments"] == [
        {"name": "dev", "sync": "automated"},
        {"name": "staging", "sync": "manual"},
        {"name": "production", "sync": "manual"},
    ]
    assert config["applications"] == ["argocd/applications"]
    assert config["release"] == {
        "file": "release.yaml",
        "fields": [{"kind": "InferenceService", "path": p} for p in RELEASE_PATHS],
    }
    assert config["validate"]["paths"] == [  # every folder holding YAML, then llmops.yaml
        ".tekton",
        "argocd",
        "ci",
        "components",
        "deploy_model",
        "pipelines",
        "policies",
        "setup",
        "llmops.yaml",
    ]
    assert "found by label" in (repo / "llmops.yaml").read_text()
    # The known real-world defect: `labels:` at the top level of a ServingRuntime.
    runtime = repo / "deploy_model/base/servingruntime.yaml"
    edit(runtime, "metadata:\n", "labels:\n  team: a\nmetadata:\n", count=1)
    report = cli("validate", "--repo", repo, "-o", "json").json()
    unknown = [f for f in report["findings"] if f["rule"] == "schema.unknown-field"]
    assert {(f["environment"], f["file"], f["line"]) for f in unknown} == {
        (env, "deploy_model/base/servingruntime.yaml", line_of(runtime, "labels:"))
        for env in ("dev", "staging", "production")
    }
    assert not [f for f in report["findings"] if f["rule"] == "schema.unknown-kind"]


def test_init_reads_overlay_folders_and_name_suffixes_and_proposes_an_order(
    gitops_repo: Path, cli: Callable[..., CliResult]
) -> None:
    repo = _without_config(gitops_repo)
    apps = repo / "argocd/applications"
    for env in ("dev", "staging", "production"):
        edit(apps / f"llmops-{env}.yaml", f"    llmops.io/environment: {env}\n", "")
    # Environments from overlay folders (ordered by the stage word in their names).
    git(repo, "mv", "deploy_model/overlays/production", "deploy_model/overlays/live-eu")
    edit(apps / "llmops-production.yaml", "overlays/production", "overlays/live-eu")
    edit(apps / "llmops-production.yaml", "name: llmops-production", "name: llmops-prod")
    (repo / "clusters").mkdir()
    git(repo, "mv", "argocd/applications/llmops-staging.yaml", "clusters/llmops-staging.yaml")
    edit(repo / "argocd/kustomization.yaml", "  - applications/llmops-staging.yaml\n", "")
    result = cli("init", "--repo", repo, "--dry-run", "-o", "json")
    assert result.code == 0, result.err
    plan = result.json()
    assert [e["name"] for e in plan["environments"]] == ["dev", "staging", "live-eu"]
    found = {a["name"]: (a["environment"], a["found_by"]) for a in plan["applications"]}
    assert found["llmops-dev"] == ("dev", "overlay folder")
    assert found["llmops-prod"] == ("live-eu", "overlay folder")
    assert not (repo / "llmops.yaml").exists()  # --dry-run writes nothing
    config = yaml.safe_load(plan["files"]["llmops.yaml"])
    assert config["applications"] == ["argocd/applications", "clusters"]
    # Folders that do not name a stage: the name suffix decides.
    git(repo, "mv", "deploy_model/overlays/live-eu", "deploy_model/overlays/eu")
    edit(apps / "llmops-production.yaml", "overlays/live-eu", "overlays/eu")
    edit(apps / "llmops-production.yaml", "path: deploy_model/overlays/eu", "path: deploy_model/eu-west")
    git(repo, "mv", "deploy_model/overlays/eu", "deploy_model/eu-west")
    plan = cli("init", "--repo", repo, "--dry-run", "-o", "json").json()
    assert [e["name"] for e in plan["environments"]] == ["dev", "staging", "prod"]
    assert {a["name"]: a["found_by"] for a in plan["applications"]}["llmops-prod"] == "name suffix"


def test_init_never_replaces_a_different_llmops_yaml_without_force(
    gitops_repo: Path, cli: Callable[..., CliResult]
) -> None:
    before = (gitops_repo / "llmops.yaml").read_text()
    refused = cli("init", "--repo", gitops_repo)
    assert refused.code == 2
    assert refused.out.startswith("--- a/llmops.yaml\n+++ b/llmops.yaml\n")  # the diff comes first
    assert refused.err.splitlines()[0] == (
        "error: llmops.yaml already exist(s) and differ(s) from what init proposes (diff above)"
    )
    assert "--force" in refused.err and (gitops_repo / "llmops.yaml").read_text() == before
    forced = cli("init", "--repo", gitops_repo, "--force")
    assert forced.code == 0 and "replaced llmops.yaml" in forced.err
    assert "-  floating_revisions:" in forced.out
    again = cli("init", "--repo", gitops_repo)
    assert again.code == 0 and "nothing to write" in again.err


def test_init_example_writes_a_layout_that_validate_passes(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    folder = tmp_path / "new-gitops"
    folder.mkdir()
    result = cli("init", "--example", "--repo", folder)
    assert result.code == 0, result.err
    assert (folder / "deploy_model/overlays/production/release.yaml").is_file()
    assert (folder / "argocd/applications/llmops-dev.yaml").is_file()
    init_repo(folder)
    report = cli("validate", "--repo", folder, "-o", "json")
    assert report.code == 0, report.out
    assert report.json()["summary"]["errors"] == 0
    envs = cli("envs", "--repo", folder, "-o", "json").json()
    assert [(e["name"], len(e["applications"])) for e in envs] == [
        ("dev", 1),
        ("staging", 1),
        ("production", 1),
    ]
    # The layout promotes like the reference repository.
    assert cli("promote", "dev", "staging", "--repo", folder, "--dry-run").code == 0
    # Run again on the same folder: nothing to write; after an edit: refused without --force.
    assert "nothing to write" in cli("init", "--example", "--repo", folder).err
    edit(folder / "llmops.yaml", "  - name: dev\n", "  - name: dev\n    # mine\n")
    assert cli("init", "--example", "--repo", folder).code == 2
