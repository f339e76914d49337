"""The gate's policy taken from the base revision: ``llmops validate --policy-from BASE``.

A pull request must not be able to relax the gate that judges it. Under ``--policy-from``
(and ``--changed-only --base``), the run takes from the base revision: llmops.yaml's gate
settings (``validate`` and ``limits``, and the sync policy each existing environment must
have), the AppProjects Applications are compared against, the schema catalog and the
yamllint configuration. Everything the change does to them (and every new suppression
annotation, and any change to the CI pipeline) becomes a :class:`PolicyChange`, which the
``policy.*`` rules report for a reviewer to see.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import ConfigError, LlmopsError
from llmops.gitops import git, manifests
from llmops.gitops.config import CONFIG_FILE, RepoConfig, load_config
from llmops.gitops.locate import Location
from llmops.gitops.repo import Repository
from llmops.support.files import SKIP_DIRS, yaml_files
from llmops.validation.types import YAMLLINT_CONFIG_FILES, BasePolicy, PolicyChange

# The parts of llmops.yaml that make the gate; other sections (smoke, bench, release) do not.
GATE_SECTIONS = ("environments", "applications", "validate", "limits")
# Kinds of AppProject fields: entries that grant (new ones widen the project) and that restrict.
_GRANTS = (
    "sourceRepos",
    "sourceNamespaces",
    "destinations",
    "clusterResourceWhitelist",
    "namespaceResourceWhitelist",
    "roles",
)
_RESTRICTS = ("syncWindows", "clusterResourceBlacklist", "namespaceResourceBlacklist", "signatureKeys")
_SUPPRESS_KEY = re.compile(r"llmops\.io(?:/|~1)suppress")
_RULE_ID = re.compile(r"\b([a-z][a-z0-9_-]*\.[a-z0-9][a-z0-9.-]*)\s*:")


# -- the effective configuration ------------------------------------------------------------


def effective_config(head: RepoConfig, base: RepoConfig) -> RepoConfig:
    """The change's llmops.yaml with the base's gate settings: ``validate`` and ``limits``, the
    sync policy of every environment the base has, and the base's Application folders too."""
    base_sync = {e.name: e.sync for e in base.environments}
    environments = [e.model_copy(update={"sync": base_sync.get(e.name, e.sync)}) for e in head.environments]
    folders = list(dict.fromkeys([*base.applications, *head.applications]))
    return head.model_copy(
        update={
            "validate_": base.validate_,
            "limits": base.limits,
            "environments": environments,
            "applications": folders,
        }
    )


def _differences(old: Any, new: Any, prefix: str) -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, old, new) for each setting that differs, at the highest level that is new."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from _differences(old.get(key), new.get(key), f"{prefix}.{key}")
    elif old != new:
        yield prefix, old, new


def _show(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, default=str)


def config_changes(head: RepoConfig, base: RepoConfig, where: Location | None) -> list[PolicyChange]:
    """Every gate setting of llmops.yaml the change sets differently from the base."""
    changes = []
    for section in GATE_SECTIONS:
        for key, old, new in _differences(_dump(base, section), _dump(head, section), section):
            changes.append(
                PolicyChange(
                    kind="config",
                    message=f"{CONFIG_FILE}: {key} changes from {_show(old)} to {_show(new)}; this run "
                    "keeps the base's setting, the change applies after the merge",
                    resource=CONFIG_FILE,
                    location=where,
                )
            )
    return changes


def _dump(config: RepoConfig, section: str) -> Any:
    return config.model_dump(mode="json", by_alias=True).get(section)


# -- AppProjects ----------------------------------------------------------------------------


