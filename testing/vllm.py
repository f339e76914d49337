"""Start and stop a real vLLM (CPU build) on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

START_DEADLINE_S = 240.0


class VllmStartError(AssertionError):
    """vLLM exited or did not answer /health in time; the message holds its log tail."""


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


def launch(
    model_dir: Path, workdir: Path, flags: list[str], env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start vLLM in its own session; returns (process, base URL, log file)."""
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


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, log: Path, deadline_s: float = START_DEADLINE_S
) -> None:
    """Poll /health until it answers 200; raise VllmStartError with the log tail otherwise."""
    deadline = time.monotonic() + deadline_s
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise VllmStartError(f"vLLM exited with {proc.returncode} while starting:\n{tail}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise VllmStartError(f"vLLM did not answer /health within {deadline_s:.0f}s; log: {log}")
        time.sleep(0.5)


def stop(proc: subprocess.Popen[bytes]) -> None:
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
