"""What ``llmops init`` finds in a repository it has never seen, and the ``llmops.yaml`` it proposes.

Argo CD Applications are looked for in every folder. Each is given an environment the
way the repository model reads one (:mod:`llmops.gitops.repo`): its
``llmops.io/environment`` label, else the overlay folder name (the folder after
``overlays/``, or a stage name anywhere in its path), else a ``-<env>`` suffix of its
name. Environments are put in a promotion order proposed from their names (dev, test,
staging, production and their usual spellings; others in the middle, by name). The
release fields are the ``image``, ``storageUri`` and ``args`` of each InferenceService's
model that an overlay's own files set, and the release file is the file name the
overlays use for them. The proposal is checked by loading it as the repository model
would: Applications it leaves without an environment are reported.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from llmops.errors import LlmopsError
from llmops.gitops import manifests
from llmops.gitops.build_options import declared, load_config_or_default
from llmops.gitops.config import EnvironmentConfig, ReleaseConfig, ReleaseField, RepoConfig
from llmops.gitops.kustomize_tree import KUSTOMIZATION_FILES
from llmops.gitops.repo import ENV_LABEL, Repository, application_source

_SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"})
_APPLICATION = re.compile(rb"^kind:\s*[\"']?Application[\"']?\s*$", re.MULTILINE)
_HELM = re.compile(rb"^(helmCharts|helmChartInflationGenerator):", re.MULTILINE)
_MANIFEST = re.compile(rb"^(apiVersion|kind):", re.MULTILINE)
# Promotion stages and their usual names, first to last.
STAGES = (
    ("dev", "devel", "develop", "development", "sandbox"),
    ("test", "testing", "qa", "int", "integration", "sit", "ci"),
    ("stage", "staging", "uat", "preprod", "pre-prod", "preproduction", "perf"),
    ("prod", "production", "live", "prd"),
)
RELEASE_PATHS = ("spec.predictor.model.image", "spec.predictor.model.storageUri", "spec.predictor.model.args")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True, kw_only=True)
class FoundApplication:
    """One Argo CD Application and the environment proposed for it (with how it was found)."""

    name: str
    file: str  # relative to the repository root
    path: str  # the overlay it deploys ("" when it has none)
    environment: str | None
    found_by: str  # "label", "overlay folder", "name suffix", or why none was found
    automated: bool


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """What init proposes for a repository."""

    config: RepoConfig
    applications: tuple[FoundApplication, ...]
    release_source: str  # where the release fields were found, for the comment
    build_options: str  # where Argo CD's build options were found ("" none)
    helm_folders: tuple[str, ...]  # kustomizations that inflate Helm charts
    notes: tuple[str, ...] = ()
    unassigned: tuple[str, ...] = field(default=())


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def stage_rank(name: str) -> float:
    """Where a stage name goes in promotion order (``live-eu`` ranks as ``live``); unknown: 1.5."""
    for word in (name, *name.split("-")):
        for i, names in enumerate(STAGES):
            if word in names:
                return float(i)
    return 1.5  # an unknown stage goes between test and staging


def _walk(root: Path) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        files += [
            Path(dirpath) / n
            for n in sorted(filenames)
            if n.endswith((".yaml", ".yml")) or n == "Kustomization"
        ]
    return files


def _head(file: Path) -> bytes:
    try:
        return file.read_bytes()[:2_000_000]
    except OSError:
        return b""


def _environment(doc: dict[str, Any], path: str) -> tuple[str | None, str]:
    meta = _mapping(doc.get("metadata"))
    labels = _mapping(meta.get("labels"))
    if isinstance(labels.get(ENV_LABEL), str) and labels[ENV_LABEL]:
        return labels[ENV_LABEL], "label"
    parts = PurePosixPath(path).parts
    for i, part in enumerate(parts[:-1]):
        if part in ("overlays", "envs", "environments"):
            return parts[i + 1], "overlay folder"
    known = [p for p in parts if stage_rank(p) != 1.5]
    if known:
        return known[-1], "overlay folder"
    name = str(meta.get("name") or "")
    suffix = name.rsplit("-", 1)[-1] if "-" in name else ""
    if suffix and stage_rank(suffix) != 1.5:
        return suffix, "name suffix"
    return None, "no label, overlay folder or name suffix names a stage"


def find_applications(root: Path) -> list[FoundApplication]:
    """Every Argo CD Application manifest in the repository, with its proposed environment."""
    found: list[FoundApplication] = []
    for file in _walk(root):
        if not _APPLICATION.search(_head(file)):
            continue
        try:
            docs = manifests.load_file(file)
        except LlmopsError:
            continue
        for doc in docs:
            if doc.get("kind") != "Application" or not str(doc.get("apiVersion", "")).startswith(
                "argoproj.io/"
            ):
                continue
            spec = _mapping(doc.get("spec"))
            path = str(application_source(spec).get("path") or "").strip("/")
            env, how = _environment(doc, path) if path else (None, "it deploys no path of a Git repository")
            policy = _mapping(spec.get("syncPolicy"))
            found.append(
                FoundApplication(
                    name=str(_mapping(doc.get("metadata")).get("name") or "?"),
                    file=file.relative_to(root).as_posix(),
                    path=path,
                    environment=env if env and _NAME.match(env) else None,
                    found_by=how if not env or _NAME.match(env) else f"{env!r} is not a DNS label",
                    automated=isinstance(policy.get("automated"), dict),
                )
            )
    return found


def _folders(files: list[str]) -> list[str]:
    """The fewest folders (or root-level files) that hold every one of ``files``."""
    parents = sorted({str(PurePosixPath(f).parent) if "/" in f else f for f in files})
    return [p for p in parents if not any(p.startswith(q + "/") for q in parents if q != p)]


def _environments(apps: list[FoundApplication]) -> list[EnvironmentConfig]:
    names = sorted({a.environment for a in apps if a.environment}, key=lambda n: (stage_rank(n), n))
    envs = []
    for name in names:
        members = [a for a in apps if a.environment == name]
        envs.append(
            EnvironmentConfig(name=name, sync="automated" if all(a.automated for a in members) else "manual")
        )
    return envs


def _release_candidates(root: Path, overlay: str) -> dict[str, set[str]]:
    """File name -> release paths an overlay's own files set on an InferenceService."""
    out: dict[str, set[str]] = {}
    folder = root / overlay
    for file in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        if file.name in KUSTOMIZATION_FILES:
            continue
        try:
            docs = manifests.load_file(file)
        except LlmopsError:
            continue
        for doc in docs:
            if doc.get("kind") == "InferenceService":
                present = {p for p in RELEASE_PATHS if manifests.get_path(doc, p) is not None}
                if present:
                    out.setdefault(file.name, set()).update(present)
    return out


