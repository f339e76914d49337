"""The CI files themselves pass the gate, against strict Tekton, Pipelines-as-Code and Triggers schemas;
the llmops image is named once and `llmops validate` says where to pin it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.repos import ROOT, edit, line_of

CI_FOLDERS = ("pipelines/", "ci/", ".tekton/", ".github/", "components/")
COMPONENT = Path("components/llmops-image/kustomization.yaml")
DIGEST = "sha256:" + "ab" * 32
CHECK_JSONSCHEMA = ROOT / ".venv-scan" / "bin" / "check-jsonschema"


def _findings(cli, repo: Path, *args: str) -> tuple[int, list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    result = cli("validate", "--repo", repo, "-o", "json", *args)
    assert result.code in (0, 1), result.err
    return result.code, result.json()["findings"]


def test_every_pipeline_and_workflow_file_passes_validate(cli, gitops_repo: Path) -> None:
    code, findings = _findings(cli, gitops_repo)
    assert code == 0
    in_ci = [f for f in findings if (f["file"] or "").startswith(CI_FOLDERS)]
    # the only findings in CI files are the accepted, unpinned llmops images of the Tasks
    assert {(f["rule"], f["severity"]) for f in in_ci} == {("security.image-digest", "warning")}
    assert {f["resource"] for f in in_ci} == {
        "Task/llmops-validate",
        "Task/llmops-scan",
        "Task/llmops-comment",
    }
    # every kind in them has a schema: nothing went unchecked
    assert not [f for f in findings if f["rule"] == "schema.unknown-kind"]
    # and each file was read: yamllint runs on the workflow too
    result = cli("validate", "--repo", gitops_repo, "-o", "lines")
    assert ".github/workflows" not in result.out  # no finding there...
    edit(gitops_repo / ".github/workflows/llmops-gate.yaml", "jobs:\n", "jobs:\n  bad:  \n", count=1)
    _, after = _findings(cli, gitops_repo)
    assert any(f["file"] == ".github/workflows/llmops-gate.yaml" for f in after)  # ...until there is one


@pytest.mark.parametrize(
    ("path", "old", "new", "field"),
    [
        (
            ".tekton/pull-request-validate.yaml",
            "  taskRunTemplate:\n",
            "  taskRunTemplat:\n",
            "taskRunTemplat",
        ),
        (
            "ci/repository.yaml",
            "    pipelinerun_provenance:",
            "    pipelinerun_provenanc:",
            "pipelinerun_provenanc",
        ),
        ("pipelines/llmops-pr-scan.yaml", "      runAfter:\n", "      runAftr:\n", "runAftr"),
        ("pipelines/tasks/llmops-scan.yaml", "      workingDir:", "      workdir:", "workdir"),
        ("ci/triggers/triggertemplate.yaml", "        timeouts:\n", "        timeout:\n", "timeout"),
    ],
)
def test_a_misspelt_field_in_a_ci_file_fails_validation_at_its_line(
    cli, gitops_repo: Path, path: str, old: str, new: str, field: str
) -> None:
    edit(gitops_repo / path, old, new, count=1)
    code, findings = _findings(cli, gitops_repo)
    assert code == 1
    (hit,) = [f for f in findings if f["rule"] == "schema.unknown-field" and field in f["message"]]
    assert (hit["file"], hit["line"]) == (path, line_of(gitops_repo / path, field + ":"))


def test_the_smoke_job_and_the_tasks_take_the_image_from_one_entry(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / COMPONENT, "    newTag: 0.1.0\n", "    newTag: 0.2.0\n", count=1)
    job = cli("render", "production", "--repo", gitops_repo, "-o", "json").json()["items"]
    (smoke,) = [r for r in job if r["kind"] == "Job"]
    assert smoke["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/your-org/llmops:0.2.0"
    _, findings = _findings(cli, gitops_repo)
    tagged = {f["message"].split()[1] for f in findings if f["rule"] == "security.image-digest"}
    assert tagged == {"quay.io/your-org/llmops:0.2.0", "quay.io/your-org/llmops-scanner:0.1.0"}


def test_an_unpinned_image_is_accepted_with_a_hint_naming_the_line_to_pin(cli, gitops_repo: Path) -> None:
    _, findings = _findings(cli, gitops_repo, "--env", "production")
    (prod,) = [
        f for f in findings if f["environment"] == "production" and f["rule"] == "security.image-digest"
    ]
    assert prod["severity"] == "warning"  # production would make it an error: the acceptance caps it
    assert "validate.unpinned_images" in prod["message"]
    assert f"{COMPONENT}:{line_of(gitops_repo / COMPONENT, 'name: quay.io/your-org/llmops')}" in prod["hint"]


def test_pinning_the_digest_is_one_line_and_ends_the_acceptance(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / COMPONENT, "    newTag: 0.1.0\n", f"    digest: {DIGEST}\n", count=1)
    code, findings = _findings(cli, gitops_repo)
    assert code == 0
    digest_findings = [f for f in findings if f["rule"] == "security.image-digest"]
    assert all("llmops-scanner" in f["message"] for f in digest_findings)  # the llmops image is pinned
    # a tag that comes back (production patching the pinned image to a tag) is no longer accepted
    edit(
        gitops_repo / "deploy_model/overlays/production/kustomization.yaml",
        "patches:\n",
        "patches:\n  - target: {kind: Job}\n    patch: |-\n      - op: replace\n"
        "        path: /spec/template/spec/containers/0/image\n"
        "        value: quay.io/your-org/llmops:hotfix\n",
    )
    code, findings = _findings(cli, gitops_repo, "--env", "production")
    assert code == 1
    (back,) = [f for f in findings if "llmops:hotfix" in f["message"]]
    assert back["severity"] == "error" and "accepted" not in back["message"]


def test_without_the_acceptance_an_unpinned_production_image_fails_the_gate(cli, gitops_repo: Path) -> None:
    edit(gitops_repo / "llmops.yaml", "    quay.io/your-org/llmops: >-", "    quay.io/example/other: >-")
    code, findings = _findings(cli, gitops_repo, "--env", "production")
    assert code == 1
    (err,) = [f for f in findings if f["severity"] == "error"]
    assert err["rule"] == "security.image-digest" and err["resource"] == "Job/prod-qwen25-05b-instruct-smoke"


def test_an_acceptance_needs_a_reason_and_a_bare_name(cli, gitops_repo: Path) -> None:
    text = (gitops_repo / "llmops.yaml").read_text()
    (gitops_repo / "llmops.yaml").write_text(
        text.replace("  unpinned_images:\n", "  unpinned_images:\n    quay.io/x/y:1.0: because\n")
    )
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 2 and "must be a name without tag or digest" in result.err


def test_extra_reports_and_the_lines_format(cli, gitops_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    result = cli(
        "validate", "--repo", gitops_repo, "-o", "lines", "--report", f"junit={out}/v.xml",
        "--report", f"sarif={out}/v.sarif",
    )  # fmt: skip
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines[-1].startswith("validate passed:")
    assert lines[0].split(":")[0] == "pipelines/tasks/llmops-comment.yaml"  # file:line:col: first
    assert (out / "v.xml").read_text().startswith("<?xml") and '"version": "2.1.0"' in (
        out / "v.sarif"
    ).read_text()
    bad = cli("validate", "--repo", gitops_repo, "--report", "xml:out.xml")
    assert bad.code == 2 and bad.error_lines == ["error: --report 'xml:out.xml' is not FORMAT=PATH"]


def test_the_github_workflow_matches_the_github_workflow_schema(tmp_path: Path) -> None:
    if not CHECK_JSONSCHEMA.exists():
        pytest.skip(f"{CHECK_JSONSCHEMA} is missing: `make scan-env` (which `make test` runs) installs it")

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    workflow = ROOT / ".github/workflows/llmops-gate.yaml"
    ok = check(workflow)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yaml"  # and it is strict: a misspelt key fails
    broken.write_text(workflow.read_text().replace("    runs-on:", "    runs-onn:", 1))
    assert check(broken).returncode == 1
    # the jobs run the commands the Tekton Tasks run
    doc = yaml.safe_load(workflow.read_text())
    steps = " ".join(str(s.get("run", "")) for job in doc["jobs"].values() for s in job["steps"])
    for command in ("llmops validate --changed-only", "make scan", "llmops comment --base"):
        assert command in steps
