"""The engine's state directory: where it is, what it holds, and the lock that keeps one engine per
repository.

The directory is ``$LLMOPS_STATE_DIR``, else ``engine.state_dir`` in llmops.yaml (relative to the
repository root), else ``$XDG_STATE_HOME/llmops/<repository name>-<hash of its path>`` (XDG's
default ``~/.local/state``). It holds the SQLite database, the engine's address and API token,
vLLM and hook logs, checkouts of the revisions it renders, and the demo model when one is needed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from llmops.errors import EngineError
from llmops.gitops.config import EngineConfig
from llmops.support.files import atomic_write_text

STATE_DIR_ENV = "LLMOPS_STATE_DIR"


class StateDirError(EngineError):
    """The state directory cannot be created or written."""


class EngineRunning(EngineError):
    """Another engine already holds this repository's state directory."""


class PortInUse(EngineError):
    """A port the engine must listen on is taken."""


@dataclass(frozen=True)
class StatePaths:
    """The files of one state directory."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "engine.db"

    @property
    def lock(self) -> Path:
        return self.root / "engine.lock"

    @property
    def info(self) -> Path:
        return self.root / "engine.json"

    @property
    def token(self) -> Path:
        return self.root / "token"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def hooks(self) -> Path:
        return self.root / "hooks"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def mirrors(self) -> Path:
        return self.root / "mirrors"

    @property
    def demo_model(self) -> Path:
        return self.root / "models" / "demo"

    @property
    def detached_log(self) -> Path:
        return self.root / "engine.log"


def default_state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "llmops"


def state_dir_for(repo_root: Path, config: EngineConfig) -> StatePaths:
    """Where the engine of the repository at ``repo_root`` keeps its state."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return StatePaths(Path(override).expanduser().resolve())
    if config.state_dir:
        chosen = Path(config.state_dir).expanduser()
        return StatePaths((chosen if chosen.is_absolute() else repo_root / chosen).resolve())
    digest = hashlib.sha256(str(repo_root.resolve()).encode()).hexdigest()[:10]
    return StatePaths(default_state_root() / f"{repo_root.name}-{digest}")


def prepare(paths: StatePaths) -> None:
    """Create the state directory and prove it writable; one clear line when it is not."""
    try:
        for folder in (paths.root, paths.logs, paths.hooks, paths.work):
            folder.mkdir(parents=True, exist_ok=True)
        probe = paths.root / f".write-test-{os.getpid()}"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise StateDirError(
            f"the engine's state directory {paths.root} is not writable ({exc.strerror or exc})",
            hint=f"fix its permissions, or point {STATE_DIR_ENV} (or engine.state_dir in llmops.yaml) "
            "at a writable folder",
        ) from exc


@dataclass(frozen=True, kw_only=True)
class EngineInfo:
    """What a running engine writes for its clients (``engine.json``)."""

    pid: int
    api_url: str
    repository: str
    started_at: str
    version: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def read_info(paths: StatePaths) -> EngineInfo | None:
    try:
        raw = json.loads(paths.info.read_text(encoding="utf-8"))
        return EngineInfo(**raw)
    except (OSError, ValueError, TypeError):
        return None


def write_info(paths: StatePaths, info: EngineInfo) -> None:
    atomic_write_text(paths.info, info.to_json())


def clear_info(paths: StatePaths) -> None:
    with contextlib.suppress(OSError):
        paths.info.unlink()


def ensure_token(paths: StatePaths) -> str:
    """The API token: generated once, readable by the owner only (0600)."""
    try:
        text = paths.token.read_text(encoding="utf-8").strip()
        if text:
            return text
    except OSError:
        pass
    token = secrets.token_urlsafe(32)
    atomic_write_text(paths.token, token + "\n", mode=0o600)
    return token


def read_token(paths: StatePaths) -> str | None:
    try:
        return paths.token.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


class EngineLock:
    """An exclusive ``flock`` on ``engine.lock``: held while an engine runs, released by the kernel when
    it dies (kill -9 included), so a stale lock never blocks a restart."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self._fh: IO[str] | None = None

    def acquire(self, repository: Path) -> None:
        fh = self.paths.lock.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise StateDirError(f"cannot lock {self.paths.lock}: {exc.strerror}") from exc
            info = read_info(self.paths)
            where = f" (pid {info.pid}, API {info.api_url})" if info is not None else ""
            raise EngineRunning(
                f"an engine already runs for {repository}{where}",
                hint="use that one (llmops status), or stop it first (llmops down, or Ctrl-C where it runs)",
            ) from exc
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def bind_socket(host: str, port: int, *, what: str, setting: str) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port); one clear line when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is in use, so the {what} cannot listen there",
                hint=f"stop what listens there (ss -ltnp 'sport = :{port}'), or change {setting}",
            ) from exc
        raise EngineError(f"cannot listen on {host}:{port} for the {what}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
