"""docs/reference-json.md is the contract: each verb's JSON has exactly the keys documented there."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from testing.reference_json import check, documented
from testing.repos import OVERLAYS, WIDGET_CRD, edit, git

from llmops.commands import bench as bench_cmd
from llmops.gitops.config import BenchProfile, BenchSLO
from llmops.probes import bench


@pytest.fixture(scope="module")
def docs() -> dict[str, Any]:
    found = documented()
    assert set(found) >= {
        "envs", "init", "render", "validate", "validate --list-rules", "schemas import", "schemas list",
        "diff", "comment", "promote SRC DST", "size", "demo-model PATH", "smoke", "bench", "bootstrap",
        "freeze ENV",
    }  # fmt: skip
    return found


def _check(docs: dict[str, Any], command: str, real: Any) -> None:
    check(docs, command, real)


def test_repository_verbs_match_the_reference(cli, gitops_repo: Path, docs: dict[str, Any]) -> None:
    _check(docs, "envs", cli("envs", "--repo", gitops_repo, "-o", "json").json())
    _check(docs, "render", cli("render", "dev", "--repo", gitops_repo, "-o", "json").json())
    _check(docs, "validate", cli("validate", "--repo", gitops_repo, "-e", "dev", "-o", "json").json())
    _check(docs, "size", cli("size", "dev", "--repo", gitops_repo, "-o", "json").json())
    (gitops_repo / "widgets.yaml").write_text(WIDGET_CRD)
    _check(
        docs,
        "schemas import",
        cli("schemas", "import", gitops_repo / "widgets.yaml", "--repo", gitops_repo, "-o", "json").json(),
    )
    _check(docs, "schemas list", cli("schemas", "list", "--repo", gitops_repo, "-o", "json").json())
    rules = cli("validate", "--list-rules", "--repo", gitops_repo, "-o", "json").json()
    assert any(r["environments"] for r in rules)  # the documented example holds a per-environment severity
    _check(docs, "validate --list-rules", rules)
    _check(docs, "init", cli("init", "--dry-run", "--repo", gitops_repo, "-o", "json").json())


def test_delivery_verbs_match_the_reference(cli, gitops_repo: Path, docs: dict[str, Any]) -> None:
    edit(gitops_repo / OVERLAYS / "dev/release.yaml", "--max-model-len=8192", "--max-model-len=16384")
    _check(docs, "diff", cli("diff", "--base", "HEAD", "--repo", gitops_repo, "-o", "json").json())
    dry = cli("comment", "--base", "HEAD", "--dry-run", "--repo", gitops_repo, "-o", "json").json()
    assert "--max-model-len=16384" in dry["body"]
    _check(docs, "comment", dry)
    git(gitops_repo, "commit", "-qam", "dev: longer context")
    _check(
        docs,
        "promote SRC DST",
        cli("promote", "dev", "staging", "--dry-run", "--repo", gitops_repo, "-o", "json").json(),
    )


def test_probes_match_the_reference(cli, docs: dict[str, Any]) -> None:
    _check(docs, "smoke", cli("smoke", "--url", "http://127.0.0.1:9", "--retries", "0", "-o", "json").json())
    plan = bench.BenchPlan(
        url="http://127.0.0.1:8000", model="demo", profile=BenchProfile(), max_requests=40, max_seconds=None,
        prompt_tokens=128, output_tokens=64, tokenizer="/tmp/demo",
    )  # fmt: skip
    measured = bench.BenchMetrics(
        strategy="concurrent@4", duration_s=2.5, requests_total=40, requests_errored=0, requests_per_s=15.8,
        ttft_p50_ms=81.5, ttft_p95_ms=257.0, itl_p50_ms=2.1, itl_p95_ms=13.3, latency_p95_s=0.41,
        output_tokens_per_s=1011.0, output_tokens_total=2560, prompt_tokens_mean=128.0,
    )  # fmt: skip
    slos = bench.evaluate([measured], BenchSLO(max_error_rate=0.01))
    _check(docs, "bench", bench_cmd.to_data(plan, "staging", [measured], slos))


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "tokenizers")),
    reason="building the demo model needs the serve extra (torch, transformers, tokenizers)",
)
def test_demo_model_matches_the_reference(cli, tmp_path: Path, docs: dict[str, Any]) -> None:
    _check(docs, "demo-model PATH", cli("demo-model", tmp_path / "demo", "-o", "json").json())


def test_yaml_is_the_same_document(cli, gitops_repo: Path) -> None:
    as_json = cli("envs", "--repo", gitops_repo, "-o", "json").json()
    assert cli("envs", "--repo", gitops_repo, "-o", "yaml").yaml() == [as_json]
