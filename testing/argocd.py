"""What a cluster running OpenShift GitOps and KServe holds, made from a reference repository.

The objects are shaped by the real CRDs (argo-cd ``application-crd.yaml``, argocd-operator's
``argoproj.io_argocds.yaml``, kserve's ``serving.kserve.io_inferenceservices.yaml``;
``tests/cluster/test_fixtures.py`` validates them against those schemas) and filled the way the
controllers fill them: Argo CD's ``status.sync``, ``health``, ``history``, ``operationState``
and ``resources``; KServe's ``Ready`` condition, ``url``, ``address`` and ``modelStatus``;
odh-model-controller's Route for an exposed InferenceService.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testing.kube import FakeCluster

NS = "openshift-gitops"
APPLICATIONS = "argoproj.io/v1alpha1/applications"
APPPROJECTS = "argoproj.io/v1alpha1/appprojects"
ARGOCDS = "argoproj.io/v1beta1/argocds"
ISVCS = "serving.kserve.io/v1beta1/inferenceservices"
RUNTIMES = "serving.kserve.io/v1alpha1/servingruntimes"
ROUTES = "route.openshift.io/v1/routes"
CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"
ARGO_MANAGER = "argocd-controller"
PLURALS = {
    "ServiceAccount": "v1/serviceaccounts",
    "Role": "rbac.authorization.k8s.io/v1/roles",
    "RoleBinding": "rbac.authorization.k8s.io/v1/rolebindings",
    "Job": "batch/v1/jobs",
    "ServingRuntime": RUNTIMES,
    "InferenceService": ISVCS,
    "PodDisruptionBudget": "policy/v1/poddisruptionbudgets",
}


_RENDERED: dict[tuple[str, str], list[dict[str, Any]]] = {}


def render(repo: Path, overlay: str) -> list[dict[str, Any]]:
    """The overlay rendered with the real kustomize (kubectl kustomize from the venv); each distinct
    content once per test session (the tests' repositories are copies of the same reference)."""
    from llmops.gitops import kustomize, manifests

    digest = hashlib.sha256()
    for file in sorted((repo / "deploy_model").rglob("*")):
        if file.is_file():
            digest.update(str(file.relative_to(repo)).encode() + b"\0" + file.read_bytes())
    key = (overlay, digest.hexdigest())
    if key not in _RENDERED:
        _RENDERED[key] = manifests.parse_documents(kustomize.build(repo / overlay), overlay)
    return copy.deepcopy(_RENDERED[key])


def _load(repo: Path, rel: str) -> dict[str, Any]:
    return dict(yaml.safe_load((repo / rel).read_text(encoding="utf-8")))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@dataclass
class AppState:
    """How Argo CD sees one Application."""

    sync: str = "Synced"
    health: str = "Healthy"
    health_message: str = ""
    history: list[tuple[int, str]] = field(default_factory=list)  # (id, revision)
    desired: str | None = None  # status.sync.revision (default: the last history revision)
    operation: dict[str, Any] | None = None  # status.operationState
    isvc_ready: bool = True
    exposed: bool = True


def _fields(obj: dict[str, Any]) -> dict[str, Any]:
    """fieldsV1 of everything in ``obj`` (maps by key; lists whole), as Argo CD's apply records it."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata":
            value = {k: v for k, v in value.items() if k in ("labels", "annotations")}
        out[f"f:{key}"] = _fields(value) if isinstance(value, dict) else {}
    return out


def as_live(desired: dict[str, Any], app: str) -> dict[str, Any]:
    """A rendered object as the API server holds it after Argo CD applied it (defaults included)."""
    live = copy.deepcopy(desired)
    meta = live.setdefault("metadata", {})
    meta.setdefault("annotations", {})["argocd.argoproj.io/tracking-id"] = (
        f"{app}:{desired['apiVersion'].rpartition('/')[0]}/{desired['kind']}:{meta.get('namespace')}/{meta['name']}"
    )
    meta["managedFields"] = [
        {"manager": ARGO_MANAGER, "operation": "Apply", "apiVersion": desired["apiVersion"],
         "fieldsType": "FieldsV1", "fieldsV1": _fields(desired)},
    ]  # fmt: skip
    if desired["kind"] == "InferenceService":
        model = live["spec"]["predictor"]["model"]
        model.setdefault("protocolVersion", "v2")  # set by KServe's defaulting webhook, not by Git
        meta["finalizers"] = ["inferenceservice.finalizers"]
    if desired["kind"] == "ServiceAccount":
        live["secrets"] = [{"name": f"{meta['name']}-dockercfg-x7k2p"}]  # added by OpenShift
    return live


def isvc_status(isvc: dict[str, Any], *, ready: bool, exposed: bool) -> dict[str, Any]:
    name, ns = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
    when = "2026-11-20T10:00:00Z"
    cond = "True" if ready else "False"
    conditions = [
        {"type": "IngressReady", "status": "True", "lastTransitionTime": when},
        {"type": "PredictorReady", "status": cond, "lastTransitionTime": when},
        {"type": "Ready", "status": cond, "lastTransitionTime": when},
    ]
    if not ready:
        for c in conditions[1:]:
            c["reason"] = "MinimumReplicasUnavailable"
            c["message"] = "Deployment does not have minimum availability."
    internal = f"https://{name}-predictor.{ns}.svc.cluster.local"
    status: dict[str, Any] = {
        "address": {"url": internal},
        "components": {"predictor": {"url": internal}},
        "conditions": conditions,
        "deploymentMode": "RawDeployment",
        "modelStatus": {
            "copies": {"failedCopies": 0, "totalCopies": 1 if ready else 0},
            "states": {"activeModelState": "Loaded" if ready else "Pending", "targetModelState": "Loaded"},
            "transitionStatus": "UpToDate" if ready else "InProgress",
        },
        "observedGeneration": 1,
        "url": f"https://{name}-{ns}.apps.cluster.example.com" if exposed else internal,
    }
    return status


def route_for(isvc: dict[str, Any]) -> dict[str, Any]:
    name, ns = isvc["metadata"]["name"], isvc["metadata"]["namespace"]
    host = f"{name}-{ns}.apps.cluster.example.com"
    return {
        "apiVersion": "route.openshift.io/v1",
        "kind": "Route",
        "metadata": {"name": name, "namespace": ns, "labels": {"inferenceservice-name": name}},
        "spec": {
            "host": host,
            "to": {"kind": "Service", "name": f"{name}-predictor", "weight": 100},
            "port": {"targetPort": "https"},
            "tls": {"termination": "reencrypt", "insecureEdgeTerminationPolicy": "Redirect"},
            "wildcardPolicy": "None",
        },
        "status": {"ingress": [{"host": host, "routerName": "default", "wildcardPolicy": "None"}]},
    }


def _resource_entry(obj: dict[str, Any], sync: str) -> dict[str, Any]:
    group, _, version = obj["apiVersion"].rpartition("/")
    entry: dict[str, Any] = {
        "group": group, "version": version, "kind": obj["kind"],
        "namespace": obj["metadata"].get("namespace", ""), "name": obj["metadata"]["name"], "status": sync,
    }  # fmt: skip
    hook = (obj["metadata"].get("annotations") or {}).get("argocd.argoproj.io/hook")
    if hook:
        entry["hook"] = True
    if obj["kind"] in ("InferenceService", "ServingRuntime", "Job", "PodDisruptionBudget"):
        entry["health"] = {"status": "Healthy"}
    return entry


def application(repo: Path, rel: str, state: AppState, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The Application of ``rel`` as Argo CD's controller has filled it."""
    app = _load(repo, rel)
    app["metadata"]["namespace"] = NS
    source = app["spec"]["source"]
    history = [
        {
            "id": hid,
            "revision": sha,
            "deployStartedAt": f"2026-11-{10 + hid:02d}T09:59:30Z",
            "deployedAt": f"2026-11-{10 + hid:02d}T10:00:00Z",
            "source": copy.deepcopy(source),
            "initiatedBy": {"automated": True}
            if "automated" in app["spec"].get("syncPolicy", {})
            else {"username": "alice"},
        }
        for hid, sha in state.history
    ]
    desired = state.desired or (state.history[-1][1] if state.history else "")
    status: dict[str, Any] = {
        "sync": {"status": state.sync, "revision": desired, "comparedTo": {"source": copy.deepcopy(source),
                 "destination": copy.deepcopy(app["spec"]["destination"])}},
        "health": {"status": state.health, **({"message": state.health_message} if state.health_message
                                               else {})},
        "history": history,
        "reconciledAt": "2026-11-20T10:05:00Z",
        "resources": [_resource_entry(o, state.sync) for o in resources],
        "sourceType": "Kustomize",
        "summary": {"images": []},
    }  # fmt: skip
    if state.operation is not None:
        status["operationState"] = state.operation
    elif history:
        last = history[-1]
        status["operationState"] = {
            "operation": {"sync": {"revision": last["revision"], "syncStrategy": {"hook": {}}},
                          "initiatedBy": last["initiatedBy"]},
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": last["deployStartedAt"],
            "finishedAt": last["deployedAt"],
            "syncResult": {"revision": last["revision"], "source": copy.deepcopy(source)},
        }  # fmt: skip
    app["status"] = status
    return app


def argocd_instance() -> dict[str, Any]:
    """The ``openshift-gitops`` ArgoCD instance as the OpenShift GitOps operator creates it."""
    return {
        "apiVersion": "argoproj.io/v1beta1",
        "kind": "ArgoCD",
        "metadata": {"name": "openshift-gitops", "namespace": NS},
        "spec": {
            "controller": {"resources": {"limits": {"cpu": "2", "memory": "2Gi"}}},
            "rbac": {
                "defaultPolicy": "",
                "policy": "g, system:cluster-admins, role:admin\ng, cluster-admins, role:admin\n",
                "scopes": "[groups]",
            },
            "resourceHealthChecks": [
                {"group": "argoproj.io", "kind": "Rollout", "check": "return {status = 'Healthy'}\n"},
            ],
            "server": {"route": {"enabled": True}},
        },
        "status": {"phase": "Available"},
    }


def crd(name: str) -> dict[str, Any]:
    plural, _, group = name.partition(".")
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name}, "spec": {"group": group, "names": {"plural": plural}}}  # fmt: skip


