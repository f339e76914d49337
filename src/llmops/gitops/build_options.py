"""Kustomize build options as Argo CD takes them, and Helm charts inflated only from local copies.

How Argo CD renders a Kustomize Application (argoproj/argo-cd ``util/kustomize/kustomize.go``,
``Build``; ``reposerver/repository/repository.go``; ``util/settings/settings.go``):

1. It edits the overlay's kustomization in its own checkout for each field of the
   Application's ``spec.source.kustomize`` (``kustomize edit set nameprefix|namesuffix|image|
   replicas|namespace``, ``edit add label|annotation|component``, and ``patches`` appended to
   the file). Image and label values may use ``$ARGOCD_APP_*`` variables.
2. It runs ``kustomize build <path>`` followed by the global build options, split on white
   space: ``kustomize.buildOptions`` of the ``argocd-cm`` ConfigMap, which the OpenShift GitOps
   operator fills from its ``ArgoCD`` resource's ``spec.kustomizeBuildOptions``.
3. With ``--enable-helm`` it also passes ``--helm-kube-version`` and ``--helm-api-versions``.

llmops does the same, on a temporary copy of the repository when an Application asks for
edits (the user's files are never changed). The build options come from ``llmops.yaml``
(``kustomize.build_options``), else from an ``ArgoCD`` resource or ``argocd-cm`` ConfigMap
held in the repository. Options that make kustomize run programs named by the repository
(plugins, exec functions, another helm command) are never passed on. Helm charts are
inflated only when the options enable Helm, the helm binary is installed, and every chart
is already vendored in the repository: kustomize would otherwise download it
(kubernetes-sigs/kustomize ``api/internal/builtins/HelmChartInflationGenerator.go``:
a chart missing from ``<chartHome>/<name>-<version>/<name>`` is pulled). A check of a
change (``validate --changed-only``, ``diff``) passes ``trusted``, the options of its base
revision: an option only the change adds is not used.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import ConfigError, LlmopsError, RenderError
from llmops.gitops import git, kustomize, kustomize_edit, manifests
from llmops.gitops.config import CONFIG_FILE, RepoConfig, load_config
from llmops.gitops.kustomize_tree import kustomization_file, overlay_dependencies
from llmops.gitops.repo import Application, Repository, application_source

ENABLE_HELM = "--enable-helm"
# Options that take a value (``--opt value`` or ``--opt=value``) and are passed on.
_VALUED = ("--load-restrictor", "--helm-kube-version", "--helm-api-versions")
_FLAGS = (ENABLE_HELM, "--helm-debug")
# Never passed on: they make kustomize run programs the repository names.
_REFUSED = {
    "--enable-alpha-plugins": "runs kustomize plugin programs from the repository",
    "--enable-exec": "runs programs the repository names (exec KRM functions)",
    "--helm-command": "runs a program of the repository's choosing instead of helm",
    "--mount": "mounts host folders into KRM function containers",
    "--network": "gives KRM function containers network access",
    "--env": "passes environment variables to KRM functions",
    "-e": "passes environment variables to KRM functions",
    "--as-current-user": "runs KRM function containers as the current user",
}
_SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"})
_ARGOCD_MARKER = re.compile(rb"^kind:\s*[\"']?(ArgoCD|ConfigMap)[\"']?\s*$", re.MULTILINE)
Option = tuple[str, ...]  # one option with its value, e.g. ("--load-restrictor", "LoadRestrictionsNone")


# -- where the global options come from --------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """The build options a repository declares, as Argo CD's string, and where it was read."""

    text: str
    origin: str  # e.g. "llmops.yaml kustomize.build_options"

    def options(self) -> list[Option]:
        return parse(self.text)


def parse(text: str) -> list[Option]:
    """Argo CD's build options string (split on white space) as options with their values:
    ``--opt=value``, or ``--opt value`` (a word not starting with ``-`` belongs to the option before)."""
    out: list[Option] = []
    for token in text.split():
        name, eq, value = token.partition("=")
        if eq and name.startswith("-"):
            out.append((name, value))
        elif not token.startswith("-") and out and len(out[-1]) == 1:
            out[-1] = (out[-1][0], token)
        else:
            out.append((token,))
    return out


def _argocd_files(root: Path, config: RepoConfig) -> list[Path]:
    """YAML files of the repository that may hold an ArgoCD resource or the argocd-cm ConfigMap."""
    starts = [root / p for p in (config.validate_.paths or ["."])] + [root / p for p in config.applications]
    found: set[Path] = set()
    for start in starts:
        if start.is_file():
            found.add(start)
            continue
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            found.update(Path(dirpath) / n for n in filenames if n.endswith((".yaml", ".yml")))
    out = []
    for file in sorted(found):
        try:
            if _ARGOCD_MARKER.search(file.read_bytes()[:1_000_000]):
                out.append(file)
        except OSError:
            continue
    return out


