"""Endpoint discovery on a cluster: the model's URL from status, and the `oc login` token for smoke/bench."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from testing import kube
from testing.cli import CliResult
from testing.vllm import VllmServer

Cli = Callable[..., CliResult]


def test_smoke_can_use_the_token_of_the_kubeconfig(
    cli: Cli, vllm_server: VllmServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An auth-enabled endpoint accepts the user's `oc login` token; here the real vLLM's API key
    stands in for it, written into the kubeconfig as `oc login` writes a token."""
    user = {"token": vllm_server.token}
    config = kube.write_kubeconfig(tmp_path / "kc", "https://api.example:6443", user=user)
    monkeypatch.setenv("KUBECONFIG", str(config))
    without = cli("smoke", "--url", vllm_server.url)
    assert without.code == 1 and "needs a bearer token (401)" in " ".join(without.out.split())
    with_token = cli("smoke", "--url", vllm_server.url, "--token-from-kubeconfig")
    assert with_token.code == 0, with_token.out
    assert vllm_server.token not in with_token.out + with_token.err


def test_the_token_flag_without_a_login_says_how_to_log_in(cli: Cli, tmp_path: Path) -> None:
    result = cli("smoke", "--url", "http://127.0.0.1:9", "--token-from-kubeconfig")
    assert result.code == 2 and "no kubeconfig" in result.err and "oc login" in result.err


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is needed")
def test_a_client_certificate_login_has_no_token_to_give(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "user.key",
         "-out", "user.crt", "-days", "1", "-subj", "/O=system:masters/CN=kube-admin"],
        cwd=tmp_path, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    user = {
        "client-certificate-data": base64.b64encode((tmp_path / "user.crt").read_bytes()).decode(),
        "client-key-data": base64.b64encode((tmp_path / "user.key").read_bytes()).decode(),
    }
    monkeypatch.setenv("KUBECONFIG", str(kube.write_kubeconfig(tmp_path / "kc", "https://api.example:6443",
                                                                  user=user)))  # fmt: skip
    result = cli("smoke", "--url", "http://127.0.0.1:9", "--token-from-kubeconfig")
    assert result.code == 2
    assert "context fake does not authenticate with a bearer token" in result.err
