"""What a change does to each environment: render both sides, normalize, compare.

Both revisions are rendered with real kustomize from checkouts into a
temporary folder (the working tree is only read, when it is the head side).
Resources are matched by kind, namespace and name; a resource whose name differs
only by kustomize's generated hash suffix (``secretGenerator``/``configMapGenerator``)
counts as changed, not as removed plus added. Secret values never leave this
module: they are replaced by markers that still show which keys changed.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.delivery import affected
from llmops.delivery.affected import Impact
from llmops.errors import LlmopsError, RepositoryError
from llmops.gitops import git, kustomize, manifests
from llmops.gitops.manifests import Resource
from llmops.gitops.repo import Application, Repository

REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"
HUGE_FILE_BYTES = 5 * 1024 * 1024  # changed files above this get a note
HUGE_RESOURCE_CHARS = 256 * 1024  # resources above this get a field summary, no line diff
MAX_DIFF_LINE = 400  # longer diff lines (base64 blobs) are cut
SECRET_KINDS = ("Secret",)
# kustomize appends "-" + 10 characters of this alphabet to generated ConfigMaps and Secrets.
_HASH_SUFFIX = re.compile(r"^(?P<stem>.+)-[2456789bcdfghkmt]{10}$")
_NOISE_META = ("creationTimestamp", "managedFields", "resourceVersion", "uid", "generation", "selfLink")
_NOISE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


class _Absent:
    def __repr__(self) -> str:
        return "(none)"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any  # ABSENT when the field was added
    new: Any  # ABSENT when the field was removed


@dataclass(frozen=True)
class ResourceChange:
    action: str  # added | changed | removed
    kind: str
    name: str
    namespace: str
    fields: tuple[FieldChange, ...] = ()
    diff: str = ""  # unified diff of the normalized YAML ("" when too large, see note)
    note: str = ""

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class AppDiff:
    app: str
    environment: str
    overlay: str
    changes: tuple[ResourceChange, ...] = ()
    rendered: bool = True  # False: skipped, no file it depends on changed
    notes: tuple[str, ...] = ()
    error: str = ""  # a side failed to render; which side and why

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)


@dataclass(frozen=True)
class DiffReport:
    base_ref: str
    base_sha: str
    head_ref: str  # "working tree" when head is not a commit
    head_sha: str | None
    changed_files: tuple[str, ...]
    affected: tuple[str, ...]  # environments, promotion order
    impacts: dict[str, Impact]
    apps: tuple[AppDiff, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def has_changes(self) -> bool:
        return any(a.changes for a in self.apps)

    @property
    def errors(self) -> list[AppDiff]:
        return [a for a in self.apps if a.error]


# -- Normalization and redaction -------------------------------------------------------------


def normalize(resource: Resource) -> Resource:
    """A copy without fields that are noise in a diff (server bookkeeping, status)."""
    out = copy.deepcopy(resource)
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in _NOISE_META:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in _NOISE_ANNOTATIONS:
                annotations.pop(key, None)
            if not annotations:
                meta.pop("annotations")
    return out


def _redact_values(old: Any, new: Any) -> tuple[Any, Any]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        o = ABSENT if old is ABSENT else REDACTED
        n = ABSENT if new is ABSENT else (REDACTED if old == new else REDACTED_CHANGED)
        return o, n
    o_out: dict[str, Any] = {}
    n_out: dict[str, Any] = {}
    for key in old:
        o_out[key] = REDACTED
    for key in new:
        same = key in old and old[key] == new[key]
        n_out[key] = REDACTED if same or key not in old else REDACTED_CHANGED
    return o_out, n_out


def redact_pair(old: Resource | None, new: Resource | None) -> tuple[Resource | None, Resource | None]:
    """Replace Secret values on both sides; a changed value reads ``<redacted, changed>``."""
    kind = (new or old or {}).get("kind")
    if kind not in SECRET_KINDS:
        return old, new
    old_c = copy.deepcopy(old) if old is not None else None
    new_c = copy.deepcopy(new) if new is not None else None
    for key in ("data", "stringData"):
        o = old_c.get(key, ABSENT) if old_c is not None else ABSENT
        n = new_c.get(key, ABSENT) if new_c is not None else ABSENT
        if o is ABSENT and n is ABSENT:
            continue
        ro, rn = _redact_values(o if o is not ABSENT else {}, n if n is not ABSENT else {})
        if old_c is not None and o is not ABSENT:
            old_c[key] = ro
        if new_c is not None and n is not ABSENT:
            new_c[key] = rn
    return old_c, new_c


# -- Field-level comparison ------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    seg = key if _PLAIN_KEY.match(key) else f'["{key}"]'
    if not prefix:
        return seg
    return prefix + seg if seg.startswith("[") else f"{prefix}.{seg}"


def _scalars(items: list[Any]) -> bool:
    return all(not isinstance(i, dict | list) for i in items)


def _scalar_list_changes(old: list[Any], new: list[Any], prefix: str) -> list[FieldChange]:
    """Inserted and removed items of a list of scalars (vLLM args) by content, not by index."""
    out: list[FieldChange] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)  # a replaced run: item for item, then the surplus
        out.extend(FieldChange(_join(prefix, j1 + k), old[i1 + k], new[j1 + k]) for k in range(paired))
        out.extend(FieldChange(_join(prefix, i), old[i], ABSENT) for i in range(i1 + paired, i2))
        out.extend(FieldChange(_join(prefix, j), ABSENT, new[j]) for j in range(j1 + paired, j2))
    return out


def field_changes(old: Any, new: Any, prefix: str = "") -> list[FieldChange]:
    """Leaf-level differences between two trees, as dotted paths (``args[0]`` for lists)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in sorted(set(old) | set(new), key=str):
            out.extend(field_changes(old.get(key, ABSENT), new.get(key, ABSENT), _join(prefix, str(key))))
        return out
    if isinstance(old, list) and isinstance(new, list):
        if _scalars(old) and _scalars(new):
            return _scalar_list_changes(old, new, prefix)
        out = []
        for i in range(max(len(old), len(new))):
            o = old[i] if i < len(old) else ABSENT
            n = new[i] if i < len(new) else ABSENT
            out.extend(field_changes(o, n, _join(prefix, i)))
        return out
    if old is ABSENT and new is ABSENT:
        return []
    if old is not ABSENT and new is not ABSENT and type(old) is type(new) and old == new:
        return []
    return [FieldChange(prefix or "(document)", old, new)]


