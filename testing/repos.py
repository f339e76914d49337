"""Real git repositories in temporary folders, made from this reference repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project's shared material (real CRDs, real-world manifests); LLMOPS_SHARED_DIR points
# elsewhere when the checkout does not sit beside it (a git worktree, say).
SHARED = Path(os.environ.get("LLMOPS_SHARED_DIR") or ROOT.parent / "shared")
# What a GitOps repository of the llmops shape holds (the toolkit's own sources are left out).
REFERENCE_PARTS = (
    "deploy_model", "argocd", "setup", "components", "llmops.yaml", ".yamllint", "schemas", "pipelines",
    ".tekton", "ci", ".github", ".checkov.yaml", "policies",
)  # fmt: skip
OVERLAYS = Path("deploy_model/overlays")


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; fail loudly with git's message."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def init_repo(path: Path) -> Path:
    """Make ``path`` a git repository on branch main with everything in it committed."""
    git(path, "init", "-q", "-b", "main")
    commit(path, "initial")
    return path


def commit(repo: Path, message: str) -> str:
    """Commit everything in the work tree; returns the new commit's SHA."""
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return head(repo)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def branch(repo: Path) -> str:
    return git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def copy_reference(dest: Path) -> Path:
    """Copy the reference GitOps content (not the toolkit) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in REFERENCE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part)
        elif src.is_file():
            shutil.copy(src, dest / part)
    return dest


def reference_repo(dest: Path) -> Path:
    """A fresh git repository holding a copy of the reference GitOps content."""
    return init_repo(copy_reference(dest))


def edit(path: Path, old: str, new: str, *, count: int = -1) -> None:
    """Replace ``old`` by ``new`` in a file (every occurrence unless ``count``); ``old`` must be there."""
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise AssertionError(f"{old!r} not in {path}")
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def line_of(file: Path, needle: str) -> int:
    """The 1-based number of the first line of ``file`` that holds ``needle``."""
    for i, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {file}")
