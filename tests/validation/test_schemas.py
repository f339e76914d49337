"""The CRD schema catalog: import from the real CRDs, pull from a (fake) cluster, strict validation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.cli import main
from llmops.validation import catalog as schemas
from llmops.validation.catalog import SchemaSet


@pytest.fixture
def catalog(tmp_path: Path, shared_dir: Path) -> Path:
    crds = shared_dir / "crds"
    if not crds.is_dir():
        pytest.skip(f"{crds} is absent: the real CRDs are needed")
    entries, skipped = schemas.read_crds(crds)
    schemas.write_entries(tmp_path / "catalog", entries)
    assert skipped == []
    return tmp_path / "catalog"


def test_import_of_the_real_crds_covers_the_kinds_llmops_deploys(catalog: Path) -> None:
    kinds = set(SchemaSet(catalog).crd_kinds)
    for wanted in [
        ("serving.kserve.io/v1beta1", "InferenceService"),
        ("serving.kserve.io/v1alpha1", "ServingRuntime"),
        ("argoproj.io/v1alpha1", "Application"),
        ("argoproj.io/v1alpha1", "AppProject"),
        ("argoproj.io/v1beta1", "ArgoCD"),
        ("tekton.dev/v1", "Pipeline"),
        ("tekton.dev/v1", "PipelineRun"),
        ("route.openshift.io/v1", "Route"),
    ]:
        assert wanted in kinds
    # Compact: descriptions are dropped (the InferenceService CRD alone is 1.9 MB of YAML).
    assert sum(f.stat().st_size for f in catalog.iterdir()) < 2_500_000


def _isvc() -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "m", "labels": {"a": "b"}},
        "spec": {
            "predictor": {"minReplicas": 1, "model": {"modelFormat": {"name": "vLLM"}, "args": ["--x"]}}
        },
    }


def test_strict_validation_finds_unknown_fields_with_their_path(catalog: Path) -> None:
    schema_set = SchemaSet(catalog)
    good = _isvc()
    assert schema_set.violations(good) == []
    bad = _isvc()
    bad["spec"]["predictor"]["model"]["argz"] = ["--y"]
    bad["metadata"]["lables"] = {}
    found = schema_set.violations(bad)
    assert found is not None
    assert {v.dotted for v in found} == {"metadata.lables", "spec.predictor.model.argz"}
    assert all(v.unknown_field for v in found)


def test_every_imported_crd_schema_loads_and_routes_validate(catalog: Path) -> None:
    """Real CRDs carry oddities (the Route CRD has `anyOf: null`): each must still load."""
    schema_set = SchemaSet(catalog)
    for api_version, kind in schema_set.crd_kinds:
        assert schema_set.has(api_version, kind), (api_version, kind)
    route = {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": "qwen"},
        "spec": {"to": {"kind": "Service", "name": "qwen-predictor"}, "port": {"targetPort": 8080}},
    }
    assert schema_set.violations(route) == []
    route["spec"]["tls"] = {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect", "cert": "x"}
    route["spec"]["hostname"] = "typo"
    found = schema_set.violations(route)
    assert found is not None and "spec.hostname" in {v.dotted for v in found}


def test_wrong_types_and_int_or_string_fields(catalog: Path) -> None:
    schema_set = SchemaSet(catalog)
    res = _isvc()
    res["spec"]["predictor"]["model"]["resources"] = {"limits": {"cpu": 2, "memory": "4Gi"}}  # int-or-string
    assert schema_set.violations(res) == []
    res["spec"]["predictor"]["minReplicas"] = "one"
    found = schema_set.violations(res)
    assert found and found[0].dotted == "spec.predictor.minReplicas" and found[0].unknown_field is None


def test_core_kinds_come_from_kubernetes_validate(tmp_path: Path) -> None:
    schema_set = SchemaSet(None)
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}, "imagePullSecret": []}
    found = schema_set.violations(sa)
    assert found is not None and [v.dotted for v in found] == ["imagePullSecret"]
    assert schema_set.violations({"apiVersion": "example.com/v1", "kind": "Widget"}) is None


def test_import_cli_writes_into_the_configured_catalog(
    gitops_repo: Path, shared_dir: Path, cli: Callable[..., Any]
) -> None:
    target = gitops_repo / "schemas"
    assert not target.exists()  # the reference repository needs no catalog of its own
    result = cli("schemas", "import", shared_dir / "crds/openshift/routes.crd.yaml", "--repo", gitops_repo)
    assert result.code == 0, result.err
    assert [p.name for p in target.iterdir()] == ["route.openshift.io_v1_Route.json"]
    listed = cli("schemas", "list", "--repo", gitops_repo, "-o", "json")
    rows = {(r["apiVersion"], r["kind"]): r for r in json.loads(listed.out)}
    assert rows[("route.openshift.io/v1", "Route")]["origin"] == "repository (overrides built-in)"
    assert rows[("route.openshift.io/v1", "Route")]["source"] == "schemas/route.openshift.io_v1_Route.json"
    assert rows[("serving.kserve.io/v1beta1", "InferenceService")]["origin"] == "built-in"


def test_importing_a_file_that_is_not_a_crd_is_a_clear_error(
    gitops_repo: Path, cli: Callable[..., Any]
) -> None:
    result = cli("schemas", "import", gitops_repo / "argocd/project.yaml", "--repo", gitops_repo)
    assert result.code == 2
    assert "is not a CustomResourceDefinition (kind: AppProject)" in result.err
    assert "Traceback" not in result.err
    missing = cli("schemas", "import", gitops_repo / "nope.yaml", "--repo", gitops_repo)
    assert missing.code == 2 and "does not exist" in missing.err


def test_unreadable_catalog_file_is_a_clear_error(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    (gitops_repo / "schemas").mkdir()
    (gitops_repo / "schemas/serving.kserve.io_v1beta1_InferenceService.json").write_text(
        "{", encoding="utf-8"
    )
    schemas.clear_cache()
    result = cli("validate", "--repo", gitops_repo, "--env", "dev")
    # The rule that needed it reports it (the engine does not crash), and the run fails.
    assert result.code == 1
    assert "unreadable" in result.out


def _kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "fake",
        "contexts": [{"name": "fake", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "sha256~test-token"}}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.asyncio
async def test_pull_reads_crds_from_a_kubernetes_api(
    kmock: Any, gitops_repo: Path, shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`schemas pull` against kmock, a maintained fake Kubernetes API server (no real cluster here)."""
    resource = "apiextensions.k8s.io/v1/customresourcedefinitions"
    kmock.resources[resource] = {}
    for file in ("kserve/serving.kserve.io_servingruntimes.yaml", "openshift/routes.crd.yaml"):
        crd = yaml.safe_load((shared_dir / "crds" / file).read_text(encoding="utf-8"))
        kmock.objects[resource, None, crd["metadata"]["name"]] = crd
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", str(kmock.url).rstrip("/"))
    catalog = tmp_path / "pulled"
    code = await asyncio.to_thread(
        main,
        [
            "schemas",
            "pull",
            "--kubeconfig",
            str(kubeconfig),
            "--catalog",
            str(catalog),
            "--group",
            "serving.kserve.io",
            "--repo",
            str(gitops_repo),
        ],
    )
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in catalog.iterdir()) == ["serving.kserve.io_v1alpha1_ServingRuntime.json"]
    body = json.loads(
        (catalog / "serving.kserve.io_v1alpha1_ServingRuntime.json").read_text(encoding="utf-8")
    )
    assert body["kind"] == "ServingRuntime" and "spec" in body["schema"]["properties"]
    auth = [r.headers.get("Authorization") for r in kmock]
    assert "Bearer sha256~test-token" in auth


def test_pull_without_a_reachable_cluster_is_a_clear_error(
    gitops_repo: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    result = cli("schemas", "pull", "--kubeconfig", kubeconfig, "--repo", gitops_repo)
    assert result.code == 2
    assert "cannot reach http://127.0.0.1:9" in result.err
    none = cli("schemas", "pull", "--repo", gitops_repo)  # $KUBECONFIG points nowhere in tests
    assert none.code == 2 and "does not exist" in none.err
