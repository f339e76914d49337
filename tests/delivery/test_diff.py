"""`llmops diff`: real git repositories, real kustomize, both sides rendered from Git."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from testing import fleet
from testing.repos import ROOT, commit, edit, git

from llmops.delivery.diff import REDACTED, REDACTED_CHANGED, compare
from llmops.delivery.diff_formats import PR_COMMENT_LIMIT
from llmops.gitops.affected import affected_environments
from llmops.gitops.repo import Repository

OVERLAYS = Path("deploy_model/overlays")
ENVS = ["dev", "staging", "production"]


def add_resource(repo: Path, env: str, name: str, text: str) -> None:
    """Add a resource file to an overlay and list it in the overlay's kustomization."""
    (repo / OVERLAYS / env / name).write_text(text)
    edit(repo / (OVERLAYS / env / "kustomization.yaml"), "  - ../../base\n", f"  - ../../base\n  - {name}\n")


def apps_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["environment"]: a for a in report["applications"]}


def test_a_dev_overlay_change_affects_only_dev(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / (OVERLAYS / "dev/release.yaml"), "--max-model-len=8192", "--max-model-len=16384")
    commit(gitops_repo, "dev: longer context")
    result = cli("diff", "--base", "HEAD~1", "--head", "HEAD", "--repo", gitops_repo, "-o", "json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["affected_environments"] == ["dev"]
    apps = apps_of(report)
    (change,) = apps["dev"]["changes"]
    assert (change["action"], change["kind"], change["name"]) == (
        "changed",
        "InferenceService",
        "dev-qwen25-05b-instruct",
    )
    assert change["fields"] == [
        {
            "path": "spec.predictor.model.args[0]",
            "old": "--max-model-len=8192",
            "new": "--max-model-len=16384",
        }
    ]
    assert apps["dev"]["affected_by"] == ["deploy_model/overlays/dev/release.yaml"]
    for env in ("staging", "production"):
        assert apps[env]["changes"] == [] and apps[env]["rendered"] is False
    assert affected_environments(Repository(gitops_repo), "HEAD~1", "HEAD") == ["dev"]


def test_a_base_change_affects_all_three_environments(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / "deploy_model/base/servingruntime.yaml", "sizeLimit: 2Gi", "sizeLimit: 4Gi")
    commit(gitops_repo, "base: bigger /dev/shm")
    result = cli("diff", "--base", "HEAD~1", "--repo", gitops_repo)
    assert result.code == 0, result.err
    assert "affected environments: dev, staging, production" in result.out
    for prefix in ("dev", "staging", "prod"):
        assert (
            f"~ ServingRuntime/{prefix}-vllm-runtime: spec.volumes[0].emptyDir.sizeLimit 2Gi -> 4Gi"
            in result.out
        )
    # unified diffs follow the summary
    assert result.out.count("-      sizeLimit: 2Gi\n+      sizeLimit: 4Gi") == 3
    assert affected_environments(Repository(gitops_repo), "HEAD~1") == ENVS
    assert affected_environments(gitops_repo / "deploy_model", "HEAD~1", "HEAD") == ENVS  # a path works too
    assert affected_environments(gitops_repo, "HEAD", "HEAD") == []


def test_working_tree_change_shows_the_plan_line_and_leaves_the_tree_alone(cli, gitops_repo: Path) -> None:
    env_file = OVERLAYS / "production/environment.yaml"
    edit(gitops_repo / env_file, 'cpu: "4"', 'cpu: "6"')
    status_before = git(gitops_repo, "status", "--porcelain")
    result = cli("diff", "production", "--base", "HEAD", "--repo", gitops_repo, "--summary")
    assert result.code == 0, result.err
    assert (
        "InferenceService/prod-qwen25-05b-instruct: spec.predictor.model.resources.limits.cpu 4 -> 6"
        in result.out
    )
    assert "base HEAD (" in result.out and "head working tree" in result.out
    assert "--- a/" not in result.out  # --summary: no line diffs
    assert "llmops-dev" not in result.out  # only the environment asked for
    assert git(gitops_repo, "status", "--porcelain") == status_before
    assert len(git(gitops_repo, "worktree", "list").splitlines()) == 1


def test_a_secret_change_is_shown_but_redacted(cli, gitops_repo: Path) -> None:
    add_resource(
        gitops_repo,
        "dev",
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: hf-token\nstringData:\n"
        "  token: hf_oldvalue1234\n  user: alice-unchanged\n",
    )
    commit(gitops_repo, "dev: a secret")
    edit(gitops_repo / (OVERLAYS / "dev/secret.yaml"), "hf_oldvalue1234", "hf_newvalue5678")
    for fmt in ("text", "markdown", "json"):
        result = cli("diff", "--base", "HEAD", "--repo", gitops_repo, "-o", fmt)
        assert result.code == 0, result.err
        for secret in ("hf_oldvalue1234", "hf_newvalue5678", "alice-unchanged"):
            assert secret not in result.out, (fmt, secret)
    report = cli("diff", "--base", "HEAD", "--repo", gitops_repo, "-o", "json").json()
    (change,) = apps_of(report)["dev"]["changes"]
    assert (change["kind"], change["action"]) == ("Secret", "changed")
    assert change["fields"] == [{"path": "stringData.token", "old": REDACTED, "new": REDACTED_CHANGED}]
    assert f"+  token: {REDACTED_CHANGED}" in change["diff"]


def test_a_generated_secret_with_a_new_hash_suffix_is_one_changed_secret(cli, gitops_repo: Path) -> None:
    kustomization = OVERLAYS / "dev/kustomization.yaml"
    text = (gitops_repo / kustomization).read_text()
    gen = "\nsecretGenerator:\n  - name: api-key\n    literals:\n      - key=first-secret-value\n"
    (gitops_repo / kustomization).write_text(text + gen)
    commit(gitops_repo, "dev: generated secret")
    edit(gitops_repo / kustomization, "key=first-secret-value", "key=second-secret-value")
    result = cli("diff", "--base", "HEAD", "--repo", gitops_repo, "-o", "json")
    assert result.code == 0, result.err
    assert "first-secret-value" not in result.out and "second-secret-value" not in result.out
    assert "Zmlyc3Qtc2VjcmV0LXZhbHVl" not in result.out  # nor their base64
    (change,) = apps_of(result.json())["dev"]["changes"]
    assert change["action"] == "changed" and change["kind"] == "Secret"
    assert change["name"].startswith("dev-api-key-")
    assert "generated name changed from dev-api-key-" in change["note"]
    assert {"path": "data.key", "old": REDACTED, "new": REDACTED_CHANGED} in change["fields"]


def test_markdown_of_a_large_change_fits_a_pr_comment_with_a_note(cli, gitops_repo: Path) -> None:
    # Many resources, each with a big body: the full diff is several times the limit.
    for i in range(40):
        data = "".join(f"  key-{j:04d}: value-{i}-{j}-{'x' * 40}\n" for j in range(60))
        add_resource(
            gitops_repo,
            "dev",
            f"cm-{i:02d}.yaml",
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:02d}\ndata:\n{data}",
        )
    full = cli("diff", "--base", "HEAD", "--repo", gitops_repo)
    assert full.code == 0, full.err
    assert len(full.out) > 2 * PR_COMMENT_LIMIT
    md = cli("diff", "--base", "HEAD", "--repo", gitops_repo, "-o", "markdown")
    assert md.code == 0, md.err
    assert len(md.out) <= PR_COMMENT_LIMIT
    assert "| dev | `llmops-dev` | 40 | 0 | 0 | changed |" in md.out
    assert "**Truncated:**" in md.out and "resource diffs left out to fit a PR comment" in md.out
    assert "llmops diff --base HEAD" in md.out
    assert md.out.count("<details>") == md.out.count("</details>") >= 1  # blocks are never cut in half


