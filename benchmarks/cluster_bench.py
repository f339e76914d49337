"""Benchmark: the cluster side against kubectl doing the same reads and writes, same fake API server.

    PYTHONPATH=.:src .venv/bin/python benchmarks/cluster_bench.py [--repeat 9]

The API server is ``testing/kube.py`` (kmock's emulator on loopback) holding what OpenShift
GitOps and KServe hold after a sync of the reference repository; network and server costs
are therefore near zero and what is measured is the client side. Two cases:

- status: ``ClusterDriver.status()`` for the three Applications (Application, AppProject,
  InferenceService and Route reads, commit subjects from git) against the shell way,
  ``kubectl get applications``, ``inferenceservices -A`` and ``routes -A`` (three processes);
- bootstrap, second run (nothing to change): ``llmops bootstrap`` as a process (prerequisite
  checks, a server-side dry run and comparison per object) against ``kubectl apply
  --server-side --dry-run=server`` of ``setup/`` and ``argocd/`` (two processes, no checks).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

from testing import argocd, kube  # noqa: E402
from testing.repos import commit, edit, reference_repo  # noqa: E402

from _common import best_of  # noqa: E402
from llmops.cluster.driver import ClusterDriver  # noqa: E402
from llmops.gitops.repo import Repository  # noqa: E402

KUBECTL = Path(sys.executable).parent / "kubectl"
LLMOPS = Path(sys.executable).parent / "llmops"


def _prepare(root: Path) -> Path:
    repo = reference_repo(root / "gitops")
    for rel in ("argocd/applications/llmops-dev.yaml", "argocd/applications/llmops-staging.yaml",
                "argocd/applications/llmops-production.yaml", "argocd/project.yaml"):  # fmt: skip
        edit(repo / rel, "https://github.com/your-org/llmops.git", "https://github.com/acme/llmops.git")
    commit(repo, "Deploy from our repository")
    return repo


def _kubectl(config: Path, *args: str) -> None:
    subprocess.run([str(KUBECTL), "--kubeconfig", str(config), *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmops-cluster-bench-") as tmp, kube.running() as cluster:
        repo = _prepare(Path(tmp))
        config = kube.write_kubeconfig(Path(tmp) / "kubeconfig", cluster.url)
        os.environ["KUBECONFIG"] = str(config)
        argocd.openshift(cluster.api)
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
        states = {env: argocd.AppState(history=[(1, sha)]) for env in ("dev", "staging", "production")}
        argocd.deployed(cluster.api, repo, states)

        def status() -> None:
            driver = ClusterDriver(Repository(repo))
            assert len(driver.status()) == 3
            driver.close()

        def shell_status() -> None:
            _kubectl(config, "get", "applications.argoproj.io", "-n", "openshift-gitops", "-o", "json")
            _kubectl(config, "get", "inferenceservices.serving.kserve.io", "-A", "-o", "json")
            _kubectl(config, "get", "routes.route.openshift.io", "-A", "-o", "json")

        _report("status of 3 Applications", best_of(status, args.repeat), best_of(shell_status, args.repeat))

        subprocess.run([str(LLMOPS), "bootstrap", "--repo", str(repo)], check=True, capture_output=True)

        def bootstrap() -> None:
            argv = [str(LLMOPS), "bootstrap", "--repo", str(repo)]
            out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
            assert "nothing to change" in out

        def shell_apply() -> None:
            for folder in ("setup", "argocd"):
                _kubectl(config, "apply", "--server-side", "--field-manager", "llmops", "--dry-run=server",
                         "--validate=false", "-k", str(repo / folder))  # fmt: skip

        again = best_of(bootstrap, args.repeat)
        _report("bootstrap, nothing to change", again, best_of(shell_apply, args.repeat))


def _report(name: str, ours: tuple[float, float], baseline: tuple[float, float]) -> None:
    print(
        f"{name:<30} llmops {ours[0] * 1000:6.0f} ms (min {ours[1] * 1000:.0f})   "
        f"kubectl {baseline[0] * 1000:6.0f} ms (min {baseline[1] * 1000:.0f})   {ours[0] / baseline[0]:.2f}x"
    )


if __name__ == "__main__":
    main()
