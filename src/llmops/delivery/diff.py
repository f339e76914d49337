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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import LlmopsError, RepositoryError
from llmops.gitops import affected, build_options, git, manifests
from llmops.gitops.affected import Impact
from llmops.gitops.appstate import LiveObjects
from llmops.gitops.manifests import Resource
from llmops.gitops.render import render_each
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


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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
        _redact_key(old_c, new_c, key)
    return old_c, new_c


def _redact_key(old: Resource | None, new: Resource | None, key: str) -> None:
    """Redact one values field (``data``, ``stringData``) of a Secret on both sides, in place."""
    o = old.get(key, ABSENT) if old is not None else ABSENT
    n = new.get(key, ABSENT) if new is not None else ABSENT
    if o is ABSENT and n is ABSENT:
        return
    ro, rn = _redact_values(o if o is not ABSENT else {}, n if n is not ABSENT else {})
    if old is not None and o is not ABSENT:
        old[key] = ro
    if new is not None and n is not ABSENT:
        new[key] = rn


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
        return _mapping_changes(old, new, prefix)
    if isinstance(old, list) and isinstance(new, list):
        if _scalars(old) and _scalars(new):
            return _scalar_list_changes(old, new, prefix)
        return _list_changes(old, new, prefix)
    if old is ABSENT and new is ABSENT:
        return []
    if old is not ABSENT and new is not ABSENT and type(old) is type(new) and old == new:
        return []
    return [FieldChange(prefix or "(document)", old, new)]


def _mapping_changes(old: dict[Any, Any], new: dict[Any, Any], prefix: str) -> list[FieldChange]:
    out: list[FieldChange] = []
    for key in sorted(set(old) | set(new), key=str):
        out.extend(field_changes(old.get(key, ABSENT), new.get(key, ABSENT), _join(prefix, str(key))))
    return out


def _list_changes(old: list[Any], new: list[Any], prefix: str) -> list[FieldChange]:
    """Item by item, by index (lists of objects: containers, env entries)."""
    out: list[FieldChange] = []
    for i in range(max(len(old), len(new))):
        o = old[i] if i < len(old) else ABSENT
        n = new[i] if i < len(new) else ABSENT
        out.extend(field_changes(o, n, _join(prefix, i)))
    return out


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
    return ResourceChange(
        action=action, kind=kind, name=name, namespace=ns, fields=tuple(fields), diff=diff, note=note
    )


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


def live_report(objects: Sequence[LiveObjects], where: str) -> DiffReport:
    """Desired (the target revision) against live for each Application: what ``diff --live`` and the
    dashboard show, with the same normalization and redaction as a diff of two revisions."""
    apps, notes = [], []
    for obj in objects:
        changes = tuple(compare(obj.live, obj.desired))
        apps.append(AppDiff(app=obj.app, environment=obj.environment, overlay=where, changes=changes))
        if obj.revision is not None:
            notes.append(f"{obj.app}: desired is {obj.revision.sha[:8]} {obj.revision.subject}")
    return DiffReport(
        base_ref="live", base_sha="", head_ref="desired", head_sha=None, changed_files=(),
        affected=tuple(dict.fromkeys(a.environment for a in apps if a.changes)), impacts={}, apps=tuple(apps),
        notes=tuple(notes),
    )  # fmt: skip


# -- Rendering both sides --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Side:
    label: str  # "base" or "head"
    describe: str  # e.g. "base HEAD~1 (1a2b3c4)"
    repo: Repository | None
    error: str = ""

    def applications(self) -> dict[str, Application]:
        return {a.name: a for a in (self.repo.applications() if self.repo is not None else [])}


def _load_side(label: str, describe: str, root: Path) -> _Side:
    repo = Repository(root)
    try:
        repo.applications()
    except LlmopsError as exc:
        error = f"cannot read the Applications at {describe}: {exc.message}"
        return _Side(label=label, describe=describe, repo=None, error=error)
    return _Side(label=label, describe=describe, repo=repo)


def _render_all(
    jobs: list[tuple[Path, str]], base_root: Path | None
) -> dict[tuple[Path, str], list[Resource] | str]:
    """Render each (root, overlay) once, concurrently; a failure becomes its message.

    An overlay folder missing at one side renders to nothing (every resource added or removed).
    Both sides use only the kustomize build options the base declares (a change cannot add one).
    """
    present = [(root, path) for root, path in jobs if (root / path).is_dir()]
    out: dict[tuple[Path, str], list[Resource] | str] = {job: [] for job in jobs}
    trusted = build_options.declared_options(base_root) if base_root else []
    for (root, path), result in render_each(present, trusted=trusted).items():
        if isinstance(result, LlmopsError):
            out[(root, path)] = result.message.replace(str(root) + os.sep, "")
        else:
            out[(root, path)] = result
    return out


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


@dataclass(frozen=True, kw_only=True)
class _Revisions:
    """The two revisions compared and the files that differ between them."""

    base_ref: str
    base_sha: str
    head_ref: str | None  # None: the working tree
    head_sha: str | None
    changed: list[str]
    binary: list[str]