def test_an_overlay_missing_at_base_is_reported_as_all_added(cli, gitops_repo: Path) -> None:
    git(gitops_repo, "rm", "-rq", str(OVERLAYS / "production"))
    git(gitops_repo, "commit", "-qm", "production overlay not yet")
    git(gitops_repo, "checkout", "HEAD~1", "--", str(OVERLAYS / "production"))  # it comes back, uncommitted
    result = cli("diff", "production", "--base", "HEAD", "--repo", gitops_repo, "-o", "json")
    assert result.code == 0, result.err
    app = apps_of(result.json())["production"]
    assert any(
        "overlay deploy_model/overlays/production does not exist at base HEAD" in n for n in app["notes"]
    )
    assert app["notes"][0].endswith("every resource is added")
    assert {c["action"] for c in app["changes"]} == {"added"}
    rendered = cli("render", "production", "--repo", gitops_repo, "-o", "json").json()["items"]
    assert sorted(f"{c['kind']}/{c['name']}" for c in app["changes"]) == sorted(
        f"{r['kind']}/{r['metadata']['name']}" for r in rendered
    )


def test_kustomize_failing_at_one_side_names_the_side_and_the_reason(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / OVERLAYS / "dev/kustomization.yaml", "- path: environment.yaml", "- path: sizing.yaml")
    edit(gitops_repo / (OVERLAYS / "staging/environment.yaml"), "maxReplicas: 1", "maxReplicas: 3")
    result = cli("diff", "--base", "HEAD", "--repo", gitops_repo)
    assert result.code == 2
    assert "Traceback" not in result.err
    err = [ln for ln in result.err.splitlines() if ln.startswith("error:")]
    assert len(err) == 1
    assert "dev/llmops-dev: kustomize failed at the working tree" in err[0]
    assert "sizing.yaml" in err[0]
    # the other environments are still compared
    assert "~ InferenceService/staging-qwen25-05b-instruct: spec.predictor.maxReplicas 1 -> 3" in result.out


