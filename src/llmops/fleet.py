"""Generate a synthetic multi-model GitOps repository from a reference one.

Used by the benchmarks and the tests to exercise llmops on a fleet (for example
20 models x 3 environments). Each model gets its own base and overlays, copied
from the reference ``deploy_model/`` with names substituted, and its own
Application per environment.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from llmops import manifests
from llmops.config import CONFIG_FILE
from llmops.repo import Repository

REFERENCE_MODEL = "qwen25-05b-instruct"
REFERENCE_RUNTIME = "vllm-runtime"


def _rewrite_tree(src: Path, dst: Path, model: str) -> None:
    for file in src.rglob("*"):
        if file.is_dir():
            continue
        target = dst / file.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = file.read_text(encoding="utf-8")
        text = text.replace(REFERENCE_MODEL, model).replace(REFERENCE_RUNTIME, f"{model}-runtime")
        target.write_text(text, encoding="utf-8")


def generate(reference: Path, dest: Path, models: int) -> list[str]:
    """Write a repository with ``models`` copies of the reference model; return model names."""
    ref = Repository(reference)
    apps = ref.applications()
    names = [f"model-{i:02d}" for i in range(1, models + 1)]
    dest.mkdir(parents=True, exist_ok=True)
    if (reference / CONFIG_FILE).exists():
        shutil.copy(reference / CONFIG_FILE, dest / CONFIG_FILE)
    for extra in (".yamllint", "setup"):
        src = reference / extra
        if src.is_dir():
            shutil.copytree(src, dest / extra, dirs_exist_ok=True)
        elif src.is_file():
            shutil.copy(src, dest / extra)
    project = next(
        (
            d
            for f in sorted((reference / "argocd").glob("*.yaml"))
            for d in manifests.load_file(f)
            if d.get("kind") == "AppProject"
        ),
        None,
    )
    (dest / "argocd" / "applications").mkdir(parents=True, exist_ok=True)
    if project is not None:
        (dest / "argocd" / "project.yaml").write_text(manifests.dump_yaml([project]), encoding="utf-8")
    app_files: list[str] = ["project.yaml"] if project is not None else []
    for model in names:
        _rewrite_tree(reference / "deploy_model", dest / "models" / model, model)
        for app in apps:
            doc = manifests.parse_documents(manifests.dump_yaml([app.manifest]))[0]
            doc["metadata"]["name"] = f"{model}-{app.environment}"
            doc["spec"]["source"]["path"] = app.path.replace("deploy_model", f"models/{model}", 1)
            rel = f"applications/{model}-{app.environment}.yaml"
            (dest / "argocd" / rel).write_text(manifests.dump_yaml([doc]), encoding="utf-8")
            app_files.append(rel)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "openshift-gitops",
        "resources": app_files,
    }
    (dest / "argocd" / "kustomization.yaml").write_text(
        manifests.dump_yaml([kustomization]), encoding="utf-8"
    )
    return names
