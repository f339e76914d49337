"""``llmops bootstrap``: check a cluster's prerequisites, then apply llmops' Argo CD set-up to it.

What is applied, in order, all with server-side apply and llmops' field manager: ``setup/``
(namespaces, the Argo CD controller's rights, the llmops roles), the repository credentials
Secret when asked for, ``argocd/`` (the AppProject and the Applications), and the Argo CD
customizations (:mod:`llmops.cluster.customize`, a JSON patch that appends). Every object is
first applied as a server-side dry run and compared with what is live, so an object that
would not change is not written: a second run changes nothing and says so. ``--dry-run``
stops there and shows each change as a diff (Secret values redacted).

Nothing is applied while a blocking prerequisite is missing; the report says which and how
to get it.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from llmops.cluster import customize
from llmops.cluster.client import ClusterConflict, ClusterForbidden, KubeApi, MissingApiError
from llmops.cluster.kinds import (
    APPLICATION,
    APPPROJECT,
    ARGOCD,
    CRD,
    DATASCIENCECLUSTER,
    INFERENCESERVICE,
    NODE,
    SECRET,
    SERVINGRUNTIME,
    Kind,
    kind_of,
)
from llmops.delivery.diff import redact_pair
from llmops.errors import ClusterError, UsageError
from llmops.gitops.render import render_paths
from llmops.gitops.repo import Repository

SETUP = "setup"
ARGOCD_DIR = "argocd"
PLACEHOLDER_REPO = "github.com/your-org/"
REPO_SECRET_LABEL = "argocd.argoproj.io/secret-type"
GPU_LABEL = "nvidia.com/gpu.present"
GPU_PRODUCT = "nvidia.com/gpu.product"
_SERVER_FIELDS = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp", "selfLink")

Action = Literal["create", "update", "unchanged", "conflict", "refused"]
T = TypeVar("T")
R = TypeVar("R")
_WORKERS = 8  # concurrent API calls while comparing objects and checking rights


class BootstrapError(ClusterError):
    """The set-up cannot be read or applied (no setup/ or argocd/, unreadable credentials)."""


@dataclass(frozen=True)
class RepoCredentials:
    """HTTPS (username + token) or SSH credentials of a private Git repository; never printed."""

    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ssh_private_key: str | None = field(default=None, repr=False)


def read_credentials(text: str, source: str) -> RepoCredentials:
    """Credentials from a YAML or JSON mapping: ``username`` + ``password`` (a token) or ``sshPrivateKey``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(
            f"{source} is not YAML or JSON", hint="write `username: NAME` and `password: TOKEN`"
        ) from exc
    if not isinstance(data, dict):
        raise UsageError(f"{source} must be a mapping", hint="write `username: NAME` and `password: TOKEN`")
    unknown = sorted(set(data) - {"username", "password", "sshPrivateKey"})
    if unknown:
        raise UsageError(
            f"{source} has unknown keys: {', '.join(unknown)}", hint="use username, password, sshPrivateKey"
        )
    creds = RepoCredentials(
        username=_text(data.get("username")), password=_text(data.get("password")),
        ssh_private_key=_text(data.get("sshPrivateKey")),
    )  # fmt: skip
    if not (creds.ssh_private_key or (creds.username and creds.password)):
        raise UsageError(
            f"{source} holds no usable credentials",
            hint="give username and password (a personal access token), or sshPrivateKey",
        )
    return creds


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


@dataclass(frozen=True, kw_only=True)
class BootstrapRequest:
    namespace: str = "openshift-gitops"
    dry_run: bool = False
    force_conflicts: bool = False
    repo_secret: str | None = None  # an existing repository Secret to use, or the name of the one to create
    credentials: RepoCredentials | None = None


@dataclass(frozen=True, kw_only=True)
class Check:
    """One prerequisite and whether the cluster has it."""

    name: str
    ok: bool
    detail: str
    hint: str = ""
    blocking: bool = True


@dataclass(frozen=True, kw_only=True)
class Change:
    """What bootstrap does (or would do) to one object."""

    action: Action
    kind: str
    name: str
    namespace: str = ""
    diff: str = ""
    note: str = ""

    @property
    def ref(self) -> str:
        where = f" -n {self.namespace}" if self.namespace else ""
        return f"{self.kind}/{self.name}{where}"


@dataclass(frozen=True, kw_only=True)
class BootstrapReport:
    server: str
    context: str
    user: str | None
    dry_run: bool
    checks: tuple[Check, ...]
    changes: tuple[Change, ...]

    @property
    def missing(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.blocking]

    @property
    def applied(self) -> bool:
        return not self.dry_run and not self.missing

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


