"""gitops: how Argo CD will sync the repository's Applications.

Sync policies, destinations and revisions; the platform's own writes that keep an Application
OutOfSync; a stopped model that a sync with hooks waits on forever; release fields a floating
production takes from files other environments share. (What the AppProject allows is the
``project`` family.)
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmops.gitops import manifests
from llmops.gitops.kustomize_tree import closure, kustomization_file
from llmops.gitops.locate import Location
from llmops.gitops.manifests import as_list, get_path
from llmops.gitops.repo import Application
from llmops.serving import kserve, vllm_args
from llmops.validation.types import Context, FunctionRule, Issue, Item, Severity

_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_VERSION_TAG = re.compile(r"^v?\d+(\.\d+)*([-+.][0-9A-Za-z.-]+)?$")
_CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterServingRuntime",
    "PersistentVolume", "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}  # fmt: skip


def _app_issue(ctx: Context, app: Application, message: str, path: tuple[str | int, ...]) -> Issue:
    return ctx.app_issue(app, message, path)


def check_sync_policy(ctx: Context) -> Iterator[Issue]:
    expected = {e.name: e.sync for e in ctx.repo.config.environments}
    for app in ctx.all_apps:
        want = expected.get(app.environment)
        sync = app.sync
        if want == "automated" and not (sync.automated and sync.prune and sync.self_heal):
            yield _app_issue(
                ctx, app,
                f"{app.environment} must sync automatically with prune and selfHeal; {app.name} is "
                f"{sync.describe()}",
                ("spec", "syncPolicy", "automated") if sync.automated else ("spec", "syncPolicy"),
            )  # fmt: skip
        elif want == "manual" and sync.automated:
            yield _app_issue(
                ctx, app,
                f"{app.environment} must wait for a person to sync; {app.name} syncs automatically",
                ("spec", "syncPolicy", "automated"),
            )  # fmt: skip


def check_environments(ctx: Context) -> Iterator[Issue]:
    if ctx.app_error is not None:
        return
    for env in ctx.repo.config.environments:
        if not any(a.environment == env.name for a in ctx.all_apps):
            config = ctx.repo.root / "llmops.yaml"
            yield Issue(
                message=f"environment {env.name} has no Argo CD Application",
                resource=f"environment/{env.name}",
                location=ctx.index.file_location(config) if config.is_file() else None,
            )


def check_destination(ctx: Context) -> Iterator[Issue]:
    for item in ctx.items:
        app = item.app
        if app is None or not app.namespace or item.kind in _CLUSTER_SCOPED:
            continue
        ns = manifests.resource_id(item.resource).namespace
        if ns and ns != app.namespace:
            kfile = kustomization_file(ctx.repo.root / app.path)
            issue = ctx.issue(
                item,
                f"{item.ident} renders into namespace {ns}, "
                f"but Application {app.name} deploys to {app.namespace}",
                ("metadata", "namespace"),
                hint=f"set `namespace: {app.namespace}` in {app.path}/kustomization.yaml "
                "or fix the Application",
            )
            if kfile is not None:  # the overlay's namespace, not the resource, decides it
                issue = replace(issue, location=ctx.index.key_location(kfile, ("namespace",)))
            yield issue


def floating(revision: str) -> bool:
    """A branch (or HEAD) moves; a commit or a version tag does not."""
    rev = revision.strip()
    return not (_COMMIT.match(rev) or _VERSION_TAG.match(rev))


def check_revision(ctx: Context) -> Iterator[Issue]:
    names = ctx.repo.config.environment_names()
    last = names[-1] if names else None
    allowed = ctx.config.floating_revisions
    for app in ctx.all_apps:
        if app.environment != last or not floating(app.target_revision):
            continue
        path = ("spec", "source", "targetRevision")
        if app.environment in allowed:
            issue = _app_issue(
                ctx,
                app,
                f"{app.name} tracks {app.target_revision} (allowed: {allowed[app.environment]})",
                path,
            )
            yield Issue(
                message=issue.message,
                resource=issue.resource,
                location=issue.location,
                severity=Severity.info,
                manifest=issue.manifest,
            )
        else:
            yield _app_issue(ctx, app, f"{app.name} tracks the moving revision {app.target_revision!r}", path)


# -- Argo CD semantics shared by the rules below ------------------------------------------------

HOOK_ANNOTATION = "argocd.argoproj.io/hook"
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
STOP_ANNOTATION = "serving.kserve.io/stop"
# Hook phases that give a sync more than one step (gitops-engine pkg/sync/sync_tasks.go multiStep).
_STEP_PHASES = ("PreSync", "PostSync", "SyncFail")


def _annotations(resource: Any) -> dict[str, Any]:
    found = get_path(resource, "metadata.annotations")
    return found if isinstance(found, dict) else {}


def _group(resource: Any) -> str:
    api = str(resource.get("apiVersion", "")) if isinstance(resource, dict) else ""
    return api.rpartition("/")[0]


def _ignores(app: Application, group: str, kind: str, name: str, *needles: str) -> bool:
    """Whether the Application's ignoreDifferences hide a field of group/kind/name whose
    jsonPointer or jq path contains one of ``needles`` (argo-cd util/argo/normalizers)."""
    for entry in as_list(get_path(app.manifest, "spec.ignoreDifferences")):
        if not isinstance(entry, dict):
            continue
        if not fnmatch.fnmatchcase(group, str(entry.get("group") or "")):
            continue
        if not fnmatch.fnmatchcase(kind, str(entry.get("kind") or "")) or entry.get("name") not in (
            None,
            "",
            name,
        ):
            continue
        paths = [str(p) for key in ("jsonPointers", "jqPathExpressions") for p in as_list(entry.get(key))]
        if any(n in p for p in paths for n in needles):
            return True
    return False


def _app_items(ctx: Context, app: Application) -> list[Item]:
    return [i for i in ctx.items if i.app is not None and i.app.name == app.name]


# -- gitops.serviceaccount-pull-secrets -----------------------------------------------------------


def _on_openshift(ctx: Context) -> bool:
    """OpenShift GitOps' namespace, an OpenShift API group, or openshift.io keys in the manifests."""
    if any(get_path(a.manifest, "metadata.namespace") == "openshift-gitops" for a in ctx.all_apps):
        return True
    for item in ctx.items:
        if _group(item.resource).endswith("openshift.io"):
            return True
        keys = [*_annotations(item.resource), *(get_path(item.resource, "metadata.labels") or {})]
        if any("openshift.io/" in str(k) for k in keys):
            return True
    return False


