"""Every git invocation of llmops lives here (argument lists, never shell strings)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from llmops.errors import GitError, RepositoryError
from llmops.support import processes

NO_COMMIT = "0" * 40  # update-ref's "must not exist yet"


def run(
    repo: Path,
    *args: str,
    check: bool = True,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    input: str | None = None,
    interactive: bool = False,
) -> str:
    """Run ``git -C repo ARGS`` and return stdout; raise GitError with git's message.

    git runs in its own process group (:mod:`llmops.support.processes`), so an interrupted
    llmops leaves no git (or hook, or remote helper) behind; ``interactive`` keeps it in
    the foreground when it may ask for credentials.
    """
    cmd = ["git", "-C", str(repo), *args]
    full_env = {**os.environ, **env} if env else None
    try:
        proc = processes.run(
            cmd,
            limits=processes.Limits(timeout_s=timeout),
            env=full_env,
            input=input,
            interactive=interactive,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed", hint="install git and retry") from exc
    if proc.timed_out:
        raise GitError(f"git {' '.join(args)} timed out after {timeout:.0f}s")
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


# -- Revisions ---------------------------------------------------------------------------------


def resolve_commit(repo: Path, ref: str) -> str:
    """The full commit id ``ref`` names; a clear error for an unknown ref."""
    if not ref or ref.startswith("-"):
        raise GitError(
            f"{ref!r} is not a git revision", hint="pass a branch, tag or commit, e.g. main or HEAD~1"
        )
    out = run(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    sha = out.strip()
    if not sha:
        raise GitError(
            f"unknown git revision {ref!r} in {repo}",
            hint="check the name with `git log --oneline` or `git branch -a`; fetch it first if it is remote",
        )
    return sha


def short(repo: Path, sha: str) -> str:
    return run(repo, "rev-parse", "--short", sha).strip()


def head_commit(repo: Path) -> str:
    try:
        return resolve_commit(repo, "HEAD")
    except GitError as exc:
        raise GitError(f"{repo} has no commit yet", hint="commit something first") from exc


def commit_subject(repo: Path, sha: str) -> str | None:
    """The first line of the message of commit ``sha``; None when this clone does not have it."""
    if not sha or sha.startswith("-"):
        return None
    out = run(repo, "log", "-1", "--format=%s", "--end-of-options", f"{sha}^{{commit}}", check=False)
    return out.strip() or None


def current_branch(repo: Path) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    out = run(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
    return out or None


def branch_exists(repo: Path, name: str) -> bool:
    return bool(run(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", check=False).strip())


# -- Trees -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _scratch_index(repo: Path, commit: str, work_tree: Path | None = None) -> Iterator[dict[str, str]]:
    """The environment of a throw-away index holding ``commit``'s tree (and of ``work_tree``, when given)."""
    with tempfile.TemporaryDirectory(prefix="llmops-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if work_tree is not None:
            env["GIT_WORK_TREE"] = str(work_tree.resolve())
        run(repo, "read-tree", commit, env=env, timeout=120.0)
        yield env


def export_tree(repo: Path, ref: str, dest: Path) -> None:
    """Check the files of commit ``ref`` out into ``dest``, as a clone would have them.

    A throw-away index is used, so the user's index, HEAD and work tree are untouched;
    unlike ``git archive``, ``export-ignore`` attributes do not drop files.
    """
    dest.mkdir(parents=True, exist_ok=True)
    # A work tree of its own: the files go to ``dest`` only, and bare mirrors work too.
    with _scratch_index(repo, ref, work_tree=dest) as env:
        run(repo, "checkout-index", "--all", "--force", f"--prefix={dest.resolve()}/", env=env, timeout=300.0)


def show_file(repo: Path, ref: str, path: str) -> str | None:
    """The text of ``path`` (relative to the root) at commit ``ref``; None when it is not there."""
    try:
        return run(repo, "show", f"{ref}:{path}")
    except GitError:
        return None


def changed_files(repo: Path, base: str, head: str | None) -> list[str]:
    """Paths (relative to the root) that differ between ``base`` and ``head``.

    ``head`` None means the working tree, untracked files included. Renames count
    as a deletion plus an addition so both paths are reported.
    """
    args = ["diff", "--name-only", "--no-renames", "-z", base]
    if head is not None:
        args.append(head)
    names = set(filter(None, run(repo, *args).split("\0")))
    if head is None:
        names |= set(filter(None, run(repo, "ls-files", "--others", "--exclude-standard", "-z").split("\0")))
    return sorted(names)


def binary_changes(repo: Path, base: str, head: str | None) -> list[str]:
    """Changed paths git considers binary (``git diff --numstat`` shows ``-`` counts)."""
    args = ["diff", "--numstat", "--no-renames", "-z", base]
    if head is not None:
        args.append(head)
    out: list[str] = []
    for entry in filter(None, run(repo, *args).split("\0")):
        added, _, rest = entry.partition("\t")
        _, _, path = rest.partition("\t")
        if added == "-" and path:
            out.append(path)
    return sorted(out)


def dirty_paths(repo: Path) -> list[str]:
    """Uncommitted changes (staged, unstaged, untracked), as ``git status --porcelain`` lines."""
    return [ln for ln in run(repo, "status", "--porcelain", "--untracked-files=normal").splitlines() if ln]


def common_dir(repo: Path) -> Path:
    """The repository's shared git folder (``.git``, the same for every worktree)."""
    out = run(repo, "rev-parse", "--git-common-dir").strip()
    path = Path(out)
    return (path if path.is_absolute() else repo / path).resolve()


def tree_mode(repo: Path, commit: str, path: str) -> str | None:
    """The mode of ``path`` in ``commit`` (``100644`` a file, ``120000`` a link); None when absent."""
    out = run(repo, "ls-tree", "-z", commit, "--", path).split("\0")[0]
    return out.split(" ", 1)[0] if out else None


# -- Commits made without touching the work tree, the index or HEAD ------------------------------


def commit_files(repo: Path, parent: str, files: Mapping[str, str], message: str) -> str:
    """A new commit on top of ``parent`` whose only changes are ``files`` (path -> text).

    Built with plumbing against a throw-away index (``hash-object``, ``update-index``,
    ``write-tree``, ``commit-tree``): the user's work tree, index and HEAD are never
    touched, so concurrent runs cannot disturb each other or the user. Commit hooks do not
    run (nothing is committed from the work tree). Returns the commit id; no branch points
    at it yet (:func:`create_branch`).
    """
    with _scratch_index(repo, parent) as env:
        for path, text in files.items():
            mode = tree_mode(repo, parent, path) or "100644"
            blob = run(repo, "hash-object", "-w", "--stdin", input=text).strip()
            run(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=env)
        tree = run(repo, "write-tree", env=env).strip()
    return run(repo, "commit-tree", tree, "-p", parent, "-F", "-", input=message).strip()


def check_branch_name(repo: Path, name: str) -> None:
    if name.startswith("-") or run(repo, "check-ref-format", "--branch", name, check=False).strip() != name:
        raise GitError(f"{name!r} is not a valid branch name", hint="see `git help check-ref-format`")


def create_branch(repo: Path, name: str, commit: str) -> None:
    """Point the new branch ``name`` at ``commit``; refused (atomically) when it exists already."""
    try:
        run(repo, "update-ref", "-m", "llmops promote", f"refs/heads/{name}", commit, NO_COMMIT)
    except GitError as exc:
        if branch_exists(repo, name):
            raise GitError(
                f"branch {name} already exists",
                hint=f"delete it (git branch -D {name}) or pass --branch NAME",
            ) from exc
        raise


def delete_branch_at(repo: Path, name: str, commit: str) -> None:
    """Delete branch ``name`` only while it still points at ``commit``."""
    run(repo, "update-ref", "-d", f"refs/heads/{name}", commit)


# -- Branches and commits ----------------------------------------------------------------------


def push(repo: Path, remote: str, branch: str) -> None:
    run(repo, "push", "--quiet", "--set-upstream", remote, branch, timeout=180.0, interactive=True)


# -- Following a revision (the embedded engine) -------------------------------------------------


def resolve_revision(repo: Path, revision: str) -> str | None:
    """The commit an Argo CD ``targetRevision`` (branch, tag, commit or HEAD) names in ``repo``.

    A branch is looked up as a local branch, then as ``origin``'s; None when nothing matches.
    """
    if not revision or revision.startswith("-"):
        return None
    candidates = (
        ["HEAD"]
        if revision == "HEAD"
        else [f"refs/heads/{revision}", f"refs/tags/{revision}", f"refs/remotes/origin/{revision}", revision]
    )
    for ref in candidates:
        spec = f"{ref}^{{commit}}"
        out = run(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", spec, check=False)
        if out.strip():
            return out.strip()
    return None


def commit_info(repo: Path, sha: str) -> tuple[str, str]:
    """(subject, author name) of a commit."""
    out = run(repo, "log", "-1", "--format=%s%x00%an", sha, "--")
    subject, _, author = out.rstrip("\n").partition("\0")
    return subject, author


def mirror(url: str, dest: Path) -> None:
    """A bare mirror of a remote repository (the engine's copy of a remote ``repoURL``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    run(dest.parent, "clone", "--quiet", "--mirror", "--", url, str(dest), timeout=600.0)


def fetch_mirror(dest: Path) -> None:
    run(dest, "remote", "update", "--prune", timeout=600.0)
