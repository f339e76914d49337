"""Promotion: copy one environment's release into the next one as a single Git commit.

The release is the set of fields ``llmops.yaml`` declares under ``release.fields``
(by default the serving image, the model URI and the vLLM arguments of the
InferenceService), kept in each overlay's ``release.file``. Promotion copies those
fields from SRC's release file into DST's, editing the YAML round-trip (comments,
key order and quoting survive) and never touching DST's sizing. The edit lands on
a new branch ``promote/<DST>-<short source commit>`` as one commit whose message
lists every changed field and the source commit.

In a repository with several models, each SRC Application is paired with the DST
Application of the same model: the one whose overlay sits in the same parent folder
(``models/a/overlays/dev`` pairs with ``models/a/overlays/staging``).
"""

from __future__ import annotations

import copy
import difflib
import io
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from llmops.delivery.diff import ABSENT, field_changes
from llmops.errors import GitError, LlmopsError, ManifestError, RepositoryError, UsageError
from llmops.gitops import git, manifests
from llmops.gitops.config import ReleaseField
from llmops.gitops.repo import Application, Repository
from llmops.support.files import exclusive_lock, inside

# (mapping indent, sequence indent, sequence dash offset) tried in order; the first that
# reproduces a file byte for byte is used to write it back.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0))


@dataclass(frozen=True)
class FieldEdit:
    resource: str  # Kind/name as written in the release file
    path: str
    old: Any  # plain data; ABSENT when DST did not have it
    new: Any  # plain data; ABSENT when SRC does not have it (removed from DST)


@dataclass(frozen=True)
class FileEdit:
    src_app: str
    dst_app: str
    path: str  # DST release file, relative to the repository root
    old_text: str
    new_text: str
    fields: tuple[FieldEdit, ...]

    def unified_diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.old_text.splitlines(keepends=True),
                self.new_text.splitlines(keepends=True),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )


@dataclass(frozen=True)
class Plan:
    src: str
    dst: str
    source_commit: str
    edits: tuple[FileEdit, ...]  # only files that change
    pairs: tuple[tuple[str, str], ...]  # (SRC Application, DST Application)
    notes: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def branch(self) -> str:
        return f"promote/{self.dst}-{self.source_commit[:7]}"


@dataclass(frozen=True)
class Result:
    branch: str
    commit: str
    pushed: bool


# -- YAML round trip -------------------------------------------------------------------------


def _yaml(indent: tuple[int, int, int]) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return y


def _dump(y: YAML, docs: list[Any]) -> str:
    buf = io.StringIO()
    y.dump_all(docs, buf)
    return buf.getvalue()


def load_round_trip(path: Path, rel: str) -> tuple[YAML, list[Any], str]:
    """The documents of ``path`` and a YAML instance that writes them back as they were.

    The file is checked against the YAML budget first (size, alias expansion): the round
    trip and the field comparison walk every node an alias expands to.
    """
    try:
        manifests.check_size(path, rel)
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{rel} is not a UTF-8 text file", hint="a release file must be YAML") from exc
    except OSError as exc:
        raise RepositoryError(f"cannot read {rel}: {exc.strerror}") from exc
    manifests.check_budget(text, rel)
    for indent in _INDENTS:
        y = _yaml(indent)
        try:
            docs = [d for d in y.load_all(text) if d is not None]
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise ManifestError(f"{rel}{where}: invalid YAML", hint="fix the release file and retry") from exc
        if _dump(y, docs) == text:
            return y, docs, text
    return _yaml(_INDENTS[0]), docs, text


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)


