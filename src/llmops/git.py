"""Every git invocation of llmops lives here (argument lists, never shell strings)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from llmops.errors import GitError, RepositoryError


def run(repo: Path, *args: str, check: bool = True, timeout: float = 60.0) -> str:
    """Run ``git -C repo ARGS`` and return stdout; raise GitError with git's message."""
    cmd = ["git", "-C", str(repo), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed", hint="install git and retry") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {' '.join(args)} timed out after {timeout:.0f}s") from exc
    if check and proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        msg = lines[0].removeprefix("fatal: ").removeprefix("error: ") if lines else "failed"
        raise GitError(f"git {args[0]}: {msg}")
    return proc.stdout


def toplevel(start: Path) -> Path:
    """The root of the git work tree containing ``start``."""
    if not start.exists():
        raise RepositoryError(f"{start} does not exist", hint="pass --repo with an existing directory")
    where = start if start.is_dir() else start.parent
    try:
        out = run(where, "rev-parse", "--show-toplevel")
    except GitError as exc:
        raise RepositoryError(
            f"{start} is not inside a git repository",
            hint="run llmops inside your GitOps repository, or pass --repo PATH",
        ) from exc
    return Path(out.strip()).resolve()
