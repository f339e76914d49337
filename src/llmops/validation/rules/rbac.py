"""rbac: Roles, ClusterRoles and their bindings grant no more than a model deployment needs.

Kubernetes RBAC semantics (kubernetes.io/docs/reference/access-authn-authz/rbac/): ``*``
matches every verb, resource or API group; ``escalate`` and ``bind`` let a subject grant
rights it does not hold, ``impersonate`` act as another user; the groups
``system:authenticated`` and ``system:unauthenticated`` (and the user ``system:anonymous``)
are everyone with, or without, a credential; the built-in ClusterRoles ``cluster-admin``,
``admin`` and ``edit`` read Secrets, ``view`` does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmops.gitops.manifests import as_list, get_path
from llmops.validation.rules.pods import pod_spec
from llmops.validation.types import Context, FunctionRule, Issue, Item, Severity

ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
EVERYONE = {
    ("Group", "system:authenticated"): "every authenticated user and ServiceAccount",
    ("Group", "system:unauthenticated"): "every unauthenticated request",
    ("User", "system:anonymous"): "anonymous requests",
}
ADMIN_ROLES = ("cluster-admin", "admin")
ESCALATING_VERBS = ("escalate", "bind", "impersonate")
READ_VERBS = {"get", "list", "watch", "*"}
# Built-in ClusterRoles that can read Secrets (aggregated roles of Kubernetes).
BUILTIN_SECRET_READERS = ("cluster-admin", "admin", "edit")


def _strings(value: Any) -> list[str]:
    return [str(v) for v in as_list(value)]


def _rules(item: Item) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, rule in enumerate(as_list(item.resource.get("rules"))):
        if isinstance(rule, dict):
            yield i, rule


def check_wildcards(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind(*ROLE_KINDS):
        for i, rule in _rules(item):
            for key in ("verbs", "resources", "apiGroups", "nonResourceURLs"):
                if "*" in _strings(rule.get(key)):
                    yield ctx.issue(
                        item,
                        f"{item.ident} grants '*' in {key} (rule {i}): every {key.rstrip('s')}, "
                        "including those added later",
                        ("rules", i, key),
                    )


def check_escalation(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind(*ROLE_KINDS):
        for i, rule in _rules(item):
            for verb in ESCALATING_VERBS:
                if verb in _strings(rule.get("verbs")):
                    on = ", ".join(_strings(rule.get("resources"))) or "(no resources)"
                    yield ctx.issue(
                        item,
                        f"{item.ident} grants {verb!r} on {on}: it lets a subject {_ESCALATES[verb]}",
                        ("rules", i, "verbs"),
                    )


_ESCALATES = {
    "escalate": "create or edit roles with rights it does not hold",
    "bind": "bind roles with rights it does not hold",
    "impersonate": "act as other users, groups or ServiceAccounts",
}


def _subjects(item: Item) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, subject in enumerate(as_list(item.resource.get("subjects"))):
        if isinstance(subject, dict):
            yield i, subject


def check_everyone(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind(*BINDING_KINDS):
        for i, subject in _subjects(item):
            who = EVERYONE.get((str(subject.get("kind", "")), str(subject.get("name", ""))))
            if who is not None:
                yield ctx.issue(
                    item,
                    f"{item.ident} binds {subject.get('name')} ({who}) to {_role_ref(item)}",
                    ("subjects", i, "name"),
                )


def _role_ref(item: Item) -> str:
    ref = item.resource.get("roleRef")
    if not isinstance(ref, dict):
        return "(no roleRef)"
    return f"{ref.get('kind', '?')}/{ref.get('name', '?')}"


def check_admin(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind(*BINDING_KINDS):
        ref = item.resource.get("roleRef")
        if isinstance(ref, dict) and ref.get("kind") == "ClusterRole" and ref.get("name") in ADMIN_ROLES:
            yield ctx.issue(
                item,
                f"{item.ident} grants the built-in ClusterRole {ref.get('name')}: full control "
                + (
                    "of the cluster"
                    if ref.get("name") == "cluster-admin"
                    else "of the namespace, Secrets included"
                ),
                ("roleRef", "name"),
            )


# -- Secrets readable by a workload -----------------------------------------------------------


@dataclass(frozen=True)
class _Account:
    name: str
    namespace: str
    workload: str  # Kind/name of a workload that runs as it


def _namespace(item: Item) -> str:
    return str(get_path(item.resource, "metadata.namespace") or "")


def _accounts(ctx: Context) -> list[_Account]:
    """The ServiceAccounts the workloads in scope run as (``default`` when none is named)."""
    found: list[_Account] = []
    for item in ctx.items:
        spec = pod_spec(item.resource)
        if spec is None:
            continue
        name = spec[1].get("serviceAccountName") or "default"
        found.append(_Account(str(name), _namespace(item), item.ident))
    return found


def _reads_secrets(rule: dict[str, Any]) -> bool:
    verbs = set(_strings(rule.get("verbs")))
    resources = set(_strings(rule.get("resources")))
    groups = set(_strings(rule.get("apiGroups")))
    return bool(verbs & READ_VERBS) and bool(resources & {"secrets", "*"}) and bool(groups & {"", "*"})


def _role_reads_secrets(ctx: Context, binding: Item) -> bool:
    ref = binding.resource.get("roleRef")
    if not isinstance(ref, dict):
        return False
    kind, name = ref.get("kind"), ref.get("name")
    if kind == "ClusterRole" and name in BUILTIN_SECRET_READERS:
        return True
    for role in ctx.of_kind(str(kind)):
        if role.name == name and kind in ROLE_KINDS:
            if any(_reads_secrets(rule) for _, rule in _rules(role)):
                return True
    return False


def _binds(subject: dict[str, Any], account: _Account, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    if kind == "ServiceAccount":
        ns = str(subject.get("namespace") or binding_ns)
        return name == account.name and (not ns or not account.namespace or ns == account.namespace)
    if kind == "Group":  # every ServiceAccount is in these groups
        return name in ("system:authenticated", "system:serviceaccounts") or (
            bool(account.namespace) and name == f"system:serviceaccounts:{account.namespace}"
        )
    return False


def check_secret_readers(ctx: Context) -> Iterator[Issue]:
    accounts = _accounts(ctx)
    if not accounts:
        return
    for item in ctx.of_kind(*BINDING_KINDS):
        if not _role_reads_secrets(ctx, item):
            continue
        for i, subject in _subjects(item):
            users = [a for a in accounts if _binds(subject, a, _namespace(item))]
            if users:
                yield ctx.issue(
                    item,
                    f"{item.ident} lets ServiceAccount {users[0].name} read Secrets through "
                    f"{_role_ref(item)}; {', '.join(sorted({a.workload for a in users}))} runs as it, "
                    "so whoever compromises it can read them",
                    ("subjects", i),
                )


RULES = [
    FunctionRule(
        id="rbac.wildcard",
        severity=Severity.error,
        rationale="A '*' grants every verb, resource or API group, including those that do not exist yet.",
        hint="list the verbs, resources and API groups the subject needs",
        scope="resources",
        fn=check_wildcards,
    ),
    FunctionRule(
        id="rbac.escalation",
        severity=Severity.error,
        rationale="escalate, bind and impersonate let a subject obtain rights it was not given.",
        hint="remove the verb; a deployment of a model never needs it",
        scope="resources",
        fn=check_escalation,
    ),
    FunctionRule(
        id="rbac.everyone",
        severity=Severity.error,
        rationale="system:authenticated, system:unauthenticated and system:anonymous are everyone.",
        hint="bind the role to the ServiceAccounts, users or groups that need it",
        scope="resources",
        fn=check_everyone,
    ),
    FunctionRule(
        id="rbac.admin-binding",
        severity=Severity.error,
        rationale="cluster-admin and admin hand over the cluster or the whole namespace, Secrets included.",
        hint="bind a Role with the verbs and resources the subject needs",
        scope="resources",
        fn=check_admin,
    ),
    FunctionRule(
        id="rbac.secret-access",
        severity=Severity.error,
        rationale="A workload that can read Secrets hands them to anyone who compromises it "
        "(a model server parses untrusted prompts).",
        hint="drop get/list/watch on secrets from the role, or run the workload as another ServiceAccount",
        scope="resources",
        fn=check_secret_readers,
    ),
]
