"""Kustomize build options as Argo CD takes them; Helm charts only from vendored copies."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from testing.cli import CliResult
from testing.helm import stand_in_helm, vendored_chart
from testing.repos import commit, edit, git

DEV_APP = "argocd/applications/llmops-dev.yaml"
DEV = "deploy_model/overlays/dev"


def _kinds(result: CliResult, kind: str) -> list[dict[str, Any]]:
    assert result.code == 0, result.err
    return [r for r in result.json()["items"] if r["kind"] == kind]


def _app_kustomize(repo: Path, block: str) -> None:
    edit(
        repo / DEV_APP,
        "    path: deploy_model/overlays/dev\n",
        "    path: deploy_model/overlays/dev\n" + block,
    )


def test_application_kustomize_options_render_as_argocd_edits_them(
    gitops_repo: Path, cli: Callable[..., CliResult]
) -> None:
    _app_kustomize(
        gitops_repo,
        "    kustomize:\n"
        "      namePrefix: blue-\n"
        "      images:\n"
        "        - quay.io/modh/vllm=registry.example.com/vllm:v2\n"
        "      commonLabels:\n"
        "        app.example.com/owner: $ARGOCD_APP_NAME\n"
        "      commonAnnotations:\n"
        "        example.com/path: $ARGOCD_APP_SOURCE_PATH\n"
        "      namespace: other-ns\n",
    )
    commit(gitops_repo, "dev: Application kustomize options")
    (runtime,) = _kinds(cli("render", "dev", "--repo", gitops_repo, "-o", "json"), "ServingRuntime")
    # `kustomize edit set nameprefix` replaces the overlay's `dev-` prefix, it does not add to it.
    assert runtime["metadata"]["name"] == "blue-vllm-runtime"
    assert runtime["metadata"]["namespace"] == "other-ns"
    assert runtime["spec"]["containers"][0]["image"] == "registry.example.com/vllm:v2"
    assert runtime["metadata"]["labels"]["app.example.com/owner"] == "llmops-dev"
    # Annotations are substituted only with commonAnnotationsEnvsubst, as in Argo CD.
    assert runtime["metadata"]["annotations"]["example.com/path"] == "$ARGOCD_APP_SOURCE_PATH"
    assert git(gitops_repo, "status", "--porcelain") == ""  # edits go to a throw-away copy


def test_a_label_the_overlay_sets_needs_force_as_in_argocd(
    gitops_repo: Path, cli: Callable[..., CliResult]
) -> None:
    edit(
        gitops_repo / f"{DEV}/kustomization.yaml",
        "namePrefix: dev-\n",
        "namePrefix: dev-\ncommonLabels:\n  tier: a\n",
    )
    _app_kustomize(gitops_repo, "    kustomize:\n      commonLabels:\n        tier: b\n")
    result = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "json")
    overlay = [f for f in result.json()["findings"] if f["rule"] == "build.overlay"]
    assert len(overlay) == 1 and "tier is already in the kustomization" in overlay[0]["message"]
    assert "forceCommonLabels" in overlay[0]["message"]
    edit(gitops_repo / DEV_APP, "        tier: b\n", "        tier: b\n      forceCommonLabels: true\n")
    (isvc,) = _kinds(cli("render", "dev", "--repo", gitops_repo, "-o", "json"), "InferenceService")
    assert isvc["metadata"]["labels"]["tier"] == "b"


def _outside_patch(repo: Path) -> None:
    """dev's overlay patches with a file outside its folder: kustomize refuses that by default."""
    (repo / "deploy_model/common").mkdir()
    (repo / "deploy_model/common/owner.yaml").write_text(
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n"
        "  name: qwen25-05b-instruct\n  annotations:\n    example.com/owner: platform\n"
    )
    edit(repo / f"{DEV}/kustomization.yaml", "  - path: environment.yaml\n",
         "  - path: environment.yaml\n  - path: ../../common/owner.yaml\n")  # fmt: skip