# -- what to apply ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Item:
    kind: Kind
    obj: dict[str, Any]
    secret: bool = False


def _rendered(repo: Repository, namespace: str) -> dict[str, list[dict[str, Any]]]:
    """setup/, argocd/ (in Argo CD's namespace) and every Application's overlay, rendered at once."""
    for folder in (SETUP, ARGOCD_DIR):
        if not (repo.root / folder / "kustomization.yaml").is_file():
            raise BootstrapError(
                f"{folder}/kustomization.yaml does not exist in {repo.root}",
                hint="bootstrap applies the reference layout's setup/ and argocd/ folders",
            )
    rendered = render_paths(repo.root, [SETUP, ARGOCD_DIR, *(a.path for a in repo.applications())])
    argocd_objs = [o for o in rendered[ARGOCD_DIR] if o.get("kind") in ("AppProject", "Application")]
    for obj in argocd_objs:
        obj.setdefault("metadata", {})["namespace"] = namespace
    rendered[ARGOCD_DIR] = argocd_objs
    return rendered


def _repo_urls(objs: Sequence[dict[str, Any]]) -> list[str]:
    urls = {
        str(((o.get("spec") or {}).get("source") or {}).get("repoURL") or "")
        for o in objs if o.get("kind") == "Application"
    }  # fmt: skip
    return sorted(u for u in urls if u)


def _secret(name: str, namespace: str, url: str, creds: RepoCredentials) -> dict[str, Any]:
    data: dict[str, str] = {"type": "git", "url": url}
    if creds.ssh_private_key:
        data["sshPrivateKey"] = creds.ssh_private_key
    else:
        data["username"] = creds.username or ""
        data["password"] = creds.password or ""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name, "namespace": namespace,
            "labels": {REPO_SECRET_LABEL: "repository", "app.kubernetes.io/part-of": "llmops"},
        },
        "type": "Opaque",
        "stringData": data,
    }  # fmt: skip


def _items(
    setup: list[dict[str, Any]], argo: list[dict[str, Any]], secret: dict[str, Any] | None
) -> list[_Item]:
    order = {"Namespace": 0, "ClusterRole": 1}
    items = [_Item(kind=kind_of(str(o["apiVersion"]), str(o["kind"])), obj=o)
             for o in sorted(setup, key=lambda o: order.get(str(o.get("kind")), 2))]  # fmt: skip
    if secret is not None:
        items.append(_Item(kind=SECRET, obj=secret, secret=True))
    items += [_Item(kind=APPPROJECT if o["kind"] == "AppProject" else APPLICATION, obj=o)
              for o in sorted(argo, key=lambda o: 0 if o["kind"] == "AppProject" else 1)]  # fmt: skip
    return items


# -- prerequisites ----------------------------------------------------------------------------------


@dataclass
class _Context:
    api: KubeApi
    repo: Repository
    request: BootstrapRequest
    wanted: customize.Customizations
    rendered: dict[str, list[dict[str, Any]]]
    user: str | None = None

    @property
    def setup(self) -> list[dict[str, Any]]:
        return self.rendered[SETUP]

    @property
    def argo(self) -> list[dict[str, Any]]:
        return self.rendered[ARGOCD_DIR]


def _served(api: KubeApi, kind: Kind, namespace: str | None) -> bool:
    """Whether the cluster serves ``kind``: its CRD, or (without the right to read CRDs) a list call."""
    try:
        return api.get(CRD, kind.crd_name) is not None
    except ClusterForbidden:
        pass
    try:
        api.objects(kind, namespace if kind.namespaced else None)
    except MissingApiError:
        return False
    except ClusterForbidden:
        return True  # served, only not readable by this user
    return True


def check_login(ctx: _Context) -> Iterator[Check]:
    ctx.user = ctx.api.whoami()
    who = f" as {ctx.user}" if ctx.user else ""
    t = ctx.api.target
    yield Check(name="login", ok=True, detail=f"{t.server}{who} (context {t.context})")


