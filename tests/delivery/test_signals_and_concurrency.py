"""Signals and concurrent runs: nothing left behind, nothing corrupted (real processes, real git).

llmops runs here as a separate process (``python -m llmops``) so it can be signalled; a silent
server on 127.0.0.1 keeps kustomize (a remote resource) or git (a push) waiting while it is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from testing import processes, servers
from testing.repos import branch, branches, edit, git, head

import llmops

pytestmark = pytest.mark.skipif(
    not processes.AVAILABLE, reason="needs /proc (Linux) to watch child processes"
)

OVERLAYS = Path("deploy_model/overlays")
SRC = Path(llmops.__file__).resolve().parent.parent  # the package under test, not an installed copy


def llmops_process(args: list[str], cwd: Path, tmpdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    env["TMPDIR"] = str(tmpdir)
    return subprocess.Popen(
        [sys.executable, "-m", "llmops", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def tmpdir_(tmp_path: Path) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.fixture
def released(gitops_repo: Path) -> Path:
    edit(gitops_repo / OVERLAYS / "dev/release.yaml", "--max-model-len=8192", "--max-model-len=16384")
    git(gitops_repo, "commit", "-qam", "dev: 16k context")
    return gitops_repo


@pytest.fixture
def silent() -> Iterator[servers.Silent]:
    with servers.Silent() as server:
        yield server


def _waiting_child(proc: subprocess.Popen[str], needle: str) -> list[int]:
    """Wait until ``proc`` has a descendant whose command line holds ``needle``; all its descendants."""
    processes.wait_for(
        lambda: (
            proc.poll() is not None
            or any(needle in processes.cmdline(p) for p in processes.descendants(proc.pid))
        ),
        timeout=60,
        what=f"a child process running {needle!r}",
    )
    assert proc.poll() is None, proc.communicate()
    return processes.descendants(proc.pid)


def _finish(proc: subprocess.Popen[str], children: list[int]) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        processes.kill_all([proc.pid, *children])  # only if the test failed: clean up what it started
    return proc.returncode, err


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)], ids=lambda v: str(v)
)
def test_a_signal_mid_diff_removes_temporary_folders_and_stops_kustomize(
    gitops_repo: Path, tmpdir_: Path, silent: servers.Silent, sig: signal.Signals, code: int
) -> None:
    kfile = gitops_repo / OVERLAYS / "dev/kustomization.yaml"
    edit(kfile, "  - ../../base\n", f"  - ../../base\n  - {silent.url}/remote.yaml\n")
    proc = llmops_process(["diff", "--base", "HEAD"], gitops_repo, tmpdir_)
    children = _waiting_child(proc, "kustomize")
    assert list(tmpdir_.glob("llmops-diff-*")), "the diff's temporary checkout should exist by now"
    proc.send_signal(sig)
    returncode, err = _finish(proc, children)
    assert returncode == code, err
    assert "Traceback" not in err
    assert processes.gone(children) == [], [processes.cmdline(p) for p in children]
    assert list(tmpdir_.iterdir()) == []


def test_a_signal_mid_promote_takes_the_new_branch_back(
    released: Path, tmpdir_: Path, silent: servers.Silent
) -> None:
    git(released, "remote", "add", "origin", f"{silent.url}/gitops.git")
    source = head(released)
    proc = llmops_process(["promote", "dev", "staging", "--push"], released, tmpdir_)
    children = _waiting_child(proc, "remote-http")
    assert f"promote/staging-{source[:7]}" in branches(released)  # committed, pushing
    proc.send_signal(signal.SIGTERM)
    returncode, err = _finish(proc, children)
    assert returncode == 143, err
    assert "terminated by SIGTERM" in err
    assert branches(released) == ["main"] and branch(released) == "main" and head(released) == source
    assert git(released, "status", "--porcelain") == ""
    assert processes.gone(children) == []
    assert list(tmpdir_.iterdir()) == []


def test_concurrent_promotions_in_one_checkout_each_succeed_or_refuse_clearly(
    released: Path, tmpdir_: Path
) -> None:
    source = head(released)
    index = (released / ".git/index").read_bytes()
    names = ["p1", "p2", "p3", "p3"]  # two runs ask for the same branch
    runs = [llmops_process(["promote", "dev", "staging", "--branch", n], released, tmpdir_) for n in names]
    outcomes = [(r.wait(timeout=120), *r.communicate()) for r in runs]
    ok = [names[i] for i, (code, _, _) in enumerate(outcomes) if code == 0]
    refused = [err for code, _, err in outcomes if code != 0]
    assert sorted(ok) == ["p1", "p2", "p3"], outcomes
    assert len(refused) == 1 and refused[0].startswith("error: branch p3 already exists"), refused
    assert all("index.lock" not in err for _, _, err in outcomes)
    tree = git(released, "rev-parse", "p1^{tree}").strip()
    for name in ("p1", "p2", "p3"):
        assert git(released, "rev-parse", f"{name}~1").strip() == source
        assert git(released, "rev-parse", f"{name}^{{tree}}").strip() == tree
        files = git(released, "show", "--name-only", "--format=", name).split()
        assert files == ["deploy_model/overlays/staging/release.yaml"]
    assert branch(released) == "main" and head(released) == source
    assert (released / ".git/index").read_bytes() == index
    assert git(released, "status", "--porcelain") == ""