ARGOCD_INSTANCE = """apiVersion: argoproj.io/v1beta1
kind: ArgoCD
metadata:
  name: openshift-gitops
  namespace: openshift-gitops
spec:
  kustomizeBuildOptions: --load-restrictor LoadRestrictionsNone
"""


def test_build_options_come_from_the_argocd_instance_in_the_repository(
    gitops_repo: Path, cli: Callable[..., CliResult]
) -> None:
    _outside_patch(gitops_repo)
    refused = cli("render", "dev", "--repo", gitops_repo)
    assert refused.code == 2 and "is not in or below" in refused.err
    (gitops_repo / "setup/argocd-instance.yaml").write_text(ARGOCD_INSTANCE)
    (isvc,) = _kinds(cli("render", "dev", "--repo", gitops_repo, "-o", "json"), "InferenceService")
    assert isvc["metadata"]["annotations"]["example.com/owner"] == "platform"
    # llmops.yaml wins over the instance (here: back to kustomize's default restriction).
    config = gitops_repo / "llmops.yaml"
    config.write_text(
        config.read_text() + "\nkustomize:\n  build_options: --load-restrictor LoadRestrictionsRootOnly\n"
    )
    assert cli("render", "dev", "--repo", gitops_repo).code == 2


def test_options_that_run_programs_are_never_passed_on(
    gitops_repo: Path, cli: Callable[..., CliResult]
) -> None:
    config = gitops_repo / "llmops.yaml"
    config.write_text(
        config.read_text() + "\nkustomize:\n  build_options: --enable-alpha-plugins --enable-exec\n"
    )
    result = cli("render", "dev", "--repo", gitops_repo)
    assert result.code == 2
    error = result.err.splitlines()[0]
    assert "--enable-alpha-plugins: it runs kustomize plugin programs from the repository" in error
    assert "llmops.yaml kustomize.build_options" in error


CHART_KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
helmCharts:
  - name: settings
    releaseName: granite
    version: 0.1.0
    repo: https://charts.example.invalid/
"""


def _helm_overlay(repo: Path) -> Path:
    folder = repo / "charts-demo"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(CHART_KUSTOMIZATION)
    return folder


def _build_findings(cli: Callable[..., CliResult], repo: Path) -> list[dict[str, Any]]:
    result = cli("validate", "--repo", repo, "-o", "json")
    return [f for f in result.json()["findings"] if f["rule"] == "build.kustomization"]


def test_helm_charts_say_in_one_line_what_is_missing(
    gitops_repo: Path, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _helm_overlay(gitops_repo)
    edit(gitops_repo / "llmops.yaml", "    - llmops.yaml\n", "    - llmops.yaml\n    - charts-demo\n")
    (finding,) = _build_findings(cli, gitops_repo)
    assert (
        "inflates the Helm chart settings 0.1.0, which kustomize builds only with --enable-helm"
        in (finding["message"])
    )
    vendor = "helm pull settings --repo https://charts.example.invalid/ --version 0.1.0 --untar"
    assert vendor in finding["message"] and "\n" not in finding["message"]

    config = gitops_repo / "llmops.yaml"
    config.write_text(config.read_text() + "\nkustomize:\n  build_options: --enable-helm\n")
    (finding,) = _build_findings(cli, gitops_repo)
    assert finding["message"].startswith(
        "the Helm chart settings 0.1.0 of charts-demo/kustomization.yaml is not vendored at "
        "charts-demo/charts/settings-0.1.0/settings (llmops never downloads charts)"
    )

    vendored_chart(gitops_repo / "charts-demo/charts/settings-0.1.0/settings", "settings")
    monkeypatch.setenv("LLMOPS_HELM", str(tmp_path / "no-helm-here"))
    (finding,) = _build_findings(cli, gitops_repo)
    assert "needs the helm binary (v3 or v4), which was not found" in finding["message"]


def test_a_vendored_chart_is_inflated_with_argocds_helm_flags(
    gitops_repo: Path, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kustomize runs a stand-in helm (none is installable here): only `template`, never `pull`."""
    folder = _helm_overlay(gitops_repo)
    vendored_chart(folder / "charts/settings-0.1.0/settings", "settings")
    helm, log = stand_in_helm(tmp_path / "bin")
    monkeypatch.setenv("LLMOPS_HELM", str(helm))
    config = gitops_repo / "llmops.yaml"
    config.write_text(config.read_text() + "\nkustomize:\n  build_options: --enable-helm\n")
    edit(gitops_repo / "llmops.yaml", "    - llmops.yaml\n", "    - llmops.yaml\n    - charts-demo\n")
    assert _build_findings(cli, gitops_repo) == []
    calls = log.read_text().splitlines()
    assert any(c.startswith("template granite ") and "--kube-version 1.33" in c for c in calls)
    assert not any(c.startswith("pull") for c in calls)


