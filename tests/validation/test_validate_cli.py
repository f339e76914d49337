"""`llmops validate` as a user runs it: exit codes, environment selection, --changed-only, bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from testing.repos import git

from llmops.commands import validate as validate_cmd
from llmops.gitops.repo import Repository


def test_reference_repository_passes(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 0, result.out
    assert "validate passed: 0 error(s)" in result.out
    assert "accepted in llmops.yaml" in result.out  # kept warnings show their justification


def test_errors_exit_1(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    release = gitops_repo / "deploy_model/overlays/production/release.yaml"
    release.write_text(release.read_text().replace("--max-model-len=8192", "--max-model-len=40000"))
    result = cli("validate", "--repo", gitops_repo, "--env", "production", "-o", "json")
    assert result.code == 1
    data = result.json()
    assert data["environments"] == ["production"]
    errors = [f["rule"] for f in data["findings"] if f["severity"] == "error" and f["suppressed"] is None]
    assert errors == ["serving.max-model-len"]


def test_unknown_environment_exits_2(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo, "--env", "qa")
    assert result.code == 2
    assert "unknown environment 'qa'" in result.err and "hint:" in result.err


def test_unreadable_config_exits_2_without_traceback(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    (gitops_repo / "llmops.yaml").write_text("validate:\n  rules: [oops\n")
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 2
    assert "llmops.yaml:" in result.err and "not valid YAML" in result.err
    assert "Traceback" not in result.err
    (gitops_repo / "llmops.yaml").write_text("validate:\n  rulez: {}\n")
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 2 and "validate.rulez" in result.err


def test_malformed_application_is_a_finding_not_a_crash(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    (gitops_repo / "argocd/applications/llmops-dev.yaml").write_text("kind: Application\nmetadata: [\n")
    result = cli("validate", "--repo", gitops_repo, "-o", "json")
    assert result.code == 1
    rules = {f["rule"] for f in result.json()["findings"] if f["severity"] == "error"}
    assert {"yaml.syntax", "build.applications", "build.kustomization"} <= rules


def test_changed_only_validates_the_affected_environment(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    git(gitops_repo, "branch", "base")
    release = gitops_repo / "deploy_model/overlays/staging/release.yaml"
    release.write_text(release.read_text().replace("--max-num-seqs=64", "--max-num-seqs=32"))
    git(gitops_repo, "commit", "-qam", "staging: fewer sequences")
    result = cli("validate", "--repo", gitops_repo, "--changed-only", "--base", "base", "-o", "json")
    assert result.code == 0, result.out
    assert result.json()["environments"] == ["staging"]
    assert "changed since base: staging" in result.err


def test_changed_base_affects_every_environment(gitops_repo: Path) -> None:
    git(gitops_repo, "branch", "base")
    rt = gitops_repo / "deploy_model/base/servingruntime.yaml"
    rt.write_text(rt.read_text() + "# touched\n")  # uncommitted work counts too
    assert validate_cmd.affected(Repository(gitops_repo), "base") == ["dev", "staging", "production"]


def test_changed_only_follows_the_files_a_change_touches(gitops_repo: Path) -> None:
    git(gitops_repo, "branch", "base")
    env = gitops_repo / "deploy_model/overlays/staging/environment.yaml"
    env.write_text(env.read_text().replace("maxReplicas: 2", "maxReplicas: 3"))
    assert validate_cmd.affected(Repository(gitops_repo), "base") == ["staging"]
    # a change to what validation reads (rule settings) re-validates everything
    cfg = gitops_repo / "llmops.yaml"
    cfg.write_text(cfg.read_text() + "\n# touched\n")
    assert validate_cmd.affected(Repository(gitops_repo), "base") == ["dev", "staging", "production"]


def test_changed_only_with_an_unknown_base_exits_2(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo, "--changed-only", "--base", "no-such-ref")
    assert result.code == 2
    assert "no-such-ref" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("fmt", ["json", "junit", "sarif", "github"])
def test_every_format_of_a_clean_run_exits_0(gitops_repo: Path, cli: Callable[..., Any], fmt: str) -> None:
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", fmt)
    assert result.code == 0
    assert result.out.strip()


def test_cached_lint_results_follow_file_edits(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    assert cli("validate", "--repo", gitops_repo, "--env", "dev").code == 0  # fills the cache
    cfg = gitops_repo / "deploy_model/base/kustomizeconfig.yaml"
    original = cfg.read_text()
    cfg.write_text(original + "# trailing   \n")
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "json")
    lint = [f for f in result.json()["findings"] if f["rule"] == "yaml.lint"]
    last_line = len((original + "# trailing   \n").splitlines())
    assert [f["location"] for f in lint] == [f"deploy_model/base/kustomizeconfig.yaml:{last_line}:11"]
    cfg.write_text(original)
    assert cli("validate", "--repo", gitops_repo, "--env", "dev").code == 0
