"""The cluster verbs from the command line: freeze and unfreeze, targets, settings in llmops.yaml."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from testing import argocd, kube
from testing.argocd import APPPROJECTS, NS, AppState
from testing.cli import CliResult
from testing.repos import commit, head

Cli = Callable[..., CliResult]


def test_freeze_and_unfreeze_from_the_command_line(cluster: kube.Running, our_repo: Path, cli: Cli) -> None:
    argocd.deployed(cluster.api, our_repo, {"staging": AppState(history=[(1, head(our_repo))])})
    frozen = cli("freeze", "staging", "--reason", "incident 42", "--target", "cluster", "--repo", our_repo)
    assert frozen.code == 0, frozen.err
    assert "staging is frozen: syncs are refused until `llmops unfreeze staging`" in frozen.out
    project = cluster.api.get(APPPROJECTS, NS, "llmops")
    assert project is not None
    record = json.loads(project["metadata"]["annotations"]["llmops.io/freeze.staging"])
    assert (record["by"], record["reason"]) == ("admin", "incident 42")
    again = cli("freeze", "staging", "--reason", "again", "--target", "cluster", "--repo", our_repo)
    assert again.code == 2 and "staging is already frozen by admin" in again.err
    thawed = cli("unfreeze", "staging", "--target", "cluster", "--repo", our_repo)
    assert thawed.code == 0 and "staging is no longer frozen" in thawed.out


def test_freeze_needs_a_reason(our_repo: Path, cli: Cli) -> None:
    result = cli("freeze", "staging", "--target", "cluster", "--repo", our_repo)
    assert result.code == 2 and "Missing option '--reason'" in result.err


def test_freeze_of_the_local_engine_is_a_clear_usage_error(our_repo: Path, cli: Cli) -> None:
    result = cli("freeze", "staging", "--reason", "x", "--repo", our_repo)  # the default target is local
    assert result.code == 2
    assert "freeze of the embedded engine is not available yet" in result.err
    assert "--target cluster" in result.err


def test_an_unknown_environment_is_one_line(cluster: kube.Running, our_repo: Path, cli: Cli) -> None:
    result = cli("freeze", "qa", "--reason", "x", "--target", "cluster", "--repo", our_repo)
    assert result.code == 2 and result.error_lines == ["error: unknown environment 'qa'"]


def test_llmops_yaml_can_make_the_cluster_the_default_target(
    tmp_path: Path, our_repo: Path, cli: Cli
) -> None:
    with kube.running() as running:
        argocd.openshift(running.api)
        argocd.deployed(running.api, our_repo, {"dev": AppState(history=[(1, head(our_repo))])})
        config = kube.write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:1",
                                       extra_contexts={"lab": running.url})  # fmt: skip
        text = (our_repo / "llmops.yaml").read_text(encoding="utf-8")
        (our_repo / "llmops.yaml").write_text(text + "\ncluster:\n  target: cluster\n  context: lab\n")
        commit(our_repo, "Default to the lab cluster")
        result = cli("freeze", "dev", "--reason", "demo", "--kubeconfig", config, "--repo", our_repo)
        assert result.code == 0, result.err
        assert running.api.get(APPPROJECTS, NS, "llmops") is not None


def test_an_unknown_key_in_the_cluster_section_is_an_error(our_repo: Path, cli: Cli) -> None:
    text = (our_repo / "llmops.yaml").read_text(encoding="utf-8")
    (our_repo / "llmops.yaml").write_text(text + "\ncluster:\n  contxt: lab\n")
    result = cli("freeze", "dev", "--reason", "x", "--repo", our_repo)
    assert result.code == 2 and "cluster.contxt: Extra inputs are not permitted" in result.err
