"""security: credentials, image pinning, host access, resources, exposure and Argo CD scope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from llmops.gitops.kustomize_tree import ImageEntry, image_entries
from llmops.gitops.manifests import as_list, get_path
from llmops.validation.rules.pods import containers, pod_spec
from llmops.validation.types import Context, FunctionRule, Issue, Item, Severity

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
EXPOSED_LABEL = "networking.kserve.io/visibility"
AUTH_ANNOTATION = "security.opendatahub.io/enable-auth"


def check_secrets(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind("Secret"):
        for field in ("stringData", "data"):
            values = item.resource.get(field)
            if not isinstance(values, dict):
                continue
            for key, value in values.items():
                if value not in (None, ""):
                    yield ctx.issue(
                        item,
                        f"Secret {item.name} commits a value for {key} in {field}: anyone with read "
                        "access to Git has it",
                        (field, str(key)),
                    )


def _tekton_steps(resource: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    kind = resource.get("kind")
    specs: list[tuple[tuple[str | int, ...], Any]] = []
    if kind == "Task":
        specs.append((("spec",), resource.get("spec")))
    elif kind in ("Pipeline", "PipelineRun"):
        base: tuple[str | int, ...] = ("spec",) if kind == "Pipeline" else ("spec", "pipelineSpec")
        tasks = get_path(resource, ".".join(map(str, base)) + ".tasks") or []
        for i, task in enumerate(tasks if isinstance(tasks, list) else []):
            if isinstance(task, dict):
                specs.append(((*base, "tasks", i, "taskSpec"), task.get("taskSpec")))
    for path, spec in specs:
        steps = spec.get("steps") if isinstance(spec, dict) else None
        for j, step in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(step, dict):
                yield (*path, "steps", j), step


def _images(ctx: Context) -> Iterator[tuple[Any, tuple[str | int, ...], str]]:
    for item in ctx.items:
        for path, container in [*containers(item.resource), *_tekton_steps(item.resource)]:
            image = container.get("image")
            if isinstance(image, str) and image and not image.startswith("$("):
                yield item, (*path, "image"), image


def image_repository(image: str) -> str:
    """``registry/name`` without ``:tag`` or ``@digest`` (a registry's ``:port`` is kept)."""
    image = image.partition("@")[0]
    head, slash, last = image.rpartition("/")
    return head + slash + last.partition(":")[0]


def _image_entries(ctx: Context, item: Item, repository: str) -> list[ImageEntry]:
    """The kustomize ``images:`` entries that set this image for the item's kustomization, overlay first."""
    if not item.source.is_dir():
        return []
    key = f"security.image-entries:{item.source}"
    if key not in ctx.memo:
        rel = item.source.resolve().relative_to(ctx.repo.root.resolve()).as_posix()
        ctx.memo[key] = image_entries(ctx.repo.root.resolve(), rel)
    entries: list[ImageEntry] = ctx.memo[key]
    return [e for e in entries if e.renders_as == repository]


def _pin_hint(image: str, entry: ImageEntry | None) -> str:
    how = f"skopeo inspect docker://{image} --format '{{{{.Digest}}}}' prints the digest"
    if entry is None:
        return f"pin the image as name@sha256:<digest> ({how})"
    return f"pin it in {entry.file}:{entry.line}: replace newTag with `digest: sha256:<digest>` ({how})"


def check_image_digest(ctx: Context) -> Iterator[Issue]:
    """Images referenced by tag; those accepted in ``validate.unpinned_images`` are warnings until pinned.

    Once the kustomize ``images:`` entry of an accepted image pins a digest, the acceptance
    ends: a tag that reappears for it is reported like any other.
    """
    accepted = ctx.config.unpinned_images
    for item, path, image in _images(ctx):
        if _DIGEST.search(image):
            continue
        repository = image_repository(image)
        entries = _image_entries(ctx, item, repository)
        hint = _pin_hint(image, entries[0] if entries else None)
        reason = accepted.get(repository)
        if reason and not any(e.digest for e in entries):
            yield ctx.issue(
                item,
                f"image {image} is not pinned by digest (accepted until pinned: validate.unpinned_images)",
                path,
                hint=hint,
                severity=Severity.warning,
                justification=" ".join(reason.split()),
            )
            continue
        yield ctx.issue(
            item, f"image {image} is not pinned by digest: a re-pushed tag changes what runs", path, hint=hint
        )


def check_model_digest(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind("InferenceService"):
        uri = get_path(item.resource, "spec.predictor.model.storageUri")
        if isinstance(uri, str) and uri.startswith("oci://") and not _DIGEST.search(uri):
            yield ctx.issue(
                item,
                f"model image {uri} is not pinned by digest: a re-pushed modelcar tag changes the model",
                ("spec", "predictor", "model", "storageUri"),
            )


def check_privileged(ctx: Context) -> Iterator[Issue]:
    for item in ctx.items:
        for path, container in containers(item.resource):
            sc = container.get("securityContext")
            if isinstance(sc, dict) and sc.get("privileged") is True:
                yield ctx.issue(
                    item,
                    f"container {container.get('name', '?')} is privileged",
                    (*path, "securityContext", "privileged"),
                )


def check_host_path(ctx: Context) -> Iterator[Issue]:
    for item in ctx.items:
        found = pod_spec(item.resource)
        if found is None:
            continue
        path, spec = found
        for i, volume in enumerate(as_list(spec.get("volumes"))):
            if isinstance(volume, dict) and "hostPath" in volume:
                yield ctx.issue(
                    item,
                    f"volume {volume.get('name', i)} mounts a host path",
                    (*path, "volumes", i, "hostPath"),
                )


def check_host_network(ctx: Context) -> Iterator[Issue]:
    for item in ctx.items:
        found = pod_spec(item.resource)
        if found is None:
            continue
        path, spec = found
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(key) is True:
                yield ctx.issue(item, f"{key}: true shares the node's namespace with the pod", (*path, key))


def check_resources(ctx: Context) -> Iterator[Issue]:
    for item in ctx.items:
        kind = item.kind
        for path, container in containers(item.resource):
            if kind in ("ServingRuntime", "ClusterServingRuntime"):
                continue  # the InferenceService sets the serving container's resources
            if kind == "InferenceService" and path[-1] != "model":
                continue
            res = container.get("resources")
            res = res if isinstance(res, dict) else {}
            for part in ("requests", "limits"):
                values = res.get(part)
                values = values if isinstance(values, dict) else {}
                missing = [r for r in ("cpu", "memory") if r not in values]
                if missing:
                    yield ctx.issue(
                        item,
                        f"container {container.get('name', path[-1])} sets no {part} "
                        f"for {' and '.join(missing)}",
                        (*path, "resources", part) if part in res else (*path, "resources"),
                    )


def check_extended_resources(ctx: Context) -> Iterator[Issue]:
    for item in ctx.items:
        for path, container in containers(item.resource):
            res = container.get("resources")
            if not isinstance(res, dict):
                continue
            req = res.get("requests") if isinstance(res.get("requests"), dict) else {}
            lim = res.get("limits") if isinstance(res.get("limits"), dict) else {}
            assert isinstance(req, dict) and isinstance(lim, dict)
            for name in sorted(set(req) | set(lim)):
                if "/" not in str(name) or str(name).startswith(("kubernetes.io/", "hugepages-")):
                    continue
                if str(req.get(name)) != str(lim.get(name)) and name in lim:
                    if name not in req:
                        continue  # a request defaults to the limit for extended resources
                    yield ctx.issue(
                        item,
                        f"{name}: request {req.get(name)} differs from limit {lim.get(name)} (extended "
                        "resources cannot be overcommitted; the pod is rejected)",
                        (*path, "resources", "requests", str(name)),
                    )
                elif name not in lim:
                    yield ctx.issue(
                        item,
                        f"{name} is requested without a limit (extended resources need request == limit)",
                        (*path, "resources", "requests", str(name)),
                    )


def check_endpoint_auth(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind("InferenceService"):
        labels = get_path(item.resource, "metadata.labels") or {}
        annotations = get_path(item.resource, "metadata.annotations") or {}
        if not isinstance(labels, dict) or labels.get(EXPOSED_LABEL) != "exposed":
            continue
        auth = annotations.get(AUTH_ANNOTATION) if isinstance(annotations, dict) else None
        if str(auth).lower() != "true":
            yield ctx.issue(
                item,
                f"{item.name} is exposed outside the cluster without authentication",
                ("metadata", "labels", EXPOSED_LABEL),
            )


def _wild(value: Any) -> bool:
    return isinstance(value, str) and value == "*"


def _project_wildcards(spec: dict[str, Any]) -> Iterator[tuple[str, tuple[str | int, ...]]]:
    """(message, path) for each '*' an AppProject grants: any repository, destination or kind."""
    for i, repo in enumerate(as_list(spec.get("sourceRepos"))):
        if _wild(repo):
            yield "sourceRepos allows any repository ('*')", ("spec", "sourceRepos", i)
    for i, dest in enumerate(as_list(spec.get("destinations"))):
        if isinstance(dest, dict) and (_wild(dest.get("namespace")) or _wild(dest.get("server"))):
            yield "a destination allows any namespace or cluster ('*')", ("spec", "destinations", i)
    for key in ("clusterResourceWhitelist", "namespaceResourceWhitelist"):
        for i, entry in enumerate(as_list(spec.get(key))):
            if isinstance(entry, dict) and _wild(entry.get("group")) and _wild(entry.get("kind")):
                yield f"{key} allows every kind ('*/*')", ("spec", key, i)


def check_appproject(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind("AppProject"):
        spec = item.resource.get("spec")
        for message, path in _project_wildcards(spec if isinstance(spec, dict) else {}):
            yield ctx.issue(item, message, path)


def allowed_repos(ctx: Context) -> dict[str, set[str]] | set[str]:
    if ctx.config.allowed_repos:
        return set(ctx.config.allowed_repos)
    projects: dict[str, set[str]] = {}
    for project in ctx.app_projects():
        repos = get_path(project, "spec.sourceRepos") or []
        name = str(get_path(project, "metadata.name") or "")
        projects[name] = {str(r) for r in repos} if isinstance(repos, list) else set()
    return projects


def _norm(url: str) -> str:
    return url.rstrip("/").removesuffix(".git").lower()


def check_app_repos(ctx: Context) -> Iterator[Issue]:
    allowed = allowed_repos(ctx)
    for app in ctx.all_apps:
        permitted = allowed if isinstance(allowed, set) else allowed.get(app.project)
        if permitted is None:
            continue  # the project is not in this repository: nothing to compare against
        if "*" in permitted or _norm(app.repo_url) in {_norm(p) for p in permitted}:
            continue
        where = ctx.index.locate(
            app.file if app.file.is_absolute() else ctx.repo.root / app.file,
            "Application",
            app.name,
            ("spec", "source", "repoURL"),
        )
        yield Issue(
            message=f"Application {app.name} deploys from {app.repo_url or '(no repoURL)'}, "
            "which is not an allowed repository",
            resource=f"Application/{app.name}",
            location=where,
            manifest=app.manifest,
        )


# -- ServiceAccount tokens ----------------------------------------------------------------------
# KServe (OpenShift AI) puts an auth proxy in the predictor pod of an InferenceService with
# enable-auth and sets automountServiceAccountToken: true on that pod itself: the proxy checks
# callers with the pod's token (opendatahub-io/kserve, pkg/controller/v1beta1/inferenceservice/
# reconcilers/deployment/deployment_reconciler_odh.go, addOauthContainerToDeployment).

_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


def _account_disables_tokens(ctx: Context, name: str) -> bool:
    return any(
        item.name == name and item.resource.get("automountServiceAccountToken") is False
        for item in ctx.of_kind("ServiceAccount")
    )


def _needs_token(item: Any) -> bool:
    """An InferenceService with auth keeps the token: its auth proxy needs it."""
    if item.kind != "InferenceService":
        return False
    annotations = get_path(item.resource, "metadata.annotations")
    return isinstance(annotations, dict) and str(annotations.get(AUTH_ANNOTATION)).lower() == "true"


def check_token_automount(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind(*_WORKLOAD_KINDS, "InferenceService"):
        found = pod_spec(item.resource)
        if found is None or _needs_token(item):
            continue
        path, spec = found
        if "automountServiceAccountToken" in spec:  # either way, a decision was written down
            continue
        account = str(spec.get("serviceAccountName") or "default")
        if _account_disables_tokens(ctx, account):
            continue
        yield ctx.issue(
            item,
            f"{item.ident} gets a ServiceAccount token ({account}) mounted by default: anyone who "
            "compromises it can call the Kubernetes API as that account",
            path,
        )


# -- vLLM with a read-only root file system -----------------------------------------------------
# vLLM writes only to: $VLLM_CACHE_ROOT (default $XDG_CACHE_HOME/vllm, else ~/.cache/vllm),
# $VLLM_CONFIG_ROOT (~/.config/vllm: usage stats), tempfile.gettempdir() (its RPC sockets, torch's
# compile caches) and HF_HOME (vllm/envs.py, vllm/usage/usage_lib.py). With /tmp and $HOME on
# writable volumes (HF_HOME under one of them), the root file system can be read-only.


def _runs_vllm(container: dict[str, Any]) -> bool:
    words = [str(w) for w in [container.get("image", ""), *as_list(container.get("command"))]]
    words += [str(w) for w in as_list(container.get("args"))]
    return any("vllm" in w.lower() for w in words)


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {
        str(e.get("name")): str(e.get("value"))
        for e in as_list(container.get("env"))
        if isinstance(e, dict) and isinstance(e.get("value"), str)
    }


def _mounted(container: dict[str, Any], path: str) -> bool:
    mounts = [
        str(m.get("mountPath", "")).rstrip("/")
        for m in as_list(container.get("volumeMounts"))
        if isinstance(m, dict)
    ]
    return any(path == m or path.startswith(m + "/") for m in mounts if m)


def _model_envs(ctx: Context, runtime: str) -> list[dict[str, str]]:
    """The environment each InferenceService naming ``runtime`` merges over the runtime's container
    (KServe replaces env entries by name: MergeRuntimeContainers); one empty entry when none does."""
    envs = []
    for isvc in ctx.of_kind("InferenceService"):
        model = get_path(isvc.resource, "spec.predictor.model")
        if isinstance(model, dict) and model.get("runtime") == runtime:
            envs.append(_env(model))
    return envs or [{}]


def _unwritable(container: dict[str, Any], overrides: dict[str, str]) -> list[str]:
    """The places vLLM writes to that no volume of the container covers."""
    env = {**_env(container), **overrides}
    wanted = {"/tmp (temporary files, torch compile caches)": env.get("TMPDIR", "/tmp")}
    wanted["HOME (vLLM's cache and config)"] = env.get("HOME", "")
    if "HF_HOME" in env:
        wanted["HF_HOME"] = env["HF_HOME"]
    return [what for what, path in wanted.items() if not path or not _mounted(container, path)]


def check_read_only_root(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind("ServingRuntime", "ClusterServingRuntime"):
        for path, container in containers(item.resource):
            if not _runs_vllm(container):
                continue
            sc = container.get("securityContext")
            sc = sc if isinstance(sc, dict) else {}
            name = container.get("name", path[-1])
            if sc.get("readOnlyRootFilesystem") is not True:
                yield ctx.issue(
                    item,
                    f"vLLM container {name} can write to its root file system: set "
                    "securityContext.readOnlyRootFilesystem: true (vLLM needs only /tmp and $HOME writable)",
                    (*path, "securityContext") if sc else path,
                )
                continue
            runtime = str(get_path(item.resource, "metadata.name") or "")
            missing = list(
                dict.fromkeys(m for env in _model_envs(ctx, runtime) for m in _unwritable(container, env))
            )
            if missing:
                yield ctx.issue(
                    item,
                    f"vLLM container {name} has a read-only root file system but no writable volume for "
                    f"{', '.join(missing)}: it will fail to start",
                    (*path, "volumeMounts"),
                    hint="mount an emptyDir at /tmp and set HOME=/tmp (HF_HOME under /tmp too)",
                )


# -- Tekton pipeline steps -------------------------------------------------------------------------


def _step_template(resource: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    spec = get_path(resource, ".".join(str(p) for p in path[:-2]))
    template = spec.get("stepTemplate") if isinstance(spec, dict) else None
    return template if isinstance(template, dict) else {}


def _step_gaps(step: dict[str, Any], template: dict[str, Any]) -> list[str]:
    sc = {**(template.get("securityContext") or {}), **(step.get("securityContext") or {})}
    gaps = []
    if sc.get("runAsNonRoot") is not True and not sc.get("runAsUser"):
        gaps.append("securityContext.runAsNonRoot: true")
    if sc.get("allowPrivilegeEscalation") is not False:
        gaps.append("securityContext.allowPrivilegeEscalation: false")
    resources = (
        step.get("computeResources") or step.get("resources") or template.get("computeResources") or {}
    )
    limits = resources.get("limits") if isinstance(resources, dict) else None
    limits = limits if isinstance(limits, dict) else {}
    gaps += [f"computeResources.limits.{r}" for r in ("cpu", "memory") if r not in limits]
    return gaps


def check_pipeline_steps(ctx: Context) -> Iterator[Issue]:
    for item in ctx.of_kind("Task", "Pipeline", "PipelineRun", "TaskRun"):
        if not str(item.resource.get("apiVersion", "")).startswith("tekton.dev/"):
            continue
        for path, step in _tekton_steps(item.resource):
            try:
                gaps = _step_gaps(step, _step_template(item.resource, path))
            except AttributeError:  # securityContext or stepTemplate written as a scalar
                gaps = ["a securityContext mapping"]
            if gaps:
                yield ctx.issue(
                    item,
                    f"pipeline step {step.get('name', path[-1])} runs a pull request's content without "
                    f"{', '.join(gaps)}",
                    path,
                )


RULES = [
    FunctionRule(
        id="security.plaintext-secret",
        severity=Severity.error,
        rationale="Anything committed to Git is readable by everyone with clone access, forever.",
        hint="remove the values; commit a SealedSecret or ExternalSecret, or create the Secret out of band",
        scope="resources",
        fn=check_secrets,
    ),
    FunctionRule(
        id="security.image-digest",
        severity=Severity.warning,
        rationale="A tag can be re-pushed; only a digest guarantees that what was reviewed is what runs.",
        hint="pin the image as name@sha256:<digest> (skopeo inspect docker://IMAGE shows it)",
        scope="resources",
        fn=check_image_digest,
        env_severity={"production": Severity.error},
    ),
    FunctionRule(
        id="security.model-digest",
        severity=Severity.warning,
        rationale="A modelcar (oci://) tag can be re-pushed and silently change the model.",
        hint="pin storageUri as oci://REPO@sha256:<digest>",
        scope="environment",
        fn=check_model_digest,
        env_severity={"production": Severity.error},
    ),
    FunctionRule(
        id="security.privileged",
        severity=Severity.error,
        rationale="A privileged container owns the node.",
        hint="remove securityContext.privileged; GPUs need the device plugin, not privileges",
        scope="resources",
        fn=check_privileged,
    ),
    FunctionRule(
        id="security.host-path",
        severity=Severity.error,
        rationale="hostPath volumes expose the node's file system to the pod.",
        hint="use an emptyDir, a PVC or the modelcar image instead of a hostPath",
        scope="resources",
        fn=check_host_path,
    ),
    FunctionRule(
        id="security.host-network",
        severity=Severity.error,
        rationale="Sharing the node's network, PID or IPC namespace bypasses network policy and isolation.",
        hint="remove hostNetwork/hostPID/hostIPC",
        scope="resources",
        fn=check_host_network,
    ),
    FunctionRule(
        id="security.resources",
        severity=Severity.warning,
        rationale="Without requests and limits a model pod is scheduled blindly and can starve its node.",
        hint="set resources.requests and resources.limits for cpu and memory",
        scope="resources",
        fn=check_resources,
        env_severity={"production": Severity.error},
    ),
    FunctionRule(
        id="security.gpu-request-limit",
        severity=Severity.error,
        rationale=(
            "Extended resources such as nvidia.com/gpu must have request == limit or the pod is rejected."
        ),
        hint="set the same nvidia.com/gpu value under requests and limits",
        scope="resources",
        fn=check_extended_resources,
    ),
    FunctionRule(
        id="security.endpoint-auth",
        severity=Severity.warning,
        rationale=(
            "An exposed model endpoint without auth lets anyone on the network use (and load) the model."
        ),
        hint=f'add the annotation {AUTH_ANNOTATION}: "true" (or drop the exposed visibility label)',
        scope="environment",
        fn=check_endpoint_auth,
        env_severity={"staging": Severity.error, "production": Severity.error},
    ),
    FunctionRule(
        id="security.appproject-scope",
        severity=Severity.error,
        rationale="A wide-open AppProject lets any Application deploy anything anywhere.",
        hint="list the repositories, destination namespaces and kinds the project needs",
        scope="repository",
        fn=check_appproject,
    ),
    FunctionRule(
        id="security.token-automount",
        severity=Severity.warning,
        rationale="A mounted ServiceAccount token is a credential for the Kubernetes API in every pod "
        "that does not need one.",
        hint="set automountServiceAccountToken: false on the pod spec (or its ServiceAccount); "
        "set it to true where the workload calls the API",
        scope="resources",
        fn=check_token_automount,
    ),
    FunctionRule(
        id="security.read-only-root",
        severity=Severity.warning,
        rationale="vLLM runs with a read-only root file system when /tmp and $HOME are writable volumes; "
        "a writable root lets a compromised server change its own code.",
        hint="set readOnlyRootFilesystem: true, mount an emptyDir at /tmp and set HOME=/tmp",
        scope="resources",
        fn=check_read_only_root,
        env_severity={"production": Severity.error},
    ),
    FunctionRule(
        id="security.pipeline-steps",
        severity=Severity.warning,
        rationale="The CI pipeline runs whatever a pull request contains; its steps should run "
        "unprivileged and bounded.",
        hint="give each step (or the task's stepTemplate) a securityContext with runAsNonRoot: true and "
        "allowPrivilegeEscalation: false, and computeResources.limits for cpu and memory",
        scope="resources",
        fn=check_pipeline_steps,
    ),
    FunctionRule(
        id="security.allowed-repos",
        severity=Severity.error,
        rationale="Applications must deploy only from repositories the project allows.",
        hint="point spec.source.repoURL at an allowed repository, or list it in validate.allowed_repos",
        scope="repository",
        fn=check_app_repos,
    ),
]
