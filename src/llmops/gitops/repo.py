"""The repository model: environments and the Argo CD Applications that deploy them.

A repository of the llmops shape has Argo CD ``Application`` manifests (by
default under ``argocd/``) whose ``spec.source.path`` points at a Kustomize
overlay. Each Application belongs to one environment, found from its
``llmops.io/environment`` label, else the overlay folder name, else a
``-<env>`` name suffix. An environment may hold several Applications (one per
model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import ManifestError, RepositoryError, UsageError
from llmops.gitops import git, limits, manifests
from llmops.gitops.config import RepoConfig, load_config
from llmops.support.files import inside
from llmops.support.suggest import did_you_mean

ENV_LABEL = "llmops.io/environment"


@dataclass(frozen=True)
class SyncPolicy:
    automated: bool
    prune: bool
    self_heal: bool
    options: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.automated:
            return "manual"
        flags = [f for f, on in (("prune", self.prune), ("selfHeal", self.self_heal)) if on]
        return "automated" + (f" ({', '.join(flags)})" if flags else "")


@dataclass(frozen=True)
class Application:
    """One Argo CD Application as read from Git."""

    name: str
    environment: str
    path: str  # overlay path relative to the repository root
    repo_url: str
    target_revision: str
    namespace: str  # destination namespace
    project: str
    sync: SyncPolicy
    file: Path  # manifest file, relative to the repository root
    manifest: dict[str, Any] = field(compare=False, repr=False)

    def overlay_dir(self, root: Path) -> Path:
        return root / self.path


@dataclass(frozen=True)
class Environment:
    name: str
    expected_sync: str
    applications: tuple[Application, ...]

    @property
    def namespaces(self) -> list[str]:
        return sorted({a.namespace for a in self.applications})


def _sync_policy(spec: dict[str, Any]) -> SyncPolicy:
    policy = spec.get("syncPolicy") or {}
    automated = policy.get("automated")
    options = tuple(str(o) for o in (policy.get("syncOptions") or []))
    if not isinstance(automated, dict):
        # Absent or null is manual sync; `automated: {}` (a mapping) turns it on.
        return SyncPolicy(False, False, False, options)
    enabled = automated.get("enabled", True) is not False
    return SyncPolicy(enabled, bool(automated.get("prune")), bool(automated.get("selfHeal")), options)


def application_source(spec: dict[str, Any]) -> dict[str, Any]:
    """The Application's source with a path: ``spec.source``, else the first of ``spec.sources``."""
    source = spec.get("source") or {}
    if isinstance(source, dict) and source.get("path"):
        return source
    sources = spec.get("sources") or []
    return next((s for s in sources if isinstance(s, dict) and s.get("path")), {})


def _environment_of(app: dict[str, Any], path: str, env_names: list[str]) -> str | None:
    labels = (app.get("metadata") or {}).get("labels") or {}
    label = labels.get(ENV_LABEL) if isinstance(labels, dict) else None
    if isinstance(label, str) and label in env_names:
        return label
    parts = Path(path).parts
    for env in env_names:
        if env in parts:
            return env
    name = str((app.get("metadata") or {}).get("name", ""))
    for env in env_names:
        if name.endswith("-" + env):
            return env
    return None