SERVED = {  # CRD name -> the resource it serves (group/version/plural)
    "applications.argoproj.io": APPLICATIONS,
    "appprojects.argoproj.io": APPPROJECTS,
    "argocds.argoproj.io": ARGOCDS,
    "inferenceservices.serving.kserve.io": ISVCS,
    "servingruntimes.serving.kserve.io": RUNTIMES,
    "datascienceclusters.datasciencecluster.opendatahub.io": (
        "datasciencecluster.opendatahub.io/v1/datascienceclusters"
    ),
}
OPERATOR_CRDS = tuple(SERVED)
KINDS = {
    "applications.argoproj.io": "Application", "appprojects.argoproj.io": "AppProject",
    "argocds.argoproj.io": "ArgoCD", "inferenceservices.serving.kserve.io": "InferenceService",
    "servingruntimes.serving.kserve.io": "ServingRuntime",
    "datascienceclusters.datasciencecluster.opendatahub.io": "DataScienceCluster",
}  # fmt: skip


def data_science_cluster() -> dict[str, Any]:
    """OpenShift AI's DataScienceCluster with KServe managed (its operator's default-dsc)."""
    return {
        "apiVersion": "datasciencecluster.opendatahub.io/v1",
        "kind": "DataScienceCluster",
        "metadata": {"name": "default-dsc"},
        "spec": {"components": {"kserve": {"managementState": "Managed"},
                                "dashboard": {"managementState": "Managed"}}},
    }  # fmt: skip


