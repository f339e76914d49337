"""Where the desired state comes from: the Applications, the revisions they follow, and their renders.

Argo CD reads Applications from the cluster, where ``oc apply -k argocd/`` put them; the engine plays
that part by reading them from the engine's repository at ``HEAD`` (committed content, so a commit
that changes an Application takes effect like a re-apply would). Each Application's ``repoURL``
maps to a local repository (``engine.repositories`` in llmops.yaml; unlisted URLs are this
repository) or to a remote the engine mirrors in its state directory. ``targetRevision`` is
resolved in that repository's refs: a branch (local, else ``origin``'s), a tag, a commit, or HEAD.

Local repositories are watched (``watchfiles`` on the refs; polling when the watch cannot start),
so a ``git commit`` is seen at once; remotes are fetched every ``engine.poll_s`` (180 s, Argo CD's
default). Renders run the real kustomize on a checkout of the exact commit, cached by commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import GitError, LlmopsError
from llmops.gitops import git, kustomize, manifests
from llmops.gitops.config import RepoConfig
from llmops.gitops.manifests import Resource
from llmops.gitops.repo import Application, Repository

from .aio import wait_event
from .paths import StatePaths

LOCAL_POLL_S = 2.0  # ref polling when the file watch is unavailable
KEEP_CHECKOUTS = 12


@dataclass(frozen=True, kw_only=True)
class Revision:
    """A resolved commit as people read it."""

    sha: str
    subject: str
    author: str

    @property
    def short(self) -> str:
        return self.sha[:8]


@dataclass(frozen=True, kw_only=True)
class GitSource:
    """The repository one ``repoURL`` maps to."""

    url: str
    path: Path  # a local work tree, or the engine's bare mirror of a remote
    remote: str | None = None  # set for mirrors

    @property
    def key(self) -> str:
        import hashlib

        return hashlib.sha256(str(self.path).encode()).hexdigest()[:10]


class SourceError(LlmopsError):
    """The desired state cannot be read: Argo CD's ComparisonError (the message says why)."""


