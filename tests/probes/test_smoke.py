"""`llmops smoke` against a real vLLM (CPU build) serving the demo model, and its failure modes."""

from __future__ import annotations

import contextlib
import os
import signal
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from testing.repos import git
from testing.vllm import VllmServer, free_port

from llmops.errors import EXIT_ERROR, EXIT_FINDINGS
from llmops.probes.endpoint import (
    Endpoint,
    EndpointAuthError,
    EndpointTLSError,
    EndpointUnreachable,
    UnknownModelError,
)
from llmops.probes.smoke import SmokeSettings, run_smoke


def _statuses(result_json: dict) -> dict[str, str]:
    return {c["id"]: c["status"] for c in result_json["checks"]}


def test_smoke_passes_against_vllm_and_prints_ttft_and_tokens_per_second(
    cli, vllm_server: VllmServer
) -> None:
    result = cli("smoke", "--url", vllm_server.url, "--token", vllm_server.token)
    assert result.code == 0, result.out + result.err
    for check in ("reachable", "model-listed", "chat", "stream"):
        assert f"PASS {check}" in " ".join(result.out.split())
    last = result.out.strip().splitlines()[-1]
    assert last.startswith("passed in ")
    assert "TTFT" in last and "tokens/s" in last


def test_token_counts_come_from_the_servers_usage(cli, vllm_server: VllmServer) -> None:
    result = cli("smoke", "--url", vllm_server.url, "--token", vllm_server.token, "--format", "json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["passed"] is True and report["model"] == "demo"
    stream = next(c for c in report["checks"] if c["id"] == "stream")
    metrics = stream["metrics"]
    # The server counts the prompt after applying the chat template; ask it independently.
    prompt = "Say hello in one short sentence."  # the default smoke prompt
    counted = httpx.post(
        vllm_server.url + "/tokenize",
        json={
            "model": "demo",
            "messages": [{"role": "user", "content": prompt}],
            "add_generation_prompt": True,
        },
        headers={"Authorization": f"Bearer {vllm_server.token}"},
        timeout=10,
    ).json()["count"]
    assert metrics["prompt_tokens"] == counted
    # Random weights rarely emit the stop token, so the answer runs to max_tokens (16 by default).
    assert 1 <= metrics["completion_tokens"] <= 16
    assert metrics["ttft_ms"] > 0 and metrics["tokens_per_s"] > 0


def test_junit_output_is_a_test_suite_ci_systems_can_read(cli, vllm_server: VllmServer) -> None:
    result = cli("smoke", "--url", vllm_server.url, "--token", vllm_server.token, "-o", "junit")
    assert result.code == 0
    suite = ET.fromstring(result.out.split("\n", 1)[1])
    assert suite.get("failures") == "0"
    names = [case.get("name") for case in suite.iter("testcase")]
    assert names[:4] == ["reachable", "model-listed", "chat", "stream"]


def test_wrong_model_name_fails_and_lists_the_served_models(cli, vllm_server: VllmServer) -> None:
    result = cli("smoke", "--url", vllm_server.url, "--token", vllm_server.token, "--model", "qwen-typo")
    assert result.code == EXIT_FINDINGS
    assert "model 'qwen-typo' is not served (served: demo)" in result.out
    assert "SKIP chat" in " ".join(result.out.split())
    with Endpoint(vllm_server.url, token=vllm_server.token) as ep, pytest.raises(UnknownModelError) as err:
        ep.chat("qwen-typo", "hi")
    assert err.value.served == ["demo"]


def test_missing_token_on_an_auth_enabled_endpoint_says_which_token_is_needed(
    cli, vllm_server: VllmServer
) -> None:
    result = cli("smoke", "--url", vllm_server.url)
    assert result.code == EXIT_FINDINGS
    text = " ".join(result.out.split())
    assert "needs a bearer token (401)" in text
    assert "allowed to `get` the InferenceService" in text
    bad = cli("smoke", "--url", vllm_server.url, "--token", "not-the-token", "-o", "json").json()
    failed = next(c for c in bad["checks"] if c["status"] == "fail")
    assert "was rejected (401)" in failed["detail"]


def test_token_file_is_read_like_a_mounted_service_account_token(
    cli, vllm_server: VllmServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(vllm_server.token + "\n")
    assert cli("smoke", "--url", vllm_server.url, "--token-file", token_file).code == 0
    missing = cli("smoke", "--url", vllm_server.url, "--token-file", tmp_path / "absent")
    assert missing.code == EXIT_ERROR
    assert "cannot read the token file" in missing.err


@contextlib.contextmanager
def _stopped(pid: int) -> Iterator[None]:
    """SIGSTOP the API server: it keeps its port (the kernel accepts connections) but never answers."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_stopped_server_fails_with_a_timeout(cli, vllm_server: VllmServer) -> None:
    with _stopped(vllm_server.pid):
        result = cli(
            "smoke", "--url", vllm_server.url, "--token", vllm_server.token,
            "--timeout", "1", "--retries", "0", "-o", "json",
        )  # fmt: skip
    assert result.code == EXIT_FINDINGS
    report = result.json()
    assert _statuses(report)["reachable"] == "fail"
    assert "timed out" in report["checks"][0]["detail"]
    assert {c["status"] for c in report["checks"][1:]} == {"skip"}
    # the shared server answers again afterwards
    assert cli("smoke", "--url", vllm_server.url, "--token", vllm_server.token).code == 0


def test_an_unreachable_port_fails_after_retrying(cli) -> None:
    port = free_port()  # nothing listens there
    result = cli("smoke", "--url", f"http://127.0.0.1:{port}", "--retries", "2")
    assert result.code == EXIT_FINDINGS
    assert f"connection refused by 127.0.0.1:{port}" in result.out
    assert result.err.count("retrying in") == 2


def test_unresolvable_host_and_tls_mismatch_get_their_own_messages(vllm_server: VllmServer) -> None:
    with Endpoint("http://no-such-predictor.invalid:8080") as ep, pytest.raises(EndpointUnreachable) as dns:
        ep.health()
    assert "cannot resolve host 'no-such-predictor.invalid'" in dns.value.message
    assert dns.value.retryable is False
    https = vllm_server.url.replace("http://", "https://")
    with Endpoint(https) as ep, pytest.raises(EndpointTLSError) as tls:
        ep.health()
    # vLLM speaks plain HTTP: the error says so instead of blaming the certificate
    assert "127.0.0.1 does not speak TLS" in tls.value.message
    assert tls.value.hint is not None and "http://127.0.0.1:" in tls.value.hint
    with Endpoint(vllm_server.url) as ep, pytest.raises(EndpointAuthError):
        ep.models()


def test_an_environment_without_a_known_url_asks_for_one(cli, gitops_repo: Path, monkeypatch) -> None:
    monkeypatch.delenv("LLMOPS_ENDPOINT_STAGING", raising=False)
    result = cli("smoke", "staging", "--repo", gitops_repo)
    assert result.code == EXIT_ERROR
    assert "no endpoint URL known for environment 'staging'" in result.err
    assert "pass --url" in result.err and "LLMOPS_ENDPOINT_STAGING" in result.err
    unknown = cli("smoke", "qa", "--repo", gitops_repo)
    assert unknown.code == EXIT_ERROR and "unknown environment 'qa'" in unknown.err


def _configure(repo: Path, section: str, body: dict) -> None:
    path = repo / "llmops.yaml"
    config = yaml.safe_load(path.read_text())
    config[section] = body
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-qam", f"configure {section}")


def test_golden_prompts_and_latency_limits_apply_per_environment(
    cli, vllm_server: VllmServer, gitops_repo: Path, monkeypatch
) -> None:
    # At temperature 0 the demo model's answer is deterministic: learn a piece of it.
    with Endpoint(vllm_server.url, token=vllm_server.token) as ep:
        answer = ep.chat("demo", "Name an environment.", max_tokens=8).content
    piece = answer[:3]
    assert piece.strip(), f"the demo model answered only whitespace: {answer!r}"
    _configure(
        gitops_repo,
        "smoke",
        {
            "golden": [{"prompt": "Name an environment.", "expect": [piece], "max_tokens": 8}],
            "environments": {
                "production": {
                    "model": "demo",
                    "limits": {"ttft_ms": 0.001},
                    "golden": [
                        {"prompt": "Name an environment.", "expect": ["zebra-unicorn"], "max_tokens": 8}
                    ],
                }
            },
        },
    )
    monkeypatch.setenv("LLMOPS_ENDPOINT_DEV", vllm_server.url)
    monkeypatch.setenv("LLMOPS_ENDPOINT_PRODUCTION", vllm_server.url)
    monkeypatch.setenv("LLMOPS_TOKEN", vllm_server.token)
    dev = cli("smoke", "dev", "--repo", gitops_repo, "-o", "json")
    assert dev.code == 0, dev.out
    assert _statuses(dev.json())["golden-1"] == "pass"
    prod = cli("smoke", "production", "--repo", gitops_repo, "-o", "json")
    assert prod.code == EXIT_FINDINGS
    checks = {c["id"]: c for c in prod.json()["checks"]}
    assert checks["latency"]["status"] == "fail" and "> limit 0.001 ms" in checks["latency"]["detail"]
    assert checks["golden-1"]["status"] == "fail" and "'zebra-unicorn'" in checks["golden-1"]["detail"]
    assert checks["chat"]["status"] == "pass"


def test_invalid_smoke_config_names_the_field(cli, gitops_repo: Path) -> None:
    _configure(gitops_repo, "smoke", {"golden": [{"prompt": "hi", "expect": []}]})
    result = cli("smoke", "dev", "--repo", gitops_repo, "--url", "http://127.0.0.1:9")
    assert result.code == EXIT_ERROR
    assert "smoke.golden.0.expect" in result.err


def test_server_errors_are_retried_then_reported_with_the_servers_message() -> None:
    """A 5xx (here from httpx's own mock transport: no server returns 503 on demand) is retried."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/health":
            return httpx.Response(200)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": [{"id": "m"}]})
        return httpx.Response(503, json={"error": {"message": "engine is restarting", "code": 503}})

    with Endpoint("http://predictor:8080", transport=httpx.MockTransport(handler)) as ep:
        report = run_smoke(ep, SmokeSettings(retries=1, deadline_s=30), model=None)
    checks = {c.id: c for c in report.checks}
    assert not report.passed and report.model == "m"
    assert checks["chat"].detail == "POST /v1/chat/completions failed with 503: engine is restarting"
    assert checks["stream"].status == "fail"
    assert calls.count("/v1/chat/completions") == 4  # chat and stream, each tried twice
