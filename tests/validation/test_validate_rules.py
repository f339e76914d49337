"""Each validation rule: the reference repository passes it, a targeted defect fails it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from testing.hostile import alias_bomb
from testing.repos import edit, line_of

from llmops.gitops.repo import Repository
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import run
from llmops.validation.types import Context, Finding, FunctionRule, Issue, Severity

ACCEPTED = {"security.model-digest", "gitops.floating-revision", "security.image-digest"}


def validate(repo: Path, envs: list[str] | None = None) -> list[Finding]:
    return run(Repository(repo), REGISTRY, environments=envs).findings


def of(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


DEV = "deploy_model/overlays/dev"
BASE = "deploy_model/base"
OVERLAYS = "deploy_model/overlays"


def _remove_file(r: Path) -> None:
    (r / DEV / "environment.yaml").unlink()


def _broken_setup(r: Path) -> None:
    edit(r / "setup/kustomization.yaml", "namespaces.yaml", "namespaces-missing.yaml")


def _app_without_path(r: Path) -> None:
    edit(r / "argocd/applications/llmops-dev.yaml", "    path: deploy_model/overlays/dev\n", "")


def _bad_syntax(r: Path) -> None:
    (r / DEV / "notes.yaml").write_text("a: [1, 2\nb: c\n", encoding="utf-8")


def _trailing_space(r: Path) -> None:
    edit(r / DEV / "release.yaml", "--max-num-seqs=64", "--max-num-seqs=64   ")


def _top_level_labels(r: Path) -> None:
    edit(r / BASE / "servingruntime.yaml", "metadata:\n  name: vllm-runtime\n  labels:\n", "labels:\n")
    edit(
        r / BASE / "servingruntime.yaml",
        'labels:\n    opendatahub.io/dashboard: "true"\n',
        'labels:\n  opendatahub.io/dashboard: "true"\nmetadata:\n  name: vllm-runtime\n',
    )


def _wrong_type(r: Path) -> None:
    edit(r / DEV / "environment.yaml", "minReplicas: 1", "minReplicas: one")


def _unknown_kind(r: Path) -> None:
    (r / BASE / "widget.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n", encoding="utf-8"
    )
    edit(
        r / BASE / "kustomization.yaml",
        "  - inferenceservice.yaml\n",
        "  - inferenceservice.yaml\n  - widget.yaml\n",
    )


def _plaintext_secret(r: Path) -> None:
    (r / BASE / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: aws-connection\ntype: Opaque\nstringData:\n"
        "  AWS_ACCESS_KEY_ID: minio\n  AWS_SECRET_ACCESS_KEY: minio123\n",
        encoding="utf-8",
    )
    edit(
        r / BASE / "kustomization.yaml",
        "  - inferenceservice.yaml\n",
        "  - inferenceservice.yaml\n  - secret.yaml\n",
    )


def _image_tag(r: Path) -> None:
    for env in ("dev", "staging", "production"):
        edit(
            r / f"deploy_model/overlays/{env}/release.yaml",
            "image: quay.io/modh/vllm@sha256:",
            "image: quay.io/modh/vllm:x-",
        )


def _model_digest_strict(r: Path) -> None:
    edit(r / "llmops.yaml", "        production: warning\n", "        production: error\n")


def _privileged(r: Path) -> None:
    edit(
        r / BASE / "servingruntime.yaml",
        "        runAsNonRoot: true\n",
        "        runAsNonRoot: true\n        privileged: true\n",
    )


def _host_path(r: Path) -> None:
    edit(
        r / BASE / "servingruntime.yaml",
        "  volumes:\n",
        "  volumes:\n    - name: host\n      hostPath:\n        path: /var\n",
    )


def _host_network(r: Path) -> None:
    edit(
        r / BASE / "inferenceservice.yaml",
        "    minReplicas: 1\n",
        "    minReplicas: 1\n    hostNetwork: true\n",
    )


def _no_cpu_limit(r: Path) -> None:
    edit(
        r / DEV / "environment.yaml",
        '        limits:\n          cpu: "2"\n',
        "        limits:\n          cpu: null\n",
    )


def _gpu_mismatch(r: Path) -> None:
    edit(
        r / DEV / "environment.yaml",
        '          memory: 6Gi\n          nvidia.com/gpu: "1"\n        limits',
        '          memory: 6Gi\n          nvidia.com/gpu: "2"\n        limits',
    )


def _no_auth(r: Path) -> None:
    edit(r / BASE / "inferenceservice.yaml", 'enable-auth: "true"', 'enable-auth: "false"')


def _open_project(r: Path) -> None:
    edit(r / "argocd/project.yaml", "    - https://github.com/your-org/llmops.git\n", "    - '*'\n")


def _foreign_repo(r: Path) -> None:
    edit(
        r / "argocd/applications/llmops-dev.yaml",
        "https://github.com/your-org/llmops.git",
        "https://github.com/evil/x.git",
    )


def _no_self_heal(r: Path) -> None:
    edit(r / "argocd/applications/llmops-dev.yaml", "      selfHeal: true\n", "")


def _env_without_app(r: Path) -> None:
    edit(
        r / "llmops.yaml",
        "  - name: production\n    sync: manual\n",
        "  - name: production\n    sync: manual\n  - name: canary\n",
    )


def _wrong_destination(r: Path) -> None:
    edit(
        r / "argocd/applications/llmops-dev.yaml",
        "    namespace: llmops-dev\n",
        "    namespace: llmops-elsewhere\n",
    )


def _floating_not_allowed(r: Path) -> None:
    edit(r / "llmops.yaml", "  floating_revisions:\n    production: >-\n", "  unused_note: >-\n")
    edit(r / "llmops.yaml", "  unused_note: >-\n", "  floating_revisions: {}\n  # >-\n")
    text = (r / "llmops.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    i = lines.index("  # >-")
    del lines[i + 1 : i + 3]
    (r / "llmops.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _missing_runtime(r: Path) -> None:
    edit(r / BASE / "inferenceservice.yaml", "runtime: vllm-runtime", "runtime: tgis-runtime")


def _wrong_format(r: Path) -> None:
    edit(r / BASE / "inferenceservice.yaml", "        name: vLLM\n", "        name: onnx\n")


def _release_args(old: str, new: str) -> Callable[[Path], None]:
    def mutate(r: Path) -> None:
        edit(r / DEV / "release.yaml", old, new)

    return mutate


def _port(r: Path) -> None:
    edit(r / BASE / "servingruntime.yaml", "--port=8080", "--port=8000")


# -- what a real OpenShift cluster would refuse or never settle (issue 15) ----------------------------


def _sa_pull_secret(r: Path) -> None:
    with (r / BASE / "serviceaccount.yaml").open("a", encoding="utf-8") as fh:
        fh.write("imagePullSecrets:\n  - name: model-registry-pull\n")


def _default_rollout(r: Path) -> None:
    edit(r / DEV / "environment.yaml", "    deploymentStrategy:\n      type: Recreate\n", "")


def _stop_ignored(r: Path) -> None:
    edit(
        r / "argocd/applications/llmops-dev.yaml",
        "        - .metadata.finalizers\n",
        '        - .metadata.finalizers\n        - .metadata.annotations["serving.kserve.io/stop"]\n',
    )


def _project_allows_rolebindings(r: Path) -> None:
    edit(
        r / "argocd/project.yaml",
        "    - group: batch\n      kind: Job\n",
        "    - group: batch\n      kind: Job\n"
        "    - group: rbac.authorization.k8s.io\n      kind: RoleBinding\n",
    )


def _create_namespace(r: Path) -> None:
    edit(
        r / "argocd/applications/llmops-dev.yaml",
        "    syncOptions:\n",
        "    syncOptions:\n      - CreateNamespace=true\n",
    )


def _staging_autoscaled(r: Path) -> None:
    edit(r / "deploy_model/overlays/staging/environment.yaml", "maxReplicas: 1", "maxReplicas: 2")


def _tuning_in_base(r: Path) -> None:
    edit(
        r / BASE / "servingruntime.yaml",
        "        - --served-model-name={{.Name}}\n",
        "        - --served-model-name={{.Name}}\n        - --enable-prefix-caching\n",
    )


def _alias_bomb(r: Path) -> None:
    (r / DEV / "bomb.yaml").write_text(alias_bomb("bomb", 6), encoding="utf-8")


def _link_out(r: Path) -> None:
    secret = r.parent / "outside-kubeconfig.yaml"
    secret.write_text("apiVersion: v1\nkind: Config\n", encoding="utf-8")
    (r / "argocd/leak.yaml").symlink_to(secret)


def _base_resource(r: Path, name: str, text: str) -> None:
    (r / BASE / name).write_text(text, encoding="utf-8")
    edit(
        r / BASE / "kustomization.yaml",
        "  - inferenceservice.yaml\n",
        f"  - inferenceservice.yaml\n  - {name}\n",
    )


def _role(rules: str) -> Callable[[Path], None]:
    return lambda r: _base_resource(
        r,
        "role.yaml",
        f"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: x\nrules:\n{rules}",
    )


def _binding(role_ref: str, subject: str) -> Callable[[Path], None]:
    return lambda r: _base_resource(
        r,
        "binding.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: b\n"
        f"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n{role_ref}subjects:\n{subject}",
    )


def _secret_reader(r: Path) -> None:
    _role("  - apiGroups: ['']\n    resources: [secrets]\n    verbs: [get, list]\n")(r)
    _binding("  kind: Role\n  name: x\n", "  - kind: ServiceAccount\n    name: llmops-smoke\n")(r)


def _no_automount(r: Path) -> None:
    edit(r / BASE / "smoke-job.yaml", "      automountServiceAccountToken: true\n", "")


def _writable_root(r: Path) -> None:
    edit(r / BASE / "servingruntime.yaml", "        readOnlyRootFilesystem: true\n", "")


def _root_step(r: Path) -> None:
    edit(r / "pipelines/tasks/llmops-validate.yaml", "        runAsNonRoot: true\n", "")


# rule id -> (defect, environment of the finding, file the finding points at)
FAILING: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "build.overlay": (_remove_file, "dev", f"{DEV}/kustomization.yaml"),
    "build.kustomization": (_broken_setup, "(repository)", "setup/kustomization.yaml"),
    "build.applications": (_app_without_path, "(repository)", ""),
    "yaml.syntax": (_bad_syntax, "(repository)", f"{DEV}/notes.yaml"),
    "yaml.lint": (_trailing_space, "(repository)", f"{DEV}/release.yaml"),
    "schema.unknown-field": (_top_level_labels, "dev", f"{BASE}/servingruntime.yaml"),
    "schema.invalid": (_wrong_type, "dev", f"{DEV}/environment.yaml"),
    "schema.unknown-kind": (_unknown_kind, "dev", f"{BASE}/widget.yaml"),
    "security.plaintext-secret": (_plaintext_secret, "dev", f"{BASE}/secret.yaml"),
    "security.image-digest": (_image_tag, "production", "deploy_model/overlays/production/release.yaml"),
    "security.model-digest": (
        _model_digest_strict,
        "production",
        "deploy_model/overlays/production/release.yaml",
    ),
    "security.privileged": (_privileged, "dev", f"{BASE}/servingruntime.yaml"),
    "security.host-path": (_host_path, "dev", f"{BASE}/servingruntime.yaml"),
    "security.host-network": (_host_network, "dev", f"{BASE}/inferenceservice.yaml"),
    "security.resources": (_no_cpu_limit, "dev", f"{DEV}/environment.yaml"),
    "security.gpu-request-limit": (_gpu_mismatch, "dev", f"{DEV}/environment.yaml"),
    "security.endpoint-auth": (_no_auth, "production", f"{BASE}/inferenceservice.yaml"),
    "security.appproject-scope": (_open_project, "(repository)", "argocd/project.yaml"),
    "security.allowed-repos": (_foreign_repo, "(repository)", "argocd/applications/llmops-dev.yaml"),
    "gitops.sync-policy": (_no_self_heal, "(repository)", "argocd/applications/llmops-dev.yaml"),
    "gitops.environment-app": (_env_without_app, "(repository)", "llmops.yaml"),
    "gitops.destination": (_wrong_destination, "dev", f"{DEV}/kustomization.yaml"),
    "gitops.floating-revision": (
        _floating_not_allowed,
        "(repository)",
        "argocd/applications/llmops-production.yaml",
    ),
    "serving.runtime-exists": (_missing_runtime, "dev", f"{BASE}/inferenceservice.yaml"),
    "serving.model-format": (_wrong_format, "dev", f"{BASE}/inferenceservice.yaml"),
    "serving.unknown-flag": (
        _release_args("--dtype=bfloat16", "--dtype=bfloat16\n        - --max-model-length=4096"),
        "dev",
        f"{DEV}/release.yaml",
    ),
    "serving.max-model-len": (
        _release_args("--max-model-len=8192", "--max-model-len=65536"),
        "dev",
        f"{DEV}/release.yaml",
    ),
    "serving.tensor-parallel": (
        _release_args("--dtype=bfloat16", "--dtype=bfloat16\n        - --tensor-parallel-size=3"),
        "dev",
        f"{DEV}/release.yaml",
    ),
    "serving.gpu-memory-utilization": (
        _release_args("--gpu-memory-utilization=0.90", "--gpu-memory-utilization=1.5"),
        "dev",
        f"{DEV}/release.yaml",
    ),
    "serving.port": (_port, "dev", f"{BASE}/servingruntime.yaml"),
    "serving.gpu-memory-fit": (
        _release_args("--gpu-memory-utilization=0.90", "--gpu-memory-utilization=0.05"),
        "dev",
        f"{DEV}/release.yaml",
    ),
    "gitops.serviceaccount-pull-secrets": (_sa_pull_secret, "dev", f"{BASE}/serviceaccount.yaml"),
    "serving.rollout-surge": (_default_rollout, "dev", f"{DEV}/environment.yaml"),
    "gitops.stop-with-hooks": (_stop_ignored, "dev", "argocd/applications/llmops-dev.yaml"),
    "project.rbac-kinds": (_project_allows_rolebindings, "(repository)", "argocd/project.yaml"),
    "project.create-namespace": (_create_namespace, "(repository)", "argocd/applications/llmops-dev.yaml"),
    "serving.gpu-autoscaling": (_staging_autoscaled, "staging", f"{OVERLAYS}/staging/environment.yaml"),
    "gitops.release-in-base": (_tuning_in_base, "production", f"{BASE}/servingruntime.yaml"),
    "yaml.budget": (_alias_bomb, "(repository)", f"{DEV}/bomb.yaml"),
    "paths.outside-repository": (_link_out, "(repository)", "argocd/leak.yaml"),
    "rbac.wildcard": (
        _role("  - apiGroups: ['*']\n    resources: [pods]\n    verbs: [get]\n"),
        "dev",
        f"{BASE}/role.yaml",
    ),
    "rbac.escalation": (
        _role("  - apiGroups: [rbac.authorization.k8s.io]\n    resources: [roles]\n    verbs: [escalate]\n"),
        "dev",
        f"{BASE}/role.yaml",
    ),
    "rbac.everyone": (
        _binding(
            "  kind: Role\n  name: qwen25-05b-instruct-smoke\n",
            "  - kind: Group\n    name: system:authenticated\n",
        ),
        "dev",
        f"{BASE}/binding.yaml",
    ),
    "rbac.admin-binding": (
        _binding("  kind: ClusterRole\n  name: admin\n", "  - kind: User\n    name: alice\n"),
        "dev",
        f"{BASE}/binding.yaml",
    ),
    "rbac.secret-access": (_secret_reader, "dev", f"{BASE}/binding.yaml"),
    "security.token-automount": (_no_automount, "dev", f"{BASE}/smoke-job.yaml"),
    "security.read-only-root": (_writable_root, "dev", f"{BASE}/servingruntime.yaml"),
    "security.pipeline-steps": (_root_step, "(repository)", "pipelines/tasks/llmops-validate.yaml"),
}
# The policy.* rules report what a change does to the gate: they need a base revision, and
# tests/validation/test_policy_from_base.py makes each of them fire.
NEEDS_A_BASE = {rule for rule in REGISTRY if rule.startswith("policy.")}


def test_every_registered_rule_has_a_failing_fixture() -> None:
    assert set(FAILING) == set(REGISTRY) - NEEDS_A_BASE


def test_reference_repository_has_no_errors_and_only_accepted_warnings(gitops_repo: Path) -> None:
    report = run(Repository(gitops_repo), REGISTRY)
    assert report.exit_code == 0, [f for f in report.findings if f.blocking]
    assert report.environments == ["dev", "staging", "production"]
    for f in report.findings:
        assert f.rule in ACCEPTED, f
        # Every kept warning is justified in llmops.yaml, or suppressed on the resource with a reason.
        if f.suppressed:
            continue  # suppressed on the resource with a written reason: reported, not blocking
        if f.severity == Severity.warning:
            assert f.justification, f
        else:
            assert f.severity == Severity.info and "allowed: promotion is a reviewed commit" in f.message


@pytest.mark.parametrize("rule_id", sorted(FAILING))
def test_rule_reports_its_defect_with_location_and_hint(gitops_repo: Path, rule_id: str) -> None:
    mutate, env, file = FAILING[rule_id]
    mutate(gitops_repo)
    found = of(validate(gitops_repo), rule_id)
    assert found, f"{rule_id} did not fire"
    hit = [f for f in found if f.environment == env]
    assert hit, [(f.environment, f.message) for f in found]
    first = hit[0]
    assert first.hint
    if file:
        assert first.file == file, first
        # A symbolic link has no lines: the link itself is the location.
    assert first.line is not None or rule_id.startswith(("build.", "gitops.environment", "paths.")), first
    if rule_id not in ("schema.unknown-kind", "security.endpoint-auth") and first.suppressed is None:
        assert first.severity in (Severity.error, Severity.warning)


def test_top_level_labels_reported_with_path_and_move_hint(gitops_repo: Path) -> None:
    _top_level_labels(gitops_repo)
    found = of(validate(gitops_repo, ["dev"]), "schema.unknown-field")
    assert len(found) == 1
    f = found[0]
    assert "unknown field labels" in f.message
    assert "under `metadata:`" in f.hint
    assert f.line == line_of(gitops_repo / BASE / "servingruntime.yaml", "labels:")  # the key in the base
    assert f.severity == Severity.error


def test_image_digest_is_an_error_in_production_and_a_warning_elsewhere(gitops_repo: Path) -> None:
    _image_tag(gitops_repo)
    found = of(validate(gitops_repo), "security.image-digest")
    by_env = {f.environment: f.severity for f in found if f.resource.startswith("InferenceService")}
    assert by_env == {"dev": Severity.warning, "staging": Severity.warning, "production": Severity.error}


def test_endpoint_without_auth_fails_staging_and_production_only(gitops_repo: Path) -> None:
    _no_auth(gitops_repo)
    found = of(validate(gitops_repo), "security.endpoint-auth")
    assert {f.environment: f.severity for f in found} == {
        "dev": Severity.warning,
        "staging": Severity.error,
        "production": Severity.error,
    }


def test_broken_overlay_names_the_missing_file_and_its_entry(gitops_repo: Path) -> None:
    _remove_file(gitops_repo)
    report = run(Repository(gitops_repo), REGISTRY)
    f = of(report.findings, "build.overlay")[0]
    assert "environment.yaml does not exist" in f.message
    assert (f.file, f.line) == (f"{DEV}/kustomization.yaml", 20)
    assert report.exit_code == 1
    # The other environments are still validated.
    assert not [x for x in report.findings if x.blocking and x.environment != "dev"]


def test_max_model_len_points_at_the_argument(gitops_repo: Path) -> None:
    _release_args("--max-model-len=8192", "--max-model-len=65536")(gitops_repo)
    f = of(validate(gitops_repo, ["dev"]), "serving.max-model-len")[0]
    assert "32768" in f.message and "65536" in f.message
    assert (f.file, f.line) == (f"{DEV}/release.yaml", 17)
    assert "at most 32768" in f.hint


def test_tensor_parallel_mismatch_names_heads_and_gpus(gitops_repo: Path) -> None:
    FAILING["serving.tensor-parallel"][0](gitops_repo)
    messages = [f.message for f in of(validate(gitops_repo, ["dev"]), "serving.tensor-parallel")]
    assert any("14 attention heads" in m for m in messages)
    assert any("1 requested" in m for m in messages)


def test_severity_override_and_disable_with_reason(gitops_repo: Path) -> None:
    _trailing_space(gitops_repo)
    with (gitops_repo / "llmops.yaml").open("a", encoding="utf-8") as fh:
        fh.write(
            "    yaml.lint:\n      disabled: true\n"
            "      reason: formatting is enforced by the editor config\n"
        )
    report = run(Repository(gitops_repo), REGISTRY)
    assert not of(report.findings, "yaml.lint")
    assert report.disabled == {"yaml.lint": "formatting is enforced by the editor config"}


def test_disabling_without_reason_is_a_config_error(gitops_repo: Path, cli: Callable[..., Any]) -> None:
    with (gitops_repo / "llmops.yaml").open("a", encoding="utf-8") as fh:
        fh.write("    yaml.lint:\n      disabled: true\n")
    result = cli("validate", "--repo", gitops_repo)
    assert result.code == 2
    assert "disabled without a reason" in result.err


def test_per_environment_severity_override(gitops_repo: Path) -> None:
    _no_auth(gitops_repo)
    with (gitops_repo / "llmops.yaml").open("a", encoding="utf-8") as fh:
        fh.write("    security.endpoint-auth:\n      environments:\n        dev: error\n")
    found = of(validate(gitops_repo, ["dev"]), "security.endpoint-auth")
    assert [f.severity for f in found] == [Severity.error]


def test_suppression_annotation_keeps_the_finding_but_does_not_fail(gitops_repo: Path) -> None:
    _host_network(gitops_repo)
    edit(
        gitops_repo / BASE / "inferenceservice.yaml",
        "  annotations:\n",
        "  annotations:\n"
        '    llmops.io/suppress: "security.host-network: the NIC needs RDMA on this node pool"\n',
    )
    report = run(Repository(gitops_repo), REGISTRY, environments=["dev"])
    found = of(report.findings, "security.host-network")
    assert found and all(f.suppressed == "the NIC needs RDMA on this node pool" for f in found)
    assert report.exit_code == 0


def test_suppression_without_reason_is_ignored(gitops_repo: Path) -> None:
    _host_network(gitops_repo)
    edit(
        gitops_repo / BASE / "inferenceservice.yaml",
        "  annotations:\n",
        '  annotations:\n    llmops.io/suppress: "security.host-network"\n',
    )
    report = run(Repository(gitops_repo), REGISTRY, environments=["dev"])
    assert report.exit_code == 1
    assert "without a reason" in of(report.findings, "security.host-network")[0].message


def test_real_world_plaintext_credentials_are_caught(gitops_repo: Path, shared_dir: Path) -> None:
    src = shared_dir / "peer-tests/realworld/ai-accelerator/lmeval-lab/data-connection.yaml"
    if not src.is_file():
        pytest.skip(f"{src} is absent")
    shutil.copy(src, gitops_repo / BASE / "data-connection.yaml")
    edit(
        gitops_repo / BASE / "kustomization.yaml",
        "  - inferenceservice.yaml\n",
        "  - inferenceservice.yaml\n  - data-connection.yaml\n",
    )
    found = of(validate(gitops_repo, ["dev"]), "security.plaintext-secret")
    keys = {f.message.split(" for ")[1].split(" ")[0] for f in found}
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= keys
    assert all(f.file == f"{BASE}/data-connection.yaml" and f.line for f in found)


def test_real_world_top_level_labels_runtime_is_caught(gitops_repo: Path, shared_dir: Path) -> None:
    src = shared_dir / "peer-tests/realworld/llm-on-openshift/vllm_runtime/vllm-runtime.yaml"
    if not src.is_file():
        pytest.skip(f"{src} is absent")
    (gitops_repo / "extra").mkdir()
    shutil.copy(src, gitops_repo / "extra/vllm-runtime.yaml")
    edit(gitops_repo / "llmops.yaml", "    - .tekton\n", "    - .tekton\n    - extra\n")
    found = of(validate(gitops_repo, []), "schema.unknown-field")
    assert [(f.file, f.line, f.resource) for f in found] == [
        ("extra/vllm-runtime.yaml", 3, "ServingRuntime/vllm")
    ]


def test_a_rule_that_raises_becomes_a_finding(gitops_repo: Path) -> None:
    def boom(ctx: Context) -> list[Issue]:
        raise KeyError("spec")

    rule = FunctionRule(
        id="test.boom", severity=Severity.warning, rationale="r", hint="h", scope="environment", fn=boom
    )
    report = run(Repository(gitops_repo), {"test.boom": rule}, environments=["dev"])
    assert [(f.rule, f.severity) for f in report.findings] == [("test.boom", Severity.error)]
    assert "KeyError" in report.findings[0].message


def test_manifests_of_a_kustomization_that_does_not_build_are_still_checked(gitops_repo: Path) -> None:
    _broken_setup(gitops_repo)
    (gitops_repo / "setup/pull-secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\nstringData:\n  token: abc\n", encoding="utf-8"
    )
    findings = validate(gitops_repo, [])
    assert of(findings, "build.kustomization")
    secrets = of(findings, "security.plaintext-secret")
    assert [(f.file, f.line) for f in secrets] == [("setup/pull-secret.yaml", 6)]


def test_the_tekton_gate_itself_is_checked_against_the_tekton_schemas(gitops_repo: Path) -> None:
    run_file = gitops_repo / ".tekton/pull-request-validate.yaml"
    assert all(f.rule in ACCEPTED for f in validate(gitops_repo, []))
    edit(run_file, "  pipelineRef:\n", "  pipelinRef:\n")
    found = of(validate(gitops_repo, []), "schema.unknown-field")
    assert [(f.file, f.resource) for f in found] == [
        (".tekton/pull-request-validate.yaml", "PipelineRun/llmops-validate")
    ]
    assert found[0].line == line_of(run_file, "pipelinRef:")


def test_gpu_memory_fit_gives_vllms_reason_and_a_fitting_setting(gitops_repo: Path) -> None:
    # 32,768 tokens of KV cache (0.38 GiB) cannot fit in 10 % of an L4 next to the weights
    _release_args("--max-model-len=8192", "--max-model-len=32768")(gitops_repo)
    _release_args("--gpu-memory-utilization=0.90", "--gpu-memory-utilization=0.10")(gitops_repo)
    (f,) = of(validate(gitops_repo, ["dev"]), "serving.gpu-memory-fit")
    assert f.severity == Severity.error
    assert "1 x L4" in f.message and "max seq len (32768)" in f.message
    assert "--max-model-len=" in f.hint  # the longest that fits
    assert f.file == f"{DEV}/release.yaml"


def test_gpu_memory_fit_does_not_repeat_a_max_model_len_error(gitops_repo: Path) -> None:
    _release_args("--max-model-len=8192", "--max-model-len=131072")(gitops_repo)
    report = validate(gitops_repo, ["dev"])
    assert of(report, "serving.max-model-len")
    assert not of(report, "serving.gpu-memory-fit")


def _auto_selected_runtime_with(r: Path, *args: str) -> None:
    """The InferenceService names no runtime: KServe auto-selects vllm-runtime, whose args gain ``args``."""
    edit(r / BASE / "inferenceservice.yaml", "      runtime: vllm-runtime\n", "")
    extra = "".join(f"        - {a}\n" for a in args)
    edit(
        r / BASE / "servingruntime.yaml",
        "        - --served-model-name={{.Name}}\n",
        "        - --served-model-name={{.Name}}\n" + extra,
    )


def test_an_auto_selected_runtimes_argument_is_checked_where_it_is_written(gitops_repo: Path) -> None:
    _auto_selected_runtime_with(gitops_repo, "--max-model-len=65536")
    _release_args("        - --max-model-len=8192\n", "")(gitops_repo)
    report = validate(gitops_repo, ["dev"])
    assert not of(report, "serving.runtime-exists")
    (f,) = of(report, "serving.max-model-len")
    assert "--max-model-len=65536 exceeds" in f.message
    runtime = gitops_repo / BASE / "servingruntime.yaml"
    assert (f.file, f.line) == (f"{BASE}/servingruntime.yaml", line_of(runtime, "--max-model-len=65536"))


def test_gpu_memory_fit_counts_an_auto_selected_runtimes_arguments(gitops_repo: Path) -> None:
    # Only the auto-selected runtime lowers the memory budget to 10 % of the L4.
    _auto_selected_runtime_with(gitops_repo, "--gpu-memory-utilization=0.10")
    _release_args("        - --gpu-memory-utilization=0.90\n", "")(gitops_repo)
    _release_args("--max-model-len=8192", "--max-model-len=32768")(gitops_repo)
    (f,) = of(validate(gitops_repo, ["dev"]), "serving.gpu-memory-fit")
    assert f.severity == Severity.error and "max seq len (32768)" in f.message


def test_model_format_names_match_case_as_kserve_compares_them(gitops_repo: Path) -> None:
    edit(gitops_repo / BASE / "inferenceservice.yaml", "        name: vLLM\n", "        name: vllm\n")
    (f,) = of(validate(gitops_repo, ["dev"]), "serving.model-format")
    assert f.message == "runtime dev-vllm-runtime supports vLLM, not vllm"


def test_gpu_memory_fit_without_a_gpu_type_is_a_note(gitops_repo: Path) -> None:
    isvc = gitops_repo / "deploy_model/base/inferenceservice.yaml"
    text = isvc.read_text()
    start = text.index("    nodeSelector:")
    end = text.index("\n", text.index("nvidia.com/gpu.product", start)) + 1
    isvc.write_text(text[:start] + text[end:])
    (f,) = of(validate(gitops_repo, ["dev"]), "serving.gpu-memory-fit")
    assert f.severity == Severity.info and "does not say which GPU" in f.message
