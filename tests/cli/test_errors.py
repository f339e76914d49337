"""Bad input: one clear line, a non-zero exit, no traceback unless --debug."""

from __future__ import annotations

from pathlib import Path

import pytest
from testing.repos import git


def _one_error(result) -> str:
    assert "Traceback" not in result.err
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), result.err
    return lines[0]


def test_unknown_environment_lists_the_known_ones(cli, gitops_repo: Path) -> None:
    result = cli("render", "qa", "--repo", gitops_repo)
    assert result.code == 2
    assert "'qa'" in _one_error(result)
    assert "dev, staging, production" in result.err


def test_not_a_git_repository(cli, tmp_path: Path) -> None:
    result = cli("envs", "--repo", tmp_path)
    assert result.code == 2
    assert "not inside a git repository" in _one_error(result)


def test_missing_repo_path(cli, tmp_path: Path) -> None:
    result = cli("envs", "--repo", tmp_path / "nope")
    assert result.code == 2
    assert "does not exist" in _one_error(result)


def test_missing_overlay_names_the_path(cli, gitops_repo: Path) -> None:
    import shutil

    shutil.rmtree(gitops_repo / "deploy_model" / "overlays" / "staging")
    result = cli("render", "staging", "--repo", gitops_repo)
    assert result.code == 2
    assert "overlays/staging does not exist" in _one_error(result)


def test_kustomize_error_is_reported_in_one_line(cli, gitops_repo: Path) -> None:
    kust = gitops_repo / "deploy_model" / "overlays" / "dev" / "kustomization.yaml"
    kust.write_text(kust.read_text().replace("- path: environment.yaml", "- path: missing-patch.yaml"))
    result = cli("render", "dev", "--repo", gitops_repo)
    assert result.code == 2
    line = _one_error(result)
    assert "kustomize failed" in line and "missing-patch.yaml" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("environments: [dev, staging", "not valid YAML"),
        ("environments:\n  - name: dev\n    sync: sometimes\n", "environments.0.sync"),
        ("enviroments: []\n", "enviroments"),
        ("- just\n- a list\n", "must be a mapping"),
        ("environments:\n  - name: dev\n  - name: dev\n", "repeated: dev"),
    ],
)
def test_malformed_config_names_the_problem(cli, gitops_repo: Path, content: str, expected: str) -> None:
    (gitops_repo / "llmops.yaml").write_text(content)
    result = cli("envs", "--repo", gitops_repo)
    assert result.code == 2
    assert expected in _one_error(result)


def test_malformed_application_manifest_gives_file_and_line(cli, gitops_repo: Path) -> None:
    (gitops_repo / "argocd" / "applications" / "broken.yaml").write_text("kind: Application\nmetadata: [\n")
    result = cli("envs", "--repo", gitops_repo)
    assert result.code == 2
    assert "broken.yaml:" in _one_error(result)


def test_debug_shows_the_traceback(cli, gitops_repo: Path) -> None:
    result = cli("--debug", "render", "qa", "--repo", gitops_repo)
    assert result.code == 2
    assert "Traceback" in result.err


def test_bad_kustomize_override(cli, gitops_repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("LLMOPS_KUSTOMIZE", "/nonexistent/kustomize")
    result = cli("render", "dev", "--repo", gitops_repo)
    assert result.code == 2
    assert "LLMOPS_KUSTOMIZE" in _one_error(result)


def test_environment_without_application(cli, gitops_repo: Path) -> None:
    (gitops_repo / "argocd" / "applications" / "llmops-staging.yaml").unlink()
    git(gitops_repo, "commit", "-qam", "drop staging app")
    result = cli("render", "staging", "--repo", gitops_repo)
    assert result.code == 2
    assert "has no Argo CD Application" in _one_error(result)


def test_unknown_output_format_is_a_usage_error(cli, gitops_repo: Path) -> None:
    assert cli("render", "dev", "-o", "xml", "--repo", gitops_repo).code == 2