class Repository:
    """A GitOps repository on disk; cheap to construct, reads lazily."""

    def __init__(self, root: Path, config: RepoConfig | None = None) -> None:
        self.root = root
        self.config = config if config is not None else load_config(root)
        self._apps: list[Application] | None = None
        self.unassigned: list[str] = []  # Applications that match no configured environment

    @classmethod
    def discover(cls, start: Path | None = None) -> Repository:
        """The repository containing ``start`` (default: the current directory).

        Its ``limits`` (llmops.yaml) become the limits of this process (:mod:`llmops.gitops.limits`).
        """
        repo = cls(git.toplevel((start or Path.cwd()).resolve()))
        limits.apply(repo.config.limits)
        return repo

    # -- Applications ---------------------------------------------------------------

    def _manifest_files(self) -> list[Path]:
        """The Application manifest files; one that leads out of the repository is refused."""
        files: list[Path] = []
        for folder in self.config.applications:
            base = self.root / folder
            if base.is_file():
                files.append(base)
            elif base.is_dir():
                files.extend(sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml")))
        for file in files:
            inside(self.root, file, what="Application manifest")
        return files

    def missing_application_folders(self) -> list[str]:
        """The ``applications`` entries of llmops.yaml that do not exist in the repository."""
        return [f for f in self.config.applications if not (self.root / f).exists()]

    def where_applications_live(self) -> str:
        """For hints: the folders searched, and which of them are missing."""
        missing = self.missing_application_folders()
        where = ", ".join(self.config.applications)
        if missing:
            return f"{where} ({', '.join(missing)} does not exist; see applications: in llmops.yaml)"
        return where

    def app_projects(self) -> dict[str, dict[str, Any]]:
        """The Argo CD AppProjects among the Application manifests, by name (for their sync windows)."""
        found: dict[str, dict[str, Any]] = {}
        for file in self._manifest_files():
            for doc in manifests.load_file(file, objects_only=False):
                if doc.get("kind") == "AppProject" and str(doc.get("apiVersion", "")).startswith(
                    "argoproj.io/"
                ):
                    name = (doc.get("metadata") or {}).get("name")
                    if isinstance(name, str):
                        found[name] = doc
        return found

    def applications(self) -> list[Application]:
        if self._apps is None:
            self._apps = self._load_applications()
        return self._apps

    def _load_applications(self) -> list[Application]:
        env_names = self.config.environment_names()
        apps: list[Application] = []
        seen: dict[str, Path] = {}
        for file in self._manifest_files():
            # Other YAML may sit beside the Applications (a JSON patch for the ArgoCD instance).
            for doc in manifests.load_file(file, file.relative_to(self.root).as_posix(), objects_only=False):
                if doc.get("kind") != "Application" or not str(doc.get("apiVersion", "")).startswith(
                    "argoproj.io/"
                ):
                    continue
                rel = file.relative_to(self.root)
                app = self._application(doc, rel, env_names)
                if app is None:
                    continue
                if app.name in seen:
                    raise RepositoryError(
                        f"Application {app.name} is defined twice ({seen[app.name]} and {rel})",
                        hint="Application names must be unique",
                    )
                seen[app.name] = rel
                apps.append(app)
        order = {name: i for i, name in enumerate(env_names)}
        apps.sort(key=lambda a: (order[a.environment], a.name))
        return apps

    def _application(self, doc: dict[str, Any], rel: Path, env_names: list[str]) -> Application | None:
        meta = doc.get("metadata") or {}
        spec = doc.get("spec") or {}
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not isinstance(spec, dict):
            raise ManifestError(f"{rel}: Application without metadata.name or spec")
        source = application_source(spec)
        path = str(source.get("path") or "").strip("/")
        if not path:
            raise ManifestError(
                f"{rel}: Application {name} has no spec.source.path",
                hint="llmops works with Applications that deploy a Kustomize overlay from this repository",
            )
        env = _environment_of(doc, path, env_names)
        if env is None:
            self.unassigned.append(name)
            return None
        dest = spec.get("destination")
        return Application(
            name=name,
            environment=env,
            path=path,
            repo_url=str(source.get("repoURL", "")),
            target_revision=str(source.get("targetRevision") or "HEAD"),
            namespace=str(dest.get("namespace", "")) if isinstance(dest, dict) else "",
            project=str(spec.get("project", "default")),
            sync=_sync_policy(spec),
            file=rel,
            manifest=doc,
        )

    # -- Environments ---------------------------------------------------------------

    def environments(self) -> list[Environment]:
        apps = self.applications()
        return [
            Environment(e.name, e.sync, tuple(a for a in apps if a.environment == e.name))
            for e in self.config.environments
        ]

    def environment(self, name: str) -> Environment:
        for env in self.environments():
            if env.name == name:
                return env
        known = self.config.environment_names()
        raise UsageError(
            f"unknown environment {name!r}",
            hint=f"{did_you_mean(name, known)}known environments: {', '.join(known)}",
        )

    def resolve(self, target: str) -> list[Application]:
        """An environment name (all its Applications) or one Application name."""
        apps = self.applications()
        if target in self.config.environment_names():
            selected = [a for a in apps if a.environment == target]
            if not selected:
                raise RepositoryError(
                    f"environment {target!r} has no Argo CD Application",
                    hint=f"add an Application for it under {self.where_applications_live()}",
                )
            return selected
        for app in apps:
            if app.name == target:
                return [app]
        names = [*self.config.environment_names(), *(a.name for a in apps)]
        raise UsageError(
            f"unknown environment or application {target!r}",
            hint=f"{did_you_mean(target, names)}environments: {', '.join(self.config.environment_names())}; "
            f"applications: {', '.join(a.name for a in apps) or 'none found'}",
        )

    def resolve_many(self, targets: list[str]) -> list[Application]:
        """Several targets (empty = every Application), without duplicates, in promotion order."""
        if not targets:
            apps = self.applications()
            if not apps:
                raise RepositoryError(
                    "no Argo CD Application found",
                    hint="llmops looks for Application manifests under " + self.where_applications_live(),
                )
            return apps
        chosen: dict[str, Application] = {}
        for t in targets:
            for a in self.resolve(t):
                chosen.setdefault(a.name, a)
        order = {a.name: i for i, a in enumerate(self.applications())}
        return sorted(chosen.values(), key=lambda a: order[a.name])