def check_pull_secrets(ctx: Context) -> Iterator[Issue]:
    if not _on_openshift(ctx):
        return
    for item in ctx.of_kind("ServiceAccount"):
        if not as_list(item.resource.get("imagePullSecrets")) or item.app is None:
            continue
        app = item.app
        respects = "RespectIgnoreDifferences=true" in app.sync.options
        if _ignores(app, "", "ServiceAccount", item.name, "imagePullSecrets") and respects:
            continue
        if _ignores(app, "", "ServiceAccount", item.name, "imagePullSecrets"):
            message = (
                f"{app.name} ignores the difference in {item.ident}'s imagePullSecrets but syncs without "
                "RespectIgnoreDifferences=true: every sync writes Git's list back, dropping the entry "
                "OpenShift appended, and OpenShift appends it again"
            )
        else:
            message = (
                f"{item.ident} lists imagePullSecrets: OpenShift appends a generated "
                f"{item.name}-dockercfg-* entry to every ServiceAccount, so {app.name} stays OutOfSync"
                + (" and selfHeal keeps removing it" if app.sync.self_heal else "")
            )
        yield ctx.issue(item, message, ("imagePullSecrets",))


# -- gitops.stop-with-hooks -----------------------------------------------------------------------


def _multi_step(items: Iterable[Item]) -> str | None:
    """Why a sync of these resources has several steps (a hook or sync waves), or None."""
    waves: set[str] = set()
    for item in items:
        annotations = _annotations(item.resource)
        phases = [p.strip() for p in str(annotations.get(HOOK_ANNOTATION, "")).split(",")]
        step = next((p for p in phases if p in _STEP_PHASES), None)
        if step:
            return f"the {step} hook {item.ident}"
        if HOOK_ANNOTATION not in annotations:
            waves.add(str(annotations.get(WAVE_ANNOTATION, "0")).strip())
    return f"sync waves {', '.join(sorted(waves))}" if len(waves) > 1 else None


