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
    for item in ctx.of_kind("AppProject"):
        repos = get_path(item.resource, "spec.sourceRepos") or []
        projects[item.name] = {str(r) for r in repos} if isinstance(repos, list) else set()
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
        id="security.allowed-repos",
        severity=Severity.error,
        rationale="Applications must deploy only from repositories the project allows.",
        hint="point spec.source.repoURL at an allowed repository, or list it in validate.allowed_repos",
        scope="repository",
        fn=check_app_repos,
    ),
]
