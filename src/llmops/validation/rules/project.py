"""project: what the Argo CD AppProject lets the repository's Applications create.

Argo CD's own rules (argo-cd pkg/apis/application/v1alpha1/app_project_types.go,
IsGroupKindNamePermitted): a namespaced kind is allowed when namespaceResourceWhitelist is
absent (nil) or lists it; a cluster-scoped kind only when clusterResourceWhitelist lists it
(with an optional name); the blacklists win. Entries match with filepath.Match globs
(types.go isResourceInList, isNamedResourceInList). The application controller checks every
object of a sync against them (controller/sync.go validateSyncPermissions), the namespace that
CreateNamespace=true adds included.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from llmops.gitops.manifests import as_list
from llmops.validation.types import Context, FunctionRule, Issue, Severity

_RBAC_KINDS = (("Role", True), ("RoleBinding", True), ("ClusterRole", False), ("ClusterRoleBinding", False))


def _listed(entries: list[Any], group: str, kind: str, name: str) -> int | None:
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        if not fnmatch.fnmatchcase(kind, str(entry.get("kind", ""))):
            continue
        if not fnmatch.fnmatchcase(group, str(entry.get("group", ""))):
            continue
        if entry.get("name") and not fnmatch.fnmatchcase(name, str(entry["name"])):
            continue
        return i
    return None


def permitted_by(
    spec: dict[str, Any], group: str, kind: str, *, namespaced: bool, name: str = ""
) -> tuple[bool, tuple[str | int, ...]]:
    """(whether the AppProject lets Applications sync group/kind, the path of what allows it)."""
    prefix = "namespaceResource" if namespaced else "clusterResource"
    allow, deny = spec.get(f"{prefix}Whitelist"), as_list(spec.get(f"{prefix}Blacklist"))
    if _listed(deny, group, kind, name) is not None:
        return False, ()
    if namespaced and allow is None:
        return True, ("spec",)
    hit = _listed(as_list(allow), group, kind, name)
    return (hit is not None), (("spec", f"{prefix}Whitelist", hit) if hit is not None else ())


def check_project_rbac(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind("AppProject"):
        spec = item.resource.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        allowed = [(kind, path) for kind, ns in _RBAC_KINDS for ok, path in [permitted_by(
            spec, "rbac.authorization.k8s.io", kind, namespaced=ns)] if ok]  # fmt: skip
        for kind, path in allowed:
            how = (
                "has no namespaceResourceWhitelist (every namespaced kind)" if path == ("spec",) else "allows"
            )
            yield ctx.issue(
                item,
                f"AppProject {item.name} {how} {kind}: Argo CD's controller may create and bind any role, "
                f"so a merged pull request can grant itself admin",
                path,
            )


def _projects(ctx: Context) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in ctx.of_kind("AppProject"):
        spec = item.resource.get("spec")
        found[item.name] = spec if isinstance(spec, dict) else {}
    return found


def check_create_namespace(ctx: Context) -> Iterator[Issue]:
    projects = _projects(ctx)
    for app in ctx.all_apps:
        if "CreateNamespace=true" not in app.sync.options or app.project not in projects:
            continue
        ok, _ = permitted_by(projects[app.project], "", "Namespace", namespaced=False, name=app.namespace)
        if ok:
            continue
        index = app.sync.options.index("CreateNamespace=true")
        yield ctx.app_issue(
            app,
            f"{app.name} syncs with CreateNamespace=true but AppProject {app.project} does not allow "
            f"Namespaces: the sync fails (\"resource :Namespace is not permitted in project {app.project}\") "
            f"whenever {app.namespace or 'the namespace'} is missing, and the option does nothing otherwise",
            ("spec", "syncPolicy", "syncOptions", index),
        )  # fmt: skip


RULES = [
    FunctionRule(
        id="project.rbac-kinds",
        severity=Severity.error,
        rationale="Argo CD's controller may create and bind any role, so an AppProject that allows RBAC "
        "kinds lets a merged pull request grant itself admin.",
        hint="remove Role, RoleBinding, ClusterRole and ClusterRoleBinding from the AppProject's whitelists "
        "(list the kinds it needs) and create the bindings in the cluster set-up",
        scope="repository",
        fn=check_project_rbac,
    ),
    FunctionRule(
        id="project.create-namespace",
        severity=Severity.error,
        rationale="CreateNamespace=true needs the AppProject to allow Namespaces; otherwise it fails or does "
        "nothing.",
        hint="remove CreateNamespace=true and create the namespace in the cluster set-up, or add "
        "{group: '', kind: Namespace} to the AppProject's clusterResourceWhitelist on purpose",
        scope="repository",
        fn=check_create_namespace,
    ),
]
