"""`llmops validate` as a user runs it: exit codes, environment selection, --changed-only, bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from testing.cli import CliResult
from testing.repos import git, line_of

from llmops.gitops.repo import Repository
from llmops.validation import custom
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import environments_to_check
from llmops.validation.types import REPOSITORY


def test_reference_repository_passes(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 0, result.out
    assert "validate passed: 0 error(s)" in result.out
    assert "accepted in llmops.yaml" in result.out  # kept warnings show their justification


def test_errors_exit_1(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    release = gitops_repo / "deploy_model/overlays/production/release.yaml"
    release.write_text(release.read_text().replace("--max-model-len=8192", "--max-model-len=40000"))
    result = cli("validate", "--repo", gitops_repo, "--env", "production", "-o", "json")
    assert result.code == 1
    data = result.json()
    assert data["environments"] == ["production"]
    errors = [f["rule"] for f in data["findings"] if f["severity"] == "error" and f["suppressed"] is None]
    assert errors == ["serving.max-model-len"]


def test_unknown_environment_exits_2(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo, "--env", "qa")
    assert result.code == 2
    assert "unknown environment 'qa'" in result.err and "hint:" in result.err


def test_unreadable_config_exits_2_without_traceback(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    (gitops_repo / "llmops.yaml").write_text("validate:\n  rules: [oops\n")
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 2
    assert "llmops.yaml:" in result.err and "not valid YAML" in result.err
    assert "Traceback" not in result.err
    (gitops_repo / "llmops.yaml").write_text("validate:\n  rulez: {}\n")
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 2 and "validate.rulez" in result.err


def test_malformed_application_is_a_finding_not_a_crash(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    (gitops_repo / "argocd/applications/llmops-dev.yaml").write_text("kind: Application\nmetadata: [\n")
    result = cli("validate", "--repo", gitops_repo, "-o", "json")
    assert result.code == 1
    rules = {f["rule"] for f in result.json()["findings"] if f["severity"] == "error"}
    assert {"yaml.syntax", "build.applications", "build.kustomization"} <= rules


def test_changed_only_validates_the_affected_environment(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    git(gitops_repo, "branch", "base")
    release = gitops_repo / "deploy_model/overlays/staging/release.yaml"
    release.write_text(release.read_text().replace("--max-num-seqs=64", "--max-num-seqs=32"))
    git(gitops_repo, "commit", "-qam", "staging: fewer sequences")
    result = cli("validate", "--repo", gitops_repo, "--changed-only", "--base", "base", "-o", "json")
    assert result.code == 0, result.out
    assert result.json()["environments"] == ["staging"]
    assert "changed since base: staging" in result.err


def test_changed_base_affects_every_environment(gitops_repo: Path) -> None:
    git(gitops_repo, "branch", "base")
    rt = gitops_repo / "deploy_model/base/servingruntime.yaml"
    rt.write_text(rt.read_text() + "# touched\n")  # uncommitted work counts too
    assert environments_to_check(Repository(gitops_repo), "base") == ["dev", "staging", "production"]
    narrowed = environments_to_check(Repository(gitops_repo), "base", ["production", "dev"])
    assert narrowed == ["dev", "production"]  # promotion order, whatever order they were asked in


def test_changed_only_follows_the_files_a_change_touches(gitops_repo: Path) -> None:
    git(gitops_repo, "branch", "base")
    env = gitops_repo / "deploy_model/overlays/staging/environment.yaml"
    env.write_text(env.read_text().replace("memory: 8Gi", "memory: 10Gi"))
    assert environments_to_check(Repository(gitops_repo), "base") == ["staging"]
    assert environments_to_check(Repository(gitops_repo), "base", ["dev"]) == []


@pytest.mark.parametrize(
    "validation_input",
    ["llmops.yaml", ".yamllint", "schemas/serving.kserve.io_v1beta1_InferenceService.json"],
)
def test_a_change_to_what_validation_reads_checks_every_environment(
    gitops_repo: Path, validation_input: str
) -> None:
    git(gitops_repo, "branch", "base")
    touched = gitops_repo / validation_input
    if touched.suffix == ".json":  # the repository's own catalog: adding a schema to it counts
        touched.parent.mkdir()
        touched.write_text('{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService"}\n')
    else:
        touched.write_text(touched.read_text() + "\n# touched\n")
    assert environments_to_check(Repository(gitops_repo), "base") == ["dev", "staging", "production"]


def test_changed_only_with_an_unknown_base_exits_2(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo, "--changed-only", "--base", "no-such-ref")
    assert result.code == 2
    assert "no-such-ref" in result.err and "Traceback" not in result.err


# A clean run of dev still lists findings: the reference repository keeps warnings it accepts (with a
# reason in llmops.yaml, or suppressed on the resource). Every format must carry the same findings.
FINDING_KEYS = {
    "rule", "severity", "environment", "resource", "message", "hint", "file", "line", "column",
    "location", "suppressed", "justification",
}  # fmt: skip
SCOPES = {REPOSITORY: ("files", "repository", "resources"), "dev": ("environment", "resources")}


def _json_findings(cli: Callable[..., CliResult], repo: Path, *args: str) -> list[dict[str, Any]]:
    result = cli("validate", "--repo", repo, *args, "-o", "json")
    findings: list[dict[str, Any]] = result.json()["findings"]
    return findings


def test_json_report_of_a_clean_run_counts_what_it_lists(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "json")
    assert result.code == 0
    data = result.json()
    assert set(data) == {"summary", "environments", "disabled", "findings", "policy_from"}
    assert data["policy_from"] is None
    assert data["environments"] == ["dev"] and data["disabled"] == {}
    findings = data["findings"]
    assert all(set(f) == FINDING_KEYS for f in findings)
    open_ = [f for f in findings if f["suppressed"] is None]
    assert data["summary"] == {
        "passed": True,
        "errors": 0,
        "warnings": sum(f["severity"] == "warning" for f in open_),
        "info": sum(f["severity"] == "info" for f in open_),
        "suppressed": len(findings) - len(open_),
    }
    assert {(f["environment"], f["rule"]) for f in open_} == {
        (REPOSITORY, "gitops.floating-revision"),  # production's pinned revision is checked repo-wide
        (REPOSITORY, "security.image-digest"),  # the CI Tasks' images, accepted until pinned
        ("dev", "security.image-digest"),  # the smoke Job's image, the same acceptance
        ("dev", "security.model-digest"),
    }
    # nothing is hidden by a suppression annotation: the unpinned images are accepted warnings
    assert data["summary"]["suppressed"] == 0
    assert all(f["location"] == f"{f['file']}:{f['line']}:{f['column']}" for f in findings)


def test_junit_report_has_one_case_per_rule_and_environment(
    gitops_repo: Path, cli: Callable[..., Any]
) -> None:
    findings = _json_findings(cli, gitops_repo, "--env", "dev")
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "junit")
    assert result.code == 0
    root = ET.fromstring(result.out.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("failures") == "0"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [REPOSITORY, "dev"]
    # the built-in rules, then the repository's own (its policies and llmops.yaml CEL rules)
    rules = {**REGISTRY, **custom.rules(Repository(gitops_repo), REGISTRY).rules}
    for suite in suites:
        env = str(suite.get("name"))
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == [r.id for r in rules.values() if r.scope in SCOPES[env]]
        assert suite.get("tests") == str(len(cases)) and suite.get("failures") == "0"
        assert all(c.find("failure") is None for c in cases)
        noted = {c.get("name"): c.findtext("system-out") for c in cases if c.find("system-out") is not None}
        mine = [f for f in findings if f["environment"] == env]
        assert set(noted) == {f["rule"] for f in mine}
        for f in mine:
            assert f"[{f['severity']}] {f['location']}: {f['message']}" in str(noted[f["rule"]])
    assert root.get("tests") == str(sum(len(s.findall("testcase")) for s in suites))


def test_junit_report_fails_the_case_of_the_rule_that_found_an_error(
    gitops_repo: Path, cli: Callable[..., Any]
) -> None:
    release = gitops_repo / "deploy_model/overlays/production/release.yaml"
    release.write_text(release.read_text().replace("--max-model-len=8192", "--max-model-len=40000"))
    result = cli("validate", "--repo", gitops_repo, "--env", "production", "-o", "junit")
    assert result.code == 1
    root = ET.fromstring(result.out.split("\n", 1)[1])
    assert root.get("failures") == "1"
    failed = [
        (suite.get("name"), case.get("name"), case.find("failure"))
        for suite in root.findall("testsuite")
        for case in suite.findall("testcase")
        if case.find("failure") is not None
    ]
    assert [(env, rule) for env, rule, _ in failed] == [("production", "serving.max-model-len")]
    failure = failed[0][2]
    assert failure is not None and failure.get("type") == "serving.max-model-len"
    line = line_of(release, "--max-model-len")
    assert str(failure.get("message")).startswith(f"deploy_model/overlays/production/release.yaml:{line}:")
    assert "hint:" in (failure.text or "")
    production = [s for s in root.findall("testsuite") if s.get("name") == "production"]
    assert production[0].get("failures") == "1"


def test_sarif_report_lists_the_rules_and_one_result_per_finding(
    gitops_repo: Path, cli: Callable[..., Any]
) -> None:
    findings = _json_findings(cli, gitops_repo, "--env", "dev")
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "sarif")
    assert result.code == 0
    sarif = result.json()
    assert sarif["version"] == "2.1.0" and len(sarif["runs"]) == 1
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "llmops"
    own = custom.rules(Repository(gitops_repo), REGISTRY).rules  # the repository's policies and CEL rules
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [*REGISTRY, *own]
    results = run["results"]
    assert [r["ruleId"] for r in results] == [f["rule"] for f in findings]
    level = {"error": "error", "warning": "warning", "info": "note"}
    for r, f in zip(results, findings, strict=True):
        assert r["level"] == level[f["severity"]]
        location = r["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == f["file"]
        assert location["region"] == {"startLine": f["line"], "startColumn": f["column"]}
        assert ("suppressions" in r) == (f["suppressed"] is not None)


def test_github_report_annotates_every_finding(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    findings = _json_findings(cli, gitops_repo, "--env", "dev")
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "github")
    assert result.code == 0
    lines = result.out.splitlines()
    assert len(lines) == len(findings) + 1
    assert not any(ln.startswith("::error") for ln in lines)
    for ln, f in zip(lines[:-1], findings, strict=True):
        assert f"file={f['file']},line={f['line']},col={f['column']},title={f['rule']} " in ln
    assert lines[-1].startswith("::notice title=llmops validate::validate passed: 0 error(s)")


def test_a_report_written_to_a_file_is_the_one_printed(
    gitops_repo: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    printed = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "sarif")
    out = tmp_path / "report.sarif"
    written = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "sarif", "--output", out)
    assert written.code == 0 and written.out == ""
    assert out.read_text(encoding="utf-8") == printed.out
    assert f"report written to {out}" in " ".join(written.err.split())


def test_a_report_that_cannot_be_written_is_a_clear_error(
    gitops_repo: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "no-such-folder" / "report.json"
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "json", "--output", out)
    assert result.code == 2
    assert result.error_lines == [f"error: cannot write the report {out}: No such file or directory"]
    assert "hint:" in result.err and "Traceback" not in result.err


def test_cached_lint_results_follow_file_edits(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    assert cli("validate", "--repo", gitops_repo, "--env", "dev").code == 0  # fills the cache
    cfg = gitops_repo / "deploy_model/base/kustomizeconfig.yaml"
    original = cfg.read_text()
    cfg.write_text(original + "# trailing   \n")
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "json")
    lint = [f for f in result.json()["findings"] if f["rule"] == "yaml.lint"]
    last_line = len((original + "# trailing   \n").splitlines())
    assert [f["location"] for f in lint] == [f"deploy_model/base/kustomizeconfig.yaml:{last_line}:11"]
    cfg.write_text(original)
    assert cli("validate", "--repo", gitops_repo, "--env", "dev").code == 0
