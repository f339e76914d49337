"""Shared fixtures: real git repositories in tmp dirs, copied from this reference repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REFERENCE_PARTS = (
    "deploy_model", "argocd", "setup", "llmops.yaml", ".yamllint", "schemas", "pipelines", ".tekton",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _isolate_user_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the real $HOME, kubeconfig or git identity."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(home / "no-such-kubeconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "llmops tests")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tests@llmops.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "llmops tests")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tests@llmops.invalid")
    monkeypatch.delenv("LLMOPS_KUSTOMIZE", raising=False)
    monkeypatch.delenv("LLMOPS_DEBUG", raising=False)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def init_repo(path: Path) -> Path:
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def gitops_repo(tmp_path: Path) -> Path:
    """A fresh git repository holding a copy of the reference GitOps content."""
    repo = tmp_path / "gitops"
    repo.mkdir()
    for part in REFERENCE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, repo / part)
        else:
            shutil.copy(src, repo / part)
    return init_repo(repo)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)

    def yaml(self) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.out) if d]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run the llmops CLI in-process and capture its output."""

    def run(*args: str | os.PathLike[str]) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared project material is needed for this test")
    yield SHARED