# -- Resource-level comparison ---------------------------------------------------------------


def _dump(resource: Resource | None) -> list[str]:
    if resource is None:
        return []
    lines = manifests.dump_yaml([resource]).splitlines(keepends=True)
    out = []
    for ln in lines:
        if len(ln) > MAX_DIFF_LINE:
            extra = len(ln) - MAX_DIFF_LINE
            ln = ln[:MAX_DIFF_LINE] + f" ... ({extra} more characters)\n"
        out.append(ln)
    return out


def _unified(old: Resource | None, new: Resource | None, ref_old: str, ref_new: str) -> tuple[str, str]:
    a, b = _dump(old), _dump(new)
    size = sum(map(len, a)) + sum(map(len, b))
    if size > 2 * HUGE_RESOURCE_CHARS:
        return "", f"line diff not shown: the resource is {size // 1024} KiB; changed fields are listed"
    text = "".join(
        difflib.unified_diff(
            a,
            b,
            fromfile=f"a/{ref_old}" if old is not None else "/dev/null",
            tofile=f"b/{ref_new}" if new is not None else "/dev/null",
            n=3,
        )
    )
    return text, ""


def _key(r: Resource) -> tuple[str, str, str]:
    rid = manifests.resource_id(r)
    return (rid.kind, rid.namespace, rid.name)


def _pair_generated(removed: list[Resource], added: list[Resource]) -> list[tuple[Resource, Resource]]:
    """Match a removed and an added resource whose names differ only by a kustomize hash suffix."""
    pairs: list[tuple[Resource, Resource]] = []
    for new in list(added):
        kind, ns, name = _key(new)
        m = _HASH_SUFFIX.match(name)
        if not m:
            continue
        for old in removed:
            okind, ons, oname = _key(old)
            om = _HASH_SUFFIX.match(oname)
            if okind == kind and ons == ns and om and om.group("stem") == m.group("stem"):
                pairs.append((old, new))
                removed.remove(old)
                added.remove(new)
                break
    return pairs


