"""Rollouts, verification and automatic rollback with real vLLM (CPU build, the demo model), real git,
kustomize and the Lua health check, on the reference repository with dev set to RollingUpdate and a
5 s verification window. One engine for the module; the steps build on each other:

1. dev's first deploy passes verification;
2. a release change under RollingUpdate (KServe's 600 s progress deadline): a chat loop
   (streamed and not) sees no failed request;
3. a commit whose vLLM cannot start: the old one keeps answering, the operation fails with vLLM's
   own error line, dev rolls back by itself (no new vLLM: the old one is already what runs) and holds;
4. a commit whose PostSync smoke fails rolls back by itself and is not retried;
5. Recreate: the gap it leaves is recorded.

vLLM starts: three real ones (steps 1, 2, 5) and two that fail at argument parsing (step 3).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testing.chatloop import ChatLoop
from testing.cli import CliResult
from testing.engine import EngineProcess, change, start_engine, wait_for
from testing.repos import commit, edit, reference_repo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
for _module in ("vllm", "torch", "transformers"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"{_module} is not installed: rollouts need the serve extra", allow_module_level=True)

Cli = Callable[..., CliResult]
START = 420.0
DEV = "llmops-dev"
MODEL = "dev-qwen25-05b-instruct"
RELEASE = "deploy_model/overlays/dev/release.yaml"
ENVIRONMENT = "deploy_model/overlays/dev/environment.yaml"


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("rollouts-home")
    with pytest.MonkeyPatch.context() as patch:
        for var, sub in (("HOME", ""), ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache"),
                         ("XDG_CONFIG_HOME", ".config")):  # fmt: skip
            patch.setenv(var, str(home / sub))
        patch.setenv("KUBECONFIG", str(home / "no-such-kubeconfig"))
        patch.setenv("LLMOPS_STATE_DIR", str(home / "engine-state"))
        for who in ("AUTHOR", "COMMITTER"):
            patch.setenv(f"GIT_{who}_NAME", "llmops tests")
            patch.setenv(f"GIT_{who}_EMAIL", "tests@llmops.invalid")
        yield home


@pytest.fixture(scope="module")
def repo(module_home: Path) -> Path:
    path = reference_repo(module_home / "gitops")
    edit(
        path / ENVIRONMENT,
        "    deploymentStrategy:\n      type: Recreate\n",
        "    deploymentStrategy:\n      type: RollingUpdate\n",
    )
    automated = "    sync: automated   # Argo CD syncs on every commit, prunes, and reverts drift\n"
    edit(path / "llmops.yaml", automated, automated + "    verification: {window_s: 5}\n")
    commit(path, "tests: dev rolls out with RollingUpdate, 5 s verification")
    return path


@pytest.fixture(scope="module")
def engine(repo: Path, module_home: Path) -> Iterator[EngineProcess]:
    running = start_engine(repo, module_home / "engine")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def _same_state_dir(module_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_STATE_DIR", str(module_home / "engine-state"))


def _history(engine: EngineProcess) -> list[dict[str, Any]]:
    return list(engine.get(f"/applications/{DEV}/history")["items"])


def _entry(engine: EngineProcess, sha: str, kind: str = "sync") -> dict[str, Any] | None:
    return next(
        (h for h in reversed(_history(engine)) if h["revision"]["sha"] == sha and h["kind"] == kind), None
    )


def _verified(engine: EngineProcess, sha: str, verdict: str = "Passed", kind: str = "sync") -> dict[str, Any]:
    return wait_for(
        lambda: ((e := _entry(engine, sha, kind)) is not None and e["verification"] == verdict and e) or None,
        START,
        f"{kind} of {sha[:8]} verification {verdict}",
    )


def _pid(engine: EngineProcess) -> int:
    (proc,) = [p for p in engine.status(DEV)["extra"]["processes"] if not p["rolling_in"]]
    return int(proc["pid"])


def test_rollouts_verification_and_automatic_rollback(engine: EngineProcess, repo: Path, cli: Cli) -> None:
    # 1. dev's first deploy: Healthy, then Healthy for the 5 s window: verification passed.
    first = engine.wait_status(DEV, "first deploy", lambda s: s["health_status"] == "Healthy", START)
    _verified(engine, first["desired_revision"]["sha"])
    url = engine.endpoint("dev")
    old_pid = _pid(engine)

    # 2. RollingUpdate: the new vLLM starts beside the old one; no request fails, streamed or not.
    loop = ChatLoop(url, MODEL).start()
    wait_for(lambda: len(loop.outcomes) >= 4, 120, "the chat loop running")
    good = change(repo, RELEASE, "--max-num-seqs=64", "--max-num-seqs=32", "dev: fewer sequences")
    _verified(engine, good)
    time.sleep(2)  # a few requests on the new process too
    loop.stop()
    assert loop.failures == [], [f.detail for f in loop.failures[:5]]
    assert len(loop.outcomes) >= 20 and {o.streamed for o in loop.outcomes} == {True, False}
    status = engine.status(DEV)
    assert _pid(engine) != old_pid
    (rollout,) = status["extra"]["rollouts"]
    assert rollout["strategy"] == "RollingUpdate" and rollout["phase"] == "Succeeded"
    assert rollout["ready_to_switched_ms"] < 1000
    serving_pid = _pid(engine)

    # 3. vLLM cannot start: the old one keeps answering; the operation fails with vLLM's own error line;
    #    dev rolls back by itself (auto_rollback is on for automated environments) and is held.
    edit(
        repo / ENVIRONMENT,
        "    openshift.io/display-name: Qwen2.5 0.5B Instruct (dev)\n",
        "    openshift.io/display-name: Qwen2.5 0.5B Instruct (dev)\n"
        "    serving.knative.dev/progress-deadline: 60s\n",
    )  # a shorter wait than KServe's 600 s for a vLLM that will not start
    bad = change(
        repo, RELEASE, "--max-num-seqs=32", "--max-num-seqs=32\n        - --no-such-flag", "dev: a typo"
    )
    failed = _verified(engine, bad, "Failed")
    assert failed["result"] == "Failed"
    assert "ProgressDeadlineExceeded" in failed["message"] and "no-such-flag" in failed["message"]
    assert "the previous vLLM keeps serving" in failed["message"]
    back = _verified(engine, good, "Passed", kind="rollback")
    assert back["initiator"] == "auto-rollback" and "failed verification" in back["reason"]
    assert _pid(engine) == serving_pid  # the same process answered throughout
    assert ChatLoop(url, MODEL)._one(__import__("httpx").Client(timeout=60), False).ok
    held = engine.wait_status(DEV, "held", lambda s: any(n.startswith("held at ") for n in s["notes"]))
    assert f"held at {good[:8]} - {bad[:8]} failed verification" in " ".join(held["notes"])
    assert held["sync_status"] == "OutOfSync"  # Git says otherwise; the engine leaves it alone
    shown = cli("--repo", repo, "history", "dev")
    assert "auto-rollback" in shown.out and "Failed" in shown.out

    # 4. A failing PostSync smoke (a model name the endpoint does not serve): verification fails, dev
    #    rolls back by itself, and the failed revision is not retried.
    edit(repo / RELEASE, "        - --no-such-flag\n", "")
    smoke = change(
        repo,
        "deploy_model/base/smoke-job.yaml",
        "- --model=$(MODEL)",
        "- --model=$(MODEL)-typo",
        "smoke: wrong model",
    )
    failed = _verified(engine, smoke, "Failed")
    assert "PostSync" in failed["verification_message"]
    back = wait_for(
        lambda: next(
            (h for h in _history(engine)[-1:] if h["kind"] == "rollback" and h["id"] > failed["id"]), None
        ),
        START,
        "the auto-rollback after the smoke failure",
    )
    assert back["initiator"] == "auto-rollback"
    time.sleep(8)  # Argo CD's first retry would come after 5 s: none may
    attempts = [h for h in _history(engine) if h["revision"]["sha"] == smoke and h["kind"] == "sync"]
    assert len(attempts) == 1 and attempts[0]["message"].count("Retrying") == 0
    assert _pid(engine) == serving_pid

    # 5. Recreate: the old vLLM stops first; the gap is recorded (docs/performance.md has figures).
    edit(repo / "deploy_model/base/smoke-job.yaml", "- --model=$(MODEL)-typo", "- --model=$(MODEL)")
    edit(repo / ENVIRONMENT, "      type: RollingUpdate\n", "      type: Recreate\n")
    loop = ChatLoop(url, MODEL).start()
    wait_for(lambda: len(loop.outcomes) >= 4, 120, "the chat loop running")
    recreate = change(repo, RELEASE, "--max-num-seqs=32", "--max-num-seqs=16", "dev: Recreate")
    _verified(engine, recreate)
    loop.stop()
    (rollout,) = engine.status(DEV)["extra"]["rollouts"]
    assert rollout["strategy"] == "Recreate" and rollout["unavailable_s"] > 0
    assert loop.failures and all("503" in f.detail for f in loop.failures)
    failed_n, total = len(loop.failures), len(loop.outcomes)
    print(f"Recreate: {failed_n} of {total} requests failed; gap {loop.gap_s():.1f} s")
