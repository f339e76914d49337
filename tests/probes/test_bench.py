"""`llmops bench`: GuideLLM against the real vLLM, judged against SLOs from llmops.yaml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from testing.repos import git
from testing.vllm import VllmServer

from llmops.errors import EXIT_ERROR, EXIT_FINDINGS
from llmops.gitops.config import BenchProfile, BenchSLO
from llmops.probes import bench

# Small on purpose: two GuideLLM runs of a few seconds each against the shared server.
LOAD = {
    "profile": {"kind": "concurrent", "streams": 2},
    "max_requests": 8,
    "prompt_tokens": 32,
    "output_tokens": 16,
}


def _configure(repo: Path, bench_section: dict) -> None:
    path = repo / "llmops.yaml"
    config = yaml.safe_load(path.read_text())
    config["bench"] = bench_section
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", "configure bench")


@pytest.fixture
def bench_repo(gitops_repo: Path, vllm_server: VllmServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    _configure(
        gitops_repo,
        LOAD
        | {
            "tokenizer": str(vllm_server.model_dir),
            # Loose defaults any working server meets. One errored request in eight is
            # tolerated: GuideLLM's HTTP client (httpx iter_lines) splits a streamed line at
            # U+0085/U+2028, which the demo model's random tokens occasionally produce.
            "slo": {
                "ttft_p95_ms": 60000,
                "itl_p95_ms": 10000,
                "max_error_rate": 0.125,
                "min_output_tokens_per_s": 1,
            },
            # ...and a production no server can meet.
            "environments": {
                "production": {
                    "slo": {"ttft_p95_ms": 0.001, "itl_p95_ms": 0.001, "min_output_tokens_per_s": 1e9}
                }
            },
        },
    )
    monkeypatch.setenv("LLMOPS_TOKEN", vllm_server.token)
    return gitops_repo


def test_bench_meets_loose_slos_and_writes_a_markdown_report(
    cli, bench_repo: Path, vllm_server: VllmServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "reports" / "dev.md"
    raw = tmp_path / "guidellm.json"
    # a tokenizer directory relative to the current directory (GuideLLM itself runs elsewhere)
    monkeypatch.chdir(vllm_server.model_dir.parent)
    result = cli(
        "bench", "dev", "--url", vllm_server.url, "--repo", bench_repo, "-o", "markdown",
        "--output-file", report, "--guidellm-report", raw, "--tokenizer", vllm_server.model_dir.name,
    )  # fmt: skip
    assert result.code == 0, result.out + result.err  # a failed request shows its "first error:" here
    assert result.out == ""  # the report went to the file; the verdict to stderr
    assert "SLOs met" in result.err
    text = report.read_text()
    assert "verdict: **PASS**" in text
    assert re.search(r"\| concurrent@2 \| 8 \| [01] \|", text), text
    assert text.count("| pass |") == 4
    # token counts come from the server: every request was cut at output_tokens (random weights)
    (measured,) = bench.parse_report(__import__("json").loads(raw.read_text()))
    assert measured.requests_total == 8 and measured.output_tokens_total <= 8 * 16
    assert measured.output_tokens_total > 0 and measured.ttft_p95_ms > 0


def test_bench_fails_impossible_slos_with_exit_1(
    cli, bench_repo: Path, vllm_server: VllmServer, tmp_path: Path
) -> None:
    report = tmp_path / "prod.md"
    # --report PATH: the deprecated spelling of -o markdown --output-file PATH
    result = cli("bench", "production", "--url", vllm_server.url, "--repo", bench_repo, "--report", report)
    assert result.code == EXIT_FINDINGS, result.out + result.err
    assert "SLOs NOT met" in result.err
    text = report.read_text()
    assert "verdict: **FAIL**" in text
    assert "| concurrent@2 | ttft_p95_ms | <= 0.001 ms |" in text
    assert text.count("**FAIL**") == 1 + 3  # the verdict and the three impossible SLOs


def test_bench_refuses_an_unknown_model_before_starting_guidellm(cli, vllm_server: VllmServer) -> None:
    result = cli("bench", "--url", vllm_server.url, "--token", vllm_server.token, "--model", "nope")
    assert result.code == EXIT_FINDINGS  # as smoke's failed model-listed check (the same situation)
    assert "model 'nope' is not served by this endpoint (served: demo)" in result.err


def test_bench_refuses_a_load_longer_than_the_served_context(
    cli, bench_repo: Path, vllm_server: VllmServer
) -> None:
    _configure(bench_repo, LOAD | {"prompt_tokens": 500, "output_tokens": 64})
    result = cli("bench", "dev", "--url", vllm_server.url, "--repo", bench_repo)
    assert result.code == EXIT_ERROR
    assert "500 prompt + 64 output tokens, more than the 512 tokens 'demo' is served with" in result.err


def _metrics(p95_ttft: float, errored: int, total: int, out_tps: float) -> dict:
    def dist(p50: float, p95: float, mean: float = 0.0, total_sum: float = 0.0) -> dict:
        return {"mean": mean, "total_sum": total_sum, "percentiles": {"p50": p50, "p95": p95}}

    both = {"successful": dist(1, 1), "total": dist(1, 1)}
    return {
        "request_totals": {
            "successful": total - errored,
            "errored": errored,
            "incomplete": 1,
            "total": total + 1,
        },
        "requests_per_second": both,
        "time_to_first_token_ms": {"successful": dist(p95_ttft / 2, p95_ttft)},
        "inter_token_latency_ms": {"successful": dist(1, 2)},
        "request_latency": {"successful": dist(0.1, 0.2)},
        "output_tokens_per_second": {"total": dist(0, 0, mean=out_tps)},
        "output_token_count": {"successful": dist(16, 16, total_sum=16 * (total - errored))},
        "prompt_token_count": {"successful": dist(49, 49, mean=49)},
    }


def test_slo_evaluation_counts_errors_and_judges_each_objective() -> None:
    data = {
        "benchmarks": [
            {"config": {"strategy": {"type_": "concurrent", "streams": 8}}, "duration": 3.0,
             "metrics": _metrics(p95_ttft=120.0, errored=2, total=40, out_tps=900.0)},
        ]
    }  # fmt: skip
    (b,) = bench.parse_report(data)
    assert b.strategy == "concurrent@8" and b.error_rate == pytest.approx(0.05)
    results = bench.evaluate(
        [b], BenchSLO(ttft_p95_ms=100, max_error_rate=0.01, min_output_tokens_per_s=500, itl_p95_ms=5)
    )
    verdicts = {r.name: r.passed for r in results}
    assert verdicts == {
        "ttft_p95_ms": False,
        "itl_p95_ms": True,
        "error_rate": False,
        "output_tokens_per_s": True,
    }
    # when every request failed, latency percentiles are zeros, not measurements: they fail
    data["benchmarks"][0]["metrics"] = _metrics(p95_ttft=0.0, errored=40, total=40, out_tps=0.0)
    (dead,) = bench.parse_report(data)
    verdicts = {r.name: (r.passed, r.measured) for r in bench.evaluate([dead], BenchSLO(ttft_p95_ms=100))}
    assert verdicts == {"ttft_p95_ms": (False, "no successful request")}
    with pytest.raises(bench.BenchError, match="no benchmarks"):
        bench.parse_report({"benchmarks": []})


def test_the_token_goes_into_a_private_scenario_file_not_the_command_line(tmp_path: Path) -> None:
    plan = bench.BenchPlan(
        url="http://127.0.0.1:1", model="m", profile=BenchProfile(kind="constant", rate=2.0),
        max_requests=10, max_seconds=30, prompt_tokens=32, output_tokens=16, tokenizer="t", token="s3cret",
    )  # fmt: skip
    scen = bench.scenario(plan)
    assert scen["spec"]["backend"]["api_key"] == "s3cret"
    assert scen["spec"]["profile"] == {"kind": "constant", "rate": 2.0}
    assert {c["kind"] for c in scen["spec"]["constraints"]} == {"max_requests", "max_duration"}
    cmd = bench.command(tmp_path / "s.json", tmp_path / "r.json")
    assert not any("s3cret" in part for part in cmd)