BUILT_IN = (  # what every cluster serves (discovery), for kubectl and the tests
    ("v1/namespaces", "Namespace", False), ("v1/nodes", "Node", False), ("v1/secrets", "Secret", True),
    ("v1/serviceaccounts", "ServiceAccount", True),
    ("rbac.authorization.k8s.io/v1/roles", "Role", True),
    ("rbac.authorization.k8s.io/v1/rolebindings", "RoleBinding", True),
    ("rbac.authorization.k8s.io/v1/clusterroles", "ClusterRole", False),
    ("rbac.authorization.k8s.io/v1/clusterrolebindings", "ClusterRoleBinding", False),
    ("batch/v1/jobs", "Job", True), ("policy/v1/poddisruptionbudgets", "PodDisruptionBudget", True),
    (ROUTES, "Route", True),
)  # fmt: skip


def gpu_node() -> dict[str, Any]:
    labels = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-L4"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-worker-0", "labels": labels}}


def openshift(api: FakeCluster, *, gpu: bool = True, crds: tuple[str, ...] = OPERATOR_CRDS) -> None:
    """OpenShift with OpenShift GitOps (its ArgoCD instance), OpenShift AI and, optionally, GPUs."""
    for resource, kind, namespaced in BUILT_IN:
        api.declare(resource, kind, namespaced=namespaced)
    for name in crds:
        api.add(CRDS, crd(name))
        api.declare(SERVED[name], KINDS[name], namespaced="datascience" not in name)
    if "argocds.argoproj.io" in crds:
        api.add(ARGOCDS, argocd_instance())
        api.add("v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    if "datascienceclusters.datasciencecluster.opendatahub.io" in crds:
        api.add(SERVED["datascienceclusters.datasciencecluster.opendatahub.io"], data_science_cluster())
    if gpu:
        api.add("v1/nodes", gpu_node())


OVERLAYS = {"dev": "deploy_model/overlays/dev", "staging": "deploy_model/overlays/staging",
            "production": "deploy_model/overlays/production"}  # fmt: skip


def deployed(api: FakeCluster, repo: Path, states: dict[str, AppState]) -> dict[str, list[dict[str, Any]]]:
    """Argo CD has synced the reference Applications: objects, Application status, InferenceService status."""
    project = _load(repo, "argocd/project.yaml")
    project["metadata"]["namespace"] = NS
    api.add(APPPROJECTS, project)
    api.declare(ROUTES, "Route")
    rendered: dict[str, list[dict[str, Any]]] = {}
    for env, state in states.items():
        objs = render(repo, OVERLAYS[env])
        rendered[env] = objs
        app_name = f"llmops-{env}"
        for obj in objs:
            if (obj["metadata"].get("annotations") or {}).get("argocd.argoproj.io/hook"):
                continue  # hooks are deleted after they succeed
            live = as_live(obj, app_name)
            if obj["kind"] == "InferenceService":
                live["status"] = isvc_status(obj, ready=state.isvc_ready, exposed=state.exposed)
                if state.exposed:
                    api.add(ROUTES, route_for(obj))
            api.add(PLURALS[obj["kind"]], live)
        api.add(APPLICATIONS, application(repo, f"argocd/applications/{app_name}.yaml", state, objs))
    return rendered


def revisions(repo: Path, count: int = 2) -> list[str]:
    """``count`` commits on the repository's main branch (made here), oldest first."""
    out = [_git(repo, "rev-parse", "HEAD").strip()]
    for i in range(count - 1):
        note = repo / "docs-release-notes.md"
        note.write_text(f"release {i + 2}\n", encoding="utf-8")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"Release {i + 2}: tune vLLM")
        out.append(_git(repo, "rev-parse", "HEAD").strip())
    return out


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