def check_gitops(ctx: _Context) -> Iterator[Check]:
    ns = ctx.request.namespace
    missing = [k.crd_name for k in (APPLICATION, APPPROJECT, ARGOCD) if not _served(ctx.api, k, ns)]
    if missing:
        yield Check(
            name="openshift-gitops", ok=False, detail=f"missing CRDs: {', '.join(missing)}",
            hint="install the Red Hat OpenShift GitOps operator (OperatorHub, channel latest)",
        )  # fmt: skip
        return
    instance = ctx.api.get(ARGOCD, ctx.wanted.instance, ns)
    yield Check(
        name="openshift-gitops",
        ok=instance is not None,
        detail=f"ArgoCD instance {ctx.wanted.instance} in {ns}" + ("" if instance else ": not found"),
        hint=""
        if instance
        else f"the operator creates {ctx.wanted.instance} in openshift-gitops; "
        "pass --namespace where your instance runs, or set `instance:` in "
        f"{customize.CUSTOMIZATIONS}",
    )


def check_kserve(ctx: _Context) -> Iterator[Check]:
    missing = [k.crd_name for k in (INFERENCESERVICE, SERVINGRUNTIME) if not _served(ctx.api, k, None)]
    yield Check(
        name="kserve", ok=not missing,
        detail="InferenceService and ServingRuntime CRDs"
        + (f": missing {', '.join(missing)}" if missing else ""),
        hint="" if not missing else "enable KServe: OpenShift AI's DataScienceCluster with "
        "spec.components.kserve.managementState: Managed",
    )  # fmt: skip


def _kserve_state(dsc: dict[str, Any]) -> Any:
    return (((dsc.get("spec") or {}).get("components") or {}).get("kserve") or {}).get("managementState")


def check_openshift_ai(ctx: _Context) -> Iterator[Check]:
    if not _served(ctx.api, DATASCIENCECLUSTER, None):
        yield Check(
            name="openshift-ai", ok=False, detail="no DataScienceCluster CRD",
            hint="install the Red Hat OpenShift AI operator and create a DataScienceCluster",
        )  # fmt: skip
        return
    try:
        clusters = ctx.api.objects(DATASCIENCECLUSTER)
    except ClusterForbidden:
        yield Check(
            name="openshift-ai", ok=True, detail="operator installed (DataScienceCluster not readable)"
        )
        return
    managed = [c for c in clusters if _kserve_state(c) == "Managed"]
    yield Check(
        name="openshift-ai", ok=bool(managed),
        detail=f"{len(clusters)} DataScienceCluster(s), KServe managed in {len(managed)}",
        hint="" if managed else "set spec.components.kserve.managementState: Managed "
        "in the DataScienceCluster",
    )  # fmt: skip


