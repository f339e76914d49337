"""Argo CD resource hooks (``argocd.argoproj.io/hook``) run on this machine.

A hook Job whose container runs llmops (its command is ``llmops``, or its image is an ``llmops``
image) becomes a local process: ``python -m llmops`` with the container's own arguments, after
Kubernetes' ``$(VAR)`` expansion from the container's environment (``value`` and the ``metadata.name``
and ``metadata.namespace`` field references). What only makes sense in a cluster is adapted and
listed in the hook's result: an in-cluster service address of one of the Application's
InferenceServices (``<isvc>-predictor.<namespace>.svc...``) becomes the environment's local endpoint,
a ServiceAccount token file or service CA is dropped (the local endpoint is plain HTTP without
auth), ``HOME`` is not set (the hook runs as this user). An llmops image whose command is a wrapper
(the reference smoke Job's shell script: skip a stopped model, wait for the Deployment's rollout,
then ``exec llmops "$@"``) runs llmops with the arguments directly: the engine runs PostSync hooks
once the new configuration is Healthy, so there is no rollout to wait for and no old pod to answer,
and a stopped environment has no PostSync hooks (the ``stopped`` component drops them). A hook that
cannot run locally (another image, a Pod hook) is Skipped, with the reason.

As in Kubernetes and Argo CD: the Job is retried up to ``backoffLimit`` times (default 6) with the
Job controller's back-off (10 s, doubling), stopped after ``activeDeadlineSeconds``, and its live
object follows ``hook-delete-policy`` (default BeforeHookCreation; HookSucceeded deletes it after
success, HookFailed after failure; gitops-engine pkg/sync/hook/delete_policy.go).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmops.gitops.manifests import Resource, get_path

from .compare import HOOK_ANNOTATION, csv_annotation
from .store import ResourceKey, now_rfc3339

DELETE_POLICY_ANNOTATION = "argocd.argoproj.io/hook-delete-policy"
DELETE_POLICIES = ("HookSucceeded", "HookFailed", "BeforeHookCreation")
DEFAULT_BACKOFF_LIMIT = 6  # Kubernetes' default for a Job
DEFAULT_DEADLINE_S = 1800.0  # a Job without activeDeadlineSeconds runs until done; bound it locally
POD_BACKOFF_START_S = 10.0
SECRET_PATHS = "/var/run/secrets/"
LOCAL_ONLY_ENV = frozenset({"HOME"})  # the machine's own, not the container's
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_URL = re.compile(r"(https?)://([A-Za-z0-9.-]+)(?::(\d+))?")


@dataclass(frozen=True, kw_only=True)
class HookPlan:
    job: Resource
    key: ResourceKey
    phases: tuple[str, ...]
    delete_policies: tuple[str, ...]
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    attempts: int = 1
    deadline_s: float = DEFAULT_DEADLINE_S
    skip_reason: str = ""
    adaptations: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.key.name


@dataclass(frozen=True, kw_only=True)
class HookResult:
    """One hook's outcome, as the sync result shows it."""

    kind: str
    name: str
    phase: str  # PreSync | Sync | PostSync | SyncFail
    status: str  # Succeeded | Failed | Skipped
    message: str
    log: str = ""
    started_at: str = ""
    finished_at: str = ""
    exit_code: int | None = None
    attempts: int = 0
    adaptations: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "phase": self.phase,
            "status": self.status,
            "message": self.message,
            "log": self.log,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "exit_code": self.exit_code,
            "attempts": self.attempts,
            "adaptations": list(self.adaptations),
        }


