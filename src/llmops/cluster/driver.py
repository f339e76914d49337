"""The cluster :class:`~llmops.gitops.appstate.Driver`: Argo CD's Applications through the Kubernetes API.

No Argo CD password or API server is involved (Argo CD's "core" way): status is read from the
Application objects, a sync or rollback is requested by writing the Application's
``operation`` (as ``argocd app sync --core`` and ``kubectl`` do, see Argo CD's
``docs/user-guide/sync-kubectl.md``) and the application controller carries it out. What a
user may do is therefore what Kubernetes RBAC lets them do to ``applications.argoproj.io``
(``setup/gitops-roles.yaml``). Argo CD's own refusals are repeated before anything is
written: a running operation, a sync window (or freeze), a rollback while automated sync is on.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmops.cluster import argo, normalize, windows
from llmops.cluster.client import DEFAULT_TIMEOUT, ClusterConflict, ClusterForbidden, KubeApi
from llmops.cluster.kinds import APPLICATION, APPPROJECT, INFERENCESERVICE, ROUTE, by_group_kind
from llmops.errors import ClusterError, LlmopsError, UsageError
from llmops.gitops import git
from llmops.gitops.appstate import (
    AppStatus,
    HistoryEntry,
    LiveObjects,
    OperationState,
    Revision,
    SyncRequest,
    Target,
)
from llmops.gitops.render import render_paths
from llmops.gitops.repo import Application, Repository

DEFAULT_NAMESPACE = "openshift-gitops"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
HOOK_ANNOTATION = "argocd.argoproj.io/hook"
_CONFLICT_RETRIES = 3


class UnknownApplication(UsageError):
    """The Application is not on the cluster; the message lists the ones that are."""


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """Which cluster and Argo CD namespace (``--context``, ``--namespace``, ``--kubeconfig``)."""

    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    timeout: float = DEFAULT_TIMEOUT


_SHA = re.compile(r"[0-9a-f]{7,64}")


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (group, str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ClusterDriver:
    """Argo CD on the cluster of a kubeconfig context, for the Applications of one repository."""

    target: Target = "cluster"

    def __init__(
        self,
        repo: Repository,
        settings: ClusterSettings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.repo = repo
        self.settings = settings or ClusterSettings()
        self._api: KubeApi | None = None
        self._clock = clock
        self._identity: str | None = None

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def api(self) -> KubeApi:
        if self._api is None:
            s = self.settings
            self._api = KubeApi(kubeconfig=s.kubeconfig, context=s.context, timeout=s.timeout)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def _apps(self, selector: str | None) -> list[Application]:
        return self.repo.resolve_many([selector] if selector else [])

    def _subject(self, sha: str) -> str | None:
        """The commit subject of a SHA from the local clone (a branch name is not looked up: the
        clone's branch may be elsewhere than the remote one Argo CD follows)."""
        if not _SHA.fullmatch(sha):
            return None
        try:
            return git.commit_subject(self.repo.root, sha)
        except LlmopsError:
            return None

    def _app(self, name: str) -> dict[str, Any]:
        found = self.api.get(APPLICATION, name, self.settings.namespace)
        if found is None:
            raise self._unknown(name)
        return found

    def _unknown(self, name: str) -> UnknownApplication:
        ns = self.settings.namespace
        existing = sorted(
            str((a.get("metadata") or {}).get("name")) for a in self.api.objects(APPLICATION, ns)
        )
        listed = ", ".join(existing) if existing else "none"
        return UnknownApplication(
            f"Application {name} does not exist in namespace {ns} on {self.api.target.server}",
            hint=f"Applications there: {listed}. Create them with `llmops bootstrap`, "
            "or pass --namespace where Argo CD keeps them",
        )

    def _username(self, fallback: str) -> str:
        if self._identity is None:
            self._identity = self.api.whoami() or fallback
        return self._identity

    def _project(self, app: dict[str, Any]) -> dict[str, Any] | None:
        name = str((app.get("spec") or {}).get("project") or "default")
        return self.api.get(APPPROJECT, name, self.settings.namespace)

    # -- status --------------------------------------------------------------------------------

    def status(self, selector: str | None = None) -> list[AppStatus]:
        apps = self._apps(selector)
        projects: dict[str, dict[str, Any] | None] = {}
        out: list[AppStatus] = []
        for spec in apps:
            live = self.api.get(APPLICATION, spec.name, self.settings.namespace)
            if live is None:
                if selector == spec.name or len(apps) == 1:
                    raise self._unknown(spec.name)
                out.append(self._missing_status(spec))
                continue
            project_name = str((live.get("spec") or {}).get("project") or "default")
            if project_name not in projects:
                projects[project_name] = self.api.get(APPPROJECT, project_name, self.settings.namespace)
            out.append(self._status(spec, live, projects[project_name]))
        return out

    def _missing_status(self, spec: Application) -> AppStatus:
        return AppStatus(
            name=spec.name, environment=spec.environment, namespace=spec.namespace, target="cluster",
            sync_status="Unknown", health_status="Missing", target_revision=spec.target_revision,
            notes=(f"not on the cluster (namespace {self.settings.namespace}): run `llmops bootstrap`",),
        )  # fmt: skip

    def _status(self, spec: Application, live: dict[str, Any], project: dict[str, Any] | None) -> AppStatus:
        health, message = argo.health(live)
        auto = argo.automated(live)
        sync_block = (live.get("status") or {}).get("sync") or {}
        deployed = argo.deployed_revision(live)
        desired = str(sync_block.get("revision") or "")
        servings = list(self._servings(live))
        notes = list(self._notes(spec, live, project))
        extra: dict[str, Any] = {
            "inference_services": [s.to_dict() for s in servings],
            "reconciled_at": (live.get("status") or {}).get("reconciledAt"),
            "server": self.api.target.server,
            "argocd_namespace": self.settings.namespace,
            "project": (live.get("spec") or {}).get("project"),
        }
        return AppStatus(
            name=spec.name,
            environment=spec.environment,
            namespace=str(argo.destination(live).get("namespace") or spec.namespace),
            target="cluster",
            sync_status=argo.sync_status(live),
            health_status=health,
            health_message=message,
            revision=argo.revision(deployed, self._subject) if deployed else None,
            target_revision=str(argo.source(live).get("targetRevision") or "HEAD"),
            desired_revision=argo.revision(desired, self._subject) if desired else None,
            auto_sync=auto is not None,
            self_heal=bool(auto and auto.get("selfHeal")),
            prune=bool(auto and auto.get("prune")),
            operation=argo.operation_state(live, self._subject),
            comparison_error=argo.comparison_error(live),
            endpoint=next((s.url for s in servings if s.url), None),
            resources=argo.resources(live),
            notes=tuple(notes),
            extra=extra,
        )

    def _servings(self, app: dict[str, Any]) -> Iterator[argo.Serving]:
        for res in argo.resources(app):
            if res.group != INFERENCESERVICE.group or res.kind != INFERENCESERVICE.kind:
                continue
            try:
                isvc = self.api.get(INFERENCESERVICE, res.name, res.namespace)
            except ClusterForbidden:
                continue  # the Application's status still shows; its model's readiness is not ours to read
            if isvc is None:
                continue
            route = None
            with suppress(ClusterError):  # no Route API (plain Kubernetes), or no right to read Routes
                route = self.api.get(ROUTE, res.name, res.namespace)
            yield argo.serving(isvc, route)

    def _notes(
        self, spec: Application, live: dict[str, Any], project: dict[str, Any] | None
    ) -> Iterator[str]:
        if project is None:
            return
        frozen = windows.freezes(project).get(spec.environment)
        if frozen is not None:
            yield frozen.describe()
        dest = self._destination(live)
        blocked = windows.blocking(
            (project.get("spec") or {}).get("syncWindows") or [], dest, manual=True, now=self._clock()
        )
        if blocked and frozen is None:
            yield "sync blocked by a sync window: " + "; ".join(w.describe() for w in blocked)

    @staticmethod
    def _destination(app: dict[str, Any]) -> windows.Destination:
        dest = argo.destination(app)
        return windows.Destination(
            app=str((app.get("metadata") or {}).get("name", "")),
            namespace=str(dest.get("namespace") or ""),
            server=str(dest.get("server") or ""),
            name=str(dest.get("name") or ""),
        )

    # -- sync and rollback ---------------------------------------------------------------------

    def _refuse_if_busy(self, app: dict[str, Any], name: str) -> None:
        meta = app.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            raise UsageError(
                f"Application {name} is being deleted", hint="wait until it is gone, then bootstrap it"
            )
        if app.get("operation"):
            current = argo.operation_state(app, self._subject)
            who = f" by {current.initiator}" if current and current.initiator else ""
            raise UsageError(
                f"another operation is already in progress on {name}{who}",
                hint=f"wait for it (llmops wait {name}), or terminate it in Argo CD",
            )

    def _refuse_if_blocked(self, app: dict[str, Any], name: str) -> None:
        project = self._project(app)
        if project is None:
            return
        env = self._environment_of(name)
        frozen = windows.freezes(project).get(env) if env else None
        blocked = windows.blocking(
            (project.get("spec") or {}).get("syncWindows") or [], self._destination(app), manual=True,
            now=self._clock(),
        )  # fmt: skip
        if not blocked:
            return
        if frozen is not None:
            raise UsageError(
                f"cannot sync {name}: {env} is {frozen.describe()}",
                hint=f"llmops unfreeze {env} --target cluster (when the freeze is over)",
            )
        raise UsageError(
            f"cannot sync {name}: blocked by sync window ({'; '.join(w.describe() for w in blocked)})",
            hint="wait until the window closes, or ask an Argo CD admin to change the AppProject's "
            "syncWindows",
        )

    def _environment_of(self, name: str) -> str | None:
        for app in self.repo.applications():
            if app.name == name:
                return app.environment
        return None

    def _request(self, name: str, build: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Write ``operation`` (re-reading on a conflict, as Argo CD's SetAppOperation retries)."""
        for attempt in range(_CONFLICT_RETRIES):
            app = self._app(name)
            self._refuse_if_busy(app, name)
            self._refuse_if_blocked(app, name)
            operation = build(app)
            try:
                self.api.merge_patch(APPLICATION, name, argo.operation_patch(app, operation),
                                     namespace=self.settings.namespace)  # fmt: skip
            except ClusterConflict:
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
                continue
            return operation
        raise AssertionError("unreachable")  # pragma: no cover

    def _requested(self, operation: dict[str, Any], kind: str) -> OperationState:
        sync = operation["sync"]
        sha = str(sync.get("revision") or "")
        reason = next((i["value"] for i in operation["info"] if i["name"] == argo.REASON_INFO), None)
        return OperationState(
            id=0,
            kind="rollback" if kind == "rollback" else "sync",
            phase="Running",
            message="requested; the Argo CD application controller carries it out",
            revision=Revision(sha=sha, subject=self._subject(sha) or ""),
            started_at=_now(),
            initiator=str(operation["initiatedBy"]["username"]),
            reason=reason,
        )

    def sync(self, request: SyncRequest) -> OperationState:
        def build(app: dict[str, Any]) -> dict[str, Any]:
            wanted = request.revision
            target = str(argo.source(app).get("targetRevision") or "HEAD")
            if wanted and wanted != target and argo.automated(app) is not None:
                raise UsageError(
                    f"cannot sync {request.app} to {wanted}: auto-sync currently set to {target}",
                    hint="automated Applications follow their targetRevision; change it in Git",
                )
            return argo.sync_operation(
                app, username=self._username(request.initiator), reason=request.reason,
                revision=wanted, prune=request.prune,
            )  # fmt: skip

        return self._requested(self._request(request.app, build), "sync")

    def rollback(
        self, app: str, history_id: int | None, *, initiator: str, reason: str | None
    ) -> OperationState:
        def build(live: dict[str, Any]) -> dict[str, Any]:
            if argo.automated(live) is not None:
                raise UsageError(
                    f"rollback cannot be initiated when auto-sync is enabled ({app})",
                    hint="roll back through Git (git revert, then let it sync), or turn automated sync "
                    "off for this Application in Git first",
                )
            entry = self._history_entry(live, app, history_id)
            return argo.rollback_operation(
                live, entry, username=self._username(initiator), reason=reason, prune=False
            )

        return self._requested(self._request(app, build), "rollback")

    @staticmethod
    def _history_entry(live: dict[str, Any], app: str, history_id: int | None) -> dict[str, Any]:
        entries = sorted(
            (e for e in (live.get("status") or {}).get("history") or [] if isinstance(e, dict)),
            key=lambda e: int(e.get("id") or 0),
        )
        ids = ", ".join(str(e.get("id")) for e in entries) or "none"
        if history_id is None:
            if len(entries) < 2:
                raise UsageError(
                    f"{app} has no earlier deployment to roll back to", hint=f"history ids: {ids}"
                )
            entry = entries[-2]
        else:
            found = next((e for e in entries if int(e.get("id") or 0) == history_id), None)
            if found is None:
                raise UsageError(
                    f"application {app} does not have deployment with id {history_id}",
                    hint=f"history ids: {ids} (llmops history {app})",
                )
            entry = found
        if not entry.get("source") and not entry.get("sources"):
            raise UsageError(
                f"deployment {entry.get('id')} of {app} has no recorded source",
                hint="sync to its revision instead (llmops sync ENV --revision SHA)",
            )
        return entry

    def history(self, app: str) -> list[HistoryEntry]:
        return argo.history(self._app(app), self._subject)

    def refresh(self, selector: str | None = None) -> None:
        """Ask Argo CD to compare again now (its ``argocd.argoproj.io/refresh`` annotation)."""
        for spec in self._apps(selector):
            body = {"metadata": {"annotations": {REFRESH_ANNOTATION: "normal"}}}
            self.api.merge_patch(APPLICATION, spec.name, body, namespace=self.settings.namespace)

    # -- diff --live ---------------------------------------------------------------------------

    def live_objects(self, app: str) -> LiveObjects:
        spec = next((a for a in self._apps(app) if a.name == app), None) or self._apps(app)[0]
        live_app = self._app(spec.name)
        sha = argo.deployed_revision(live_app) or str(
            ((live_app.get("status") or {}).get("sync") or {}).get("revision") or ""
        )
        desired = self._desired(spec, live_app, sha)
        rules = [
            r for r in (live_app.get("spec") or {}).get("ignoreDifferences") or [] if isinstance(r, dict)
        ]
        pairs = self._live_pairs(live_app, desired)
        want: list[dict[str, Any]] = []
        have: list[dict[str, Any]] = []
        for d, live in pairs:
            a, b = normalize.pair(d, live, app_name=spec.name, rules=rules)
            want += [a] if a is not None else []
            have += [b] if b is not None else []
        return LiveObjects(
            app=spec.name,
            environment=spec.environment,
            revision=argo.revision(sha, self._subject) if sha else None,
            desired=tuple(want),
            live=tuple(have),
        )

    def _desired(self, spec: Application, live_app: dict[str, Any], sha: str) -> list[dict[str, Any]]:
        path = str(argo.source(live_app).get("path") or spec.path).strip("/")
        if not sha:
            raise UsageError(f"{spec.name} has not been synced yet: nothing is deployed to compare with")
        try:
            full = git.resolve_commit(self.repo.root, sha)
        except LlmopsError as exc:
            raise UsageError(
                f"the deployed revision {sha[:12]} of {spec.name} is not in this clone",
                hint="git fetch (the revision Argo CD deployed must be present locally to render it)",
            ) from exc
        with tempfile.TemporaryDirectory(prefix="llmops-live-") as tmp:
            git.export_tree(self.repo.root, full, Path(tmp))
            rendered = render_paths(Path(tmp), [path])[path]
        dest_ns = str(argo.destination(live_app).get("namespace") or spec.namespace)
        out = []
        for obj in rendered:
            if ((obj.get("metadata") or {}).get("annotations") or {}).get(HOOK_ANNOTATION):
                continue  # hooks run during a sync; Argo CD does not compare them
            kind = by_group_kind(str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", "")),
                                 str(obj.get("apiVersion", "")).rpartition("/")[2])  # fmt: skip
            out.append(normalize.with_namespace(obj, dest_ns, kind.namespaced))
        return out

    def _live_pairs(
        self, live_app: dict[str, Any], desired: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
        """(desired, live) of every resource Git has or Argo CD tracks (hooks aside)."""
        wanted = {_key(o): o for o in desired}
        tracked = [(r.group, r.kind, r.namespace, r.name) for r in argo.resources(live_app) if r.hook is None]
        out: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
        for k in list(wanted) + [k for k in tracked if k not in wanted]:
            group, kind_name, ns, name = k
            obj = wanted.get(k)
            version = str(obj.get("apiVersion", "")).rpartition("/")[2] if obj else ""
            live = self.api.get(by_group_kind(group, kind_name, version), name, ns or None)
            out.append((obj, live))
        return out

    # -- freeze --------------------------------------------------------------------------------

    def _env_projects(self, environment: str) -> tuple[list[str], dict[str, list[str]]]:
        apps = self.repo.environment(environment).applications
        if not apps:
            raise UsageError(f"environment {environment} has no Application")
        by_project: dict[str, list[str]] = {}
        for spec in apps:
            live = self.api.get(APPLICATION, spec.name, self.settings.namespace)
            project = str(((live or {}).get("spec") or {}).get("project") or spec.project)
            by_project.setdefault(project, []).append(spec.name)
        return [a.name for a in apps], by_project

    def freeze(self, environment: str, *, initiator: str, reason: str) -> None:
        if not reason.strip():
            raise UsageError("a freeze needs a reason", hint="llmops freeze ENV --reason 'why'")
        _, by_project = self._env_projects(environment)
        who = self._username(initiator)
        for project_name, names in by_project.items():
            project = self._require_project(project_name)
            existing = windows.freezes(project).get(environment)
            if existing is not None:
                raise UsageError(
                    f"{environment} is already {existing.describe()}",
                    hint=f"llmops unfreeze {environment} first to change the reason",
                )
            since = _now()
            window = windows.freeze_window(environment, names, by=who, reason=reason, since=since)
            record = windows.Freeze(
                environment=environment, by=who, reason=reason, since=since, window=window
            )
            self.api.json_patch(APPPROJECT, project_name, windows.freeze_patch(project, record),
                                namespace=self.settings.namespace)  # fmt: skip

    def unfreeze(self, environment: str, *, initiator: str, reason: str | None = None) -> None:
        _, by_project = self._env_projects(environment)
        found = False
        for project_name in by_project:
            project = self._require_project(project_name)
            record = windows.freezes(project).get(environment)
            if record is None:
                continue
            found = True
            ops, _ = windows.unfreeze_patch(project, record)
            self.api.json_patch(APPPROJECT, project_name, ops, namespace=self.settings.namespace)
        if not found:
            raise UsageError(
                f"{environment} is not frozen by llmops",
                hint="sync windows llmops did not create are left alone: edit the AppProject to change them",
            )

    def _require_project(self, name: str) -> dict[str, Any]:
        project = self.api.get(APPPROJECT, name, self.settings.namespace)
        if project is None:
            raise UsageError(
                f"AppProject {name} does not exist in namespace {self.settings.namespace}",
                hint="run `llmops bootstrap` (it applies argocd/project.yaml)",
            )
        return project

    # -- endpoints -----------------------------------------------------------------------------

    def token(self) -> str:
        """The bearer token of the current context (for auth-enabled endpoints)."""
        return self.api.bearer_token()