def _release(root: Path, apps: list[FoundApplication]) -> tuple[ReleaseConfig, str]:
    names: Counter[str] = Counter()
    paths: set[str] = set()
    for overlay in sorted({a.path for a in apps if a.path and a.environment}):
        for name, found in _release_candidates(root, overlay).items():
            names[name] += 1
            paths |= found
    if not names:
        return (
            ReleaseConfig(),
            "no overlay sets a model image, storageUri or args itself: the defaults are kept",
        )
    file, count = names.most_common(1)[0]
    fields = [ReleaseField(kind="InferenceService", path=p) for p in RELEASE_PATHS if p in paths]
    return ReleaseConfig(file=file, fields=fields), f"found in {file} of {count} overlay(s)"


def _validate_paths(root: Path) -> list[str]:
    """Top-level folders and files holding Kubernetes manifests or kustomizations."""
    tops: set[str] = set()
    for file in _walk(root):
        rel = file.relative_to(root)
        if file.name in KUSTOMIZATION_FILES or _MANIFEST.search(_head(file)):
            tops.add(rel.parts[0])
    tops.discard("llmops.yaml")
    return [*sorted(tops), "llmops.yaml"]


def propose(root: Path) -> Proposal:
    """Detect the Applications, environments, release and validation scope of ``root``."""
    apps = find_applications(root)
    notes: list[str] = []
    envs = _environments(apps)
    if not envs:
        notes.append(
            "no Argo CD Application with an environment was found: the default environments are proposed"
        )
    release, release_source = _release(root, apps)
    folders = _folders([a.file for a in apps]) or ["argocd"]
    config = RepoConfig.model_validate(
        {
            "environments": [e.model_dump() for e in envs]
            or [e.model_dump() for e in RepoConfig().environments],
            "applications": folders,
            "release": release.model_dump(),
            "validate": {"paths": _validate_paths(root)},
        }
    )
    unassigned = _unassigned(root, config)
    helm = tuple(
        f.parent.relative_to(root).as_posix()
        for f in _walk(root)
        if f.name in KUSTOMIZATION_FILES and _HELM.search(_head(f))
    )
    options = declared(root, load_config_or_default(root)).origin
    return Proposal(
        config=config,
        applications=tuple(apps),
        release_source=release_source,
        build_options=options,
        helm_folders=helm,
        notes=tuple(notes),
        unassigned=unassigned,
    )


def _unassigned(root: Path, config: RepoConfig) -> tuple[str, ...]:
    """Applications the repository model leaves without an environment under ``config``."""
    repo = Repository(root, config)
    try:
        repo.applications()
    except LlmopsError as exc:
        return (f"the Applications cannot all be read: {exc.message}",)
    return tuple(repo.unassigned)
