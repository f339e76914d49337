"""``llmops init``: a commented ``llmops.yaml`` for a repository, or the reference layout for one model.

:func:`plan` proposes the files (nothing is written); :func:`write` writes them atomically,
refusing to replace a file that differs unless forced. The proposal for an existing
repository comes from :mod:`llmops.gitops.discover`; the example layout (a Kustomize base,
dev/staging/production overlays, the Argo CD AppProject and Applications, ``llmops.yaml``)
is package data that ``llmops validate`` passes.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from llmops.errors import GitError, LlmopsError, RepositoryError
from llmops.gitops import git
from llmops.gitops.config import CONFIG_FILE, RepoConfig
from llmops.gitops.discover import Proposal, propose
from llmops.support.files import atomic_write_text

EXAMPLE_DIR = Path(__file__).resolve().parent / "data" / "example"
_PLAIN = re.compile(r"^[A-Za-z0-9_./-]+$")


class InitError(LlmopsError):
    """``llmops init`` would replace files that differ (without ``--force``), or cannot write."""


@dataclass(frozen=True)
class FileChange:
    """One file init writes: its current text (None when new) and the proposed one."""

    path: str
    old: str | None
    new: str

    def diff(self) -> str:
        old = (self.old or "").splitlines(keepends=True)
        return "".join(
            difflib.unified_diff(old, self.new.splitlines(keepends=True), f"a/{self.path}", f"b/{self.path}")
        )


@dataclass(frozen=True)
class InitPlan:
    root: Path
    files: dict[str, str]  # relative path -> proposed text
    proposal: Proposal | None  # None for the example layout

    def changes(self) -> list[FileChange]:
        """Files that are new or differ from what is there now."""
        out = []
        for rel, text in self.files.items():
            target = self.root / rel
            old = target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None
            if old != text:
                out.append(FileChange(rel, old, text))
        return out


def root_for(start: Path) -> Path:
    """Where init writes: the top of the git work tree holding ``start``, else ``start`` itself."""
    if start.exists() and not start.is_dir():
        raise RepositoryError(f"{start} is not a folder", hint="pass --repo with a folder")
    if not start.exists():
        return start.resolve()
    try:
        return git.toplevel(start.resolve())
    except (RepositoryError, GitError):
        return start.resolve()


def example_files() -> dict[str, str]:
    return {
        p.relative_to(EXAMPLE_DIR).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(EXAMPLE_DIR.rglob("*"))
        if p.is_file()
    }


def plan(root: Path, *, example: bool = False) -> InitPlan:
    """The files ``llmops init`` would write in ``root`` (nothing is written)."""
    if example:
        return InitPlan(root, example_files(), None)
    if not root.is_dir():
        raise RepositoryError(
            f"{root} does not exist", hint="create it first, or use --example for a new layout"
        )
    proposal = propose(root)
    return InitPlan(root, {CONFIG_FILE: config_text(proposal)}, proposal)


def write(init: InitPlan, *, force: bool = False) -> list[FileChange]:
    """Write the plan's new and changed files atomically; refuses changed files unless ``force``."""
    changes = init.changes()
    replaced = [c.path for c in changes if c.old is not None]
    if replaced and not force:
        raise InitError(
            f"{', '.join(replaced[:3])}{' ...' if len(replaced) > 3 else ''} already exist(s) and differ(s) "
            "from what init proposes (diff above)",
            hint="rerun with --force to replace them, or copy what you want by hand (--dry-run prints it)",
        )
    for change in changes:
        try:
            atomic_write_text(init.root / change.path, change.new, parents=True)
        except OSError as exc:
            raise InitError(f"cannot write {init.root / change.path}: {exc.strerror or exc}") from exc
    return changes


# -- the proposed llmops.yaml, with comments --------------------------------------------------