def delete_policies(job: Resource) -> tuple[str, ...]:
    found = tuple(p for p in csv_annotation(job, DELETE_POLICY_ANNOTATION) if p in DELETE_POLICIES)
    return found or ("BeforeHookCreation",)


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' dependent variable expansion: $(VAR) from the container's env; $$ escapes."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text.replace("$$(", "\0")).replace("\0", "$(")


def _container_env(container: dict[str, Any], job: Resource, notes: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    fields = {
        "metadata.namespace": str(get_path(job, "metadata.namespace") or ""),
        "metadata.name": str(get_path(job, "metadata.name") or ""),
    }
    for item in container.get("env") or []:
        if not isinstance(item, dict) or not item.get("name"):
            continue
        name = str(item["name"])
        if "value" in item:
            value = _expand(str(item["value"]), env)
            if name in LOCAL_ONLY_ENV:
                notes.append(f"env {name}={value} not set: the hook runs as this user")
                continue
            if value.startswith(SECRET_PATHS):
                notes.append(
                    f"env {name}={value} dropped: the local endpoint is plain HTTP without a service CA"
                )
                continue
            env[name] = value
            continue
        ref = get_path(item, "valueFrom.fieldRef.fieldPath")
        if isinstance(ref, str) and ref in fields:
            env[name] = fields[ref]
        else:
            notes.append(f"env {name} comes from the cluster (valueFrom) and is not set locally")
    return env


def _llmops_image(container: dict[str, Any]) -> bool:
    image = str(container.get("image") or "")
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0] == "llmops"


def _llmops_words(container: dict[str, Any], notes: list[str]) -> list[str] | None:
    """llmops's arguments in this container, or None when it does not run llmops."""
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if command and Path(command[0]).name == "llmops":
        return command[1:] + args
    if not _llmops_image(container):
        return None
    if command:
        notes.append(
            f"command {' '.join(command[:2])} ... (the image's wrapper) not run: llmops runs with the "
            "container's args once the new configuration is Healthy"
        )
    return args


def _map_urls(arg: str, local: Callable[[str, str], str | None], namespace: str, notes: list[str]) -> str:
    def swap(match: re.Match[str]) -> str:
        host = match.group(2)
        parts = host.split(".")
        service, ns = parts[0], parts[1] if len(parts) > 1 else namespace
        in_cluster = len(parts) <= 2 or parts[2] == "svc"  # svc, svc.ns, svc.ns.svc[.cluster.local]
        url = local(service, ns) if in_cluster else None
        if url is None:
            return match.group(0)
        notes.append(f"{match.group(0)} -> {url} (the environment's local endpoint)")
        return url

    return _URL.sub(swap, arg)


def _adapt_args(
    args: list[str], local: Callable[[str, str], str | None], namespace: str, notes: list[str]
) -> list[str]:
    out: list[str] = []
    skip_next = False
    for i, arg in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        name, eq, value = arg.partition("=")
        if name == "--token-file":
            shown = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            notes.append(f"--token-file {shown} dropped: the local endpoint needs no token")
            skip_next = not eq
            continue
        out.append(_map_urls(arg, local, namespace, notes))
    return out


def plan_hook(job: Resource, *, local_endpoint: Callable[[str, str], str | None]) -> HookPlan:
    """How to run one hook here, or why it is skipped. ``local_endpoint(service, namespace)`` maps an
    in-cluster service to a local URL (None when it is not one of the Application's models)."""
    key = ResourceKey.of(job)
    phases = tuple(p for p in csv_annotation(job, HOOK_ANNOTATION) if p != "Skip")
    plan = HookPlan(job=job, key=key, phases=phases, delete_policies=delete_policies(job))
    if job.get("kind") != "Job":
        return replace(plan, skip_reason=f"only Job hooks run locally; this hook is a {job.get('kind')}")
    containers = get_path(job, "spec.template.spec.containers") or []
    if not isinstance(containers, list) or len(containers) != 1 or not isinstance(containers[0], dict):
        return replace(plan, skip_reason="only a Job with one container runs locally")
    container = containers[0]
    notes: list[str] = []
    words = _llmops_words(container, notes)
    if words is None:
        image = container.get("image") or "an unknown image"
        return replace(plan, skip_reason=f"its container runs {image}, not llmops")
    env = _container_env(container, job, notes)
    args = _adapt_args([_expand(a, env) for a in words], local_endpoint, key.namespace, notes)
    limit = get_path(job, "spec.backoffLimit")
    deadline = get_path(job, "spec.activeDeadlineSeconds")
    return replace(
        plan,
        command=(sys.executable, "-m", "llmops", *args),
        env=tuple(sorted(env.items())),
        attempts=(int(limit) if isinstance(limit, int) and limit >= 0 else DEFAULT_BACKOFF_LIMIT) + 1,
        deadline_s=float(deadline)
        if isinstance(deadline, int | float) and deadline > 0
        else DEFAULT_DEADLINE_S,
        adaptations=tuple(notes),
    )


def _tail(log: Path, lines: int = 12) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    kept = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("=== ")]
    return "\n".join(kept[-lines:])


async def _attempt(plan: HookPlan, log: Path, workdir: Path, timeout: float) -> int | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMOPS_", "VLLM_"))}
    env.update(dict(plan.env))
    env["GIT_CEILING_DIRECTORIES"] = str(workdir.parent)  # like a pod: no repository around it
    env["NO_COLOR"] = "1"
    with log.open("ab") as sink:
        sink.write(f"=== {now_rfc3339()} llmops runs hook {plan.name}: {' '.join(plan.command)}\n".encode())
        for note in plan.adaptations:
            sink.write(f"=== adapted for this machine: {note}\n".encode())
        sink.flush()
        proc = await asyncio.create_subprocess_exec(
            *plan.command,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )
        pidfile = _pidfile(log)
        pidfile.write_text(json.dumps({"pid": proc.pid, "command": list(plan.command)}))
        try:
            async with asyncio.timeout(timeout):
                return await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            await proc.wait()
            return None
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            raise
        finally:
            pidfile.unlink(missing_ok=True)


def _pidfile(log: Path) -> Path:
    return log.with_suffix(".pid")


def stop_orphans(folder: Path) -> list[tuple[str, str]]:
    """Stop the hook processes a previous engine left running when it died (``kill -9``).

    Argo CD finds the named hook Job it created before a controller restart and waits for it rather than
    creating it again (argo-cd gitops-engine/pkg/sync/doc.go: a named hook is created once); a local
    process cannot be waited on by another parent, so
    the resumed operation runs the hook again and the orphan is stopped first, never run twice at once.
    A pid is only signalled while its command line is still the hook's. Returns (Application, what was
    done) per orphan.
    """
    stopped = []
    for pidfile in sorted(folder.glob("*/*.pid")) if folder.is_dir() else []:
        try:
            record = json.loads(pidfile.read_text())
            pid, command = int(record["pid"]), [str(c) for c in record["command"]]
        except (OSError, ValueError, KeyError, TypeError):
            pidfile.unlink(missing_ok=True)
            continue
        try:
            running = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            running = []
        if running == command:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            name = pidfile.stem.partition("-")[2]
            line = f"hook {name}: process {pid} left by the previous engine stopped"
            stopped.append((pidfile.parent.name, line))
        pidfile.unlink(missing_ok=True)
    return stopped


async def run_hook(
    plan: HookPlan, phase: str, log: Path, on_status: Callable[[dict[str, Any]], None]
) -> HookResult:
    """Run a hook Job to completion (retries included); ``on_status`` receives each new Job status."""
    started = now_rfc3339()
    result = HookResult(
        kind=plan.key.kind,
        name=plan.name,
        phase=phase,
        status="Running",
        message="",
        started_at=started,
        adaptations=plan.adaptations,
    )
    if plan.skip_reason:
        return replace(result, status="Skipped", message=plan.skip_reason, finished_at=started)
    log.parent.mkdir(parents=True, exist_ok=True)
    workdir = log.parent / f"{plan.name}.work"
    workdir.mkdir(exist_ok=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.deadline_s
    code: int | None = None
    attempts = 0
    for attempt in range(plan.attempts):
        attempts = attempt + 1
        on_status({"active": 1, "startTime": started, "failed": attempt})
        code = await _attempt(plan, log, workdir, max(1.0, deadline - loop.time()))
        if code == 0 or loop.time() >= deadline:
            break
        if attempt + 1 < plan.attempts:
            await asyncio.sleep(
                min(POD_BACKOFF_START_S * 2**attempt, 360.0, max(0.0, deadline - loop.time()))
            )
    finished = now_rfc3339()
    ok = code == 0
    if ok:
        message = f"hook {plan.name} succeeded"
        condition = {"type": "Complete", "status": "True", "lastTransitionTime": finished}
    else:
        reason = "DeadlineExceeded" if code is None else "BackoffLimitExceeded"
        tail = _tail(log)
        message = f"hook {plan.name} failed ({reason}, exit code {code})" + (f":\n{tail}" if tail else "")
        condition = {
            "type": "Failed",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": finished,
        }
    on_status(
        {
            "startTime": started,
            "completionTime": finished,
            "succeeded": int(ok),
            "failed": attempts - int(ok),
            "conditions": [condition],
        }
    )
    return replace(
        result,
        status="Succeeded" if ok else "Failed",
        message=message,
        log=str(log),
        finished_at=finished,
        exit_code=code,
        attempts=attempts,
    )
