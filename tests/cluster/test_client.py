"""The one Kubernetes client: kubeconfig auth (token, exec plugin), and every way a cluster says no."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing import kube
from testing.guards import RealKubeconfigTouched, forbid_real_kubeconfig

from llmops.cluster.client import ClusterConfigError, KubeApi, MissingApiError
from llmops.cluster.kinds import APPLICATION, APPPROJECT

FREEZE = ("freeze", "staging", "--reason", "incident 42", "--target", "cluster")


def test_opening_the_users_real_kubeconfig_is_an_error_in_tests() -> None:
    guarded = forbid_real_kubeconfig()
    assert str(Path("~/.kube/config").expanduser()) not in guarded  # HOME is a temporary folder now...
    real = sorted(guarded)[0]  # ...but the kubeconfig the user had when the tests started is guarded
    with pytest.raises(RealKubeconfigTouched):
        open(real, encoding="utf-8")


def test_token_auth_sends_the_kubeconfig_token(cluster: kube.Running) -> None:
    with KubeApi() as api:
        assert api.get(APPPROJECT, "absent", "openshift-gitops") is None
        assert api.target.server == cluster.url and api.target.context == "fake"
    assert [r.headers.get("Authorization") for r in cluster.api] == ["Bearer sha256~fake-token"]


def _exec_plugin(tmp_path: Path, token: str) -> Path:
    """A credential plugin like `oc`'s or a cloud CLI's: prints an ExecCredential."""
    script = tmp_path / "get-token"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": "2099-01-01T00:00:00Z"},
    }
    script.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(credential))})\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_exec_plugin_auth_runs_the_plugin_and_uses_its_token(cluster: kube.Running, tmp_path: Path) -> None:
    plugin = _exec_plugin(tmp_path, "token-from-the-plugin")
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}}
    kube.write_kubeconfig(tmp_path / "kubeconfig", cluster.url, user=user)
    cluster.api.access.tokens = {"token-from-the-plugin": "alice@example.com"}
    with KubeApi(kubeconfig=tmp_path / "kubeconfig") as api:
        assert api.whoami() == "alice@example.com"
        assert api.bearer_token() == "token-from-the-plugin"  # what smoke --token-from-kubeconfig sends


def test_a_failing_exec_plugin_says_which_plugin_and_how_to_install_it(
    cluster: kube.Running, tmp_path: Path, cli: Callable[..., Any], our_repo: Path
) -> None:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "no-such-login-tool",
                     "installHint": "install no-such-login-tool from your cloud provider"}}  # fmt: skip
    config = kube.write_kubeconfig(tmp_path / "kubeconfig", cluster.url, user=user)
    result = cli(*FREEZE, "--kubeconfig", config, "--repo", our_repo)
    assert result.code == 2
    assert "the credential plugin `no-such-login-tool` of context fake failed" in result.err
    assert "hint: install no-such-login-tool from your cloud provider" in result.err


def test_an_expired_login_says_to_log_in_again(
    cluster: kube.Running, cli: Callable[..., Any], our_repo: Path
) -> None:
    cluster.api.access.tokens = {"a-fresh-token": "alice"}  # the kubeconfig's token is no longer valid
    result = cli(*FREEZE, "--repo", our_repo)
    assert result.code == 2
    assert f"{cluster.url} rejected the credentials of context fake (401 Unauthorized)" in result.err
    assert f"oc login {cluster.url}" in result.err


def test_a_missing_right_quotes_the_api_server_and_points_at_the_roles(
    cluster: kube.Running, cli: Callable[..., Any], our_repo: Path
) -> None:
    argocd_state(cluster, our_repo)
    cluster.api.access.tokens = {"sha256~fake-token": "dev-user"}
    cluster.api.access.denied = {("dev-user", "patch", "appprojects", "llmops")}
    result = cli(*FREEZE, "--repo", our_repo)
    assert result.code == 2
    text = " ".join(result.err.split())
    assert 'User "dev-user" cannot patch resource "appprojects" in API group "argoproj.io"' in text
    assert "setup/gitops-roles.yaml" in text


def argocd_state(cluster: kube.Running, repo: Path) -> None:
    from testing import argocd

    argocd.deployed(cluster.api, repo, {"staging": argocd.AppState(history=[(1, _head(repo))])})


def _head(repo: Path) -> str:
    from testing.repos import head

    return head(repo)


def test_a_missing_crd_names_the_operator_to_install(tmp_path: Path) -> None:
    with kube.running() as running:  # a cluster with KServe but without OpenShift GitOps
        kube.write_kubeconfig(tmp_path / "kubeconfig", running.url)
        with KubeApi(kubeconfig=tmp_path / "kubeconfig") as api, pytest.raises(MissingApiError) as err:
            api.objects(APPLICATION, "openshift-gitops")
    assert "does not serve Application (argoproj.io/v1alpha1)" in err.value.message
    assert "applications.argoproj.io is not installed" in err.value.message
    assert err.value.hint is not None and "Red Hat OpenShift GitOps operator" in err.value.hint


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose server accepts connections and never answers (a hung API server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_a_cluster_that_does_not_answer_times_out_naming_the_address(
    silent_port: int, tmp_path: Path, cli: Callable[..., Any], our_repo: Path
) -> None:
    config = kube.write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{silent_port}")
    result = cli(*FREEZE, "--kubeconfig", config, "--request-timeout", "0.5", "--repo", our_repo)
    assert result.code == 2
    assert f"http://127.0.0.1:{silent_port} did not answer within 0.5s" in result.err
    assert "check the address of context fake" in result.err


def test_a_refused_connection_names_the_address(
    tmp_path: Path, cli: Callable[..., Any], our_repo: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    config = kube.write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    result = cli(*FREEZE, "--kubeconfig", config, "--repo", our_repo)
    assert result.code == 2 and f"cannot reach http://127.0.0.1:{port}" in result.err


def test_an_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    config = kube.write_kubeconfig(
        tmp_path / "kubeconfig", "http://127.0.0.1:1", extra_contexts={"prod-cluster": "http://127.0.0.1:2"}
    )
    with pytest.raises(ClusterConfigError) as err:
        KubeApi(kubeconfig=config, context="staging-cluster")
    assert "no context named 'staging-cluster'" in err.value.message
    assert err.value.hint == "pass --context with one of: fake, prod-cluster"


def test_without_a_kubeconfig_the_error_says_how_to_log_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterConfigError) as err:
        KubeApi()
    assert f"no kubeconfig: {tmp_path / 'absent'} does not exist" in err.value.message
    assert err.value.hint is not None and "oc login --server=" in err.value.hint


def test_the_first_existing_kubeconfig_of_a_list_is_used(
    cluster: kube.Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = kube.write_kubeconfig(tmp_path / "second", cluster.url)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "first-absent"), str(real)]))
    with KubeApi() as api:
        assert api.target.source == str(real)


def test_context_namespace_and_user_come_from_the_named_context(
    cluster: kube.Running, tmp_path: Path
) -> None:
    config = tmp_path / "kubeconfig"
    kube.write_kubeconfig(config, "http://127.0.0.1:1", extra_contexts={"real": cluster.url})
    with KubeApi(kubeconfig=config, context="real") as api:
        assert api.target.server == cluster.url
        assert api.get(APPPROJECT, "llmops", "openshift-gitops") is None
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert data["current-context"] == "fake"  # choosing a context never rewrites the kubeconfig
