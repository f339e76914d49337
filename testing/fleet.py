"""Generate a synthetic multi-model GitOps repository from a reference one.

Used by the benchmarks and the tests to exercise llmops on a fleet (for example
20 models x 3 environments). Each model gets its own base and overlays, copied
from the reference ``deploy_model/`` with names substituted, and its own
Application per environment.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from llmops.gitops import manifests
from llmops.gitops.config import CONFIG_FILE
from llmops.gitops.repo import Repository

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


# Repository content copied as it is (when present): configuration, cluster set-up,
# the schema catalog, the CI pipeline and the admission policies.
_COPIED = (
    CONFIG_FILE, ".yamllint", "setup", "schemas", "components", "pipelines", "ci", ".tekton", "policies",
)  # fmt: skip


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    elif src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)


def generate(reference: Path, dest: Path, models: int) -> list[str]:
    """Write a repository with ``models`` copies of the reference model; return model names.

    Files are rewritten as text, so the result keeps the reference's formatting (and
    passes the same yamllint configuration).
    """
    ref = Repository(reference)
    apps = ref.applications()
    names = [f"model-{i:02d}" for i in range(1, models + 1)]
    dest.mkdir(parents=True, exist_ok=True)
    for part in _COPIED:
        _copy(reference / part, dest / part)
    # Each model's base names ../../components (the llmops image); models sit one level deeper.
    _copy(reference / "components", dest / "models" / "components")
    config = dest / CONFIG_FILE
    if config.is_file():  # validate's paths: the models live under models/, not deploy_model/
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("    - deploy_model\n", "    - models\n"), encoding="utf-8")
    app_dirs = {(reference / a.file).parent for a in apps}
    for src in sorted((reference / "argocd").rglob("*")):
        if src.is_file() and src.parent not in app_dirs and src.name != "kustomization.yaml":
            _copy(src, dest / "argocd" / src.relative_to(reference / "argocd"))
    resources = sorted(
        str(p.relative_to(dest / "argocd"))
        for p in (dest / "argocd").glob("*.yaml")
        if any(d.get("kind") == "AppProject" for d in manifests.load_file(p))
    )
    (dest / "argocd" / "applications").mkdir(parents=True, exist_ok=True)
    for model in names:
        _rewrite_tree(reference / "deploy_model", dest / "models" / model, model)
        for app in apps:
            text = (reference / app.file).read_text(encoding="utf-8")
            text = text.replace(f"name: {app.name}\n", f"name: {model}-{app.environment}\n", 1)
            text = text.replace(
                f"path: {app.path}\n", f"path: {app.path.replace('deploy_model', f'models/{model}', 1)}\n", 1
            )
            rel = f"applications/{model}-{app.environment}.yaml"
            (dest / "argocd" / rel).write_text(text, encoding="utf-8")
            resources.append(rel)
    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "",
        "namespace: openshift-gitops",
        "",
        "resources:",
        *(f"  - {r}" for r in resources),
    ]
    (dest / "argocd" / "kustomization.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return names
