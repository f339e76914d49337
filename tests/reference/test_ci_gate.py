"""The pull-request gate as the cluster runs it: the commands of the Tekton Tasks in pipelines/tasks/,
read from the Task files and run on a pull-request-like change in a temporary repository.

Each step's ``command`` + ``args`` are taken from the Task, Tekton's ``$(params.*)`` and
``$(workspaces.*.path)`` substituted as Tekton would, and run: llmops in-process, checkov from
the scanner's own virtualenv. GitHub is a local fake on 127.0.0.1 (testing/fake_github.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.cli import CliResult
from testing.fake_github import Identity, fake_github
from testing.repos import OVERLAYS, ROOT, commit, edit, git, line_of

SCANNER = ROOT / ".venv-scan" / "bin" / "checkov"
_REF = re.compile(r"\$\((params|workspaces)\.([\w-]+)(?:\.path)?\)")


def _task(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "pipelines" / "tasks" / f"{name}.yaml").read_text())
    assert doc["kind"] == "Task"
    return doc


def _argv(
    task: dict[str, Any], step: dict[str, Any], params: dict[str, str], ws: dict[str, Path]
) -> list[str]:
    """The step's command line with Tekton's substitutions (param defaults from the Task)."""
    values = {p["name"]: p["default"] for p in task["spec"].get("params", []) if "default" in p} | params
    missing = [p["name"] for p in task["spec"].get("params", []) if p["name"] not in values]
    assert not missing, f"the test gives no value for {missing}"

    def sub(arg: str) -> str:
        return _REF.sub(lambda m: values[m[2]] if m[1] == "params" else str(ws[m[2]]), arg)

    return [sub(a) for a in step["command"] + step.get("args", [])]


StepRunner = Callable[..., list[tuple[str, int, str]]]


@pytest.fixture
def run_task(cli, monkeypatch: pytest.MonkeyPatch) -> StepRunner:
    """Run every step of a Task in order, as its pod would; stop at the first failing step."""

    def run(
        name: str, workspace: Path, params: dict[str, str], **extra_ws: Path
    ) -> list[tuple[str, int, str]]:
        task = _task(name)
        monkeypatch.chdir(workspace)  # each step's workingDir is $(workspaces.source.path)
        done = []
        for step in task["spec"]["steps"]:
            assert step["workingDir"] == "$(workspaces.source.path)"
            argv = _argv(task, step, params, {"source": workspace, **extra_ws})
            for env in step.get("env", []):
                if env["name"].startswith("GIT_CONFIG"):
                    monkeypatch.setenv(env["name"], _REF.sub(str(workspace), env["value"]))
            if argv[0] == "llmops":
                result: CliResult = cli(*argv[1:])
                code, out = result.code, result.out + result.err
            else:
                assert argv[0] == "checkov", (
                    f"a step runs {argv[0]}: only llmops and the scanner are expected"
                )
                if not SCANNER.exists():
                    pytest.skip(f"{SCANNER} is missing: `make scan-env` (which `make test` runs) installs it")
                proc = subprocess.run(
                    [str(SCANNER), *argv[1:]], cwd=workspace, capture_output=True, text=True, timeout=300,
                    env={**os.environ, "HOME": str(workspace.parent)},
                )  # fmt: skip
                code, out = proc.returncode, proc.stdout + proc.stderr
            done.append((step["name"], code, out))
            if code != 0:
                break
        return done

    return run


def _pull_request(repo: Path) -> Path:
    """The workspace as the clone task leaves it: the PR head checked out, main fetched as origin/main."""
    git(repo, "update-ref", "refs/remotes/origin/main", "main")
    git(repo, "checkout", "-qb", "pull/1")
    return repo


def test_the_task_steps_are_thin_calls_of_llmops_or_the_scanner() -> None:
    for path in sorted((ROOT / "pipelines" / "tasks").glob("*.yaml")):
        for step in yaml.safe_load(path.read_text())["spec"]["steps"]:
            assert "script" not in step, f"{path.name}/{step['name']} hides logic in a shell script"
            assert step["command"] in (["llmops"], ["checkov"]), f"{path.name}/{step['name']}"


def test_a_broken_overlay_fails_the_validate_task_with_the_finding_in_sarif_and_junit(
    gitops_repo: Path, run_task: StepRunner
) -> None:
    repo = _pull_request(gitops_repo)
    release = OVERLAYS / "staging/release.yaml"
    edit(repo / release, "  predictor:\n", "  predictor:\n    minReplica: 2\n", count=1)  # a misspelt field
    commit(repo, "staging: two replicas (misspelt)")
    ((step, code, log),) = run_task("llmops-validate", repo, {"base": "origin/main"})
    assert (step, code) == ("validate", 1)
    assert f"{release}:" in log and "schema.unknown-field" in log and "minReplica" in log
    assert "changed since origin/main: staging" in log  # only what the change touches, like the PR check
    sarif = json.loads((repo / ".llmops-reports/validate.sarif").read_text())
    (hit,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "schema.unknown-field"]
    assert hit["level"] == "error"
    where = hit["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"] == str(release)
    assert where["region"]["startLine"] == line_of(repo / release, "minReplica:")
    junit = ET.parse(repo / ".llmops-reports/validate.xml").getroot()
    failures = [f for f in junit.iter("failure") if "minReplica" in (f.get("message") or "") + (f.text or "")]
    assert failures, "the JUnit report has no failure naming the misspelt field"


def test_a_good_change_passes_validate_and_its_diff_comment_is_posted_once_then_edited(
    gitops_repo: Path, run_task: StepRunner, tmp_path: Path
) -> None:
    repo = _pull_request(gitops_repo)
    edit(repo / OVERLAYS / "dev/release.yaml", "--max-model-len=8192", "--max-model-len=16384")
    commit(repo, "dev: longer context")
    ((_, code, log),) = run_task("llmops-validate", repo, {"base": "origin/main"})
    assert code == 0, log

    secret = tmp_path / "pac-gitauth"  # the github workspace: the Pipelines-as-Code git-auth Secret
    secret.mkdir()
    (secret / "git-provider-token").write_text("ghs_installation_token_of_this_run")
    params = {"base": "origin/main", "pull_request": "1", "repository": "acme/gitops"}
    with fake_github({"ghs_installation_token_of_this_run": Identity("llmops-ci[bot]")}) as gh:
        params["api_url"] = gh.url
        ((_, code, log),) = run_task("llmops-comment", repo, params, github=secret)
        assert code == 0, log
        assert "comment created on acme/gitops#1" in log
        (comment,) = gh.comments("acme/gitops", 1)
        assert "| dev | `llmops-dev` | 0 | 1 | 0 | changed |" in comment["body"]
        assert "--max-model-len=16384" in comment["body"]

        edit(repo / OVERLAYS / "dev/release.yaml", "--max-model-len=16384", "--max-model-len=32768")
        commit(repo, "dev: even longer")  # the next push to the pull request
        ((_, code, log),) = run_task("llmops-comment", repo, params, github=secret)
        assert code == 0, log
        assert "comment updated on acme/gitops#1" in log
        (edited,) = gh.comments("acme/gitops", 1)
        assert edited["id"] == comment["id"] and "--max-model-len=32768" in edited["body"]
        assert "ghs_installation_token_of_this_run" not in log


def test_the_scan_task_passes_the_reference_repository(gitops_repo: Path, run_task: StepRunner) -> None:
    steps = run_task("llmops-scan", _pull_request(gitops_repo), {})
    assert [(name, code) for name, code, _ in steps] == [("render", 0), ("scan", 0)], steps[-1][2][-2000:]
    sarif = json.loads((gitops_repo / ".llmops-reports/scan.sarif").read_text())
    assert sarif["runs"][0]["tool"]["driver"]["name"] == "Checkov"
    assert sarif["runs"][0]["results"] == []
    rendered = (gitops_repo / ".llmops-reports/rendered.yaml").read_text()
    assert "kind: Job" in rendered and "namespace: llmops-prod" in rendered


def test_the_scan_task_fails_a_deliberately_bad_manifest(gitops_repo: Path, run_task: StepRunner) -> None:
    repo = _pull_request(gitops_repo)
    (repo / OVERLAYS / "dev/debug-pod.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: debug\nspec:\n  selector:\n"
        "    matchLabels: {app: debug}\n  template:\n    metadata:\n      labels: {app: debug}\n"
        "    spec:\n      hostNetwork: true\n      containers:\n        - name: shell\n"
        "          image: registry.access.redhat.com/ubi9/ubi:latest\n"
        "          securityContext: {privileged: true}\n"
    )
    edit(
        repo / OVERLAYS / "dev/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - debug-pod.yaml\n"
    )
    commit(repo, "dev: a debug pod")
    steps = run_task("llmops-scan", repo, {})
    (render, (name, code, log)) = steps
    assert render[1] == 0 and (name, code) == ("scan", 1)
    for check in ("CKV_K8S_16", "CKV_K8S_19"):  # privileged container, host network
        assert check in log
    failed = json.loads((repo / ".llmops-reports/scan.sarif").read_text())["runs"][0]["results"]
    assert {r["ruleId"] for r in failed} >= {"CKV_K8S_16", "CKV_K8S_19"}


def test_every_scanner_skip_says_why() -> None:
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    config = yaml.safe_load("\n".join(lines))
    skips = config["skip-check"]
    assert skips, "no skips: then this test can go"
    for check in skips:
        i = next(n for n, line in enumerate(lines) if line.strip() == f"- {check}")
        reason = []
        while i > 0 and lines[i - 1].strip().startswith("#"):
            i -= 1
            reason.insert(0, lines[i].strip("# "))
        assert len(" ".join(reason)) >= 60, f"{check} is skipped without a reason written above it"