def _stop_issue(ctx: Context, app: Application, item: Item, why: str) -> Issue | None:
    value = _annotations(item.resource).get(STOP_ANNOTATION)
    waits = f"Argo CD waits for it to become Healthy before {why} runs (a Suspended resource never does)"
    if str(value).lower() == "true":
        return ctx.issue(
            item, f"{item.name} is stopped in Git and {waits}: every sync of {app.name} hangs",
            ("metadata", "annotations", STOP_ANNOTATION),
        )  # fmt: skip
    if _ignores(
        app, "serving.kserve.io", "InferenceService", item.name, STOP_ANNOTATION, "serving.kserve.io~1stop"
    ):
        issue = _app_issue(
            ctx, app,
            f"{app.name} ignores {item.name}'s {STOP_ANNOTATION} annotation, so a model stopped by hand "
            f"stays stopped and {waits}: every later sync hangs",
            ("spec", "ignoreDifferences"),
        )  # fmt: skip
        return issue
    if value is None:
        return ctx.issue(
            item,
            f"{item.name} does not declare {STOP_ANNOTATION}: a stop set by hand is not drift Argo CD undoes "
            f"(it keeps fields it did not apply), and {waits}: every later sync of {app.name} hangs",
            ("metadata", "annotations") if _annotations(item.resource) else ("metadata",),
            severity=Severity.warning,
        )
    return None


def check_stop_with_hooks(ctx: Context) -> Iterator[Issue]:
    for app in ctx.apps:
        items = _app_items(ctx, app)
        why = _multi_step(items)
        if why is None:
            continue
        for item in items:
            if item.kind == "InferenceService":
                issue = _stop_issue(ctx, app, item, why)
                if issue is not None:
                    yield issue


# -- gitops.release-in-base ----------------------------------------------------------------------

# vLLM flags that are KServe's contract with the runtime rather than the release.
_CONTRACT_FLAGS = frozenset({"port", "host", "model", "served-model-name"})
_MODEL_FIELDS = ("image", "storageUri", "storage", "args", "env", "command")


def _shared_folders(ctx: Context, app: Application) -> dict[Path, list[str]]:
    """Folders ``app``'s overlay reads that other environments' overlays read too, with those environments."""
    root = ctx.repo.root
    own = {p.resolve() for p in closure(root / app.path)}
    shared: dict[Path, list[str]] = {}
    for other in ctx.all_apps:
        if other.environment == app.environment:
            continue
        for folder in closure(root / other.path):
            folder = folder.resolve()
            if folder in own and other.environment not in shared.setdefault(folder, []):
                shared[folder].append(other.environment)
    return shared


def _release_paths(ctx: Context, kind: str) -> list[tuple[str | int, ...]]:
    paths: list[tuple[str | int, ...]] = []
    if kind == "InferenceService":
        paths += [("spec", "predictor", "model", f) for f in _MODEL_FIELDS]
    for f in ctx.repo.config.release.fields:
        path = tuple(f.path.split("."))
        if f.kind == kind and path not in paths:
            paths.append(path)
    return paths


class _Release:
    """One floating Application of the last environment and the folders it shares."""

    def __init__(self, ctx: Context, app: Application, shared: dict[Path, list[str]]) -> None:
        self.ctx, self.app, self.shared = ctx, app, shared

    def issue(self, item: Item, path: tuple[str | int, ...], what: str, runs: str = "") -> Issue | None:
        """An issue when ``path`` of ``item`` is written in a shared folder (``runs``: who runs with it)."""
        ctx, app = self.ctx, self.app
        where = ctx.index.defined_in(ctx.repo.root / app.path, item.kind, item.name, path)
        others = self._sharing(where)
        if where is None or others is None:
            return None
        return Issue(
            message=f"{app.name} tracks {app.target_revision}, and {runs or item.ident} takes {what} from "
            f"{where.file}, which {' and '.join(others)} also read: an edit there reaches {app.environment} "
            "on its next sync without a promotion",
            resource=item.ident,
            location=where,
            manifest=item.resource,
        )

    def _sharing(self, where: Location | None) -> list[str] | None:
        if where is None:
            return None
        return self.shared.get((self.ctx.repo.root / where.file).parent.resolve())


def _runtime_fields(p: kserve.Predictor) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path in the runtime, what it is) of the runtime's release-like fields the predictor runs with."""
    assert p.runtime is not None
    containers = as_list(get_path(p.runtime, "spec.containers"))
    chosen = vllm_args.runtime_container(p.runtime)
    idx = next((i for i, c in enumerate(containers) if c is chosen), 0)
    base: tuple[str | int, ...] = ("spec", "containers", idx)
    if chosen is not None and chosen.get("image") and not get_path(p.isvc, "spec.predictor.model.image"):
        yield (*base, "image"), "the serving image"
    for occ in p.args.occurrences:
        if occ.source == "runtime" and occ.flag not in _CONTRACT_FLAGS:
            yield (*base, "args", occ.index), f"the vLLM argument {occ.raw}"
    for j, var in enumerate(as_list((chosen or {}).get("env"))):
        name = var.get("name", j) if isinstance(var, dict) else j
        yield (*base, "env", j), f"the environment variable {name}"