def _from_documents(text: str) -> str | None:
    """``spec.kustomizeBuildOptions`` of an ArgoCD resource, or ``kustomize.buildOptions`` of argocd-cm."""
    try:
        docs = manifests.parse_documents(text)
    except LlmopsError:
        return None
    for doc in docs:
        api = str(doc.get("apiVersion", ""))
        spec, data, meta = doc.get("spec"), doc.get("data"), doc.get("metadata")
        if doc.get("kind") == "ArgoCD" and api.startswith("argoproj.io/") and isinstance(spec, dict):
            value = spec.get("kustomizeBuildOptions")
            if isinstance(value, str):
                return value
        name = meta.get("name") if isinstance(meta, dict) else None
        if doc.get("kind") == "ConfigMap" and name == "argocd-cm" and isinstance(data, dict):
            value = data.get("kustomize.buildOptions")
            if isinstance(value, str):
                return value
    return None


def declared(root: Path, config: RepoConfig) -> Declared:
    """The build options this repository declares (llmops.yaml first, then its Argo CD instance)."""
    if config.kustomize.build_options is not None:
        return Declared(config.kustomize.build_options, f"{CONFIG_FILE} kustomize.build_options")
    for file in _argocd_files(root, config):
        value = _from_documents(file.read_text(encoding="utf-8", errors="replace"))
        if value is not None:
            return Declared(value, f"{file.relative_to(root)} (the Argo CD instance's build options)")
    return Declared("", "")


def declared_at(root: Path, ref: str) -> Declared:
    """The build options the repository declared at revision ``ref`` (the base of a change)."""
    sha = git.resolve_commit(root, ref)
    text = git.show_file(root, sha, CONFIG_FILE)
    config = RepoConfig()
    if text is not None:
        try:
            raw = yaml.load(text, Loader=manifests.Loader)
            config = RepoConfig.model_validate(raw) if isinstance(raw, dict) else config
        except (yaml.YAMLError, ValueError):
            return Declared("", "")  # an unreadable base configuration declares nothing
    if config.kustomize.build_options is not None:
        return Declared(config.kustomize.build_options, f"{CONFIG_FILE} at {ref}")
    for file in _argocd_files(root, load_config_or_default(root)):
        rel = file.relative_to(root).as_posix()
        value = _from_documents(git.show_file(root, sha, rel) or "")
        if value is not None:
            return Declared(value, f"{rel} at {ref}")
    return Declared("", "")


def declared_options(root: Path) -> list[Option]:
    """The options a repository tree declares (a checkout of the base of a change, say)."""
    return declared(root, load_config_or_default(root)).options()


def load_config_or_default(root: Path) -> RepoConfig:
    try:
        return load_config(root)
    except ConfigError:
        return RepoConfig()


# -- what one render uses ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """The global options one repository's renders use, and those llmops leaves out (with why)."""

    flags: tuple[str, ...] = ()  # passed to kustomize after the folder
    origin: str = ""
    refused: tuple[str, ...] = ()  # "OPTION: why" for options llmops never passes on
    untrusted: tuple[str, ...] = ()  # options only the change under review adds

    @property
    def helm(self) -> bool:
        return ENABLE_HELM in self.flags


def resolve(source: Declared, trusted: Iterable[Option] | None = None) -> BuildOptions:
    """Sort declared options into passed on, refused and (when ``trusted`` is given) untrusted."""
    allowed = set(trusted) if trusted is not None else None
    flags: list[str] = []
    refused: list[str] = []
    untrusted: list[str] = []
    for option in source.options():
        shown = " ".join(option)
        if option[0] in _REFUSED:
            refused.append(f"{shown}: it {_REFUSED[option[0]]}")
        elif option[0] not in _VALUED and option[0] not in _FLAGS:
            refused.append(f"{shown}: llmops does not know this kustomize build option")
        elif allowed is not None and option not in allowed:
            untrusted.append(shown)
        else:
            flags += [f"{option[0]}={option[1]}"] if len(option) > 1 else [option[0]]
    return BuildOptions(
        flags=tuple(flags), origin=source.origin, refused=tuple(refused), untrusted=tuple(untrusted)
    )


