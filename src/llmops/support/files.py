"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The one place llmops writes files that people or tools read (promotion edits, schema
catalog entries, reports, caches).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

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
