"""Real-world OpenShift AI manifests nobody here wrote: `llmops init`, then `llmops validate`.

The corpus is ../shared/peer-tests/realworld (each folder's NOTE.md names its public
source), copied into a fresh git repository with no schema catalog. Its known defects
must be found, and every kustomization that cannot build must say why in one line.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from testing.cli import CliResult
from testing.repos import init_repo, line_of

HELM_BASES = (
    "ai-accelerator-examples/vllm-modelcar-rawdeployment/vllm",
    "ai-accelerator-examples/vllm-modelcar-serverless/vllm",
)
VENDOR = "helm pull vllm-kserve --repo https://redhat-ai-services.github.io/helm-charts/ --version 0.5.11"


@pytest.fixture
def corpus(tmp_path: Path, shared_dir: Path) -> Path:
    source = shared_dir / "peer-tests/realworld"
    if not source.is_dir():
        pytest.skip(f"{source} is absent: the real-world corpus is needed")
    repo = tmp_path / "realworld"
    shutil.copytree(source, repo)
    return init_repo(repo)


def _validate(cli: Callable[..., CliResult], repo: Path) -> list[dict[str, Any]]:
    result = cli("validate", "--repo", repo, "-o", "json")
    assert result.code == 1, result.err  # the corpus has errors: the run itself worked
    findings: list[dict[str, Any]] = result.json()["findings"]
    return findings


def _of(findings: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [f for f in findings if f["rule"] == rule]


def test_the_corpus_defects_are_found_with_no_catalog_in_the_repository(
    corpus: Path, cli: Callable[..., CliResult]
) -> None:
    assert cli("init", "--repo", corpus).code == 0
    assert not (corpus / "schemas").exists()
    findings = _validate(cli, corpus)

    runtimes = corpus / "llm-on-openshift/vllm_runtime"
    unknown = {
        (f["file"], f["line"], f["resource"], f["severity"]) for f in _of(findings, "schema.unknown-field")
    }
    assert unknown == {
        (
            f"llm-on-openshift/vllm_runtime/{name}",
            line_of(runtimes / name, "labels:"),
            "ServingRuntime/vllm",
            "error",
        )
        for name in ("vllm-runtime.yaml", "vll-runtime-cpu.yaml")
    }
    assert not _of(findings, "schema.unknown-kind")  # every kind of the corpus has a schema

    secrets = _of(findings, "security.plaintext-secret")
    keys = {f["message"].split(" for ")[1].split(" ")[0] for f in secrets}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= keys
    assert {(f["file"], f["severity"]) for f in secrets} == {
        ("ai-accelerator/lmeval-lab/data-connection.yaml", "error")
    }
    assert "minio123" not in str(findings)  # the committed secret value is never repeated


def test_every_kustomization_that_cannot_build_says_why_in_one_line(
    corpus: Path, cli: Callable[..., CliResult]
) -> None:
    assert cli("init", "--repo", corpus).code == 0
    builds = {
        f["resource"].removeprefix("Kustomization/"): f["message"]
        for f in _of(_validate(cli, corpus), "build.kustomization")
    }
    # A kustomization another one includes is built as part of it, so its failure is told once,
    # by the kustomization that includes it (setup-jobs by lmeval-lab, base by overlays/default).
    expected = {
        "ai-accelerator/lmeval-lab",
        *(f"{base}/overlays/default" for base in HELM_BASES),
    }
    assert set(builds) == expected
    assert all("\n" not in m and m for m in builds.values())
    for base in HELM_BASES:
        for leaf in ("overlays/default",):
            message = builds[f"{base}/{leaf}"]
            assert (
                "inflates the Helm chart vllm-kserve 0.5.11, which kustomize builds only with --enable-helm"
                in message
            )
            assert VENDOR in message
    # lmeval-lab's setup-jobs names a folder above the corpus (the upstream repository's
    # components/): refused before kustomize runs, with the entry named.
    assert builds["ai-accelerator/lmeval-lab"] == (
        "ai-accelerator/lmeval-lab reads outside the repository: ai-accelerator/lmeval-lab/setup-jobs: "
        "../../../../../components/apps/create-bucket-job/overlays/default (it points outside the repository)"
    )

    # With Argo CD's --enable-helm (as ai-accelerator's Argo CD sets it), the missing piece is the chart.
    config = corpus / "llmops.yaml"
    config.write_text(config.read_text() + "kustomize:\n  build_options: --enable-helm\n")
    builds = {
        f["resource"].removeprefix("Kustomization/"): f["message"]
        for f in _of(_validate(cli, corpus), "build.kustomization")
    }
    for base in HELM_BASES:
        assert builds[f"{base}/overlays/default"].startswith(
            f"the Helm chart vllm-kserve 0.5.11 of {base}/base/kustomization.yaml is not vendored at "
            f"{base}/base/charts/vllm-kserve-0.5.11/vllm-kserve (llmops never downloads charts)"
        )