def _yaml_docs(root: Path, files: Iterable[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    for file in files:
        try:
            docs = manifests.load_file(file, file.relative_to(root).as_posix())
        except LlmopsError:
            continue
        for doc in docs:
            yield file, doc


def app_projects(root: Path, files: Iterable[Path]) -> list[tuple[str, dict[str, Any]]]:
    """(file, AppProject) for the Argo CD AppProjects written in ``files`` (read as files, not rendered)."""
    return [
        (file.relative_to(root).as_posix(), doc)
        for file, doc in _yaml_docs(root, files)
        if doc.get("kind") == "AppProject" and str(doc.get("apiVersion", "")).startswith("argoproj.io/")
    ]


def _entries(project: Mapping[str, Any], key: str) -> list[str]:
    spec = project.get("spec")
    values = spec.get(key) if isinstance(spec, dict) else None
    return [json.dumps(v, sort_keys=True) for v in values] if isinstance(values, list) else []


def _name(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def project_changes(
    head: list[tuple[str, dict[str, Any]]], base: list[tuple[str, dict[str, Any]]]
) -> list[PolicyChange]:
    """What the change grants through AppProjects: new projects, new grants, fewer restrictions."""
    old = {_name(p): p for _, p in base}
    changes: list[PolicyChange] = []
    for file, project in head:
        name = _name(project)
        ref = f"AppProject/{name}"

        def change(message: str, ref: str = ref, file: str = file) -> PolicyChange:
            return PolicyChange(kind="appproject", message=message, resource=ref, location=Location(file))

        if name not in old:
            changes.append(change(f"{ref} is new"))
            continue
        for key in _GRANTS:
            added = [e for e in _entries(project, key) if e not in _entries(old[name], key)]
            changes += [change(f"{ref} widens spec.{key}: adds {e}") for e in added]
        for key in _RESTRICTS:
            removed = [e for e in _entries(old[name], key) if e not in _entries(project, key)]
            changes += [change(f"{ref} drops from spec.{key}: {e}") for e in removed]
    return changes


# -- suppression annotations ----------------------------------------------------------------


def _document_labels(text: str) -> list[tuple[int, str]]:
    """(first line, Kind/name) of each YAML document of ``text``, as far as it parses."""
    labels: list[tuple[int, str]] = []
    try:
        for node in yaml.compose_all(text, Loader=manifests.Loader):
            if isinstance(node, yaml.MappingNode):
                values = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
                kind = values.get("kind")
                meta = values.get("metadata")
                name = ""
                if isinstance(meta, yaml.MappingNode):
                    found = {k.value: v for k, v in meta.value if isinstance(k, yaml.ScalarNode)}
                    name = getattr(found.get("name"), "value", "")
                label = f"{getattr(kind, 'value', '')}/{name}".strip("/")
                labels.append((node.start_mark.line + 1, label))
    except yaml.YAMLError:
        pass
    return labels


def suppressions(text: str) -> dict[tuple[str, str], int]:
    """(document, rule id) -> line, for every rule a suppression annotation in ``text`` names.

    Read from the text, so annotations set by kustomizations (``commonAnnotations``, inline
    and JSON patches) count as well as those on a resource.
    """
    if not _SUPPRESS_KEY.search(text):
        return {}
    docs = _document_labels(text)
    lines = text.splitlines()
    found: dict[tuple[str, str], int] = {}
    for i, line in enumerate(lines):
        key = _SUPPRESS_KEY.search(line)
        if key is None:
            continue
        indent = len(line) - len(line.lstrip())
        block = [line[key.end() :]]
        for more in lines[i + 1 :]:
            # The value goes on while lines are indented deeper (a JSON patch puts it on `value:`).
            ends = len(more) - len(more.lstrip()) <= indent and not more.lstrip().startswith("value")
            if more.strip() and ends:
                break
            block.append(more)
        label = next((lbl for start, lbl in reversed(docs) if start <= i + 1), "")
        for rule_id in _RULE_ID.findall(" ".join(block)):
            found.setdefault((label, rule_id), i + 1)
    return found


def suppression_changes(repo_root: Path, base_root: Path, changed: Iterable[str]) -> list[PolicyChange]:
    """Suppressions the change adds (a rule newly suppressed on a document), file by file."""
    out: list[PolicyChange] = []
    for rel in changed:
        new = _text(repo_root / rel, rel)
        if new is None or not _SUPPRESS_KEY.search(new):
            continue
        old = _text(base_root / rel, rel) or ""
        before = suppressions(old)
        for (label, rule_id), line in sorted(suppressions(new).items(), key=lambda kv: kv[1]):
            if (label, rule_id) in before:
                continue
            what = f"{label} " if label else ""
            out.append(
                PolicyChange(
                    kind="suppression",
                    message=f"{rel}: {what}gains a suppression of {rule_id} (llmops.io/suppress); "
                    "a reviewer must agree that the finding it hides is acceptable",
                    resource=label or rel,
                    location=Location(rel, line),
                )
            )
    return out


def _text(path: Path, shown: str) -> str | None:
    if not path.is_file():
        return None
    try:
        return manifests.read_text(path, shown)
    except LlmopsError:
        return None


# -- files of the gate ----------------------------------------------------------------------


def file_changes(changed: Iterable[str], catalog: str, pipelines: Iterable[str]) -> list[PolicyChange]:
    """Changes to the schema catalog, the yamllint configuration and the CI pipeline."""
    catalog_dir = catalog.strip("/") + "/"
    pipeline_dirs = tuple(p.strip("/") for p in pipelines)
    out: list[PolicyChange] = []
    for rel in changed:
        if rel.startswith(catalog_dir):
            out.append(
                PolicyChange(
                    kind="schemas",
                    message=f"{rel}: the schema catalog changes; this run validates with the base's",
                    resource=rel,
                    location=Location(rel),
                )
            )
        elif rel in YAMLLINT_CONFIG_FILES or any(rel == p or rel.startswith(p + "/") for p in pipeline_dirs):
            what = "the yamllint configuration" if rel in YAMLLINT_CONFIG_FILES else "the CI pipeline"
            out.append(
                PolicyChange(
                    kind="pipeline",
                    message=f"{rel}: {what} changes; a reviewer must check it does not weaken the gate",
                    resource=rel,
                    location=Location(rel),
                )
            )
    return out


# -- the base revision ----------------------------------------------------------------------


def _scan(root: Path, config: RepoConfig) -> list[Path]:
    return yaml_files(root, config.validate_.paths, skip=SKIP_DIRS)


@contextlib.contextmanager
def from_base(repo: Repository, ref: str) -> Iterator[tuple[Repository, BasePolicy]]:
    """The repository as the base revision's policy judges it, and that policy.

    The base revision's files are checked out into a temporary folder for the ``with``
    block (the working tree is only read). Its llmops.yaml must be valid: the gate cannot
    fall back to the change's own settings.
    """
    sha = git.resolve_commit(repo.root, ref)
    changed = git.changed_files(repo.root, sha, None)
    with tempfile.TemporaryDirectory(prefix="llmops-policy-") as tmp:
        base_root = Path(tmp) / "base"
        git.export_tree(repo.root, sha, base_root)
        try:
            base_config = load_config(base_root)
        except ConfigError as exc:
            raise ConfigError(
                f"the base revision {ref}'s {CONFIG_FILE} is invalid: {exc.message}",
                hint="the gate takes its settings from the base revision; fix it there first",
            ) from exc
        head_config = repo.config
        judged = Repository(repo.root, config=effective_config(head_config, base_config))
        located = Location(CONFIG_FILE) if (repo.root / CONFIG_FILE).is_file() else None
        base_projects = app_projects(base_root, _scan(base_root, base_config))
        changes = [
            *config_changes(head_config, base_config, located),
            *suppression_changes(repo.root, base_root, changed),
            *project_changes(app_projects(repo.root, _scan(repo.root, judged.config)), base_projects),
            *file_changes(changed, base_config.validate_.schemas, base_config.validate_.pipelines),
        ]
        policy = BasePolicy(
            ref=ref,
            commit=sha,
            root=base_root,
            projects=[doc for _, doc in base_projects],
            changes=changes,
        )
        yield judged, policy
