"""The engine: its parts wired together, and the operations its API offers.

:class:`Engine` owns the store, the sources, the runtime (vLLM processes and the environments'
endpoints) and one reconciler per Application. Every state change is written through the store,
whose events wake the reconcilers and whatever waits on an Application (:meth:`Engine.changed`):
the one place a later event stream publishes from. The HTTP API (:mod:`llmops.web`) calls the
public methods; they return the driver-neutral records of :mod:`llmops.gitops.appstate`.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops import __version__
from llmops.errors import EngineError, LlmopsError, UsageError
from llmops.gitops.appstate import AppStatus, HistoryEntry, LiveObjects, OperationState, SyncRequest
from llmops.gitops.repo import Application, Repository

from . import patch as patching
from . import views
from .aio import wait_event
from .compare import Normalizer, ignore_rules
from .health import Health, HealthChecks
from .hooks import stop_orphans
from .jqworker import JqWorker
from .operations import SyncRun
from .paths import (
    EngineInfo,
    EngineLock,
    StatePaths,
    clear_info,
    ensure_token,
    prepare,
    state_dir_for,
    write_info,
)
from .processes import Timing
from .reconciler import AppReconciler
from .runtime import Runtime
from .source import Revision, SourceError, Sources, watch_local
from .store import Event, ResourceKey, Store, now_rfc3339
from .sync import Decision, OperationRefused, OpRequest, Outcome, RetryPolicy, run_with_retries, sync_options

log = logging.getLogger("llmops.engine")
DEFAULT_HISTORY_LIMIT = 10  # Argo CD's revisionHistoryLimit default
# Events the reconciler itself records: they must not wake it again.
_OWN_EVENTS = frozenset({"SyncStatusChanged", "HealthStatusChanged", "ComparisonError"})


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    api_host: str | None = None  # None: engine.api_host in llmops.yaml
    api_port: int | None = None
    timing: Timing | None = None  # tests shorten probe and back-off timings


class Engine:
    def __init__(self, repo: Repository, options: EngineOptions | None = None) -> None:
        self.repo = repo
        self.root = repo.root
        self.config = repo.config.engine
        self.options = options or EngineOptions()
        self.paths: StatePaths = state_dir_for(repo.root, self.config)
        self.api_host = self.options.api_host or self.config.api_host
        self.store: Store
        self.sources: Sources
        self.runtime: Runtime
        self.checks: HealthChecks
        self.jq = JqWorker()
        self._lock = EngineLock(self.paths)
        self._apps: dict[str, Application] = {}
        self._app_error: str | None = None
        self._reconcilers: dict[str, AppReconciler] = {}
        self._operations: dict[str, asyncio.Task[None]] = {}
        self._resolved: dict[str, Revision | SourceError] = {}
        self._changes: dict[str, asyncio.Event] = {}
        self._stop = asyncio.Event()
        self._background: list[asyncio.Task[Any]] = []
        self.watch_mode = ""
        self.started_at = now_rfc3339()
        self.api_url = ""

    # == lifecycle ================================================================================

    async def start(self) -> None:
        """Take the state directory, read the Applications, open the endpoints, start reconciling."""
        prepare(self.paths)
        self._lock.acquire(self.root)
        try:
            await self._open()
        except BaseException:
            self._lock.release()
            raise

    async def _open(self) -> None:
        self._logging()
        self.store = Store(self.paths.db)
        ensure_token(self.paths)
        self.checks = HealthChecks(self.root, self.config.health_checks)
        self.sources = Sources(self.root, self.repo.config, self.paths)
        self.runtime = Runtime(
            root=self.root,
            config=self.config,
            paths=self.paths,
            store=self.store,
            apps=lambda: self._apps,
            timing=self.options.timing,
        )
        self.store.subscribe(self._on_event)
        await asyncio.to_thread(self.sources.ensure_mirrors)
        await self._load_applications()
        if not self._apps:
            raise EngineError(
                self._app_error
                or f"no Argo CD Application in {', '.join(self.repo.config.applications)} at HEAD",
                hint="commit the Application manifests: the engine reads them from the repository's HEAD",
            )
        self.runtime.open_endpoints()
        for problem in self.checks.problems:
            self.store.emit("", "HealthCheckMissing", problem, type_="Warning")
        await self.runtime.adopt()
        for app, line in stop_orphans(self.paths.hooks):
            self.store.emit(app, "HookOrphanStopped", line, type_="Warning")
        self._resume_operations()
        for name in self._apps:
            self._reconciler(name)
        for src in self.sources.sources():
            if src.remote is None:
                self._background.append(asyncio.create_task(self._watch(src.path)))
        self._background.append(asyncio.create_task(self._poll_remotes()))
        self.store.emit("", "EngineStarted", f"llmops {__version__} engine for {self.root}")

    def _logging(self) -> None:
        if not any(isinstance(h, logging.FileHandler) for h in log.handlers):
            handler = logging.FileHandler(self.paths.root / "engine-errors.log", encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(handler)
            log.propagate = False

    def write_info(self, api_url: str) -> None:
        self.api_url = api_url
        info = EngineInfo(
            pid=os.getpid(),
            api_url=api_url,
            repository=str(self.root),
            started_at=self.started_at,
            version=__version__,
        )
        write_info(self.paths, info)

    async def stop(self, *, keep_processes: bool = False) -> None:
        """Stop reconciling and serving; stop the vLLM processes unless ``keep_processes``."""
        self._stop.set()
        for task in self._background:
            task.cancel()
        for rec in self._reconcilers.values():
            await rec.stop()
        for task in self._operations.values():
            task.cancel()
        await asyncio.gather(*self._operations.values(), return_exceptions=True)
        await self.runtime.close(keep_processes=keep_processes)
        self.jq.close()
        clear_info(self.paths)
        left = " (vLLM processes left running)" if keep_processes else ""
        self.store.emit("", "EngineStopped", f"the engine stopped{left}")
        self.store.close()
        self._lock.release()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    @property
    def stop_event(self) -> asyncio.Event:
        return self._stop

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    # == Applications =============================================================================

    async def _load_applications(self) -> None:
        try:
            apps = await asyncio.to_thread(self.sources.applications)
        except LlmopsError as exc:
            self._app_error = f"cannot read the Applications at HEAD: {exc.message}"
            if self._apps:
                self.store.emit("", "ApplicationsUnreadable", self._app_error, type_="Warning")
            return
        self._app_error = None
        self._apps = {a.name: a for a in apps}

    def application(self, name: str) -> Application | None:
        return self._apps.get(name)

    def applications(self) -> list[Application]:
        return list(self._apps.values())

    def select(self, selector: str | None) -> list[Application]:
        """An environment (its Applications), an Application name, or None (all)."""
        apps = self.applications()
        if selector is None:
            return apps
        chosen = [a for a in apps if a.environment == selector] or [a for a in apps if a.name == selector]
        if not chosen:
            envs = sorted({a.environment for a in apps})
            raise UsageError(
                f"unknown environment or application {selector!r}",
                hint=f"environments: {', '.join(envs)}; applications: {', '.join(sorted(self._apps))}",
            )
        return chosen

    def one(self, selector: str) -> Application:
        chosen = self.select(selector)
        if len(chosen) > 1:
            names = ", ".join(a.name for a in chosen)
            raise UsageError(
                f"{selector} holds {len(chosen)} Applications ({names})", hint="name one Application"
            )
        return chosen[0]

    def source_of(self, app: Application) -> dict[str, Any]:
        return {"path": app.path, "repo_url": app.repo_url, "target_revision": app.target_revision}

    def _reconciler(self, name: str) -> AppReconciler:
        rec = self._reconcilers.get(name)
        if rec is None:
            rec = self._reconcilers[name] = AppReconciler(self, name)
            rec.start()
        return rec

    def snapshot(self, name: str) -> Any:
        rec = self._reconcilers.get(name)
        return rec.snapshot if rec is not None else None

    async def resolve(self, app: Application) -> Revision:
        """The commit the Application follows (cached until the refs change)."""
        cached = self._resolved.get(app.name)
        if cached is None:
            try:
                cached = await asyncio.to_thread(self.sources.resolve, app)
            except SourceError as exc:
                cached = exc
            except LlmopsError as exc:
                cached = SourceError(exc.message)
            self._resolved[app.name] = cached
        if isinstance(cached, SourceError):
            raise cached
        return cached

    def normalizer(self, app: Application) -> Normalizer:
        return Normalizer(ignore_rules(app.manifest), self.jq)

    def health(self, key: ResourceKey, obj: dict[str, Any] | None) -> Health | None:
        return self.checks.resource(key, obj)

    # == watching the sources ======================================================================

    async def _watch(self, path: Path) -> None:
        self.watch_mode = await watch_local(path, self._refs_changed, self._stop)

    def _refs_changed(self) -> None:
        self._resolved.clear()
        asyncio.get_running_loop().create_task(self._reload_and_wake())

    async def _reload_and_wake(self) -> None:
        before = set(self._apps)
        await self._load_applications()
        for gone in before - set(self._apps):
            await self._forget(gone)
        if set(self._apps) - before:
            self.runtime.open_endpoints()
        for name in self._apps:
            self._reconciler(name).wake()

    async def _forget(self, name: str) -> None:
        """An Application gone from Git: its resources finalizer deletes what it deployed, as in Argo CD."""
        rec = self._reconcilers.pop(name, None)
        if rec is not None:
            await rec.stop()
        await self.runtime.supervisor.stop_app(name, "its Application was deleted")
        with self.store.transaction():
            for obj in self.store.live(name):
                self.store.delete_live(name, obj.key)
            self.store.emit(name, "ApplicationDeleted", "gone from Git: its resources were deleted")

    async def _poll_remotes(self) -> None:
        if not any(s.remote for s in self.sources.sources()):
            return
        while not self._stop.is_set():
            await wait_event(self._stop, self.config.poll_s)
            await self._fetch()

    async def _fetch(self) -> None:
        for problem in await asyncio.to_thread(self.sources.fetch_remotes):
            self.store.emit("", "FetchFailed", problem, type_="Warning")
        self._refs_changed()

    async def refresh(self, selector: str | None = None, *, hard: bool = True) -> None:
        """Re-read refs (fetching remotes), render again when ``hard``, and compare now."""
        apps = self.select(selector)
        if hard:
            self.sources.forget_renders()
        await self._fetch()
        for app in apps:
            self._resolved.pop(app.name, None)
            self._reconciler(app.name).wake()

    # == events and waiting =======================================================================

    def _on_event(self, event: Event) -> None:
        for name in [event.app] if event.app else list(self._reconcilers):
            change = self._changes.pop(name, None)
            if change is not None:
                change.set()
            rec = self._reconcilers.get(name)
            if rec is not None and event.reason not in _OWN_EVENTS:
                rec.wake()

    async def changed(self, app: str, timeout: float) -> None:
        """Return when something about ``app`` changed (an event was recorded), or after ``timeout``."""
        await wait_event(self._changes.setdefault(app, asyncio.Event()), timeout)

    def events(self, app: str | None = None, since: int = 0, limit: int = 200) -> list[Event]:
        return self.store.events(app=app, since=since, limit=limit)

    # == what operations need from the runtime ======================================================

    async def actuate(self, app: str) -> None:
        await self.runtime.actuate(app)

    def local_endpoint(self, app: str) -> Callable[[str, str], str | None]:
        return self.runtime.local_endpoint(app)

    def hook_log(self, op_id: int, app: str, name: str) -> Path:
        return self.paths.hooks / app / f"{op_id}-{name}.log"

    # == operations ================================================================================

    def operation_running(self, app: str) -> bool:
        task = self._operations.get(app)
        return task is not None and not task.done()

    def _resume_operations(self) -> None:
        """Operations the last engine died in the middle of are run again, as Argo CD resumes them."""
        for op in self.store.interrupted_operations():
            raw = op["result"].get("request")
            if op["app"] not in self._apps or not raw:
                message = "interrupted: the engine stopped during it"
                self.store.update_operation(op["id"], phase="Error", message=message, finished=True)
                self.store.add_history(
                    op["app"], self.store.operation(op["id"]) or op, limit=DEFAULT_HISTORY_LIMIT
                )
                continue
            self.store.emit(
                op["app"], "OperationResumed", f"operation {op['id']} resumed after an engine restart"
            )
            self._launch(op["id"], OpRequest.from_dict(op["app"], raw))

    async def start_automated_sync(self, app: Application, revision: Revision, decision: Decision) -> None:
        if self.operation_running(app.name) or self._stop.is_set():
            return
        policy = app.manifest.get("spec", {}).get("syncPolicy", {})
        request = OpRequest(
            app=app.name,
            kind="sync",
            revision=revision.sha,
            source=self.source_of(app),
            initiator="automated",
            automated=True,
            reason=decision.message,
            prune=app.sync.prune,
            options=sync_options(policy.get("syncOptions")),
            retry=RetryPolicy.of(policy.get("retry"), automated=True),
            self_heal=decision.self_heal,
        )
        self._begin(request, revision)

    def _begin(self, request: OpRequest, revision: Revision) -> int:
        if self.operation_running(request.app):
            raise OperationRefused(
                f"another operation is already in progress for {request.app}",
                hint=f"wait for it (llmops wait {request.app} --operation), then try again",
            )
        op_id = self.store.start_operation(
            app=request.app,
            kind=request.kind,
            revision=revision.sha,
            subject=revision.subject,
            author=revision.author,
            source=request.source,
            initiator=request.initiator,
            automated=request.automated,
            reason=request.reason,
        )
        self.store.update_operation(op_id, result={"request": request.to_dict()})
        what = "rollback" if request.kind == "rollback" else "self-heal sync" if request.self_heal else "sync"
        message = f"{what} to {revision.short} ({revision.subject}) by {request.initiator}"
        self.store.emit(request.app, "OperationStarted", message)
        self._launch(op_id, request)
        return op_id

    def _launch(self, op_id: int, request: OpRequest) -> None:
        loop = asyncio.get_running_loop()
        self._operations[request.app] = loop.create_task(self._run(op_id, request), name=f"operation {op_id}")

    async def _run(self, op_id: int, request: OpRequest) -> None:
        def on_retry(n: int, delay: float, outcome: Outcome) -> None:
            message = f"Retrying attempt #{n} in {delay:g} s: {outcome.message}"
            self.store.update_operation(op_id, message=message, retry_count=n)
            self.store.emit(request.app, "OperationRetrying", message, type_="Warning")

        async def attempt(req: OpRequest, retries: int) -> Outcome:
            if not retries:
                self.store.update_operation(op_id, message="one or more tasks are running")
            try:
                return await SyncRun(self, op_id, req).run()
            except LlmopsError as exc:
                return Outcome(phase="Error", message=exc.message)

        try:
            outcome, retries = await run_with_retries(request, attempt, on_retry)
        except asyncio.CancelledError:
            message = "interrupted: the engine stopped; the operation resumes at its next start"
            self.store.update_operation(op_id, message=message)
            raise
        except Exception as exc:  # a bug: recorded on the operation, logged with its traceback
            log.exception("operation %s failed", op_id)
            outcome, retries = (
                Outcome(phase="Error", message=f"internal error: {type(exc).__name__}: {exc}"),
                0,
            )
        self._finish(op_id, request, outcome, retries)

    def _finish(self, op_id: int, request: OpRequest, outcome: Outcome, retries: int) -> None:
        app = self.application(request.app)
        limit = app.manifest.get("spec", {}).get("revisionHistoryLimit") if app is not None else None
        with self.store.transaction():
            self.store.update_operation(
                op_id,
                phase=outcome.phase,
                message=outcome.message,
                retry_count=retries,
                finished=True,
                result={"request": request.to_dict(), "resources": list(outcome.resources)},
            )
            op = self.store.operation(op_id)
            assert op is not None
            keep = limit if isinstance(limit, int) and limit > 0 else DEFAULT_HISTORY_LIMIT
            self.store.add_history(request.app, op, limit=keep)
            kind = "Normal" if outcome.phase == "Succeeded" else "Warning"
            first = outcome.message.splitlines()[0] if outcome.message else ""
            self.store.emit(
                request.app, "OperationCompleted", f"{request.kind} {outcome.phase}: {first}", type_=kind
            )

    async def sync(self, request: SyncRequest) -> OperationState:
        """A person's sync of one Application to its target revision (or ``request.revision``)."""
        app = self.one(request.app)
        policy = app.manifest.get("spec", {}).get("syncPolicy", {}) or {}
        if request.revision:
            src = self.sources.source_for(app.repo_url)
            sha = await asyncio.to_thread(_resolve_ref, src.path, request.revision)
            revision = await asyncio.to_thread(self.sources.revision, src, sha)
        else:
            self._resolved.pop(app.name, None)
            revision = await self.resolve(app)
        op = OpRequest(
            app=app.name,
            kind="sync",
            revision=revision.sha,
            source=self.source_of(app),
            initiator=request.initiator,
            automated=False,
            reason=request.reason,
            prune=request.prune if request.prune is not None else app.sync.prune,
            options=sync_options(policy.get("syncOptions")),
            retry=RetryPolicy.of(policy.get("retry"), automated=False),
        )
        return self.operation(self._begin(op, revision))

    async def rollback(
        self, selector: str, history_id: int | None, *, initiator: str, reason: str | None
    ) -> OperationState:
        """Redeploy a history entry's revision and source; refused for automated Applications."""
        app = self.one(selector)
        if app.sync.automated:
            raise OperationRefused(
                f"rollback cannot be initiated when auto-sync is enabled ({app.name} syncs automatically)",
                hint="revert the change in Git (git revert), or turn off syncPolicy.automated first",
            )
        entry = _history_entry(app.name, self.store.history(app.name), history_id)
        revision = Revision(sha=entry["revision"], subject=entry["subject"], author=entry["author"])
        policy = app.manifest.get("spec", {}).get("syncPolicy") or {}
        request = OpRequest(
            app=app.name,
            kind="rollback",
            revision=revision.sha,
            source={**self.source_of(app), **entry["source"]},
            initiator=initiator,
            automated=False,
            reason=reason or f"rollback to history {entry['id']}",
            prune=False,
            options=sync_options(policy.get("syncOptions")),
        )
        return self.operation(self._begin(request, revision))

    # == reading state ==============================================================================

    def operation(self, op_id: int) -> OperationState:
        op = self.store.operation(op_id)
        if op is None:
            raise UsageError(f"no operation {op_id}")
        return views.operation_state(op)

    def history(self, selector: str) -> list[HistoryEntry]:
        return views.history(self, self.one(selector))

    def status(self, selector: str | None = None) -> list[AppStatus]:
        return [views.app_status(self, app, self.snapshot(app.name)) for app in self.select(selector)]

    def live_objects(self, selector: str) -> LiveObjects:
        app = self.one(selector)
        return views.live_objects(app, self.snapshot(app.name))

    def objects(self, selector: str) -> list[dict[str, Any]]:
        """The live objects as they are (hooks included), Secret values redacted."""
        return views.objects(self.store.live(self.one(selector).name))

    def log_files(self, selector: str) -> list[tuple[str, Path]]:
        """(label, log file) of each vLLM replica of the environment or Application."""
        out = []
        for app in self.select(selector):
            folder = self.paths.logs / app.name
            for path in sorted(folder.glob("*.log")) if folder.is_dir() else []:
                out.append((f"{app.name}/{path.stem}", path))
        return out

    def info(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "repository": str(self.root),
            "state_dir": str(self.paths.root),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "api_url": self.api_url,
            "watch": self.watch_mode,
            "endpoints": {
                env: self.runtime.proxies[env].url
                for env in self.repo.config.environment_names()
                if env in self.runtime.proxies
            },
        }

    # == changing live objects by hand ===============================================================

    async def patch(
        self, selector: str, ref: str, patch_type: str, text: str, *, field_manager: str
    ) -> dict[str, Any]:
        """``oc patch`` on a live object: drift, which the reconciler then reports (or heals)."""
        apps = self.select(selector)
        kind, _, name = ref.partition("/")
        if not name:
            raise UsageError(
                f"{ref!r} is not KIND/NAME", hint="e.g. InferenceService/dev-qwen25-05b-instruct"
            )
        found = [
            (a, o)
            for a in apps
            for o in self.store.live(a.name)
            if o.key.kind.lower() == kind.lower() and o.key.name == name
        ]
        if not found:
            names = sorted(f"{o.key.kind}/{o.key.name}" for a in apps for o in self.store.live(a.name))
            raise UsageError(
                f"no live {kind}/{name} in {selector}",
                hint=f"live objects: {', '.join(names) or 'none (not synced)'}",
            )
        app, obj = found[0]
        after = patching.apply(obj.manifest, patch_type, text)
        changed = patching.changed_pointers(obj.manifest, after)
        if not changed:
            return after
        # Each field has one manager: the last one to set it (Kubernetes' managedFields after an update).
        taken = set(changed)
        managed = {k: [p for p in v if p not in taken] for k, v in obj.managed.items() if k != field_manager}
        managed = {k: v for k, v in managed.items() if v}
        managed[field_manager] = sorted(set(obj.managed.get(field_manager, [])) | taken)
        with self.store.transaction():
            updated = self.store.put_live(app.name, after, revision=obj.revision, managed=managed)
            message = f"{obj.key} patched by {field_manager}: {', '.join(changed)}"
            self.store.emit(app.name, "ResourcePatched", message, resource=str(obj.key), type_="Warning")
        await self.runtime.actuate(app.name)
        return updated.manifest


def _resolve_ref(repo: Path, ref: str) -> str:
    from llmops.gitops import git

    sha = git.resolve_revision(repo, ref)
    if sha is None:
        raise UsageError(
            f"unknown revision {ref!r}", hint="give a branch, tag or commit of the Application's repository"
        )
    return sha


def _history_entry(app: str, entries: list[dict[str, Any]], history_id: int | None) -> dict[str, Any]:
    """The entry with ``history_id``; without one, the deployment before the current one."""
    if history_id is None:
        good = [e for e in entries if e["result"] == "Succeeded"]
        if len(good) < 2:
            raise UsageError(
                f"{app} has no earlier deployment to roll back to", hint=f"see llmops history {app}"
            )
        return dict(good[-2])
    for entry in entries:
        if entry["id"] == history_id:
            if entry["result"] != "Succeeded":
                raise UsageError(
                    f"history entry {history_id} of {app} did not succeed ({entry['result']})",
                    hint=f"pick a Succeeded entry (llmops history {app}); Argo CD keeps only those",
                )
            return entry
    ids = ", ".join(str(e["id"]) for e in entries) or "none"
    raise UsageError(
        f"application {app} does not have deployment with id {history_id}",
        hint=f"ids in its history: {ids} (llmops history {app})",
    )
