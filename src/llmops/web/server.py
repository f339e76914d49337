"""``llmops up``: the engine and its API served by uvicorn in the engine's own event loop.

The API listens on ``engine.api_host`` (127.0.0.1 unless told otherwise) at a port remembered
across restarts. SIGINT and SIGTERM stop the engine cleanly: vLLM processes are stopped, the
state is committed, the lock released. ``--detach`` starts the same thing as a background process
(its output in ``engine.log`` in the state directory) and returns once the API answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from llmops.engine.aio import wait_event
from llmops.engine.client import EngineNotRunning, connect
from llmops.engine.engine import Engine, EngineOptions
from llmops.engine.paths import EngineRunning, bind_socket, ensure_token, is_loopback, state_dir_for
from llmops.errors import EngineError
from llmops.gitops.appstate import AppStatus
from llmops.gitops.repo import Repository

from .api import create_app

CHILD_ENV = "LLMOPS_ENGINE_CHILD"
DETACH_DEADLINE_S = 120.0


@dataclass(frozen=True, kw_only=True)
class UpOptions:
    api_host: str | None = None
    api_port: int | None = None
    view_interval_s: float = 1.0


View = Callable[[list[AppStatus], dict[str, Any]], None]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the engine decides how to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(
    repo: Repository, options: UpOptions, view: View | None, ready: Callable[[dict[str, Any]], None]
) -> None:
    engine = Engine(repo, EngineOptions(api_host=options.api_host, api_port=options.api_port))
    await engine.start()
    keep = False
    server: _Server | None = None
    try:
        host = engine.api_host
        remembered = engine.store.setting("api_port")
        port = (
            options.api_port
            if options.api_port is not None
            else engine.config.api_port or int(remembered or 0)
        )
        try:
            sock = bind_socket(host, port, what="engine API", setting="engine.api_port in llmops.yaml")
        except EngineError:
            if options.api_port is not None or engine.config.api_port:
                raise
            sock = bind_socket(host, 0, what="engine API", setting="engine.api_port")
        engine.store.set_setting("api_port", str(sock.getsockname()[1]))

        def shutdown(keep_processes: bool) -> None:
            nonlocal keep
            keep = keep_processes
            engine.request_stop()

        token = ensure_token(engine.paths)
        app = create_app(engine, token=token, require_token=not is_loopback(host), on_shutdown=shutdown)
        server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        shown = f"[{host}]" if ":" in host else host
        engine.write_info(f"http://{shown}:{sock.getsockname()[1]}")
        loop = asyncio.get_running_loop()
        # Ctrl-C, SIGTERM and SIGHUP (a closed terminal) stop the engine and its vLLM processes
        # cleanly, as the CLI boundary treats them for every other verb.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, engine.request_stop)
        ready(engine.info())
        while not engine.stopping:
            if view is not None:
                view(engine.status(), engine.info())
            await wait_event(engine.stop_event, options.view_interval_s)
    finally:
        if server is not None:
            server.should_exit = True
        await engine.stop(keep_processes=keep)


def run(
    repo: Repository, options: UpOptions, *, view: View | None, ready: Callable[[dict[str, Any]], None]
) -> None:
    """Serve until Ctrl-C or ``llmops down``."""
    asyncio.run(_serve(repo, options, view, ready))


def start_detached(repo: Repository, options: UpOptions) -> dict[str, Any]:
    """Start ``llmops up`` in the background; its engine info once the API answers."""
    paths = state_dir_for(repo.root, repo.config.engine)
    paths.root.mkdir(parents=True, exist_ok=True)
    try:
        running = connect(repo)
    except EngineNotRunning:
        running = None
    if running is not None:
        raise EngineRunning(
            f"an engine already runs for {repo.root} (API {running.url})",
            hint="use that one (llmops status), or stop it first (llmops down)",
        )
    args = [sys.executable, "-m", "llmops", "--repo", str(repo.root), "up", "--quiet"]
    if options.api_host:
        args += ["--api-host", options.api_host]
    if options.api_port is not None:
        args += ["--api-port", str(options.api_port)]
    log = paths.detached_log
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            args,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, CHILD_ENV: "1"},
        )
    deadline = time.monotonic() + DETACH_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-2:]
            raise EngineError(
                f"the engine stopped while starting: {' '.join(tail) or 'no output'}", hint=f"see {log}"
            )
        with contextlib.suppress(EngineNotRunning):
            client = connect(repo)
            return client.info()
        time.sleep(0.2)
    raise EngineError(f"the engine did not answer within {DETACH_DEADLINE_S:.0f} s", hint=f"see {log}")
