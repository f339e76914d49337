"""Guards that make touching the user's real state an error in tests (not just unlikely).

The autouse fixture of tests/conftest.py points HOME and KUBECONFIG at temporary folders, so
code that follows the rules never finds the real kubeconfig. :func:`forbid_real_kubeconfig`
also makes a slip loud: an audit hook (PEP 578) refuses any ``open()`` of the kubeconfig the
user had when the tests started (``$KUBECONFIG``'s files and ``~/.kube/config``), whoever opens
it, lightkube included.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

_REAL: set[str] = set()
_installed = False


class RealKubeconfigTouched(PermissionError):
    """A test opened the user's real kubeconfig."""


def real_kubeconfigs() -> set[str]:
    """The user's kubeconfig paths as they were before any test changed HOME or KUBECONFIG."""
    paths = {Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p}
    paths.add(Path("~/.kube/config").expanduser())
    return {os.path.abspath(p) for p in paths}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not args or not _REAL:
        return
    target = args[0]
    if isinstance(target, int) or target is None:
        return
    try:
        path = os.path.abspath(os.fsdecode(target))
    except (TypeError, ValueError):
        return
    if path in _REAL:
        raise RealKubeconfigTouched(f"a test tried to open the real kubeconfig {path}")


def forbid_real_kubeconfig() -> frozenset[str]:
    """Install the audit hook once per process (audit hooks cannot be removed); returns the guarded paths."""
    global _installed
    if not _installed:
        _REAL.update(real_kubeconfigs())
        sys.addaudithook(_hook)
        _installed = True
    return frozenset(_REAL)
