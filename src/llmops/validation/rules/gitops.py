"""gitops: sync policies, destinations and revisions of the Argo CD Applications."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from llmops.gitops import manifests
from llmops.gitops.kustomize_tree import kustomization_file
from llmops.gitops.repo import Application
from llmops.validation.types import Context, FunctionRule, Issue, Severity

_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_VERSION_TAG = re.compile(r"^v?\d+(\.\d+)*([-+.][0-9A-Za-z.-]+)?$")
_CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterServingRuntime",
    "PersistentVolume", "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}  # fmt: skip


def _app_issue(ctx: Context, app: Application, message: str, path: tuple[str | int, ...]) -> Issue:
    file = ctx.repo.root / app.file
    where = ctx.index.locate(file, "Application", app.name, path) or ctx.index.file_location(file)
    return Issue(message=message, resource=f"Application/{app.name}", location=where, manifest=app.manifest)


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
]