@pytest.mark.skipif(
    shutil.which("helm") is None, reason="no helm binary on PATH (it is not installable here)"
)
def test_a_vendored_chart_is_inflated_by_the_real_helm(
    gitops_repo: Path, cli: Callable[..., CliResult]
) -> None:
    folder = _helm_overlay(gitops_repo)
    vendored_chart(folder / "charts/settings-0.1.0/settings", "settings")
    config = gitops_repo / "llmops.yaml"
    config.write_text(config.read_text() + "\nkustomize:\n  build_options: --enable-helm\n")
    edit(gitops_repo / "llmops.yaml", "    - llmops.yaml\n", "    - llmops.yaml\n    - charts-demo\n")
    assert _build_findings(cli, gitops_repo) == []


def test_a_change_cannot_enable_helm_for_its_own_check(
    gitops_repo: Path, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(gitops_repo, "branch", "base")
    helm, log = stand_in_helm(tmp_path / "bin")
    monkeypatch.setenv("LLMOPS_HELM", str(helm))
    folder = gitops_repo / DEV / "chart"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(CHART_KUSTOMIZATION)
    vendored_chart(folder / "charts/settings-0.1.0/settings", "settings")
    edit(gitops_repo / f"{DEV}/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - chart\n")
    config = gitops_repo / "llmops.yaml"
    config.write_text(config.read_text() + "\nkustomize:\n  build_options: --enable-helm\n")
    result = cli("validate", "--repo", gitops_repo, "--changed-only", "--base", "base", "-o", "json")
    overlay = [f for f in result.json()["findings"] if f["rule"] == "build.overlay"]
    assert len(overlay) == 1, result.out
    assert (
        "only the change under review adds --enable-helm (llmops.yaml kustomize.build_options)"
        in (overlay[0]["message"])
    )
    assert log.read_text() == ""  # helm never ran for the change
    # Once merged (the base declares it), the same check inflates the chart.
    commit(gitops_repo, "enable helm")
    git(gitops_repo, "branch", "-f", "base")
    again = cli("validate", "--repo", gitops_repo, "--changed-only", "--base", "base", "-o", "json")
    assert not [f for f in again.json()["findings"] if f["rule"].startswith("build.")]
    rendered = cli("render", "dev", "--repo", gitops_repo, "-o", "json").json()["items"]
    assert "dev-granite-settings" in {r["metadata"]["name"] for r in rendered if r["kind"] == "ConfigMap"}


def test_build_options_parse_as_argocd_splits_them() -> None:
    from llmops.gitops.build_options import Declared, resolve

    options = resolve(Declared("--enable-helm  --load-restrictor LoadRestrictionsNone --reorder none", "x"))
    assert options.flags == ("--enable-helm", "--load-restrictor=LoadRestrictionsNone")
    assert options.refused == ("--reorder none: llmops does not know this kustomize build option",)
    trusted = resolve(Declared("--enable-helm --helm-kube-version 1.30", "x"), trusted=[("--enable-helm",)])
    assert (trusted.flags, trusted.untrusted) == (("--enable-helm",), ("--helm-kube-version 1.30",))
