"""From live objects to running things: vLLM processes for the InferenceServices, the status KServe
would write on them, and each environment's stable endpoint in front of them.

This is where a later rollout strategy plugs in: :meth:`Runtime.actuate` decides how a changed
InferenceService replaces its processes (today: stop the old, start the new, as KServe's
``Recreate``), and each endpoint routes every request to whatever :meth:`Runtime.routing` offers
at that moment.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmops.errors import EngineError, LlmopsError
from llmops.gitops.config import EngineConfig
from llmops.gitops.repo import Application

from .compare import hook_phases
from .kserve_local import (
    STOP_ANNOTATION,
    LocalContext,
    ModelResolver,
    ProcessSpec,
    TranslationError,
    translate,
)
from .kserve_status import kserve_status
from .paths import StatePaths, bind_socket
from .processes import Supervisor, Timing
from .proxy import Backend, EndpointProxy, Routing
from .store import Store, now_rfc3339

ISVC = ("serving.kserve.io", "InferenceService")
Spec = ProcessSpec | TranslationError


class Runtime:
    """The engine's processes and endpoints."""

    def __init__(
        self,
        *,
        root: Path,
        config: EngineConfig,
        paths: StatePaths,
        store: Store,
        apps: Callable[[], dict[str, Application]],
        timing: Timing | None = None,
    ) -> None:
        self.root = root
        self.config = config
        self.paths = paths
        self.store = store
        self.apps = apps
        self.supervisor = Supervisor(store, paths, self._on_process, timing)
        self.specs: dict[str, dict[str, Spec]] = {}
        self.proxies: dict[str, EndpointProxy] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._demo_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    # -- live objects -> processes --------------------------------------------------------------

    async def actuate(self, app_name: str) -> None:
        """Make the processes match the app's live InferenceServices, and write their status."""
        async with self._locks.setdefault(app_name, asyncio.Lock()):
            app = self.apps().get(app_name)
            live = [o for o in self.store.live(app_name) if not hook_phases(o.manifest)]
            resources = [o.manifest for o in live]
            specs: dict[str, Spec] = {}
            for obj in live:
                if (obj.key.group, obj.key.kind) == ISVC and app is not None:
                    specs[obj.key.name] = await self._translate(app, obj.manifest, resources)
            self.specs[app_name] = specs
            await self.supervisor.ensure(app_name, [s for s in specs.values() if isinstance(s, ProcessSpec)])
            self.write_statuses(app_name)

    async def _translate(
        self, app: Application, isvc: dict[str, Any], resources: list[dict[str, Any]]
    ) -> Spec:
        models = ModelResolver(self.root, self.config, self.paths.demo_model)
        ctx = LocalContext(app=app.name, environment=app.environment, config=self.config, models=models)
        try:
            spec = translate(isvc, resources, ctx)
            if (
                spec.model.demo
                and spec.replicas_local
                and not (self.paths.demo_model / "config.json").is_file()
            ):
                await self._build_demo(app.name)
                spec = translate(isvc, resources, ctx)
            return spec
        except TranslationError as exc:
            return exc

    async def _build_demo(self, app: str) -> None:
        async with self._demo_lock:
            if (self.paths.demo_model / "config.json").is_file():
                return
            where = self.paths.demo_model
            self.store.emit(app, "DemoModel", f"building the demo model (random weights) in {where}")
            # No progress bars from transformers in the middle of `llmops up`'s live view.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TQDM_DISABLE", "1")
            try:
                from llmops.serving import demo_model

                await asyncio.to_thread(demo_model.build, where, force=True)
            except LlmopsError as exc:
                raise TranslationError(
                    f"no local model and the demo model cannot be built: {exc.message}",
                    reason="ModelLoadFailed",
                ) from exc

    def write_statuses(self, app_name: str) -> None:
        """The KServe-shaped status of each live InferenceService, from its processes."""
        app = self.apps().get(app_name)
        url = (self.endpoint(app.environment) if app is not None else None) or ""
        for obj in self.store.live(app_name):
            if (obj.key.group, obj.key.kind) != ISVC:
                continue
            spec = self.specs.get(app_name, {}).get(obj.key.name)
            annotations = obj.manifest.get("metadata", {}).get("annotations") or {}
            status = kserve_status(
                replicas=self.supervisor.views(app_name, obj.key.name),
                wanted=spec.replicas_local if isinstance(spec, ProcessSpec) else 0,
                url=url,
                previous=obj.manifest.get("status") or {},
                now=now_rfc3339(),
                invalid=spec if isinstance(spec, TranslationError) else None,
                stopped=str(annotations.get(STOP_ANNOTATION, "")).lower() == "true",
                revision=spec.digest if isinstance(spec, ProcessSpec) else "",
            )
            self.store.put_status(app_name, obj.key, status)

    def _on_process(self, app: str, isvc: str, reason: str, message: str) -> None:
        kind = "Warning" if reason in ("ProcessFailed", "ProcessNotReady") else "Normal"
        with self.store.transaction():
            self.write_statuses(app)
            self.store.emit(app, reason, message, resource=f"InferenceService/{isvc}", type_=kind)

    async def adopt(self) -> None:
        """Processes a previous engine left running: adopt them (or replace them), then actuate."""
        records = self.store.processes()
        apps = self.apps()
        for name in sorted({r.app for r in records}):
            app = apps.get(name)
            live = self.store.live(name)
            specs: dict[str, Spec] = {}
            for obj in live:
                if app is not None and (obj.key.group, obj.key.kind) == ISVC:
                    specs[obj.key.name] = await self._translate(app, obj.manifest, [o.manifest for o in live])
            self.specs[name] = specs
            for record in (r for r in records if r.app == name):
                spec = specs.get(record.isvc)
                said = await self.supervisor.adopt(record, spec if isinstance(spec, ProcessSpec) else None)
                reason = "ProcessAdopted" if "adopted" in said else "ProcessReplaced"
                self.store.emit(name, reason, said, resource=f"InferenceService/{record.isvc}")
        for name in apps:
            if self.store.live(name):
                await self.actuate(name)

    # -- endpoints ------------------------------------------------------------------------------

    def open_endpoints(self) -> None:
        """One proxy per environment, on its fixed, remembered or a free port."""
        for env in sorted({a.environment for a in self.apps().values()}):
            if env in self.proxies:
                continue
            fixed = self.config.ports.get(env)
            remembered = self.store.setting(f"port:{env}")
            port = fixed if fixed is not None else int(remembered) if remembered else 0
            setting = f"engine.ports.{env} in llmops.yaml"
            try:
                sock = bind_socket("127.0.0.1", port, what=f"{env} endpoint", setting=setting)
            except EngineError:
                if fixed is not None:
                    raise
                sock = bind_socket("127.0.0.1", 0, what=f"{env} endpoint", setting=setting)
                message = f"{env}'s endpoint port {port} was taken; it moved to {sock.getsockname()[1]}"
                self.store.emit("", "EndpointMoved", message, type_="Warning")
            proxy = EndpointProxy(env, sock, self._router(env))
            self.proxies[env] = proxy
            self.store.set_setting(f"port:{env}", str(proxy.port))
            self._tasks.append(asyncio.create_task(proxy.start()))

    def endpoint(self, environment: str) -> str | None:
        proxy = self.proxies.get(environment)
        return proxy.url if proxy is not None else None

    def _router(self, environment: str) -> Callable[[], Routing]:
        def route() -> Routing:
            apps = [a.name for a in self.apps().values() if a.environment == environment]
            by_model: dict[str, list[Backend]] = {}
            for name in apps:
                for spec in self.specs.get(name, {}).values():
                    if isinstance(spec, ProcessSpec):
                        by_model.setdefault(spec.served_name, [])
            for backend in self.supervisor.ready_backends(apps):
                by_model.setdefault(backend.served_name, []).append(backend)
            return Routing(by_model=by_model, why=lambda: self._unavailable(apps))

        return route

    def _unavailable(self, apps: list[str]) -> str:
        for name in apps:
            state = self.store.app_state(name)
            if not self.store.live(name):
                status = state.get("sync_status", "OutOfSync")
                return f"{name} is not deployed yet ({status}); sync it with `llmops sync`"
            if state.get("health_status") not in (None, "Healthy"):
                return f"{name} is {state.get('health_status')}: {state.get('health_message') or 'starting'}"
        return "no vLLM process is ready"

    def local_endpoint(self, app_name: str) -> Callable[[str, str], str | None]:
        """In-cluster service of one of the app's InferenceServices -> the local endpoint (hooks)."""
        app = self.apps().get(app_name)
        isvcs = {
            o.key.name: o.key.namespace
            for o in self.store.live(app_name)
            if (o.key.group, o.key.kind) == ISVC
        }

        def local(service: str, namespace: str) -> str | None:
            for name, ns in isvcs.items():
                if service in (name, f"{name}-predictor", f"{name}-predictor-default") and namespace in (
                    ns,
                    "",
                ):
                    return self.endpoint(app.environment) if app is not None else None
            return None

        return local

    async def close(self, *, keep_processes: bool) -> None:
        if keep_processes:
            self.supervisor.release()
        else:
            await self.supervisor.shutdown()
        for proxy in self.proxies.values():
            await proxy.close()
        for task in self._tasks:
            task.cancel()