def test_unknown_revision_and_missing_base_are_one_line_errors(cli, gitops_repo: Path) -> None:
    result = cli("diff", "--base", "no-such-branch", "--repo", gitops_repo)
    assert result.code == 2
    assert result.err.startswith("error: unknown git revision 'no-such-branch'")
    assert "hint:" in result.err and "Traceback" not in result.err
    result = cli("diff", "--repo", gitops_repo)
    assert result.error_lines == [
        "error: give --base REV (a change against a revision) or --live (desired against live)"
    ]
    assert result.code == 2 and "hint: e.g. llmops diff --base main" in result.err
    result = cli("diff", "qa", "--base", "HEAD", "--repo", gitops_repo)
    assert result.code == 2 and "unknown environment or application 'qa'" in result.err


def test_a_binary_file_change_is_named_and_compared_through_the_render(cli, gitops_repo: Path) -> None:
    (gitops_repo / OVERLAYS / "dev/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    kfile = gitops_repo / OVERLAYS / "dev/kustomization.yaml"
    kfile.write_text(
        kfile.read_text() + "\nconfigMapGenerator:\n  - name: assets\n    files:\n      - logo.png\n"
    )
    commit(gitops_repo, "dev: a logo")
    (gitops_repo / OVERLAYS / "dev/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)))
    result = cli("diff", "--base", "HEAD", "--repo", gitops_repo)
    assert result.code == 0, result.err
    assert "note: binary file deploy_model/overlays/dev/logo.png changed (used by dev)" in result.out
    assert "~ ConfigMap/dev-assets-" in result.out and "binaryData" in result.out


def test_exit_code_option_reports_whether_anything_changed(cli, gitops_repo: Path) -> None:
    assert cli("diff", "--base", "HEAD", "--repo", gitops_repo, "--exit-code").code == 0
    edit(gitops_repo / (OVERLAYS / "staging/environment.yaml"), "minReplicas: 1", "minReplicas: 2")
    assert cli("diff", "--base", "HEAD", "--repo", gitops_repo, "--exit-code").code == 1


def test_render_all_compares_environments_no_file_touches(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / "llmops.yaml", "#", "# ")
    result = cli("diff", "--base", "HEAD", "--repo", gitops_repo, "--all", "-o", "json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["affected_environments"] == []
    assert all(a["rendered"] and a["changes"] == [] for a in report["applications"])


def test_fleet_change_to_one_model_renders_only_its_applications(cli, tmp_path: Path) -> None:
    repo = tmp_path / "fleet"
    fleet.generate(ROOT, repo, models=4)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "fleet")
    edit(repo / "models/model-03/base/servingruntime.yaml", "sizeLimit: 2Gi", "sizeLimit: 4Gi")
    report = cli("diff", "--base", "HEAD", "--repo", repo, "-o", "json").json()
    assert report["affected_environments"] == ENVS
    changed = sorted(a["name"] for a in report["applications"] if a["changes"])
    assert changed == ["model-03-dev", "model-03-production", "model-03-staging"]
    assert sum(a["rendered"] for a in report["applications"]) == 3
    assert len(report["applications"]) == 12


def test_compare_keeps_equal_secrets_quiet_and_normalizes_noise() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "b2xk"}}
    noisy = json.loads(json.dumps(secret))
    noisy["metadata"]["creationTimestamp"] = None
    noisy["status"] = {"phase": "x"}
    assert compare([secret], [noisy]) == []
    other = json.loads(json.dumps(secret))
    other["data"]["a"] = "bmV3"
    (change,) = compare([secret], [other])
    assert "b2xk" not in change.diff and "bmV3" not in change.diff
    assert [(f.path, f.old, f.new) for f in change.fields] == [("data.a", REDACTED, REDACTED_CHANGED)]


@pytest.mark.parametrize(
    "path", ["deploy_model/overlays/staging/environment.yaml", "argocd/applications/llmops-staging.yaml"]
)
def test_overlay_files_and_the_application_manifest_affect_their_environment(
    gitops_repo: Path, path: str
) -> None:
    (gitops_repo / path).write_text((gitops_repo / path).read_text() + "# touched\n")
    assert affected_environments(Repository(gitops_repo), "HEAD") == ["staging"]


