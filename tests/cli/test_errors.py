"""Bad input: one clear line, a non-zero exit, no traceback unless --debug."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testing.repos import git


def _one_error(result) -> str:
    """The one ``error:`` line, after checking the shape: error line, hint line, no traceback."""
    assert "Traceback" not in result.err
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), result.err
    assert len([ln for ln in lines if ln.startswith("error:")]) == 1, result.err
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


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_wherever_it_is_written(cli, gitops_repo: Path, where: str) -> None:
    args = ["render", "qa", "--repo", str(gitops_repo)]
    result = cli(*(["--debug", *args] if where == "before" else [*args, "--debug"]))
    assert result.code == 2
    assert "Traceback" in result.err and "UsageError" in result.err
    assert "error: unknown environment or application 'qa'" in result.err


@pytest.mark.parametrize(("value", "traceback"), [("1", True), ("0", False), ("", False), ("false", False)])
def test_llmops_debug_variable_is_read_one_way(
    cli, gitops_repo: Path, monkeypatch, value: str, traceback: bool
) -> None:
    monkeypatch.setenv("LLMOPS_DEBUG", value)
    result = cli("render", "qa", "--repo", gitops_repo)
    assert result.code == 2
    assert ("Traceback" in result.err) is traceback


def test_a_bug_writes_a_crash_report_and_says_where(tmp_path: Path, capsys, monkeypatch) -> None:
    import click

    from llmops.cli.boundary import dispatch

    argv = ["llmops", "smoke", "--url", "http://alice:s3cret@host", "--token", "tok"]
    monkeypatch.setattr("sys.argv", argv)

    def buggy() -> int:
        return {}["missing"]  # a KeyError: a bug, not a user error

    with pytest.raises(click.exceptions.Exit) as stop:
        dispatch(False, buggy)
    assert stop.value.exit_code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("internal error: KeyError: 'missing'")
    report = Path(err.split("a crash report is in ", 1)[1].split(";", 1)[0])
    # in the user's cache folder (here the test's own XDG_CACHE_HOME), never in the working tree
    assert report.is_file() and report.is_relative_to(os.environ["XDG_CACHE_HOME"])
    text = report.read_text()
    assert "llmops 0.1.0 crash report" in text and "platform:" in text
    assert "Traceback" in text and "KeyError" in text and "buggy" in text
    # the command is there, its secrets are not
    assert "command: llmops smoke --url http://***@host --token ***" in text
    assert "s3cret" not in text and "--token tok" not in text


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
    result = cli("render", "dev", "-o", "xml", "--repo", gitops_repo)
    assert result.code == 2
    line = _one_error(result)
    assert "'xml'" in line and "--output" in line
    assert "hint: see `llmops render --help`" in result.err


def test_global_options_may_follow_the_verb(cli, gitops_repo: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # not a repository: only --repo can point at one
    before = cli("--repo", gitops_repo, "envs", "-o", "json")
    after = cli("envs", "-o", "json", "--repo", gitops_repo)
    short = cli("envs", "-C", gitops_repo, "-o", "json")
    assert before.code == after.code == short.code == 0
    assert before.json() == after.json() == short.json()
    assert [e["name"] for e in after.json()] == ["dev", "staging", "production"]