def _change(old: Resource | None, new: Resource | None) -> ResourceChange | None:
    old, new = redact_pair(old, new)
    either = new if new is not None else old
    if either is None:
        return None
    kind, ns, name = _key(either)
    old_ref = "/".join(_key(old)[::2]) if old is not None else ""
    new_ref = "/".join(_key(new)[::2]) if new is not None else ""
    if old is not None and new is not None:
        fields = field_changes(old, new)
        if not fields:
            return None
        action = "changed"
    else:
        fields = []
        action = "added" if old is None else "removed"
    diff, note = _unified(old, new, old_ref, new_ref)
    if old is not None and new is not None and old_ref != new_ref:
        note = "; ".join(filter(None, [f"generated name changed from {_key(old)[2]}", note]))
    return ResourceChange(action, kind, name, ns, tuple(fields), diff, note)


def compare(base: Sequence[Resource], head: Sequence[Resource]) -> list[ResourceChange]:
    """Added, changed and removed resources between two renders of one overlay."""
    old = {_key(r): normalize(r) for r in base}
    new = {_key(r): normalize(r) for r in head}
    removed = [old[k] for k in old if k not in new]
    added = [new[k] for k in new if k not in old]
    changes: list[ResourceChange] = []
    pairs: list[tuple[Resource | None, Resource | None]] = [(old[k], new[k]) for k in old if k in new]
    pairs += _pair_generated(removed, added)
    pairs += [(r, None) for r in removed] + [(None, r) for r in added]
    for o, n in pairs:
        change = _change(o, n)
        if change is not None:
            changes.append(change)
    return sorted(changes, key=lambda c: (c.kind, c.namespace, c.name))


# -- Rendering both sides --------------------------------------------------------------------


@dataclass
class _Side:
    label: str  # "base" or "head"
    describe: str  # e.g. "base HEAD~1 (1a2b3c4)"
    repo: Repository | None
    error: str = ""


def _load_side(label: str, describe: str, root: Path) -> _Side:
    repo = Repository(root)
    try:
        repo.applications()
    except LlmopsError as exc:
        return _Side(label, describe, None, f"cannot read the Applications at {describe}: {exc.message}")
    return _Side(label, describe, repo)


def _render_all(jobs: list[tuple[Path, str]]) -> dict[tuple[Path, str], list[Resource] | str]:
    """Render each (root, overlay) once, concurrently; a failure becomes its message."""

    def one(job: tuple[Path, str]) -> list[Resource] | str:
        root, path = job
        if not (root / path).is_dir():
            return []
        try:
            return manifests.parse_documents(kustomize.build(root / path), f"{path} (rendered)")
        except LlmopsError as exc:
            return exc.message.replace(str(root) + os.sep, "")

    unique = list(dict.fromkeys(jobs))
    if not unique:
        return {}
    workers = max(1, min(len(unique), (os.cpu_count() or 2) * 2, 16))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, unique))
    return dict(zip(unique, results, strict=True))


def _selected(sides: list[_Side], head: Repository, targets: list[str]) -> list[tuple[str, str]]:
    """(Application name, environment) pairs to compare, in promotion order."""
    chosen: dict[str, str] = {a.name: a.environment for a in head.resolve_many(targets)} if targets else {}
    envs = {t for t in targets if t in head.config.environment_names()}
    for side in sides:
        for app in side.repo.applications() if side.repo is not None else []:
            if not targets or app.environment in envs or app.name in targets:
                chosen.setdefault(app.name, app.environment)
    order = {e: i for i, e in enumerate(head.config.environment_names())}
    return sorted(chosen.items(), key=lambda kv: (order.get(kv[1], len(order)), kv[0]))


def _file_notes(
    root: Path, changed: Sequence[str], binary: Sequence[str], found: dict[str, Impact]
) -> list[str]:
    notes = []
    for path in changed:
        users = sorted({i.environment for i in found.values() if path in i.files})
        where = f"used by {', '.join(users)}" if users else "not used by any overlay"
        if path in binary:
            notes.append(
                f"binary file {path} changed ({where}); it is compared through the rendered resources only"
            )
            continue
        target = root / path
        if target.is_file() and target.stat().st_size > HUGE_FILE_BYTES:
            size = target.stat().st_size / (1024 * 1024)
            notes.append(f"{path} is large ({size:.1f} MiB, {where}); long lines are cut in the diff")
    return notes