def _revisions(repo: Repository, base_ref: str, head_ref: str | None) -> _Revisions:
    base_sha = git.resolve_commit(repo.root, base_ref)
    head_sha = git.resolve_commit(repo.root, head_ref) if head_ref is not None else None
    return _Revisions(
        base_ref=base_ref,
        base_sha=base_sha,
        head_ref=head_ref,
        head_sha=head_sha,
        changed=git.changed_files(repo.root, base_sha, head_sha),
        binary=git.binary_changes(repo.root, base_sha, head_sha),
    )


def _checkouts(repo: Repository, rev: _Revisions, tmp: Path) -> tuple[_Side, _Side, Repository]:
    """The base side (a checkout), the head side (a checkout, or the working tree) and its repository.

    The head's Applications must be readable: without them nothing can be compared.
    """
    base_root = tmp / "base"
    git.export_tree(repo.root, rev.base_sha, base_root)
    base = _load_side("base", f"base {rev.base_ref} ({git.short(repo.root, rev.base_sha)})", base_root)
    head_root = repo.root
    head_desc = "the working tree"
    if rev.head_sha is not None:
        head_root = tmp / "head"
        git.export_tree(repo.root, rev.head_sha, head_root)
        head_desc = f"head {rev.head_ref} ({git.short(repo.root, rev.head_sha)})"
    head = _load_side("head", head_desc, head_root)
    if head.repo is None:
        raise RepositoryError(head.error, hint="fix the Application manifests and rerun")
    return base, head, head.repo


def _render_jobs(
    wanted: Sequence[str], sides: Sequence[_Side], apps_at: dict[str, dict[str, Application]]
) -> list[tuple[Path, str]]:
    """(root, overlay) of every wanted Application at every side that has it."""
    jobs: list[tuple[Path, str]] = []
    for name in wanted:
        for side in sides:
            app = apps_at[side.label].get(name)
            if app is not None and side.repo is not None:
                jobs.append((side.repo.root, app.path))
    return jobs


def compute(
    repo: Repository,
    targets: list[str],
    base_ref: str,
    head_ref: str | None = None,
    *,
    render_all: bool = False,
) -> DiffReport:
    """Compare the renders of ``targets`` (default: every Application) at two revisions."""
    rev = _revisions(repo, base_ref, head_ref)
    with tempfile.TemporaryDirectory(prefix="llmops-diff-") as tmp:
        base, head, head_repo = _checkouts(repo, rev, Path(tmp))
        sides = [base, head]
        found = affected.impacts([s.repo for s in sides if s.repo is not None], rev.changed)
        pairs = _selected(sides, head_repo, targets)
        apps_at = {s.label: s.applications() for s in sides}
        wanted = [name for name, _ in pairs if render_all or name in found or base.repo is None]
        rendered = _render_all(_render_jobs(wanted, sides, apps_at), base.repo.root if base.repo else None)
        results = [
            _app_diff(name, env, sides, apps_at, rendered, rendered_at=name in wanted) for name, env in pairs
        ]
        notes = _file_notes(head_repo.root, rev.changed, rev.binary, found)
    envs = affected.environments_of(found.values(), head_repo.config.environment_names())
    return DiffReport(
        base_ref=base_ref,
        base_sha=rev.base_sha,
        head_ref=head_ref if head_ref is not None else "working tree",
        head_sha=rev.head_sha,
        changed_files=tuple(rev.changed),
        affected=tuple(envs),
        impacts=found,
        apps=tuple(results),
        notes=tuple(notes),
    )


def _side_resources(
    name: str,
    side: _Side,
    root: Path,
    app: Application | None,
    rendered: dict[tuple[Path, str], list[Resource] | str],
) -> tuple[list[Resource] | str, str | None]:
    """(resources or kustomize's message, a note) for one Application at one side (tree ``root``)."""
    gone = "added" if side.label == "base" else "removed"
    if app is None:
        return [], f"Application {name} does not exist at {side.describe}: every resource is {gone}"
    note = None
    if not (root / app.path).is_dir():
        note = f"overlay {app.path} does not exist at {side.describe}: every resource is {gone}"
    return rendered[(root, app.path)], note


def _app_diff(
    name: str,
    env: str,
    sides: list[_Side],
    apps_at: dict[str, dict[str, Application]],
    rendered: dict[tuple[Path, str], list[Resource] | str],
    *,
    rendered_at: bool,
) -> AppDiff:
    shown = apps_at["head"].get(name) or apps_at["base"].get(name)
    overlay = shown.path if shown is not None else ""
    if not rendered_at:
        return AppDiff(app=name, environment=env, overlay=overlay, rendered=False)
    notes: list[str] = []
    resources: dict[str, list[Resource]] = {}
    for side in sides:
        if side.repo is None:
            return AppDiff(app=name, environment=env, overlay=overlay, notes=tuple(notes), error=side.error)
        out, note = _side_resources(name, side, side.repo.root, apps_at[side.label].get(name), rendered)
        notes += [note] if note else []
        if isinstance(out, str):
            error = f"kustomize failed at {side.describe}: {out}"
            return AppDiff(app=name, environment=env, overlay=overlay, notes=tuple(notes), error=error)
        resources[side.label] = out
    changes = compare(resources["base"], resources["head"])
    return AppDiff(app=name, environment=env, overlay=overlay, changes=tuple(changes), notes=tuple(notes))
