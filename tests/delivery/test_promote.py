"""`llmops promote SRC DST`: one commit on a new branch, real git, real kustomize."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from testing import fleet
from testing.repos import ROOT, branch, branches, edit, git, head, init_repo

from llmops.delivery.promote import copy_release, load_round_trip
from llmops.gitops.config import ReleaseField
from llmops.support.files import atomic_write_text

OVERLAYS = Path("deploy_model/overlays")
NEW_IMAGE = "quay.io/modh/vllm@sha256:" + "ab" * 32
STAGING_COMMENT = "# staging keeps its own note here; promotion must not drop it.\n"


@pytest.fixture
def released(gitops_repo: Path) -> Path:
    """The reference repository with a new dev release committed (longer context, new image)."""
    rel = gitops_repo / OVERLAYS / "staging/release.yaml"
    rel.write_text(rel.read_text().replace("spec:\n", STAGING_COMMENT + "spec:\n", 1))
    git(gitops_repo, "commit", "-qam", "staging: a note of its own")
    dev = OVERLAYS / "dev/release.yaml"
    edit(gitops_repo / dev, "--max-model-len=8192", "--max-model-len=16384")
    old_image = "quay.io/modh/vllm@sha256:4f1f6b5738b311332b2bc786ea71259872e570081807592d97b4bd4cb65c4be1"
    edit(gitops_repo / dev, old_image, NEW_IMAGE)
    git(gitops_repo, "commit", "-qam", "dev: 16k context on a new vLLM build")
    return gitops_repo


def isvc(cli: Any, repo: Path, env: str) -> dict[str, Any]:
    items = cli("render", env, "--repo", repo, "-o", "json").json()["items"]
    (found,) = [r for r in items if r["kind"] == "InferenceService"]
    return found


def test_promote_dev_staging_makes_exactly_one_commit_on_a_new_branch(cli, released: Path) -> None:
    source = head(released)
    staging_before = isvc(cli, released, "staging")
    staging_file = released / OVERLAYS / "staging/release.yaml"
    text_before = staging_file.read_text()
    index_before = (released / ".git/index").read_bytes()
    result = cli("promote", "dev", "staging", "--repo", released)
    assert result.code == 0, result.err
    new = f"promote/staging-{source[:7]}"
    # The user's checkout does not move: same branch, same HEAD, same index, same files.
    assert branch(released) == "main" and head(released) == source
    assert (released / ".git/index").read_bytes() == index_before
    assert staging_file.read_text() == text_before
    assert git(released, "status", "--porcelain") == ""
    assert f"your checkout is unchanged (git switch {new}" in result.out
    assert git(released, "rev-list", "--count", f"{source}..{new}").strip() == "1"
    assert git(released, "rev-parse", f"{new}~1").strip() == source
    files = git(released, "show", "--name-only", "--format=", new).split()
    assert files == ["deploy_model/overlays/staging/release.yaml"]
    git(released, "switch", "-q", new)
    message = git(released, "log", "-1", "--format=%B")
    assert message.startswith("promote dev -> staging: llmops-staging\n")
    assert f"Copies the release of dev at commit {source} into staging." in message
    assert "spec.predictor.model.args[0] --max-model-len=8192 -> --max-model-len=16384" in message
    assert f"-> {NEW_IMAGE}" in message
    assert f"Promoted-from: dev@{source}" in message
    # The file changed in exactly the two release lines; comments and layout survive.
    expected = text_before.replace("--max-model-len=8192", "--max-model-len=16384")
    expected = expected.replace(
        "quay.io/modh/vllm@sha256:4f1f6b5738b311332b2bc786ea71259872e570081807592d97b4bd4cb65c4be1", NEW_IMAGE
    )
    assert staging_file.read_text() == expected
    assert STAGING_COMMENT in expected
    # Staging now renders dev's release with staging's own sizing and identity.
    dev_after = isvc(cli, released, "dev")
    staging_after = isvc(cli, released, "staging")
    for key in ("image", "storageUri", "args"):
        assert (
            staging_after["spec"]["predictor"]["model"][key] == dev_after["spec"]["predictor"]["model"][key]
        )
    assert (
        staging_after["spec"]["predictor"]["model"]["resources"]
        == (staging_before["spec"]["predictor"]["model"]["resources"])
    )
    for key in ("minReplicas", "maxReplicas"):
        assert staging_after["spec"]["predictor"][key] == staging_before["spec"]["predictor"][key]
    assert staging_after["metadata"] == staging_before["metadata"]


def test_dry_run_shows_the_diff_and_writes_nothing(cli, released: Path) -> None:
    source = head(released)
    result = cli("promote", "dev", "staging", "--dry-run", "--repo", released)
    assert result.code == 0, result.err
    assert "-        - --max-model-len=8192\n+        - --max-model-len=16384" in result.out
    assert f"+      image: {NEW_IMAGE}" in result.out
    assert "dry run: nothing written" in result.err
    assert head(released) == source and branch(released) == "main"
    assert branches(released) == ["main"]
    assert git(released, "status", "--porcelain") == ""


def test_nothing_to_promote_exits_zero_and_says_so(cli, gitops_repo: Path) -> None:
    source = head(gitops_repo)
    result = cli("promote", "staging", "production", "--repo", gitops_repo)
    assert result.code == 0, result.err
    assert "nothing to promote: production already runs the release of staging" in result.out
    assert head(gitops_repo) == source and branches(gitops_repo) == ["main"]


def test_skipping_a_stage_is_refused_unless_forced_with_a_reason(cli, released: Path) -> None:
    source = head(released)
    result = cli("promote", "dev", "production", "--repo", released)
    assert result.code == 2
    assert result.err.startswith("error: dev -> production skips staging")
    assert "--force --reason" in result.err
    result = cli("promote", "dev", "production", "--force", "--repo", released)
    assert result.code == 2 and result.err.startswith("error: --force needs --reason")
    assert branches(released) == ["main"] and head(released) == source
    result = cli(
        "promote", "dev", "production", "--force", "--reason", "CVE fix cannot wait", "--repo", released
    )
    assert result.code == 0, result.err
    message = git(released, "log", "-1", "--format=%B", f"promote/production-{source[:7]}")
    assert "Forced past the promotion order. Reason: CVE fix cannot wait" in message
    assert branch(released) == "main"


def test_going_backwards_is_refused(cli, released: Path) -> None:
    result = cli("promote", "staging", "dev", "--repo", released)
    assert result.code == 2
    assert "staging -> dev goes backwards in the promotion order" in result.err


def test_unknown_environment_is_refused(cli, released: Path) -> None:
    result = cli("promote", "dev", "qa", "--repo", released)
    assert result.code == 2
    assert result.err.startswith("error: unknown environment 'qa'")
    assert "dev, staging, production" in result.err


def test_a_dirty_working_tree_is_refused_and_left_alone(cli, released: Path) -> None:
    env_file = released / OVERLAYS / "staging/environment.yaml"
    env_file.write_text(env_file.read_text() + "# work in progress\n")
    before = env_file.read_text()
    result = cli("promote", "dev", "staging", "--repo", released)
    assert result.code == 2
    assert "uncommitted changes" in result.err and "environment.yaml" in result.err
    assert env_file.read_text() == before
    assert branches(released) == ["main"]
    assert "--max-model-len=8192" in (released / OVERLAYS / "staging/release.yaml").read_text()


def test_a_failed_commit_leaves_the_tree_as_it_was(cli, released: Path, monkeypatch) -> None:
    # No committer identity: git commit-tree refuses, as it would for a user without one.
    for var in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"):
        monkeypatch.delenv(var)
    git(released, "config", "user.useConfigOnly", "true")
    source = head(released)
    staging = (released / OVERLAYS / "staging/release.yaml").read_text()
    result = cli("promote", "dev", "staging", "--repo", released)
    assert result.code == 2
    assert "promotion not committed, nothing changed" in result.err
    assert "identity" in result.err.lower() or "email" in result.err.lower(), result.err
    assert branch(released) == "main" and head(released) == source
    assert branches(released) == ["main"]
    assert git(released, "status", "--porcelain") == ""
    assert (released / OVERLAYS / "staging/release.yaml").read_text() == staging


def test_push_sends_the_branch_to_the_remote(cli, released: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(released, "remote", "add", "origin", str(remote))
    result = cli("promote", "dev", "staging", "--push", "--repo", released)
    assert result.code == 0, result.err
    name = f"promote/staging-{head(released)[:7]}"
    assert git(remote, "rev-parse", f"refs/heads/{name}").strip() == git(released, "rev-parse", name).strip()
    assert "pushed it to origin" in result.out


def test_existing_branch_is_refused(cli, released: Path) -> None:
    git(released, "branch", f"promote/staging-{head(released)[:7]}")
    result = cli("promote", "dev", "staging", "--repo", released)
    assert result.code == 2 and "already exists" in result.err
    assert branch(released) == "main"


def test_multi_model_repository_promotes_each_model_to_its_own_overlay(cli, tmp_path: Path) -> None:
    repo = tmp_path / "fleet"
    fleet.generate(ROOT, repo, models=3)
    init_repo(repo)
    edit(repo / "models/model-02/overlays/dev/release.yaml", "--max-num-seqs=64", "--max-num-seqs=128")
    git(repo, "commit", "-qam", "model-02: more sequences in dev")
    result = cli("promote", "dev", "staging", "--repo", repo)
    assert result.code == 0, result.err
    git(repo, "switch", "-q", f"promote/staging-{head(repo)[:7]}")
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [
        "models/model-02/overlays/staging/release.yaml"
    ]
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("promote dev -> staging: model-02-staging\n")
    assert "(model-02-staging, from model-02-dev)" in message
    items = cli("render", "model-02-staging", "--repo", repo, "-o", "json").json()["items"]
    (isvc,) = [r for r in items if r["kind"] == "InferenceService"]
    assert "--max-num-seqs=128" in isvc["spec"]["predictor"]["model"]["args"]
    other = cli("render", "model-01-staging", "--repo", repo, "-o", "json").json()["items"]
    assert all("--max-num-seqs=128" not in str(r) for r in other)


def test_round_trip_keeps_a_compact_list_style_and_removes_fields_src_lacks(tmp_path: Path) -> None:
    src = tmp_path / "src.yaml"
    dst = tmp_path / "dst.yaml"
    src.write_text(
        "kind: InferenceService\nmetadata:\n  name: m\nspec:\n  predictor:\n    model:\n"
        "      args:\n      - --a=1\n      - --b=2  # new flag\n"
    )
    dst_text = (
        "# keep me\nkind: InferenceService\nmetadata:\n  name: m\nspec:\n  predictor:\n    model:\n"
        "      image: 'quay.io/x:1'  # pinned\n      args:\n      - --a=0\n"
    )
    dst.write_text(dst_text)
    _, src_docs, _ = load_round_trip(src, "src.yaml")
    y, dst_docs, _ = load_round_trip(dst, "dst.yaml")
    fields = [
        ReleaseField(kind="InferenceService", path="spec.predictor.model.args"),
        ReleaseField(kind="InferenceService", path="spec.predictor.model.image"),
    ]
    edits = copy_release(src_docs, dst_docs, fields)
    assert [(e.path, e.new) for e in edits][:2] == [
        ("spec.predictor.model.args[0]", "--a=1"),
        ("spec.predictor.model.args[1]", "--b=2"),
    ]

    out = io.StringIO()
    y.dump_all(dst_docs, out)
    assert out.getvalue() == (
        "# keep me\nkind: InferenceService\nmetadata:\n  name: m\nspec:\n  predictor:\n    model:\n"
        "      args:\n      - --a=1\n      - --b=2  # new flag\n"
    )


def test_atomic_write_keeps_the_mode_and_the_old_file_on_failure(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "release.yaml"
    target.write_text("old\n")
    target.chmod(0o640)
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        atomic_write_text(target, "half\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release.yaml"]


def test_a_binary_release_file_is_a_clear_error(cli, gitops_repo: Path) -> None:
    (gitops_repo / OVERLAYS / "dev/release.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    git(gitops_repo, "commit", "-qam", "oops")
    result = cli("promote", "dev", "staging", "--repo", gitops_repo)
    assert result.code == 2
    assert result.err.startswith("error: deploy_model/overlays/dev/release.yaml is not a UTF-8 text file")
    assert branches(gitops_repo) == ["main"]


def test_release_fields_can_index_into_lists_of_another_kind(tmp_path: Path) -> None:
    runtime = "---\nkind: ServingRuntime\nmetadata:\n  name: rt\n"
    runtime += "spec:\n  containers:\n    - name: kserve-container\n"
    (tmp_path / "src.yaml").write_text(
        "kind: InferenceService\nmetadata:\n  name: m\n" + runtime + "      image: vllm:0.11  # new build\n"
    )
    (tmp_path / "dst.yaml").write_text(
        "kind: InferenceService\nmetadata:\n  name: m\n" + runtime + "      image: vllm:0.10\n"
    )
    _, src_docs, _ = load_round_trip(tmp_path / "src.yaml", "src.yaml")
    y, dst_docs, _ = load_round_trip(tmp_path / "dst.yaml", "dst.yaml")
    field = ReleaseField(kind="ServingRuntime", path="spec.containers.0.image")
    (change,) = copy_release(src_docs, dst_docs, [field])
    assert (change.resource, change.old, change.new) == ("ServingRuntime/rt", "vllm:0.10", "vllm:0.11")
    out = io.StringIO()
    y.dump_all(dst_docs, out)
    assert out.getvalue().endswith("      image: vllm:0.11\n")