def _release_issues(ctx: Context, release: _Release) -> Iterator[Issue]:
    items = _app_items(ctx, release.app)
    by_id = {id(i.resource): i for i in items}
    for kind in sorted({i.kind for i in items}):
        for item in (i for i in items if i.kind == kind):
            for path in _release_paths(ctx, kind):
                if get_path(item.resource, ".".join(map(str, path))) is not None:
                    issue = release.issue(item, path, ".".join(map(str, path)))
                    if issue is not None:
                        yield issue
    for item in (i for i in items if i.kind == "InferenceService"):
        p = kserve.predictor(item.resource, [i.resource for i in items])
        runtime = by_id.get(id(p.runtime)) if p.runtime is not None else None
        if runtime is None or not p.is_vllm:
            continue
        for path, what in _runtime_fields(p):
            issue = release.issue(runtime, path, f"{what} of {runtime.ident}", runs=item.ident)
            if issue is not None:
                yield issue


def check_release_in_base(ctx: Context) -> Iterator[Issue]:
    names = ctx.repo.config.environment_names()
    if not names or ctx.environment != names[-1]:
        return
    for app in ctx.apps:
        if not floating(app.target_revision):
            continue
        shared = _shared_folders(ctx, app)
        if shared:
            yield from _release_issues(ctx, _Release(ctx, app, shared))


RULES = [
    FunctionRule(
        id="gitops.sync-policy",
        severity=Severity.error,
        rationale="The sync policy is the promotion gate: dev heals itself, later stages wait for a person.",
        hint="match spec.syncPolicy to the environment's `sync` in llmops.yaml",
        scope="repository",
        fn=check_sync_policy,
    ),
    FunctionRule(
        id="gitops.environment-app",
        severity=Severity.error,
        rationale="An environment without an Application is never deployed.",
        hint="add an Argo CD Application for it, or remove it from llmops.yaml",
        scope="repository",
        fn=check_environments,
    ),
    FunctionRule(
        id="gitops.destination",
        severity=Severity.error,
        rationale=(
            "Resources rendered into another namespace than the Application's destination drift or fail."
        ),
        hint="make the overlay's namespace and the Application's destination.namespace agree",
        scope="environment",
        fn=check_destination,
    ),
    FunctionRule(
        id="gitops.floating-revision",
        severity=Severity.error,
        rationale="The last environment should run a fixed revision so a merge alone cannot change it.",
        hint=(
            "set targetRevision to a tag or commit, or allow it in validate.floating_revisions with a reason"
        ),
        scope="repository",
        fn=check_revision,
    ),
    FunctionRule(
        id="gitops.serviceaccount-pull-secrets",
        severity=Severity.error,
        rationale="OpenShift appends its own dockercfg pull secret to every ServiceAccount, so a list kept "
        "in Git never matches the live one.",
        hint="put the pull secret on the pod (spec.predictor.imagePullSecrets for an InferenceService), or "
        "ignore exactly the generated entry: ignoreDifferences [{kind: ServiceAccount, jqPathExpressions: "
        "['.imagePullSecrets[] | select(.name | contains(\"-dockercfg-\"))']}] with "
        "RespectIgnoreDifferences=true",
        scope="environment",
        fn=check_pull_secrets,
    ),
    FunctionRule(
        id="gitops.stop-with-hooks",
        severity=Severity.error,
        rationale="With hooks a sync waits for each resource to be Healthy, and a stopped (Suspended) "
        "InferenceService never is.",
        hint='declare serving.kserve.io/stop: "false" in Git and do not ignore it, so a stop by hand is '
        "drift; stop through Git with a change that also drops the hooks (deploy_model/components/stopped)",
        scope="environment",
        fn=check_stop_with_hooks,
    ),
    FunctionRule(
        id="gitops.release-in-base",
        severity=Severity.error,
        rationale="When production follows a branch, what it runs must come from files only a promotion "
        "changes, not from a base the other environments share.",
        hint="move the field into each overlay's release file (promoted), or pin the last environment to a "
        "tag or commit",
        scope="environment",
        fn=check_release_in_base,
    ),
]
