"""The vLLM processes: started, watched, restarted, adopted, stopped.

Each replica runs in its own process group (a new session), with its output in a log file under
the state directory. Ready means what a readiness probe on a KServe predictor would check, and
more: ``/health`` answers 200 and ``/v1/models`` lists the served model. A process that exits
on its own is restarted with the kubelet's back-off (10 s, doubling, at most 300 s, reset after
10 minutes of running; Kubernetes documents the same delays for CrashLoopBackOff); meanwhile the
replica is in back-off and its InferenceService is Degraded with vLLM's own last error line.
After an engine restart the processes it left running are adopted again when their pid is alive,
their command line has their port and served name, and their port serves that model; otherwise
they are stopped and started afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .httpwire import WireError, get
from .kserve_local import ProcessSpec
from .kserve_status import ReplicaView
from .paths import StatePaths
from .proxy import Backend
from .rollout import Rollout, RolloutPlan
from .store import ProcessRecord, Store, now_rfc3339

HOST = "127.0.0.1"
STOP_GRACE_S = 15.0


@dataclass
class Timing:
    """Probe and back-off timings (tests shorten them)."""

    exit_poll_s: float = 0.25
    starting_probe_s: float = 0.5
    ready_probe_s: float = 5.0
    backoff_start_s: float = 10.0
    backoff_max_s: float = 300.0
    backoff_reset_s: float = 600.0
    not_ready_after: int = 3  # failed probes in a row before a ready replica counts as not ready


_ERROR_LINE = re.compile(r"^(?:\(\w+ pid=\d+\)\s*)?([\w.]*(?:Error|Exception|Exit)\w*: .+)$")
_LOG_PREFIX = re.compile(r"^(?:\(\w+ pid=\d+\)\s*)?(?:ERROR|CRITICAL)\s+\S+\s+\S+\s+(?:\[[^\]]*\]\s*)?(.+)$")


START_MARK = "=== "  # the engine writes this line before each start: only the current run counts


def last_error_line(log: Path, *, fallback: bool = True, limit: int = 65536) -> str:
    """vLLM's own last error line of its current run: the last exception line, else the last ERROR
    record, else (``fallback``) the last line it wrote."""
    try:
        with log.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    starts = [i for i, ln in enumerate(lines) if ln.startswith(START_MARK)]
    lines = lines[starts[-1] + 1 :] if starts else lines
    for pattern in (_ERROR_LINE, _LOG_PREFIX):
        for line in reversed(lines):
            match = pattern.match(line.strip())
            if match:
                return match.group(1).strip()[:500]
    tail = [ln.strip() for ln in lines if ln.strip()]
    return tail[-1][:500] if tail and fallback else ""


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _pin_group(pgid: int, cores: set[int]) -> None:
    """Every thread of every process in process group ``pgid`` may run only on ``cores``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for task in (entry / "task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cores)
        except (OSError, ValueError, IndexError):
            continue


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def serves(port: int, model: str) -> bool:
    """Whether ``port`` answers /health and lists ``model`` in /v1/models."""
    try:
        status, _ = await get(HOST, port, "/health", timeout=2.0)
        if status != 200:
            return False
        status, body = await get(HOST, port, "/v1/models", timeout=2.0)
        return status == 200 and model in {m.get("id") for m in json.loads(body).get("data", [])}
    except (WireError, ValueError, AttributeError):
        return False


@dataclass
class Replica:
    spec: ProcessSpec
    index: int
    port: int
    log: Path
    state: str = "Pending"  # Pending | Starting | Ready | BackOff | Stopped
    pid: int | None = None
    popen: subprocess.Popen[bytes] | None = None  # None for an adopted process
    started_mono: float = 0.0
    ready_mono: float | None = None
    restarts: int = 0
    exit_code: int | None = None
    last_error: str = ""
    failed_at: str = ""
    backoff_s: float = 0.0
    backoff_until: float = 0.0
    failed_probes: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    retired: bool = False  # stopped or being stopped: its watch ends
    surge: bool = False  # started beside the serving replica by a RollingUpdate, not routed yet
    rollout: Rollout | None = field(default=None, repr=False)
    plan: RolloutPlan = field(default_factory=RolloutPlan, repr=False)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.spec.app, self.spec.isvc, self.index)

    @property
    def name(self) -> str:
        return f"{self.spec.isvc}-{self.index}"

    def view(self) -> ReplicaView:
        return ReplicaView(
            state=self.state,
            exit_code=self.exit_code,
            last_error=self.last_error,
            failed_at=self.failed_at,
            name=self.name,
        )

    def backend(self) -> Backend:
        return Backend(HOST, self.port, self.spec.served_name, self.spec.app, self.spec.isvc, self.index)