# -- an Application's spec.source.kustomize ------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Plan:
    """How to render one overlay: the global options and the Application asking for it (if any)."""

    options: BuildOptions = field(default_factory=BuildOptions)
    app: Application | None = None
    kube_version: str = ""

    @property
    def edits(self) -> dict[str, Any]:
        if self.app is None:
            return {}
        spec = application_source(self.app.manifest.get("spec") or {}).get("kustomize")
        return spec if isinstance(spec, dict) else {}


_EDIT_KEYS = ("namePrefix", "nameSuffix", "images", "replicas", "commonLabels", "commonAnnotations",
              "namespace", "patches", "components")  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RootPlan:
    """What the renders of one repository tree share."""

    options: BuildOptions
    edited: Mapping[str, Application]  # overlay path -> the Application whose kustomize options apply
    kube_version: str

    def for_path(self, path: str) -> Plan:
        return Plan(options=self.options, app=self.edited.get(path), kube_version=self.kube_version)


def _asks_for_edits(app: Application) -> bool:
    edits = Plan(app=app).edits
    return any(edits.get(k) for k in (*_EDIT_KEYS, "kubeVersion", "apiVersions"))


def plan_root(root: Path, trusted: Iterable[Option] | None = None) -> RootPlan:
    """The options of one repository tree and, per overlay path, the Application whose edits apply."""
    config = load_config_or_default(root)
    try:
        apps = Repository(root, config).applications()
    except LlmopsError:
        apps = []
    edited: dict[str, Application] = {}
    for app in apps:  # the first Application (promotion order, then name) of a path wins
        if _asks_for_edits(app):
            edited.setdefault(app.path, app)
    return RootPlan(
        options=resolve(declared(root, config), trusted),
        edited=edited,
        kube_version=config.validate_.kubernetes_version,
    )


# -- Helm charts ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Chart:
    """One ``helmCharts:`` entry of a kustomization and where kustomize looks for it locally."""

    folder: str  # the kustomization folder, relative to the repository root
    name: str
    version: str
    repo: str
    local: str  # the chart folder kustomize reads, relative to the repository root

    @property
    def vendor_command(self) -> str:
        untar = str(Path(self.local).parent)
        where = f"{self.repo.rstrip('/')}/{self.name}" if self.repo.startswith("oci://") else self.name
        repo = f" --repo {self.repo}" if self.repo and not self.repo.startswith("oci://") else ""
        version = f" --version {self.version}" if self.version else ""
        return f"helm pull {where}{repo}{version} --untar --untardir {untar}"


def _charts_of(doc: dict[str, Any]) -> list[dict[str, str]]:
    charts = [c for c in manifests.as_list(doc.get("helmCharts")) if isinstance(c, dict)]
    for old in manifests.as_list(doc.get("helmChartInflationGenerator")):  # the deprecated form
        if isinstance(old, dict):
            charts.append(
                {"name": old.get("chartName", ""), "version": old.get("chartVersion", ""),
                 "repo": old.get("chartRepoUrl", ""), "chartHome": old.get("chartHome", "")}
            )  # fmt: skip
    return [{k: str(v or "") for k, v in c.items() if isinstance(k, str)} for c in charts]