def _wanted_products(repo: Repository, rendered: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    """GPU products the overlays' InferenceServices select, by product."""
    out: dict[str, set[str]] = {}
    for app in repo.applications():
        for obj in rendered.get(app.path, []):
            if obj.get("kind") != "InferenceService":
                continue
            selector = ((obj.get("spec") or {}).get("predictor") or {}).get("nodeSelector") or {}
            if GPU_PRODUCT in selector:
                out.setdefault(str(selector[GPU_PRODUCT]), set()).add(app.environment)
    return out


def check_gpus(ctx: _Context) -> Iterator[Check]:
    try:
        nodes = ctx.api.objects(NODE)
    except ClusterForbidden:
        yield Check(
            name="gpu",
            ok=True,
            detail="nodes not readable by this user: GPU labels not checked",
            blocking=False,
        )
        return
    labels = [((n.get("metadata") or {}).get("labels") or {}) for n in nodes]
    gpus = [lbl for lbl in labels if lbl.get(GPU_LABEL) == "true"]
    if not gpus:
        yield Check(
            name="gpu", ok=False, blocking=False, detail=f"no node is labelled {GPU_LABEL}=true",
            hint="install the NVIDIA GPU operator (and Node Feature Discovery) on a cluster with GPU nodes",
        )  # fmt: skip
        return
    products = {str(lbl.get(GPU_PRODUCT)) for lbl in gpus if lbl.get(GPU_PRODUCT)}
    for product, envs in sorted(_wanted_products(ctx.repo, ctx.rendered).items()):
        if product not in products:
            yield Check(
                name="gpu", ok=False, blocking=False,
                detail=f"{', '.join(sorted(envs))} select {GPU_PRODUCT}={product}, which no node has "
                f"(GPU nodes have: {', '.join(sorted(products)) or 'no product label'})",
                hint="change nodeSelector in the overlay's environment.yaml, or add such nodes",
            )  # fmt: skip
    yield Check(name="gpu", ok=True, detail=f"{len(gpus)} GPU node(s): {', '.join(sorted(products)) or '?'}",
                blocking=False)  # fmt: skip


def _rights_needed(ctx: _Context) -> list[tuple[str, Kind, str | None]]:
    ns = ctx.request.namespace
    needed: list[tuple[str, Kind, str | None]] = []
    seen: set[tuple[str, str, str | None]] = set()
    for obj in ctx.setup + ctx.argo:
        kind = kind_of(str(obj["apiVersion"]), str(obj["kind"]))
        where = (obj.get("metadata") or {}).get("namespace") if kind.namespaced else None
        for verb in ("create", "patch"):
            key = (verb, kind.plural, where)
            if key not in seen:
                seen.add(key)
                needed.append((verb, kind, where))
    if ctx.request.credentials is not None:
        needed += [("create", SECRET, ns), ("patch", SECRET, ns)]
    needed.append(("patch", ARGOCD, ns))
    return needed


def check_rights(ctx: _Context) -> Iterator[Check]:
    needed = _rights_needed(ctx)
    answers = _concurrently(lambda n: ctx.api.can_i(n[0], n[1], namespace=n[2]), needed)
    missing = []
    for (verb, kind, where), allowed in zip(needed, answers, strict=True):
        if not allowed:
            scope = f"in {where}" if where else "(cluster scope)"
            missing.append(f"{verb} {kind.plural}{'.' + kind.group if kind.group else ''} {scope}")
    yield Check(
        name="rights", ok=not missing,
        detail="may apply everything" if not missing else "cannot " + "; ".join(missing),
        hint="" if not missing else "bootstrap needs a cluster admin (oc login as one, or ask one to run it)",
    )  # fmt: skip


def check_repository(ctx: _Context) -> Iterator[Check]:
    urls = _repo_urls(ctx.argo)
    placeholder = [u for u in urls if PLACEHOLDER_REPO in u]
    if placeholder:
        yield Check(
            name="repository", ok=False,
            detail=f"the Applications deploy from {', '.join(placeholder)}, the reference's placeholder",
            hint="point repoURL (argocd/applications/*.yaml) and sourceRepos (argocd/project.yaml) at your "
            "repository, commit and push",
        )  # fmt: skip
    name = ctx.request.repo_secret
    if name is None or ctx.request.credentials is not None:
        return
    secret = ctx.api.get(SECRET, name, ctx.request.namespace)
    labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
    ok = secret is not None and labels.get(REPO_SECRET_LABEL) in ("repository", "repo-creds")
    yield Check(
        name="repository", ok=ok,
        detail=f"Secret {name} in {ctx.request.namespace}"
        + ("" if secret is not None else ": not found")
        + ("" if secret is None or ok else f": not labelled {REPO_SECRET_LABEL}=repository"),
        hint="" if ok else f"oc label secret {name} -n {ctx.request.namespace} "
        f"{REPO_SECRET_LABEL}=repository, or pass --repo-credentials-file to create one",
    )  # fmt: skip


CHECKS: tuple[Callable[[_Context], Iterator[Check]], ...] = (
    check_login, check_gitops, check_kserve, check_openshift_ai, check_gpus, check_rights, check_repository,
)  # fmt: skip


# -- changes ----------------------------------------------------------------------------------------


def _comparable(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in _SERVER_FIELDS:
        meta.pop(key, None)
    return out


class _Dumper(yaml.SafeDumper):
    """YAML with multi-line strings (Lua scripts, RBAC policies) as literal blocks, for readable diffs."""


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text and all(not line.endswith(" ") for line in text.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _literal)


def _dump(obj: dict[str, Any]) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=120)


def _diff(before: dict[str, Any] | None, after: dict[str, Any] | None, ref: str, secret: bool) -> str:
    if secret:
        before, after = redact_pair(before, after)
        for side in (before, after):
            if side is not None and "stringData" in side:
                side["stringData"] = dict.fromkeys(side["stringData"], "<redacted>")
    a = _dump(before).splitlines() if before else []
    b = _dump(after).splitlines() if after else []
    lines = difflib.unified_diff(
        a, b, f"live/{ref}" if before else "/dev/null", f"applied/{ref}", lineterm="", n=3
    )
    return "\n".join(lines)


def _change(api: KubeApi, item: _Item, request: BootstrapRequest) -> tuple[Change, bool]:
    """The change one object needs (a server-side dry run), and whether it must be applied."""
    meta = item.obj.get("metadata") or {}
    name, ns = str(meta.get("name")), str(meta.get("namespace") or "") if item.kind.namespaced else ""
    ref = f"{item.kind.kind}/{name}"
    live = api.get(item.kind, name, ns or None)
    try:
        dry = api.apply(item.kind, item.obj, dry_run=True, force=request.force_conflicts)
    except ClusterConflict as exc:
        return Change(
            action="conflict", kind=item.kind.kind, name=name, namespace=ns, note=exc.message
        ), False
    except (ClusterForbidden, MissingApiError) as exc:
        if not request.dry_run:
            raise
        return Change(action="refused", kind=item.kind.kind, name=name, namespace=ns, note=exc.message), False
    except ClusterError as exc:
        if not ("namespace" in exc.message and "does not exist" in exc.message):
            raise
        dry = item.obj  # its namespace is created by this bootstrap: the server cannot dry-run it yet
    before, after = _comparable(live), _comparable(dry)
    if before == after:
        return Change(action="unchanged", kind=item.kind.kind, name=name, namespace=ns), False
    action: Action = "create" if live is None else "update"
    return Change(action=action, kind=item.kind.kind, name=name, namespace=ns,
                  diff=_diff(before, after, ref, item.secret)), True  # fmt: skip


def _customizations(api: KubeApi, ctx: _Context) -> Change:
    ns = ctx.request.namespace
    instance = api.get(ARGOCD, ctx.wanted.instance, ns)
    if instance is None:
        return Change(action="conflict", kind="ArgoCD", name=ctx.wanted.instance, namespace=ns,
                      note="the ArgoCD instance does not exist: customizations not applied")  # fmt: skip
    planned = customize.plan(instance, ctx.wanted, force=ctx.request.force_conflicts)
    note = "; ".join(planned.conflicts)
    if not planned.changed:
        return Change(action="unchanged", kind="ArgoCD", name=ctx.wanted.instance, namespace=ns, note=note)
    diff = _diff(_comparable(instance), _comparable(planned.after), f"ArgoCD/{ctx.wanted.instance}", False)
    if not ctx.request.dry_run:
        api.json_patch(ARGOCD, ctx.wanted.instance, list(planned.ops), namespace=ns)
    return Change(
        action="update", kind="ArgoCD", name=ctx.wanted.instance, namespace=ns, diff=diff, note=note
    )


def _concurrently(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``fn`` over ``items`` on a few threads (API calls wait on the network), results in order."""
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(_WORKERS, len(items))) as pool:
        return list(pool.map(fn, items))


def bootstrap(repo: Repository, api: KubeApi, request: BootstrapRequest) -> BootstrapReport:
    """Check the prerequisites; unless ``dry_run`` or something blocking is missing, apply what changed."""
    rendered = _rendered(repo, request.namespace)
    setup, argo = rendered[SETUP], rendered[ARGOCD_DIR]
    wanted = customize.load(repo.root)
    ctx = _Context(api=api, repo=repo, request=request, wanted=wanted, rendered=rendered)
    checks = tuple(c for step in CHECKS for c in step(ctx))
    blocked = any(not c.ok and c.blocking for c in checks)
    secret = None
    if request.credentials is not None:
        urls = _repo_urls(argo)
        if len(urls) != 1:
            raise UsageError(
                f"the Applications use {len(urls)} repository URLs: {', '.join(urls) or 'none'}",
                hint="credentials are created for one repository; create the others' Secrets with oc",
            )
        secret = _secret(
            request.repo_secret or "llmops-repository", request.namespace, urls[0], request.credentials
        )
    changes: list[Change] = []
    if not blocked or request.dry_run:
        items = _items(setup, argo, secret)
        # Every object is compared (a GET and a server-side dry run) concurrently; what changed is
        # then applied one by one, in order (namespaces first).
        planned = _concurrently(lambda item: _change(api, item, request), items)
        for item, (change, needed) in zip(items, planned, strict=True):
            if needed and not request.dry_run:
                api.apply(item.kind, item.obj, force=request.force_conflicts)
            changes.append(change)
        changes.append(_customizations(api, ctx))
    t = api.target
    return BootstrapReport(server=t.server, context=t.context, user=ctx.user, dry_run=request.dry_run,
                           checks=checks, changes=tuple(changes))  # fmt: skip


def credentials_from(path: Path | None, stdin_text: Callable[[], str]) -> RepoCredentials | None:
    """``--repo-credentials-file PATH`` (``-``: standard input)."""
    if path is None:
        return None
    if str(path) == "-":
        return read_credentials(stdin_text(), "standard input")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return read_credentials(text, str(path))
