"""The four defects of the issue's "Done when", reported with location and fix hint in every format."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from testing.repos import edit, line_of

BASE = "deploy_model/base"


@pytest.fixture
def defects(gitops_repo: Path) -> dict[str, tuple[str, str]]:
    """The reference repository with four defects; returns defect -> (file:line, a fragment of its hint)."""
    r = gitops_repo
    # 1. a broken overlay: staging patches a file that does not exist
    (r / "deploy_model/overlays/staging/environment.yaml").unlink()
    # 2. a plaintext credential in a Secret of the base
    (r / BASE / "data-connection.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: aws-connection\ntype: Opaque\n"
        "stringData:\n  AWS_SECRET_ACCESS_KEY: minio123\n",
        encoding="utf-8",
    )
    edit(
        r / BASE / "kustomization.yaml",
        "  - inferenceservice.yaml\n",
        "  - inferenceservice.yaml\n  - data-connection.yaml\n",
    )
    # 3. a misplaced field: `labels:` at the top level of the ServingRuntime
    sr = r / BASE / "servingruntime.yaml"
    edit(
        sr,
        'metadata:\n  name: vllm-runtime\n  labels:\n    opendatahub.io/dashboard: "true"\n',
        'labels:\n  opendatahub.io/dashboard: "true"\nmetadata:\n  name: vllm-runtime\n',
    )
    # 4. a --max-model-len longer than the model's context (32768)
    rel = r / "deploy_model/overlays/dev/release.yaml"
    edit(rel, "--max-model-len=8192", "--max-model-len=131072")
    kz = r / "deploy_model/overlays/staging/kustomization.yaml"
    return {
        "build.overlay": (
            f"deploy_model/overlays/staging/kustomization.yaml:{line_of(kz, '- path: environment.yaml')}",
            "kubectl kustomize",
        ),
        "security.plaintext-secret": (
            f"{BASE}/data-connection.yaml:{line_of(r / BASE / 'data-connection.yaml', 'AWS_SECRET')}",
            "SealedSecret",
        ),
        "schema.unknown-field": (f"{BASE}/servingruntime.yaml:{line_of(sr, 'labels:')}", "under `metadata:`"),
        "serving.max-model-len": (
            f"deploy_model/overlays/dev/release.yaml:{line_of(rel, '--max-model-len')}",
            "at most 32768",
        ),
    }


def test_json(defects: dict[str, tuple[str, str]], gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo, "--format", "json")
    assert result.code == 1
    data = result.json()
    assert data["summary"]["passed"] is False
    for rule, (where, hint) in defects.items():
        hits = [f for f in data["findings"] if f["rule"] == rule]
        assert any(f["location"].startswith(where + ":") and hint in f["hint"] for f in hits), (rule, hits)


def test_junit(
    defects: dict[str, tuple[str, str]], gitops_repo: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    out = tmp_path / "junit.xml"
    result = cli("validate", "--repo", gitops_repo, "--format", "junit", "--output", out)
    assert result.code == 1
    root = ET.parse(out).getroot()
    assert int(root.get("failures", "0")) >= 4
    failures = {
        (case.get("name"), case.get("classname")): case.find("failure")
        for case in root.iter("testcase")
        if case.find("failure") is not None
    }
    text = "\n".join((f.text or "") for f in failures.values())  # type: ignore[union-attr]
    for rule, (where, hint) in defects.items():
        assert any(name == rule for name, _ in failures), rule
        assert where + ":" in text and hint in text, rule


def test_sarif(defects: dict[str, tuple[str, str]], gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo, "--format", "sarif")
    assert result.code == 1
    sarif = result.json()
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= set(defects)
    for rule, (where, hint) in defects.items():
        file, line = where.rsplit(":", 1)
        ok = [
            r
            for r in run["results"]
            if r["ruleId"] == rule
            and r["level"] == "error"
            and hint in r["message"]["text"]
            and r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == file
            and r["locations"][0]["physicalLocation"]["region"]["startLine"] == int(line)
        ]
        assert ok, rule


def test_github_annotations(
    defects: dict[str, tuple[str, str]], gitops_repo: Path, cli: Callable[..., Any]
) -> None:
    result = cli("validate", "--repo", gitops_repo, "--format", "github")
    assert result.code == 1
    lines = result.out.splitlines()
    for rule, (where, hint) in defects.items():
        file, line = where.rsplit(":", 1)
        pattern = re.compile(rf"^::error file={re.escape(file)},line={line},col=\d+,title={re.escape(rule)} ")
        matching = [ln for ln in lines if pattern.match(ln)]
        assert matching and hint in matching[0], rule
    assert lines[-1].startswith("::notice title=llmops validate::validate FAILED")


def test_table(defects: dict[str, tuple[str, str]], gitops_repo: Path, cli: Callable[..., Any]) -> None:
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 1
    for rule, (where, _hint) in defects.items():
        assert rule in result.out and where in result.out, rule
    assert "hint:" in result.out
    assert "validate FAILED" in result.out
