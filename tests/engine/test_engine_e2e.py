"""The whole flow of the original system on one machine: the reference repository served by the embedded
engine with real vLLM (CPU build, the demo model), real git, real kustomize, the real Lua health check.

One engine for the module; each step builds on the one before (as a person walks the demo), and each
says what it checks. vLLM starts are the cost (30-90 s each here), so the flow starts seven: dev's
first deploy and its new configuration, the restart after kill -9; staging's sync, the patched
argument, the new revision and the rollback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from testing.cli import CliResult
from testing.engine import EngineProcess, change, head_sha, start_engine, wait_for
from testing.repos import commit, reference_repo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
for _module in ("vllm", "torch", "transformers"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(
            f"{_module} is not installed: the engine's end-to-end test needs the serve extra",
            allow_module_level=True,
        )

Cli = Callable[..., CliResult]
START = 420.0  # one vLLM start under load, with margin
DEV, STAGING = "llmops-dev", "llmops-staging"


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's engine outlives each test's own isolated home: it gets one of its own, and a state
    directory named explicitly so the CLI in every step finds it."""
    home = tmp_path_factory.mktemp("e2e-home")
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
    for env in ("staging", "production"):  # a failing hook retries once, 2 s later (not 10 s x 5)
        app = path / "argocd" / "applications" / f"llmops-{env}.yaml"
        text = app.read_text().replace(
            "limit: 5\n      backoff:\n        duration: 10s",
            "limit: 1\n      backoff:\n        duration: 2s",
        )
        app.write_text(text)
    commit(path, "tests: shorter retries for staging and production")
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
    """Each step's CLI talks to the module's engine (the conftest isolates HOME per test)."""
    monkeypatch.setenv("LLMOPS_STATE_DIR", str(module_home / "engine-state"))