def _get(node: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return ABSENT
    return node


def _set(node: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            if not isinstance(node.get(part), dict | list):
                node[part] = CommentedMap()
            node = node[part]
        else:
            raise ManifestError(
                f"release field {path}: cannot reach {part!r} in the target file",
                hint="check release.fields in llmops.yaml against the release files",
            )
    if isinstance(node, list) and last.isdigit():
        idx = int(last)
        if value is ABSENT:
            if idx < len(node):
                del node[idx]
        elif idx < len(node):
            node[idx] = value
        else:
            node.append(value)
    elif isinstance(node, dict):
        if value is ABSENT:
            node.pop(last, None)
        else:
            node[last] = value
    else:
        raise ManifestError(
            f"release field {path}: the target file has a list where a mapping is expected",
            hint="check release.fields in llmops.yaml against the release files",
        )


def _name(doc: Any) -> str:
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _docs_of_kind(docs: list[Any], kind: str) -> list[Any]:
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == kind]


def _matching(src_doc: Any, dst_docs: list[Any]) -> Any | None:
    same = [d for d in dst_docs if _name(d) == _name(src_doc)]
    if same:
        return same[0]
    return dst_docs[0] if len(dst_docs) == 1 else None


def copy_release(src_docs: list[Any], dst_docs: list[Any], fields: list[ReleaseField]) -> list[FieldEdit]:
    """Copy the release fields from SRC's documents into DST's (in place); return what changed."""
    edits: list[FieldEdit] = []
    for f in fields:
        dst_of_kind = _docs_of_kind(dst_docs, f.kind)
        for src_doc in _docs_of_kind(src_docs, f.kind):
            dst_doc = _matching(src_doc, dst_of_kind)
            if dst_doc is None:
                continue
            new = _get(src_doc, f.path)
            old = _get(dst_doc, f.path)
            plain_new = ABSENT if new is ABSENT else _plain(new)
            plain_old = ABSENT if old is ABSENT else _plain(old)
            if plain_new == plain_old:
                continue
            _set(dst_doc, f.path, ABSENT if new is ABSENT else copy.deepcopy(new))
            ref = f"{f.kind}/{_name(dst_doc)}"
            for change in field_changes(plain_old, plain_new, f.path):
                edits.append(FieldEdit(ref, change.path, change.old, change.new))
    return edits


# -- Planning --------------------------------------------------------------------------------


def _model_key(app: Application) -> str:
    return str(PurePosixPath(app.path).parent)


def pair_applications(
    repo: Repository, src: str, dst: str
) -> tuple[list[tuple[Application, Application]], list[str]]:
    src_apps = list(repo.environment(src).applications)
    dst_apps = list(repo.environment(dst).applications)
    for env, apps in ((src, src_apps), (dst, dst_apps)):
        if not apps:
            raise RepositoryError(
                f"environment {env!r} has no Argo CD Application",
                hint=f"add one under {', '.join(repo.config.applications)}",
            )
    if len(src_apps) == 1 and len(dst_apps) == 1:
        return [(src_apps[0], dst_apps[0])], []
    by_key: dict[str, Application] = {}
    for app in dst_apps:
        key = _model_key(app)
        if key in by_key:
            raise RepositoryError(
                f"Applications {by_key[key].name} and {app.name} of {dst} deploy overlays in {key}",
                hint="give each model its own overlays folder so promotion can pair them",
            )
        by_key[key] = app
    pairs, notes = [], []
    for app in src_apps:
        match = by_key.pop(_model_key(app), None)
        if match is None:
            notes.append(f"{app.name} has no {dst} counterpart next to {app.path}: skipped")
        else:
            pairs.append((app, match))
    notes.extend(f"{a.name} has no {src} counterpart: left as it is" for a in by_key.values())
    return pairs, notes


def check_order(repo: Repository, src: str, dst: str, *, force: bool, reason: str | None) -> None:
    names = repo.config.environment_names()
    for env in (src, dst):
        if env not in names:
            raise UsageError(f"unknown environment {env!r}", hint=f"known environments: {', '.join(names)}")
    if src == dst:
        raise UsageError(f"cannot promote {src} to itself", hint=f"promotion order: {' -> '.join(names)}")
    if force and not (reason or "").strip():
        raise UsageError("--force needs --reason", hint='say why, e.g. --reason "hotfix for CVE-2025-1234"')
    i, j = names.index(src), names.index(dst)
    if j == i + 1 or force:
        return
    if j < i:
        problem = f"{src} -> {dst} goes backwards in the promotion order"
    else:
        problem = f"{src} -> {dst} skips {', '.join(names[i + 1 : j])}"
    raise UsageError(
        problem,
        hint=f"promote one stage at a time ({' -> '.join(names)}), "
        'or pass --force --reason "why" to record an exception in the commit',
    )


def _check_release_path(root: Path, rel: str) -> None:
    """A release file must stay inside the repository and be a regular file, not a link."""
    inside(root, rel, what="release file")
    if (root / rel).is_symlink():
        raise RepositoryError(
            f"release file {rel} is a symbolic link",
            hint="promotion reads and writes regular files only; replace the link with the file",
        )


def plan(repo: Repository, src: str, dst: str, *, force: bool = False, reason: str | None = None) -> Plan:
    """Work out the promotion without writing anything."""
    check_order(repo, src, dst, force=force, reason=reason)
    pairs, notes = pair_applications(repo, src, dst)
    release = repo.config.release
    edits: list[FileEdit] = []
    for src_app, dst_app in pairs:
        src_rel = f"{src_app.path}/{release.file}"
        dst_rel = f"{dst_app.path}/{release.file}"
        for rel in (src_rel, dst_rel):
            _check_release_path(repo.root, rel)
            if not (repo.root / rel).is_file():
                raise RepositoryError(
                    f"{rel} does not exist",
                    hint="each overlay keeps its release in release.file of llmops.yaml "
                    f"(now {release.file!r}); add it as a patch of the overlay",
                )
        _, src_docs, _ = load_round_trip(repo.root / src_rel, src_rel)
        y, dst_docs, old_text = load_round_trip(repo.root / dst_rel, dst_rel)
        fields = copy_release(src_docs, dst_docs, list(release.fields))
        if fields:
            edits.append(
                FileEdit(src_app.name, dst_app.name, dst_rel, old_text, _dump(y, dst_docs), tuple(fields))
            )
    source = git.head_commit(repo.root)
    return Plan(
        src, dst, source, tuple(edits), tuple((a.name, b.name) for a, b in pairs), tuple(notes), reason
    )


# -- Commit ----------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(none)"
    return value if isinstance(value, str) else repr(value)


def commit_message(p: Plan) -> str:
    apps = sorted({e.dst_app for e in p.edits})
    lines = [f"promote {p.src} -> {p.dst}: {', '.join(apps)}", ""]
    lines.append(f"Copies the release of {p.src} at commit {p.source_commit} into {p.dst}.")
    if p.reason:
        lines += ["", f"Forced past the promotion order. Reason: {p.reason.strip()}"]
    for edit in p.edits:
        lines += ["", f"{edit.path} ({edit.dst_app}, from {edit.src_app}):"]
        lines.extend(f"  {f.resource}: {f.path} {_show(f.old)} -> {_show(f.new)}" for f in edit.fields)
    lines += ["", f"Promoted-from: {p.src}@{p.source_commit}"]
    return "\n".join(lines) + "\n"


LOCK_FILE = "llmops-promote.lock"  # in the repository's git folder: one promotion at a time
LOCK_WAIT_S = 60.0


def _check_clean(root: Path) -> None:
    dirty = git.dirty_paths(root)
    if dirty:
        raise GitError(
            f"the working tree has uncommitted changes ({len(dirty)}: {', '.join(d[3:] for d in dirty[:3])})",
            hint="commit or stash them first; promotion makes exactly one commit of its own",
        )


def _commit(root: Path, p: Plan) -> str:
    """The promotion commit on top of the source commit; nothing of the user's checkout moves."""
    if git.head_commit(root) != p.source_commit:
        raise GitError("HEAD moved while the promotion was being prepared", hint="run llmops promote again")
    for edit in p.edits:
        if git.tree_mode(root, p.source_commit, edit.path) == "120000":
            raise RepositoryError(
                f"{edit.path} is a symbolic link in Git", hint="a release file must be a regular file"
            )
    try:
        return git.commit_files(
            root, p.source_commit, {e.path: e.new_text for e in p.edits}, commit_message(p)
        )
    except GitError as exc:
        raise GitError(
            f"promotion not committed, nothing changed: {exc.message}",
            hint="fix the cause (git identity, signing, permissions of .git) and rerun",
        ) from exc


def apply(
    repo: Repository, p: Plan, *, branch: str | None = None, push: bool = False, remote: str = "origin"
) -> Result:
    """Commit the edits on a new branch without touching the work tree, the index or HEAD.

    The commit is built with plumbing against a throw-away index and the branch is created
    atomically (it must not exist), under a lock in the git folder: concurrent promotions
    in one checkout each succeed on their own branch, or wait, or refuse with one line.
    If the run is interrupted (Ctrl-C, SIGTERM) before it finishes, the new branch is
    deleted again, so nothing is left half-done; a failed push keeps it (and says so).
    """
    root = repo.root
    name = branch or p.branch
    git.check_branch_name(root, name)
    lock = git.common_dir(root) / LOCK_FILE
    with exclusive_lock(lock, wait_s=LOCK_WAIT_S, what="promoting in this repository"):
        _check_clean(root)
        if git.branch_exists(root, name):
            raise GitError(
                f"branch {name} already exists",
                hint=f"delete it (git branch -D {name}) or pass --branch NAME",
            )
        sha = _commit(root, p)
        git.create_branch(root, name, sha)
    try:
        if push:
            _push(root, remote, name, sha)
    except LlmopsError:
        raise
    except BaseException:
        git.delete_branch_at(root, name, sha)  # interrupted: take the new branch back
        raise
    return Result(name, sha, push)


def _push(root: Path, remote: str, name: str, sha: str) -> None:
    try:
        git.push(root, remote, name)
    except GitError as exc:
        raise GitError(
            f"committed {sha[:8]} on branch {name}, but the push failed: {exc.message}",
            hint=f"push it later with: git push -u {remote} {name}",
        ) from exc
