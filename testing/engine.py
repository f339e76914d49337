"""A real embedded engine (``llmops up``) in its own process, for tests and benchmarks, and a small GitOps
repository whose Applications deploy only ConfigMaps, Secrets, ServiceAccounts and hook Jobs (no
vLLM): Argo CD's sync semantics exercised in seconds."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from testing.repos import commit, git, init_repo

START_DEADLINE_S = 120.0
T = TypeVar("T")


class EngineTestError(AssertionError):
    """The engine did not start, or a condition was not reached in time."""


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` saying ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise EngineTestError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def state_dir(repo: Path) -> Path:
    """Where the engine of ``repo`` keeps its state (as the engine computes it, from XDG_STATE_HOME)."""
    from llmops.engine.paths import state_dir_for
    from llmops.gitops.config import load_config

    return state_dir_for(repo.resolve(), load_config(repo).engine).root


@dataclass
class EngineProcess:
    """``llmops up --quiet`` for one repository."""

    repo: Path
    proc: subprocess.Popen[bytes]
    log: Path
    api: str = ""

    def info(self) -> dict[str, Any]:
        return dict(json.loads((state_dir(self.repo) / "engine.json").read_text()))

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.api + "/api/v1" + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.api + "/api/v1" + path, json=body, timeout=30)

    def objects(self, app: str) -> dict[str, dict[str, Any]]:
        """The live objects of ``app`` by Kind/name (Secret values redacted)."""
        items = self.get(f"/applications/{app}/objects")["items"]
        return {f"{o['manifest']['kind']}/{o['manifest']['metadata']['name']}": o["manifest"] for o in items}

    def status(self, app: str) -> dict[str, Any]:
        return dict(self.get(f"/applications/{app}"))

    def endpoint(self, env: str) -> str:
        return str(self.get("/engine")["endpoints"][env])

    def wait_status(
        self, app: str, what: str, check: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = self.status(app)
            return found if check(found) else None

        try:
            return wait_for(probe, timeout, f"{app}: {what}")
        except EngineTestError as exc:
            raise EngineTestError(
                f"{exc}; last status: {json.dumps(self.status(app), indent=1)[:3000]}"
            ) from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 90) -> int:
        """Stop it (SIGINT = Ctrl-C: the engine stops its vLLM processes too)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        return int(self.proc.returncode or 0)

    def kill9(self) -> None:
        """What a crash does: the engine dies at once; its vLLM processes (own sessions) keep running."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def start_engine(
    repo: Path, workdir: Path, *, extra: list[str] | None = None, wait: bool = True
) -> EngineProcess:
    """Start ``llmops up --quiet`` on ``repo`` and wait until its API answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"engine-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmops", "--repo", str(repo), "up", "--quiet", *(extra or [])],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    engine = EngineProcess(repo=repo, proc=proc, log=log)
    if not wait:
        return engine

    def ready() -> str | None:
        if proc.poll() is not None:
            raise EngineTestError(f"the engine exited with {proc.returncode}:\n{engine.output()[-3000:]}")
        try:
            info = engine.info()
            httpx.get(info["api_url"] + "/api/v1/engine", timeout=2).raise_for_status()
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            return None
        return str(info["api_url"])

    try:
        engine.api = wait_for(ready, START_DEADLINE_S, "the engine's API")
    except BaseException:
        engine.stop(signal.SIGKILL)
        raise
    return engine


# -- a GitOps repository without models ---------------------------------------------------------

LLMOPS_YAML = """\
environments:
  - name: dev
    sync: automated
  - name: staging
    sync: manual
applications:
  - argocd
"""

APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {name}
  namespace: openshift-gitops
  labels:
    llmops.io/environment: {env}
spec:
  project: default
  source:
    repoURL: https://example.invalid/light.git
    targetRevision: main
    path: deploy/overlays/{env}
  destination:
    server: https://kubernetes.default.svc
    namespace: light-{env}
  syncPolicy:
{policy}
    syncOptions:
      - RespectIgnoreDifferences=true
    retry:
      limit: 1
      backoff:
        duration: 1s
        factor: 2
        maxDuration: 5s
  ignoreDifferences:
    - group: ""
      kind: ConfigMap
      jqPathExpressions:
        - .data["ignored-by-jq"]
    - kind: ConfigMap
      jsonPointers:
        - /metadata/annotations/ignored-by-pointer
    - kind: ServiceAccount
      managedFieldsManagers:
        - operator-x
"""

AUTOMATED = "    automated:\n      prune: true\n      selfHeal: true"
MANUAL = "    # a person syncs"

BASE = {
    "kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - config.yaml
  - secret.yaml
  - serviceaccount.yaml
  - hook.yaml
""",
    "config.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  annotations:
    ignored-by-pointer: from-git
data:
  greeting: hello
  ignored-by-jq: from-git
""",
    "secret.yaml": """\
apiVersion: v1
kind: Secret
metadata:
  name: credentials
stringData:
  password: s3cret-in-git
""",
    "serviceaccount.yaml": """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: runner
  labels:
    team: gitops
""",
    "hook.yaml": """\
apiVersion: batch/v1
kind: Job
metadata:
  name: post-sync-check
  annotations:
    argocd.argoproj.io/hook: PostSync
    argocd.argoproj.io/hook-delete-policy: BeforeHookCreation,HookSucceeded
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: check
          image: quay.io/your-org/llmops:0.1.0
          args: ["--version"]
""",
}

OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: light-{env}
resources:
  - ../../base
"""


def light_repo(dest: Path) -> Path:
    """A git repository: dev (automated, prune, selfHeal) and staging (manual), no InferenceService."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "llmops.yaml").write_text(LLMOPS_YAML)
    (dest / "argocd").mkdir()
    for env, policy in (("dev", AUTOMATED), ("staging", MANUAL)):
        text = APPLICATION.format(name=f"light-{env}", env=env, policy=policy)
        (dest / "argocd" / f"light-{env}.yaml").write_text(text)
        overlay = dest / "deploy" / "overlays" / env
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text(OVERLAY.format(env=env))
    base = dest / "deploy" / "base"
    base.mkdir(parents=True)
    for name, text in BASE.items():
        (base / name).write_text(text)
    init_repo(dest)
    return dest


def change(repo: Path, path: str, old: str, new: str, message: str) -> str:
    """Edit one file and commit it; returns the new commit."""
    target = repo / path
    text = target.read_text()
    if old not in text:
        raise AssertionError(f"{old!r} not in {target}")
    target.write_text(text.replace(old, new))
    return commit(repo, message)


def head_sha(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


@contextlib.contextmanager
def isolated_env(home: Path) -> Iterator[None]:
    """HOME, the XDG folders, KUBECONFIG, git's identity and the engine's state directory under ``home``,
    for an engine that outlives one test (a module's or a session's): the conftest's own isolation is
    per test."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "HOME": str(home),
            "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "KUBECONFIG": str(home / "no-such-kubeconfig"),
            "LLMOPS_STATE_DIR": str(home / "engine-state"),
            "GIT_CONFIG_NOSYSTEM": "1",
            **{f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER")
               for what, value in (("NAME", "llmops tests"), ("EMAIL", "tests@llmops.invalid"))},
        }
    )  # fmt: skip
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
