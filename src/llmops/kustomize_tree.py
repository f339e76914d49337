"""The static shape of kustomizations: which folders an overlay pulls in.

Reads ``kustomization.yaml`` files only (no kustomize run): used to find every
kustomization of a repository, the folders behind an overlay (for tracing
findings to source lines) and the overlays a changed file affects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _read(directory: Path) -> dict[str, Any]:
    file = kustomization_file(directory)
    if file is None:
        return {}
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def local_dirs(directory: Path) -> list[Path]:
    """Folders a kustomization includes (resources, components, bases), remote ones skipped."""
    data = _read(directory)
    out = []
    for key in ("resources", "components", "bases"):
        entries = data.get(key) or []
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, str) or "://" in entry or entry.startswith(("github.com/", "git@")):
                continue
            target = (directory / entry).resolve()
            if target.is_dir():
                out.append(target)
    return out


def _closure(directory: Path) -> tuple[Path, ...]:
    seen: list[Path] = []
    stack = [directory.resolve()]
    while stack and len(seen) < 1000:
        here = stack.pop(0)
        if here in seen:
            continue
        seen.append(here)
        stack.extend(local_dirs(here))
    return tuple(seen)


def closure(directory: Path) -> list[Path]:
    """The kustomization folder and every local folder it pulls in, itself first."""
    return list(_closure(directory.resolve()))