Notify = Callable[[str, str, str, str], None]  # (app, isvc, reason, message)
InFlight = Callable[[Backend], int]  # requests an endpoint is forwarding to a backend right now
Key = tuple[str, str, int]


class Supervisor:
    """Every vLLM replica of the engine."""

    def __init__(
        self,
        store: Store,
        paths: StatePaths,
        notify: Notify,
        timing: Timing | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        self.store = store
        self.paths = paths
        self.notify = notify
        self.timing = timing or Timing()
        self.in_flight: InFlight = in_flight or (lambda _backend: 0)
        self.replicas: dict[Key, Replica] = {}  # the replicas the endpoints route to
        self.surges: dict[Key, Replica] = {}  # RollingUpdate: the new replica, until it is ready
        self.rollouts: dict[Key, Rollout] = {}  # the latest rollout of each replica
        self._retiring: set[Replica] = set()  # old replicas draining before they stop
        self._failed_digests: dict[
            Key, str
        ] = {}  # digest whose rollout missed its deadline (not retried alone)
        self._ports: dict[Key, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- desired state ------------------------------------------------------------------------

    async def ensure(
        self,
        app: str,
        specs: list[ProcessSpec],
        plans: dict[str, RolloutPlan] | None = None,
        *,
        retry_failed: bool = False,
    ) -> None:
        """Run exactly ``specs`` for ``app``: start what is missing, roll out what changed (each
        InferenceService's plan), stop the rest. A configuration whose rollout missed its deadline
        is tried again only with ``retry_failed`` (a new operation)."""
        wanted = {(app, s.isvc, i): s for s in specs for i in range(s.replicas_local)}
        for key in [k for k in self.replicas if k[0] == app and k not in wanted]:
            await self._stop(self.replicas.pop(key), "no longer desired")
        for key in [k for k in self.surges if k[0] == app and k not in wanted]:
            await self._abandon(key, "no longer desired")
        for key, spec in wanted.items():
            await self._converge(key, spec, (plans or {}).get(spec.isvc) or RolloutPlan(), retry_failed)

    async def _converge(self, key: Key, spec: ProcessSpec, plan: RolloutPlan, retry_failed: bool) -> None:
        current = self.replicas.get(key)
        surge = self.surges.get(key)
        if current is not None and current.spec.digest == spec.digest:
            current.spec = spec  # same command; notes may differ
            current.plan = plan
            self._failed_digests.pop(key, None)
            known = self.rollouts.get(key)
            if known is not None and known.done.is_set() and known.digest != spec.digest:
                del self.rollouts[key]  # a failed rollout to a configuration no longer wanted
            if surge is not None:
                await self._abandon(key, "the running configuration is desired again")
            return
        if surge is not None and surge.spec.digest == spec.digest:
            return
        if not retry_failed and self._failed_digests.get(key) == spec.digest:
            return
        self._failed_digests.pop(key, None)
        if surge is not None:
            await self._abandon(key, "superseded by a newer configuration")
        rollout = Rollout(
            app=key[0],
            isvc=key[1],
            replica=key[2],
            strategy=plan.strategy,
            digest=spec.digest,
            deadline_s=plan.deadline_s,
        )
        previous = self.rollouts.get(key)
        if previous is not None:
            previous.finish("Superseded", "superseded by a newer configuration")
        self.rollouts[key] = rollout
        if current is not None and current.state == "Ready" and plan.strategy == "RollingUpdate":
            replica = self._start(key, spec, surge=True)
            self._split_cores(current, replica)
            self.notify(
                key[0],
                key[1],
                "RolloutStarted",
                f"RollingUpdate of vLLM {replica.name}: the new one starts beside the serving one "
                f"(deadline {plan.deadline_s:g} s)",
            )
        else:
            if current is not None:
                self.replicas.pop(key)
                if plan.strategy == "Recreate" and current.state == "Ready":
                    self.notify(
                        key[0],
                        key[1],
                        "RolloutRecreate",
                        f"Recreate of vLLM {current.name}: the old one stops first; the endpoint answers "
                        "503 until the new one is ready",
                    )
                await self._drain(current, plan.grace_s)
                await self._stop(current, "its configuration changed")
                rollout.old_stopped_mono = time.monotonic()
            replica = self._start(key, spec)
        replica.rollout = rollout
        replica.plan = plan
        self._spawn(self._deadline(rollout, replica))

    def _split_cores(self, serving: Replica, starting: Replica) -> None:
        """While a RollingUpdate starts a vLLM beside a serving one, each gets its own half of the
        cores: vLLM's CPU build pins its threads, and a busy serving process pinned to the same
        cores as the new one's start would starve it (seen on 2 cores: minutes instead of 40 s).
        The new one gets every core back once it serves (:meth:`_all_cores`)."""
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            return
        half = len(cores) // 2
        for replica, part in ((serving, cores[half:]), (starting, cores[:half])):
            if replica.pid is not None:
                _pin_group(replica.pid, set(part))

    def _all_cores(self, replica: Replica) -> None:
        if replica.pid is not None:
            _pin_group(replica.pid, set(os.sched_getaffinity(0)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_rollouts(self, app: str) -> str | None:
        """Wait for the app's rollouts in progress; the first failure's message, or None."""
        rollouts = [r for k, r in self.rollouts.items() if k[0] == app]
        for rollout in rollouts:
            await rollout.done.wait()
        failures = [r.failure() for r in rollouts if r.failure()]
        return failures[0] if failures else None

    def rollouts_of(self, app: str) -> list[Rollout]:
        return [r for k, r in sorted(self.rollouts.items()) if k[0] == app]

    def views(self, app: str, isvc: str) -> list[ReplicaView]:
        return [r.view() for r in self.of_app(app) if r.spec.isvc == isvc and not r.surge]

    def of_app(self, app: str) -> list[Replica]:
        found = [r for (a, _, _), r in sorted(self.replicas.items()) if a == app]
        return found + [r for (a, _, _), r in sorted(self.surges.items()) if a == app]

    def ready_backends(self, apps: list[str]) -> list[Backend]:
        return [
            r.backend() for (a, _, _), r in sorted(self.replicas.items()) if a in apps and r.state == "Ready"
        ]

    # -- starting -----------------------------------------------------------------------------

    def _log_path(self, spec: ProcessSpec, index: int, suffix: str = "") -> Path:
        folder = self.paths.logs / spec.app
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{spec.isvc}-{index}{suffix}.log"

    def _start(self, key: Key, spec: ProcessSpec, *, surge: bool = False) -> Replica:
        port = free_port() if surge else self._ports.get(key) or free_port()
        if not surge:
            self._ports[key] = port
        log = self._log_path(spec, key[2], ".next" if surge else "")
        replica = Replica(spec=spec, index=key[2], port=port, log=log, surge=surge)
        (self.surges if surge else self.replicas)[key] = replica
        self._launch(replica)
        replica.task = asyncio.get_running_loop().create_task(self._watch(key, replica))
        return replica

    def _env(self, replica: Replica) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VLLM_")}
        home = self.paths.root / "proc" / replica.spec.app
        env.update(XDG_CACHE_HOME=str(home / "cache"), HF_HOME=str(home / "hf_home"))
        env.update(dict(replica.spec.env))
        return env

    def _launch(self, replica: Replica) -> None:
        replica.port = self._free_or_same(replica.port)
        command = replica.spec.command(replica.port)
        with replica.log.open("ab") as sink:
            sink.write(f"\n{START_MARK}{now_rfc3339()} llmops starts: {' '.join(command)}\n".encode())
            sink.flush()
            try:
                replica.popen = subprocess.Popen(
                    command,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self._env(replica),
                    cwd=self.paths.root,
                    start_new_session=True,
                )
            except OSError as exc:
                replica.popen = None
                self._failed(replica, None, f"cannot start {command[0]}: {exc.strerror or exc}")
                return
        replica.pid = replica.popen.pid
        replica.state = "Starting"
        replica.started_mono = time.monotonic()
        replica.ready_mono = None
        self.store.put_process(
            ProcessRecord(
                app=replica.spec.app,
                isvc=replica.spec.isvc,
                replica=replica.index,
                pid=replica.pid,
                port=replica.port,
                served_model=replica.spec.served_name,
                digest=replica.spec.digest,
                started_at=now_rfc3339(),
                log_path=str(replica.log),
            )
        )
        self.notify(
            replica.spec.app,
            replica.spec.isvc,
            "ProcessStarted",
            f"vLLM {replica.name} starting on port {replica.port} (pid {replica.pid})",
        )

    def _free_or_same(self, port: int) -> int:
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
                return port
            except OSError:
                return free_port()

    # -- watching -----------------------------------------------------------------------------

    async def _watch(self, key: Key, replica: Replica) -> None:
        next_probe = 0.0
        while not replica.retired:
            now = time.monotonic()
            if replica.state == "BackOff":
                if now >= replica.backoff_until:
                    replica.restarts += 1
                    self._launch(replica)
                    next_probe = 0.0
            elif replica.state in ("Starting", "Ready"):
                code = self._exited(replica)
                if code is not False:
                    self._failed(replica, code if isinstance(code, int) else None, "")
                elif now >= next_probe:
                    await self._probe(replica)
                    interval = (
                        self.timing.ready_probe_s
                        if replica.state == "Ready"
                        else self.timing.starting_probe_s
                    )
                    next_probe = time.monotonic() + interval
            await asyncio.sleep(self.timing.exit_poll_s)

    def _exited(self, replica: Replica) -> int | bool | None:
        """False while the process runs; its exit code (None when unknown) once it has exited."""
        if replica.popen is not None:
            code = replica.popen.poll()
            return False if code is None else code
        if replica.pid is not None and _alive(replica.pid):
            return False
        return None

    async def _probe(self, replica: Replica) -> None:
        ok = await serves(replica.port, replica.spec.served_name)
        if ok:
            replica.failed_probes = 0
            if replica.state != "Ready":
                replica.state = "Ready"
                replica.ready_mono = time.monotonic()
                self._became_ready(replica)
                took = replica.ready_mono - replica.started_mono
                self.notify(
                    replica.spec.app,
                    replica.spec.isvc,
                    "ProcessReady",
                    f"vLLM {replica.name} ready on port {replica.port} after {took:.1f} s",
                )
            elif replica.ready_mono and time.monotonic() - replica.ready_mono > self.timing.backoff_reset_s:
                replica.backoff_s = 0.0
            return
        if replica.state == "Ready":
            replica.failed_probes += 1
            if replica.failed_probes >= self.timing.not_ready_after:
                replica.state = "Starting"
                self.notify(
                    replica.spec.app,
                    replica.spec.isvc,
                    "ProcessNotReady",
                    f"vLLM {replica.name} stopped answering /health",
                )

    # -- rollouts -----------------------------------------------------------------------------

    def _became_ready(self, replica: Replica) -> None:
        """A ready surge takes the old replica's place in routing at once; the old one drains."""
        key, rollout = replica.key, replica.rollout
        now = time.monotonic()
        replaced = self.surges.get(key) is replica or (
            rollout is not None and rollout.old_stopped_mono is not None
        )
        if self.surges.get(key) is replica:
            old = self.replicas.get(key)
            self.replicas[key] = replica  # the switch: the next request routes here
            del self.surges[key]
            replica.surge = False
            self._ports[key] = replica.port
            replica.log = self._swap_logs(replica, old)
            self._all_cores(replica)
            if old is not None:
                self._spawn(self._retire(old, replica.plan.grace_s, "replaced by its RollingUpdate"))
        if rollout is not None and rollout.phase == "Failed" and not replica.surge:
            rollout.phase, rollout.message = "Succeeded", "ready after its progress deadline"
        if rollout is not None and not rollout.done.is_set():
            rollout.ready_mono = replica.ready_mono
            rollout.switched_mono = now
            rollout.switched_wall = time.time()
            took = rollout.switched_mono - rollout.started_mono
            message = (
                f"{rollout.strategy} of vLLM {replica.name} done: serving the new one after {took:.1f} s"
            )
            rollout.finish("Succeeded", message)
            if replaced:  # a first start is no rollout of anything
                self.notify(replica.spec.app, replica.spec.isvc, "RolloutSwitched", message)

    def _swap_logs(self, new: Replica, old: Replica | None) -> Path:
        """The serving replica's log is ``<isvc>-<n>.log``; the replaced one's becomes ``.previous.log``."""
        main = self._log_path(new.spec, new.index)
        with contextlib.suppress(OSError):
            if old is not None and old.log == main:
                previous = self._log_path(old.spec, old.index, ".previous")
                main.replace(previous)
                old.log = previous
            new.log.replace(main)
            return main
        return new.log

    async def _retire(self, replica: Replica, grace_s: float, why: str) -> None:
        self._retiring.add(replica)
        try:
            await self._drain(replica, grace_s)
            await self._stop(replica, why)
        finally:
            self._retiring.discard(replica)

    async def _drain(self, replica: Replica, grace_s: float) -> None:
        """Wait until no request is in flight to ``replica`` (streams included), at most ``grace_s``."""
        if replica.state != "Ready":
            return
        backend = replica.backend()
        deadline = time.monotonic() + grace_s
        while self.in_flight(backend) > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _abandon(self, key: Key, why: str) -> None:
        surge = self.surges.pop(key, None)
        if surge is not None:
            if surge.rollout is not None:
                surge.rollout.finish("Superseded", f"the new vLLM was stopped: {why}")
            await self._stop(surge, why)

    async def _deadline(self, rollout: Rollout, replica: Replica) -> None:
        """The progress deadline: a new replica not ready in time is ProgressDeadlineExceeded."""
        try:
            async with asyncio.timeout(rollout.deadline_s):
                await rollout.done.wait()
            return
        except TimeoutError:
            pass
        line = replica.last_error or last_error_line(replica.log, fallback=False) or "still starting"
        message = (
            f"InferenceService/{rollout.isvc}: ProgressDeadlineExceeded: the new vLLM {replica.name} was "
            f"not ready within {rollout.deadline_s:g} s ({line})"
        )
        if self.surges.get(replica.key) is replica:
            del self.surges[replica.key]
            self._failed_digests[replica.key] = replica.spec.digest
            await self._stop(replica, "progress deadline exceeded")
            serving = self.replicas.get(replica.key)
            if serving is not None:
                self._all_cores(serving)
            message += "; the previous vLLM keeps serving"
        rollout.finish("Failed", message)
        self.notify(rollout.app, rollout.isvc, "RolloutFailed", message)

    def _failed(self, replica: Replica, code: int | None, why: str) -> None:
        self._kill_group(replica, signal.SIGKILL)  # what it left behind (vLLM's engine core)
        replica.exit_code = (
            (128 - code) if code is not None and code < 0 else code
        )  # as a container reports it
        line = why or last_error_line(replica.log, fallback=code is not None and code > 0)
        replica.last_error = f"vLLM {_describe_exit(code)}" + (f": {line}" if line else "")
        replica.failed_at = now_rfc3339()
        replica.backoff_s = min(
            self.timing.backoff_max_s,
            replica.backoff_s * 2 if replica.backoff_s else self.timing.backoff_start_s,
        )
        replica.backoff_until = time.monotonic() + replica.backoff_s
        replica.state = "BackOff"
        replica.popen = None
        self.notify(
            replica.spec.app,
            replica.spec.isvc,
            "ProcessFailed",
            f"{replica.last_error}; restarting in {replica.backoff_s:g} s (back-off)",
        )

    # -- stopping -----------------------------------------------------------------------------

    def _kill_group(self, replica: Replica, sig: signal.Signals) -> None:
        if replica.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(replica.pid, sig)

    async def _stop(self, replica: Replica, why: str) -> None:
        replica.retired = True
        if replica.task is not None:
            replica.task.cancel()
        if replica.pid is not None and replica.state != "BackOff":
            self._kill_group(replica, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while self._exited(replica) is False and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            self._kill_group(replica, signal.SIGKILL)
            if replica.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    replica.popen.wait(5)
        replica.state = "Stopped"
        self.store.delete_process(replica.spec.app, replica.spec.isvc, replica.index, pid=replica.pid)
        self.notify(
            replica.spec.app, replica.spec.isvc, "ProcessStopped", f"vLLM {replica.name} stopped: {why}"
        )

    async def stop_app(self, app: str, why: str) -> None:
        for key in [k for k in self.surges if k[0] == app]:
            await self._abandon(key, why)
        for key in [k for k in self.replicas if k[0] == app]:
            await self._stop(self.replicas.pop(key), why)

    async def shutdown(self) -> None:
        """Stop every process (Ctrl-C of ``llmops up``), in parallel."""
        for task in list(self._tasks):
            task.cancel()
        replicas = [*self.replicas.values(), *self.surges.values(), *self._retiring]
        self.replicas.clear()
        self.surges.clear()
        await asyncio.gather(*(self._stop(r, "the engine stops") for r in replicas), return_exceptions=True)

    def release(self) -> None:
        """Stop watching without stopping the processes (``llmops up --detach`` restarts adopt them).
        A rollout in progress is abandoned: its new process stops, the serving one is kept."""
        for task in list(self._tasks):
            task.cancel()
        for replica in self.surges.values():
            self._kill_group(replica, signal.SIGKILL)
        for replica in [*self.replicas.values(), *self.surges.values()]:
            if replica.task is not None:
                replica.task.cancel()
        self.replicas.clear()
        self.surges.clear()

    # -- adoption after a restart -------------------------------------------------------------

    async def adopt(self, record: ProcessRecord, spec: ProcessSpec | None) -> str:
        """Take a process a previous engine started back under watch; says what happened."""
        key = (record.app, record.isvc, record.replica)
        cmd = _cmdline(record.pid)
        ours = _alive(record.pid) and str(record.port) in cmd and record.served_model in cmd
        if not ours:
            self.store.delete_process(record.app, record.isvc, record.replica)
            return f"vLLM {record.isvc}-{record.replica} (pid {record.pid}) is gone; it will be started again"
        if spec is None or spec.digest != record.digest or not await serves(record.port, record.served_model):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, signal.SIGTERM)
            self.store.delete_process(record.app, record.isvc, record.replica)
            return f"vLLM {record.isvc}-{record.replica} (pid {record.pid}) no longer matches: replaced"
        replica = Replica(
            spec=spec,
            index=record.replica,
            port=record.port,
            log=Path(record.log_path),
            state="Ready",
            pid=record.pid,
            started_mono=time.monotonic(),
            ready_mono=time.monotonic(),
        )
        self._ports[key] = record.port
        self.replicas[key] = replica
        replica.task = asyncio.get_running_loop().create_task(self._watch(key, replica))
        return f"vLLM {replica.name} (pid {record.pid}, port {record.port}) adopted"