def _succeeded(sha: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(s: dict[str, Any]) -> bool:
        op = s["operation"]
        return op is not None and op["phase"] == "Succeeded" and (sha is None or op["revision"]["sha"] == sha)

    return check


def _process(status: dict[str, Any]) -> dict[str, Any]:
    (proc,) = status["extra"]["processes"]
    return dict(proc)


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _running_with(status: dict[str, Any], value: str) -> bool:
    """Healthy, and its one vLLM process runs with --max-num-seqs ``value``."""
    procs = status["extra"]["processes"]
    words = _cmdline(procs[0]["pid"]) if len(procs) == 1 else []
    flag = "--max-num-seqs"
    return status["health_status"] == "Healthy" and flag in words and words[words.index(flag) + 1] == value


def _chat(url: str, model: str) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
    response = httpx.post(url + "/v1/chat/completions", json=body, timeout=60)
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


def test_the_demo_flow_end_to_end(engine: EngineProcess, repo: Path, cli: Cli) -> None:
    # 1. dev syncs by itself and answers at its endpoint; staging and production wait for a person.
    dev = engine.wait_status(
        DEV, "first deploy Healthy", lambda s: _succeeded()(s) and s["health_status"] == "Healthy", START
    )
    assert dev["sync_status"] == "Synced" and "demo weights" in dev["notes"]
    hook = next(r for r in dev["operation"]["resources"] if r["hook_phase"] == "PostSync")
    assert hook["status"] == "Succeeded"  # the PostSync smoke Job ran llmops smoke against the local endpoint
    smoke = cli("--repo", repo, "smoke", "dev")
    assert smoke.code == 0, smoke.out + smoke.err
    for app in ("llmops-staging", "llmops-production"):
        waiting = engine.status(app)
        assert (waiting["sync_status"], waiting["health_status"], waiting["operation"]) == (
            "OutOfSync",
            "Missing",
            None,
        )
    first_dev_pid = _process(dev)["pid"]

    # 2. A commit to dev's overlay is deployed by itself: a new vLLM with the new argument.
    assert cli("--repo", repo, "sync", "staging", "--yes", "--reason", "first staging deploy").code == 0
    staging_first = head_sha(repo)
    sha = change(
        repo,
        "deploy_model/overlays/dev/release.yaml",
        "--max-num-seqs=64",
        "--max-num-seqs=32",
        "dev: fewer sequences",
    )
    dev = engine.wait_status(
        DEV,
        "the new commit deployed",
        lambda s: _succeeded(sha)(s) and s["health_status"] == "Healthy",
        START,
    )
    proc = _process(dev)
    assert proc["pid"] != first_dev_pid and _running_with(dev, "32")
    staging = engine.status(
        STAGING
    )  # staging's overlay did not change: still Synced at its deployed revision
    assert staging["sync_status"] == "Synced" and staging["revision"]["sha"] == staging_first
    history = cli("--repo", repo, "history", "staging", "-o", "json").json()
    assert [(h["result"], h["automated"], h["reason"]) for h in history] == [
        ("Succeeded", False, "first staging deploy")
    ]

    # 3. Drift: reverted in dev (selfHeal), reported in staging; a changed argument restarts vLLM with it.
    dev_before = len(engine.get(f"/applications/{DEV}/history")["items"])
    label = json.dumps({"metadata": {"annotations": {"openshift.io/display-name": "changed by hand"}}})
    assert (
        cli("--repo", repo, "patch", "dev", "InferenceService/dev-qwen25-05b-instruct", "-p", label).code == 0
    )
    engine.wait_status(
        DEV,
        "self-heal",
        lambda s: len(engine.get(f"/applications/{DEV}/history")["items"]) > dev_before and _succeeded()(s),
        START,
    )
    isvc = engine.objects(DEV)["InferenceService/dev-qwen25-05b-instruct"]
    assert isvc["metadata"]["annotations"]["openshift.io/display-name"] == "Qwen2.5 0.5B Instruct (dev)"
    assert _process(engine.status(DEV))["pid"] == proc["pid"]  # an annotation is not a new vLLM
    args = engine.objects(STAGING)["InferenceService/staging-qwen25-05b-instruct"]["spec"]["predictor"][
        "model"
    ]["args"]
    patch = json.dumps({"spec": {"predictor": {"model": {"args": [*args, "--max-num-seqs=16"]}}}})
    assert (
        cli(
            "--repo", repo, "patch", "staging", "InferenceService/staging-qwen25-05b-instruct", "-p", patch
        ).code
        == 0
    )
    staging = engine.wait_status(
        STAGING, "restarted with the patched argument", lambda s: _running_with(s, "16"), START
    )
    assert staging["sync_status"] == "OutOfSync"
    diff = cli("--repo", repo, "diff", "staging", "--live")
    assert (
        "~ InferenceService/staging-qwen25-05b-instruct: "
        "spec.predictor.model.args[4] --max-num-seqs=16 -> (none)" in diff.out
    )

    # 4. kill -9 of dev's vLLM is a health event: Degraded with the reason, then restarted. Once the
    # last deploy passed its verification window: a crash inside it fails the verification and rolls
    # dev back (tests/engine/test_engine_rollouts.py covers that).
    engine.wait_status(
        DEV,
        "the self-heal's verification passed",
        lambda s: (s["extra"]["verification"] or {}).get("verdict") == "Passed",
        120,
    )
    victim = _process(engine.status(DEV))["pid"]
    os.kill(victim, signal.SIGKILL)
    degraded = engine.wait_status(
        DEV, "Degraded after kill -9", lambda s: s["health_status"] == "Degraded", 30
    )
    assert "vLLM was killed by SIGKILL" in degraded["health_message"] and degraded["sync_status"] == "Synced"
    dev = engine.wait_status(DEV, "restarted", lambda s: s["health_status"] == "Healthy", START)
    assert _process(dev)["pid"] != victim and _process(dev)["restarts"] == 1

    # 5. A broken commit is a ComparisonError; the running vLLM keeps answering.
    kustomization = "deploy_model/overlays/dev/kustomization.yaml"
    change(
        repo,
        kustomization,
        "  - path: environment.yaml\n",
        "  - path: environment.yaml\n  - path: missing.yaml\n",
        "broken dev overlay",
    )
    broken = engine.wait_status(DEV, "ComparisonError", lambda s: bool(s["comparison_error"]), 60)
    assert broken["sync_status"] == "Unknown" and "missing.yaml" in broken["comparison_error"]
    assert _chat(engine.endpoint("dev"), "dev-qwen25-05b-instruct")  # the old process answers
    fixed = change(repo, kustomization, "  - path: missing.yaml\n", "", "fix dev overlay")
    # The fixed commit renders what already runs: Synced at once, no operation needed (as in Argo CD).
    engine.wait_status(
        DEV,
        "compared again",
        lambda s: s["desired_revision"]["sha"] == fixed and s["sync_status"] == "Synced",
        60,
    )
    assert engine.status(DEV)["operation"]["revision"]["sha"] != fixed

    # 6. A new staging revision is deployed by a person.
    newer = change(
        repo,
        "deploy_model/overlays/staging/release.yaml",
        "--max-num-seqs=64",
        "--max-num-seqs=48",
        "staging: 48 sequences",
    )
    synced = cli("--repo", repo, "sync", "staging", "--yes", "-o", "json")
    assert synced.code == 0 and synced.json()[0]["revision"]["sha"] == newer
    assert _running_with(engine.status(STAGING), "48")

    # 7. A failing PostSync hook fails the sync (its log says why); the deployment itself stays.
    typo = "deploy_model/overlays/staging/kustomization.yaml"
    change(
        repo, typo, "patches:\n",
        "patches:\n  - target: {kind: Job}\n    patch: |-\n      - op: replace\n"
        "        path: /spec/template/spec/containers/0/args/2\n        value: --model=no-such-model\n",
        "staging: a smoke test that cannot pass",
    )  # fmt: skip
    failed = cli("--repo", repo, "sync", "staging", "--yes", "-o", "json")
    assert failed.code == 1
    op = failed.json()[0]
    assert (
        op["phase"] == "Failed" and "PostSync Job/staging-qwen25-05b-instruct-smoke failed" in op["message"]
    )
    assert "model 'no-such-model' is not served" in op["message"] and op["retry_count"] == 1
    assert _running_with(engine.status(STAGING), "48")  # the same process: the hook changed, not the model

    # Rollback to the first staging deployment: the old configuration runs again.
    back = cli("--repo", repo, "rollback", "staging", "1", "--reason", "48 was slower", "-o", "json")
    assert back.code == 0, back.err
    assert (
        back.json()["kind"] == "rollback"
        and back.json()["phase"] == "Succeeded"
        and back.json()["revision"]["sha"] == staging_first
    )
    staging = engine.status(STAGING)
    assert _running_with(staging, "64")
    assert (
        staging["revision"]["sha"] == staging_first and staging["sync_status"] == "OutOfSync"
    )  # Git says 48
    refused = cli("--repo", repo, "rollback", "dev")
    assert refused.error_lines == [
        "error: rollback cannot be initiated when auto-sync is enabled (llmops-dev syncs automatically)"
    ]

    # 8. The engine dies (kill -9) and comes back: same history, same endpoints, vLLM adopted, not restarted.
    endpoints = engine.get("/engine")["endpoints"]
    histories = {app: engine.get(f"/applications/{app}/history")["items"] for app in (DEV, STAGING)}
    pids = {app: _process(engine.status(app))["pid"] for app in (DEV, STAGING)}
    engine.kill9()
    again = start_engine(repo, engine.log.parent)
    try:
        assert again.get("/engine")["endpoints"] == endpoints
        for app in (DEV, STAGING):
            assert again.get(f"/applications/{app}/history")["items"] == histories[app]
            status = again.wait_status(app, "adopted", lambda s: bool(s["extra"]["processes"]), 60)
            assert _process(status)["pid"] == pids[app]
        events = again.get("/events", app=DEV)["items"]
        assert any(e["reason"] == "ProcessAdopted" for e in events)
        assert _chat(endpoints["dev"], "dev-qwen25-05b-instruct")
    finally:
        again.stop()  # Ctrl-C: its vLLM processes stop with it
    wait_for(
        lambda: not any(Path(f"/proc/{p}").exists() for p in pids.values()), 60, "vLLM processes stopped"
    )
    engine.proc = again.proc  # the fixture's stop() is then a no-op
