"""Files: atomic writes, paths that must stay inside a repository, size limits, a process lock.

The one place llmops writes files that people or tools read (promotion edits, schema
catalog entries, reports, caches), and the one check (:func:`inside`) that a path named
by a repository's content does not lead out of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from llmops.errors import LlmopsError, RepositoryError

MiB = 1024 * 1024
NEW_FILE_MODE = 0o644  # a new file is readable by everyone, like one written by git or an editor


def atomic_write_text(
    path: Path, text: str, *, encoding: str = "utf-8", parents: bool = False, mode: int | None = None
) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, fsync and a rename.

    An existing file keeps its permission bits; a new one gets ``mode`` (default
    :data:`NEW_FILE_MODE`). ``parents`` creates missing parent folders first. On any
    failure the original is untouched and the temporary file is removed.
    """
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


NO_CACHE_ENV = "LLMOPS_NO_CACHE"


def user_cache_dir() -> Path | None:
    """llmops' folder in the user's cache (``$XDG_CACHE_HOME/llmops``), or None when
    ``LLMOPS_NO_CACHE`` turns caching off. Nothing there is needed: it only saves time."""
    if os.environ.get(NO_CACHE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off"):
        return None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmops"


# -- paths that must stay inside a repository ------------------------------------------------


class OutsideRepositoryError(RepositoryError):
    """A path named by the repository's content resolves outside it (``..``, an absolute path
    or a symbolic link): llmops refuses to read or write it."""


def _shown(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def escape_reason(root: Path, path: Path | str) -> str | None:
    """Why ``path`` (absolute, or relative to ``root``) leaves ``root`` once resolved; None when it stays.

    Every symbolic link on the way is followed, as a program opening the path would.
    """
    real_root = Path(os.path.realpath(root))
    candidate = Path(path)
    full = candidate if candidate.is_absolute() else Path(root) / candidate
    real = Path(os.path.realpath(full))
    if real == real_root or real_root in real.parents:
        return None
    lexical = Path(os.path.normpath(full))
    if lexical == Path(os.path.normpath(root)) or Path(os.path.normpath(root)) in lexical.parents:
        return f"a symbolic link leads to {real}"
    return f"it points to {real}"


def inside(root: Path, path: Path | str, *, what: str = "path") -> Path:
    """``path`` (absolute, or relative to ``root``) resolved, refused when it leaves ``root``.

    The one check every reader and writer of repository content goes through: ``..``,
    absolute paths and symbolic links are followed first, then the result must lie
    inside the (resolved) root. Raises :class:`OutsideRepositoryError` with one line.
    """
    why = escape_reason(root, path)
    if why is not None:
        raise OutsideRepositoryError(
            f"{what} {_shown(Path(root), Path(path))} leaves the repository: {why}",
            hint="llmops reads and writes only files inside the repository; "
            "replace the link or path with a file in the repository",
        )
    full = Path(path) if Path(path).is_absolute() else Path(root) / path
    return Path(os.path.realpath(full))


def report_path(root: Path, path: Path) -> Path:
    """Where to write a report the user asked for: any path, but one written inside the
    repository must stay inside once links are followed (a pull request may plant a link)."""
    full = Path(os.path.abspath(path))
    lexical_root = Path(os.path.abspath(root))
    if full == lexical_root or lexical_root in full.parents:
        inside(root, full.parent, what="report folder")
        if full.is_symlink():
            inside(root, full, what="report file")
    return full


# -- a lock between llmops processes ---------------------------------------------------------


class LockedError(LlmopsError):
    """Another llmops process holds the lock this one needs."""


@contextlib.contextmanager
def exclusive_lock(path: Path, *, wait_s: float, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    Waits up to ``wait_s`` seconds for another holder, then raises :class:`LockedError`
    naming ``what``. The lock goes with the process: a killed holder never leaves it stuck.
    """
    import fcntl
    import time

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        end = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    raise LockedError(
                        f"another llmops process is {what} (it holds {path})",
                        hint="wait for it to finish and run the command again",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def escaping_links(root: Path, skip: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(path relative to ``root``, where it leads) for every symbolic link under ``root`` that
    resolves outside it; folders named in ``skip`` are not entered (links are never followed)."""
    found: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                why = escape_reason(root, path)
                if why is not None:
                    found.append((path.relative_to(root).as_posix(), os.path.realpath(path)))
    return sorted(found)


# Folders never scanned for repository content (tools' caches and git's own).
SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"})


def _walk_yaml(root: Path, start: Path, skip: frozenset[str]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            file = Path(dirpath) / name
            is_yaml = name.endswith((".yaml", ".yml")) or name == "Kustomization"
            if is_yaml and not escape_reason(root, file):
                yield file


def yaml_files(root: Path, paths: Sequence[str], *, skip: frozenset[str] = SKIP_DIRS) -> list[Path]:
    """YAML files under ``paths`` (relative to ``root``; default: all of it), sorted.

    Only what lies inside ``root``: a path or a link that leads out is left out (callers
    that must say so use :func:`escaping_links`), and linked folders are not entered.
    """
    starts = [root / p for p in paths] if paths else [root]
    found: set[Path] = set()
    for start in starts:
        if escape_reason(root, start):
            continue
        if start.is_file():
            found.add(start)
        elif start.is_dir():
            found.update(_walk_yaml(root, start, skip))
    return sorted(found)