class Sources:
    """Applications, revisions and renders for one engine."""

    def __init__(self, root: Path, config: RepoConfig, paths: StatePaths) -> None:
        self.root = root
        self.config = config
        self.paths = paths
        self._engine_repo = GitSource(url="", path=root)
        self._mapped: dict[str, GitSource] = {}
        for entry in config.engine.repositories:
            if entry.path is not None:
                local = Path(entry.path).expanduser()
                self._mapped[entry.url] = GitSource(
                    url=entry.url, path=(local if local.is_absolute() else root / local).resolve()
                )
            else:
                assert entry.remote is not None
                name = entry.url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "remote"
                digest = GitSource(url=entry.url, path=Path(entry.remote)).key
                self._mapped[entry.url] = GitSource(
                    url=entry.url, path=paths.mirrors / f"{name}-{digest}.git", remote=entry.remote
                )
        self._apps: tuple[str, list[Application]] | None = None
        self._checkouts: OrderedDict[tuple[str, str], Path] = OrderedDict()
        # Reconcilers render in threads at once (three Applications, one commit): one export per
        # commit, the others wait for it.
        self._guard = threading.Lock()
        self._exporting: dict[tuple[str, str], threading.Lock] = {}
        self._renders: OrderedDict[tuple[str, str, str], list[Resource]] = OrderedDict()

    # -- repositories ---------------------------------------------------------------------------

    def source_for(self, repo_url: str) -> GitSource:
        return (
            self._mapped.get(repo_url) or self._mapped.get(repo_url.removesuffix(".git")) or self._engine_repo
        )

    def sources(self) -> list[GitSource]:
        return [self._engine_repo, *self._mapped.values()]

    def ensure_mirrors(self) -> None:
        """Clone the remotes not mirrored yet (a failure is reported per Application, not fatal)."""
        for src in self._mapped.values():
            if src.remote is not None and not src.path.exists():
                with contextlib.suppress(GitError):
                    git.mirror(src.remote, src.path)

    def fetch_remotes(self) -> list[str]:
        """Fetch every mirror; the messages of those that failed."""
        failed: list[str] = []
        for src in self._mapped.values():
            if src.remote is None:
                continue
            try:
                if src.path.exists():
                    git.fetch_mirror(src.path)
                else:
                    git.mirror(src.remote, src.path)
            except GitError as exc:
                failed.append(f"{src.url}: {exc.message}")
        return failed

    # -- Applications ---------------------------------------------------------------------------

    def applications(self) -> list[Application]:
        """The Applications at the engine repository's HEAD (cached per commit)."""
        head = git.head_commit(self.root)
        if self._apps is not None and self._apps[0] == head:
            return self._apps[1]
        tree = self.checkout(self._engine_repo, head)
        apps = Repository(tree, self.config).applications()
        self._apps = (head, apps)
        return apps

    # -- revisions ------------------------------------------------------------------------------

    def resolve(self, app: Application) -> Revision:
        src = self.source_for(app.repo_url)
        if src.remote is not None and not src.path.exists():
            raise SourceError(f"repository {app.repo_url} is not mirrored yet (fetching {src.remote} failed)")
        sha = git.resolve_revision(src.path, app.target_revision)
        if sha is None:
            raise SourceError(
                f"unable to resolve '{app.target_revision}' to a commit SHA in {app.repo_url} "
                f"(local repository {src.path})"
            )
        return self.revision(src, sha)

    def revision(self, src: GitSource, sha: str) -> Revision:
        subject, author = git.commit_info(src.path, sha)
        return Revision(sha=sha, subject=subject, author=author)

    # -- checkouts and renders ------------------------------------------------------------------

    def checkout(self, src: GitSource, sha: str) -> Path:
        """The files of commit ``sha`` in the state directory (made once, the least recent dropped)."""
        key = (src.key, sha)
        with self._guard:
            exporting = self._exporting.setdefault(key, threading.Lock())
        with exporting:
            with self._guard:
                found = self._checkouts.get(key)
                if found is not None and found.is_dir():
                    self._checkouts.move_to_end(key)
                    return found
            dest = self.paths.work / src.key / sha
            if not dest.is_dir():
                partial = dest.with_name(f".{sha}.{os.getpid()}.{threading.get_ident()}")
                shutil.rmtree(partial, ignore_errors=True)
                git.export_tree(src.path, sha, partial)
                partial.rename(dest)
            with self._guard:
                self._checkouts[key] = dest
                self._exporting.pop(key, None)
                while len(self._checkouts) > KEEP_CHECKOUTS:
                    _, old = self._checkouts.popitem(last=False)
                    shutil.rmtree(old, ignore_errors=True)
        return dest

    def render(self, app_path: str, repo_url: str, sha: str) -> list[Resource]:
        """The overlay ``app_path`` at commit ``sha``, rendered with real kustomize (cached per commit)."""
        src = self.source_for(repo_url)
        key = (src.key, sha, app_path)
        cached = self._renders.get(key)
        if cached is not None:
            self._renders.move_to_end(key)
            return cached
        try:
            tree = self.checkout(src, sha)
        except LlmopsError as exc:
            raise SourceError(f"cannot check out {sha[:8]} of {repo_url}: {exc.message}") from exc
        overlay = (tree / app_path).resolve()
        if not overlay.is_relative_to(tree):
            raise SourceError(f"source.path {app_path!r} leaves the repository")
        try:
            text = kustomize.build(overlay)
            resources = manifests.parse_documents(text, f"{app_path} at {sha[:8]} (rendered)")
        except LlmopsError as exc:
            raise SourceError(exc.message.replace(str(tree) + os.sep, "")) from exc
        self._renders[key] = resources
        while len(self._renders) > 64:
            self._renders.popitem(last=False)
        return resources

    def forget_renders(self) -> None:
        """A hard refresh: render everything again."""
        self._renders.clear()
        self._apps = None


# -- watching refs ------------------------------------------------------------------------------


def _ref_snapshot(repo: Path) -> str:
    try:
        return git.run(repo, "for-each-ref", "--format=%(refname) %(objectname)") + git.run(
            repo, "rev-parse", "HEAD", check=False
        )
    except GitError:
        return ""


def _is_ref_change(path: str) -> bool:
    name = path.replace(os.sep, "/")
    return "/refs/" in name or name.endswith(("/HEAD", "/packed-refs")) or "/logs/" in name


async def watch_local(repo: Path, on_change: Callable[[], None], stop: asyncio.Event) -> str:
    """Call ``on_change`` whenever the refs of ``repo`` change, until ``stop``; returns how it watched."""
    try:
        gitdir = await asyncio.to_thread(git.common_dir, repo)
        import watchfiles

        async for changes in watchfiles.awatch(
            gitdir,
            stop_event=stop,
            debounce=50,
            step=20,
            recursive=True,
            watch_filter=lambda _change, path: _is_ref_change(path),
            rust_timeout=1000,
        ):
            if changes:
                on_change()
        return "watch"
    except (ImportError, OSError, RuntimeError, GitError):
        pass
    previous = await asyncio.to_thread(_ref_snapshot, repo)
    while not stop.is_set():
        await wait_event(stop, LOCAL_POLL_S)
        current = await asyncio.to_thread(_ref_snapshot, repo)
        if current != previous:
            previous = current
            on_change()
    return "poll"


def describe_source(src: GitSource) -> dict[str, Any]:
    return {"url": src.url, "path": str(src.path), "remote": src.remote}