def helm_charts(root: Path, overlay: str) -> list[Chart]:
    """Every Helm chart the overlay (or a folder it includes) inflates."""
    found: list[Chart] = []
    for folder in overlay_dependencies(root, overlay).folders:
        kfile = kustomization_file(root / folder)
        if kfile is None:
            continue
        try:
            doc = yaml.load(kfile.read_text(encoding="utf-8"), Loader=manifests.Loader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if not isinstance(doc, dict):
            continue
        globals_ = doc.get("helmGlobals")
        globals_ = globals_ if isinstance(globals_, dict) else {}
        for chart in _charts_of(doc):
            home = chart.get("chartHome") or str(globals_.get("chartHome") or "charts")
            base = Path(folder) / home
            name, version, repo = chart.get("name", ""), chart.get("version", ""), chart.get("repo", "")
            if version and repo:
                base = base / f"{name}-{version}"
            found.append(Chart(folder=folder, name=name, version=version, repo=repo, local=str(base / name)))
    return found


def _check_helm(root: Path, path: str, options: BuildOptions) -> list[str]:
    """Extra flags for the Helm charts of an overlay; a one-line RenderError when it cannot inflate them."""
    charts = helm_charts(root, path)
    if not charts:
        return []
    chart = charts[0]
    what = f"{chart.folder}/kustomization.yaml inflates the Helm chart {chart.name} {chart.version}".rstrip()
    if not options.helm:
        if ENABLE_HELM in options.untrusted:
            raise RenderError(
                f"{what}, and only the change under review adds {ENABLE_HELM} ({options.origin}): "
                "llmops takes build options from the base revision, so it renders once merged"
            )
        raise RenderError(
            f"{what}, which kustomize builds only with {ENABLE_HELM}: add it to the build options "
            "(the ArgoCD instance's spec.kustomizeBuildOptions, or kustomize.build_options in llmops.yaml) "
            f"and vendor the chart: {chart.vendor_command}"
        )
    missing = [c for c in charts if not (root / c.local).is_dir()]
    if missing:
        c = missing[0]
        raise RenderError(
            f"the Helm chart {c.name} {c.version} of {c.folder}/kustomization.yaml is not vendored at "
            f"{c.local} (llmops never downloads charts): vendor it with `{c.vendor_command}` and commit it"
        )
    helm = kustomize.helm_command()
    if helm is None:
        raise RenderError(
            f"{what}: inflating it needs the helm binary (v3 or v4), which was not found: "
            f"install helm or set {kustomize.HELM_ENV} to its path"
        )
    return [f"--helm-command={helm}"]


# -- rendering -----------------------------------------------------------------------------------


def render(root: Path, path: str, plan: Plan) -> str:
    """The YAML Argo CD would render for the overlay at ``path``, with ``plan``'s options and edits."""
    options = plan.options
    if options.refused:
        raise RenderError(
            f"kustomize build option {options.refused[0]} ({options.origin}); llmops does not pass it "
            "on: remove it, or render this overlay where you trust the repository"
        )
    edits = plan.edits
    flags = list(options.flags)
    if options.helm:  # checked before kustomize runs: it would download a chart that is not vendored
        flags += [*_check_helm(root, path, options), *_helm_versions(edits, plan.kube_version)]
    if not any(edits.get(k) for k in _EDIT_KEYS):
        return _build(root, path, root, flags, options)
    with tempfile.TemporaryDirectory(prefix="llmops-argocd-") as tmp:
        copy = Path(tmp) / "repo"
        _copy_for(root, path, copy, whole=bool(edits.get("components")) or options.helm)
        assert plan.app is not None
        kustomize_edit.apply_file(copy / path, edits, _argocd_env(root, plan.app))
        return _build(root, path, copy, flags, options)


def _copy_for(root: Path, path: str, dest: Path, *, whole: bool) -> None:
    """Copy what the overlay reads (every file kustomize follows) into ``dest``; the whole
    repository when that cannot be told (remote or outside references, Helm charts, components)."""
    deps = overlay_dependencies(root, path)
    if whole or deps.external is not None:
        shutil.copytree(root, dest, symlinks=True, ignore=shutil.ignore_patterns(*_SKIP_DIRS))
        return
    for rel in deps.files:
        source = root / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel, follow_symlinks=False)
    (dest / path).mkdir(parents=True, exist_ok=True)


def _build(root: Path, path: str, build_root: Path, flags: list[str], options: BuildOptions) -> str:
    """kustomize on ``path`` inside ``build_root`` (the repository, or a copy of what it reads),
    bounded and checked first as every untrusted build is (:func:`kustomize.preflight`)."""
    try:
        return kustomize.build(build_root / path, root=build_root, flags=flags)
    except RenderError as exc:
        if not options.helm:  # without --enable-helm kustomize fails on charts at once (no download)
            _check_helm(root, path, options)  # raises the one line that says why, when charts are the cause
        if options.untrusted:
            exc.message += f" (the change under review adds the build option {', '.join(options.untrusted)}, "
            exc.message += "which llmops uses only once merged)"
        raise


def _helm_versions(edits: Mapping[str, Any], kube_version: str) -> list[str]:
    version = str(edits.get("kubeVersion") or kube_version or "")
    flags = [f"--helm-kube-version={version}"] if version else []
    return flags + [f"--helm-api-versions={v}" for v in manifests.as_list(edits.get("apiVersions"))]


def _argocd_env(root: Path, app: Application) -> dict[str, str]:
    """The ``$ARGOCD_APP_*`` variables Argo CD substitutes in image and label values."""
    try:
        revision = git.head_commit(root)
    except LlmopsError:
        revision = ""
    return {
        "ARGOCD_APP_NAME": app.name,
        "ARGOCD_APP_NAMESPACE": app.namespace,
        "ARGOCD_APP_PROJECT_NAME": app.project,
        "ARGOCD_APP_REVISION": revision,
        "ARGOCD_APP_REVISION_SHORT": revision[:7],
        "ARGOCD_APP_REVISION_SHORT_8": revision[:8],
        "ARGOCD_APP_SOURCE_REPO_URL": app.repo_url,
        "ARGOCD_APP_SOURCE_PATH": app.path,
        "ARGOCD_APP_SOURCE_TARGET_REVISION": app.target_revision,
    }