def test_the_index_stays_as_it_was_and_export_ignore_does_not_hide_files(cli, gitops_repo: Path) -> None:
    (gitops_repo / ".gitattributes").write_text("deploy_model/overlays/dev/release.yaml export-ignore\n")
    commit(gitops_repo, "attributes")
    edit(gitops_repo / (OVERLAYS / "dev/environment.yaml"), "maxReplicas: 1", "maxReplicas: 2")
    git(gitops_repo, "add", str(OVERLAYS / "dev/environment.yaml"))  # staged, not committed
    staged = git(gitops_repo, "diff", "--cached", "--name-only")
    report = cli("diff", "dev", "--base", "HEAD", "--repo", gitops_repo, "-o", "json").json()
    (change,) = apps_of(report)["dev"]["changes"]
    # Had the base side lost release.yaml, the image and args would show up as changes too.
    assert [f["path"] for f in change["fields"]] == ["spec.predictor.maxReplicas"]
    assert git(gitops_repo, "diff", "--cached", "--name-only") == staged


def test_markdown_says_so_when_nothing_changed(cli, gitops_repo: Path) -> None:
    result = cli("diff", "--base", "HEAD", "--repo", gitops_repo, "-o", "markdown")
    assert result.code == 0
    assert "No rendered resource changes in any environment." in result.out


def test_an_inserted_vllm_argument_is_one_added_field_not_a_shifted_list(cli, gitops_repo: Path) -> None:
    edit(
        gitops_repo / (OVERLAYS / "dev/release.yaml"),
        "- --dtype=bfloat16\n",
        "- --enforce-eager\n        - --dtype=bfloat16\n",
    )
    report = cli("diff", "dev", "--base", "HEAD", "--repo", gitops_repo, "-o", "json").json()
    (change,) = apps_of(report)["dev"]["changes"]
    assert change["fields"] == [{"path": "spec.predictor.model.args[1]", "new": "--enforce-eager"}]


def test_a_huge_changed_file_gets_a_note_and_its_long_lines_are_cut(cli, gitops_repo: Path) -> None:
    big = gitops_repo / OVERLAYS / "dev/corpus.txt"
    big.write_text("a" * (6 * 1024 * 1024))
    kfile = gitops_repo / OVERLAYS / "dev/kustomization.yaml"
    kfile.write_text(
        kfile.read_text()
        + "\nconfigMapGenerator:\n  - name: corpus\n    files:\n      - corpus.txt\n"
        + "generatorOptions:\n  disableNameSuffixHash: true\n"
    )
    commit(gitops_repo, "dev: a big corpus")
    big.write_text("b" * (6 * 1024 * 1024))
    result = cli("diff", "--base", "HEAD", "--repo", gitops_repo)
    assert result.code == 0, result.err
    assert "note: deploy_model/overlays/dev/corpus.txt is large (6.0 MiB, used by dev)" in result.out
    assert '~ ConfigMap/dev-corpus: data["corpus.txt"] aaaa' in result.out
    assert "bbbb ... (6291" in result.out and "more characters)" in result.out
    assert len(result.out) < 10_000


def test_a_very_large_resource_gets_its_changed_fields_but_no_line_diff() -> None:
    data = {f"key-{i:05d}": f"value-{i}-{'x' * 20}" for i in range(20_000)}
    old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": data}
    new = json.loads(json.dumps(old))
    new["data"]["key-00042"] = "changed"
    (change,) = compare([old], [new])
    assert change.diff == ""
    assert change.note.startswith("line diff not shown: the resource is")
    assert [(f.path, f.new) for f in change.fields] == [("data.key-00042", "changed")]


def test_markdown_cuts_a_long_plan_without_gaps_and_counts_what_it_left_out(cli, gitops_repo: Path) -> None:
    for i in range(60):
        data = "".join(f"  key-{j:03d}: value-{j}-{'y' * 50}\n" for j in range(30))
        add_resource(
            gitops_repo,
            "dev",
            f"cm-{i:02d}.yaml",
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:02d}\ndata:\n{data}",
        )
    commit(gitops_repo, "dev: many config maps")
    for i in range(60):
        edit(gitops_repo / (OVERLAYS / f"dev/cm-{i:02d}.yaml"), "y" * 50, "z" * 50)
    md = cli("diff", "--base", "HEAD", "--repo", gitops_repo, "-o", "markdown").out
    assert len(md) <= PR_COMMENT_LIMIT
    assert "| dev | `llmops-dev` | 0 | 60 | 0 | changed |" in md
    assert "summary lines and 60 of 60 resource diffs left out" in md
    shown = [ln for ln in md.splitlines() if ln.startswith("- `~` `ConfigMap/dev-cm-")]
    # the plan is cut at one point: every line shown comes before every line left out
    expected = [f"dev-cm-{i:02d}" for i in range(60) for _ in range(25)][: len(shown)]
    assert [ln.split("`")[3].removeprefix("ConfigMap/") for ln in shown] == expected