def _comment(text: str, indent: str = "") -> list[str]:
    """``text`` as comment lines within yamllint's default 80 columns."""
    return textwrap.wrap(
        text, 78 - len(indent), initial_indent=f"{indent}# ", subsequent_indent=f"{indent}#   ",
        break_long_words=False, break_on_hyphens=False,
    )  # fmt: skip


def _q(value: str) -> str:
    return value if _PLAIN.match(value) else json.dumps(value)


def _environments_block(p: Proposal) -> list[str]:
    lines = [
        "# Promotion order, first to last (proposed from the environment names:",
        "# check it), and the sync policy each environment's Applications must have.",
        "environments:",
    ]
    for env in p.config.environments:
        members = [a for a in p.applications if a.environment == env.name]
        how = ", ".join(sorted({a.found_by for a in members}))
        why = f"{len(members)} Application(s), found by {how}" if members else "no Application found"
        lines += [f"  - name: {env.name}", *_comment(why, "    "), f"    sync: {env.sync}"]
    return lines


def _applications_block(p: Proposal) -> list[str]:
    lines = ["", "# Folders searched for Argo CD Application manifests."]
    for app in p.applications:
        where = (
            f"{app.environment} (by {app.found_by})" if app.environment else f"no environment: {app.found_by}"
        )
        lines.append(f"#   {app.file}: {app.name} -> {where}")
    lines.append("applications:")
    lines += [f"  - {_q(f)}" for f in p.config.applications]
    return lines


def _release_block(p: Proposal) -> list[str]:
    release = p.config.release
    lines = [
        "",
        *_comment(
            "The release: what `llmops promote` copies from one environment to the next "
            f"({p.release_source})."
        ),
        "release:",
        f"  file: {_q(release.file)}",
        "  fields:",
    ]
    for f in release.fields:
        lines += [f"    - kind: {_q(f.kind)}", f"      path: {_q(f.path)}"]
    return lines


def _validate_block(p: Proposal) -> list[str]:
    lines = [
        "",
        "# `llmops validate`, the pre-merge gate. Strict CRD schemas (KServe, Argo CD,",
        "# Tekton, OpenShift Route) come with llmops: `llmops schemas list`. A catalog",
        "# folder in the repository (validate.schemas, default schemas/) adds or",
        "# overrides kinds.",
        "validate:",
        "  # What the YAML and stand-alone manifest checks read: the folders",
        "  # holding manifests.",
        "  paths:",
    ]
    return lines + [f"    - {_q(path)}" for path in p.config.validate_.paths]


def _kustomize_block(p: Proposal) -> list[str]:
    if p.build_options:
        return ["", *_comment(f"Argo CD's kustomize build options are read from {p.build_options}.")]
    if not p.helm_folders:
        return []
    shown = ", ".join(p.helm_folders[:3]) + (" ..." if len(p.helm_folders) > 3 else "")
    text = (
        f"These kustomizations inflate Helm charts: {shown}. Argo CD builds them only with --enable-helm "
        "in its build options; to render them as it does, vendor each chart in the repository (llmops "
        "never downloads one) and uncomment:"
    )
    return ["", *_comment(text), "# kustomize:", "#   build_options: --enable-helm"]


def config_text(p: Proposal) -> str:
    """The proposal as a commented llmops.yaml (checked to load back to the same configuration)."""
    lines = [
        "# llmops repository configuration, proposed by `llmops init` from what it",
        "# found here.",
        "# Check it and commit it. Every key is optional; see docs/configuration.md.",
    ]
    for note in (*p.notes, *(f"Application {name} matches no environment" for name in p.unassigned)):
        lines += _comment(f"note: {note}")
    lines += ["---", *_environments_block(p), *_applications_block(p), *_release_block(p)]
    lines += [*_validate_block(p), *_kustomize_block(p)]
    text = "\n".join(lines) + "\n"
    loaded = RepoConfig.model_validate(yaml.safe_load(text))
    assert loaded.model_dump() == p.config.model_dump(), "the written llmops.yaml must mean the proposal"
    return text