def compute(
    repo: Repository,
    targets: list[str],
    base_ref: str,
    head_ref: str | None = None,
    *,
    render_all: bool = False,
) -> DiffReport:
    """Compare the renders of ``targets`` (default: every Application) at two revisions."""
    base_sha = git.resolve_commit(repo.root, base_ref)
    head_sha = git.resolve_commit(repo.root, head_ref) if head_ref is not None else None
    changed = git.changed_files(repo.root, base_sha, head_sha)
    binary = git.binary_changes(repo.root, base_sha, head_sha)
    head_label = head_ref if head_ref is not None else "working tree"
    with tempfile.TemporaryDirectory(prefix="llmops-diff-") as tmp:
        base_root = Path(tmp) / "base"
        git.export_tree(repo.root, base_sha, base_root)
        head_root = repo.root
        if head_sha is not None:
            head_root = Path(tmp) / "head"
            git.export_tree(repo.root, head_sha, head_root)
        base = _load_side("base", f"base {base_ref} ({git.short(repo.root, base_sha)})", base_root)
        head_desc = f"head {head_ref} ({git.short(repo.root, head_sha)})" if head_sha else "the working tree"
        head = _load_side("head", head_desc, head_root)
        if head.repo is None:
            raise RepositoryError(head.error, hint="fix the Application manifests and rerun")
        sides = [base, head]
        found = affected.impacts([s.repo for s in sides if s.repo is not None], changed)
        pairs = _selected(sides, head.repo, targets)
        apps_at = {s.label: {a.name: a for a in (s.repo.applications() if s.repo else [])} for s in sides}
        wanted = [name for name, _ in pairs if render_all or name in found or base.repo is None]
        jobs: list[tuple[Path, str]] = []
        for name in wanted:
            for side in sides:
                app = apps_at[side.label].get(name)
                if app is not None and side.repo is not None:
                    jobs.append((side.repo.root, app.path))
        rendered = _render_all(jobs)
        results = [
            _app_diff(name, env, sides, apps_at, rendered, rendered_at=name in wanted) for name, env in pairs
        ]
        notes = _file_notes(head_root, changed, binary, found)
    envs = affected.environments_of(found.values(), head.repo.config.environment_names())
    return DiffReport(
        base_ref=base_ref,
        base_sha=base_sha,
        head_ref=head_label,
        head_sha=head_sha,
        changed_files=tuple(changed),
        affected=tuple(envs),
        impacts=found,
        apps=tuple(results),
        notes=tuple(notes),
    )


def _app_diff(
    name: str,
    env: str,
    sides: list[_Side],
    apps_at: dict[str, dict[str, Application]],
    rendered: dict[tuple[Path, str], list[Resource] | str],
    *,
    rendered_at: bool,
) -> AppDiff:
    base, head = sides
    head_app = apps_at["head"].get(name)
    base_app = apps_at["base"].get(name)
    shown = head_app or base_app
    overlay = shown.path if shown is not None else ""
    if not rendered_at:
        return AppDiff(name, env, overlay, rendered=False)
    notes: list[str] = []
    resources: dict[str, list[Resource]] = {}
    for side, app in ((base, base_app), (head, head_app)):
        if side.repo is None:
            return AppDiff(name, env, overlay, notes=tuple(notes), error=side.error)
        if app is None:
            notes.append(
                f"Application {name} does not exist at {side.describe}: every resource is "
                + ("added" if side.label == "base" else "removed")
            )
            resources[side.label] = []
            continue
        if not (side.repo.root / app.path).is_dir():
            notes.append(
                f"overlay {app.path} does not exist at {side.describe}: every resource is "
                + ("added" if side.label == "base" else "removed")
            )
        out = rendered[(side.repo.root, app.path)]
        if isinstance(out, str):
            return AppDiff(
                name, env, overlay, notes=tuple(notes), error=f"kustomize failed at {side.describe}: {out}"
            )
        resources[side.label] = out
    changes = compare(resources["base"], resources["head"])
    return AppDiff(name, env, overlay, tuple(changes), notes=tuple(notes))
