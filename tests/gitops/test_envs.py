from __future__ import annotations

from pathlib import Path

import yaml
from testing.repos import git


def test_envs_lists_the_three_environments_in_promotion_order(cli, gitops_repo: Path) -> None:
    result = cli("envs", "--repo", gitops_repo, "--format", "json")
    assert result.code == 0, result.err
    envs = result.json()
    assert [e["name"] for e in envs] == ["dev", "staging", "production"]
    apps = {e["name"]: e["applications"][0] for e in envs}
    assert apps["dev"]["name"] == "llmops-dev"
    assert apps["dev"]["sync"] == "automated (prune, selfHeal)"
    assert apps["staging"]["sync"] == "manual"
    assert apps["production"]["sync"] == "manual"
    assert apps["production"]["overlay"] == "deploy_model/overlays/production"
    assert apps["production"]["namespace"] == "llmops-prod"


def test_envs_table_shows_sync_policies(cli, gitops_repo: Path) -> None:
    result = cli("envs", "--repo", gitops_repo)
    assert result.code == 0
    assert "automated (prune, selfHeal)" in result.out
    assert (
        result.out.index("llmops-dev")
        < result.out.index("llmops-staging")
        < result.out.index("llmops-production")
    )


def test_promotion_order_comes_from_the_config_file(cli, gitops_repo: Path) -> None:
    (gitops_repo / "llmops.yaml").write_text(
        yaml.safe_dump(
            {"environments": [{"name": "production", "sync": "manual"}, {"name": "dev", "sync": "automated"}]}
        )
    )
    git(gitops_repo, "commit", "-qam", "reorder")
    envs = cli("envs", "--repo", gitops_repo, "-o", "json").json()
    assert [e["name"] for e in envs] == ["production", "dev"]
    result = cli("envs", "--repo", gitops_repo)
    assert "llmops-staging" in result.err  # ignored Application is reported, not silently dropped


def test_defaults_apply_without_a_config_file(cli, gitops_repo: Path) -> None:
    (gitops_repo / "llmops.yaml").unlink()
    envs = cli("envs", "--repo", gitops_repo, "-o", "json").json()
    assert [e["name"] for e in envs] == ["dev", "staging", "production"]


def test_repo_defaults_to_the_repository_of_the_current_directory(
    cli, gitops_repo: Path, monkeypatch
) -> None:
    monkeypatch.chdir(gitops_repo / "deploy_model" / "overlays")
    envs = cli("envs", "-o", "json").json()
    assert len(envs) == 3
