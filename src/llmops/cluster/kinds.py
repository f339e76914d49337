"""The Kubernetes kinds llmops reads and writes on a cluster, and which operator serves each.

Generic resources need the plural and the scope, which a manifest does not say; this table
says them for every kind the reference repository holds or the cluster verbs read. Another
kind gets Kubernetes' own guess (``UnsafeGuessKindToResource``: lower case, ``-s``, ``-es``,
``-ies``), which is right for the kinds an overlay typically holds.
"""

from __future__ import annotations

from dataclasses import dataclass

OPENSHIFT_GITOPS = "the Red Hat OpenShift GitOps operator (Argo CD)"
KSERVE = "KServe (Red Hat OpenShift AI: the single-model serving platform)"


@dataclass(frozen=True, kw_only=True)
class Kind:
    """A resource type of the Kubernetes API."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    provider: str = ""  # who installs it, for "the cluster does not serve ..." messages

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    def describe(self) -> str:
        return f"{self.kind} ({self.api_version})"


def _k(group: str, version: str, kind: str, plural: str, namespaced: bool = True, provider: str = "") -> Kind:
    return Kind(
        group=group, version=version, kind=kind, plural=plural, namespaced=namespaced, provider=provider
    )


APPLICATION = _k("argoproj.io", "v1alpha1", "Application", "applications", provider=OPENSHIFT_GITOPS)
APPPROJECT = _k("argoproj.io", "v1alpha1", "AppProject", "appprojects", provider=OPENSHIFT_GITOPS)
ARGOCD = _k("argoproj.io", "v1beta1", "ArgoCD", "argocds", provider=OPENSHIFT_GITOPS)
INFERENCESERVICE = _k(
    "serving.kserve.io", "v1beta1", "InferenceService", "inferenceservices", provider=KSERVE
)
SERVINGRUNTIME = _k("serving.kserve.io", "v1alpha1", "ServingRuntime", "servingruntimes", provider=KSERVE)
DATASCIENCECLUSTER = _k(
    "datasciencecluster.opendatahub.io", "v1", "DataScienceCluster", "datascienceclusters", False,
    "the Red Hat OpenShift AI operator",
)  # fmt: skip
ROUTE = _k("route.openshift.io", "v1", "Route", "routes", provider="OpenShift (routes)")
CRD = _k("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False)
NAMESPACE = _k("", "v1", "Namespace", "namespaces", False)
NODE = _k("", "v1", "Node", "nodes", False)
SECRET = _k("", "v1", "Secret", "secrets")
SELF_ACCESS_REVIEW = _k(
    "authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False
)
SELF_REVIEW = _k("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False)

KNOWN: tuple[Kind, ...] = (
    APPLICATION, APPPROJECT, ARGOCD, INFERENCESERVICE, SERVINGRUNTIME, DATASCIENCECLUSTER, ROUTE, CRD,
    NAMESPACE, NODE, SECRET, SELF_ACCESS_REVIEW, SELF_REVIEW,
    _k("", "v1", "ServiceAccount", "serviceaccounts"),
    _k("", "v1", "ConfigMap", "configmaps"),
    _k("", "v1", "Service", "services"),
    _k("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    _k("apps", "v1", "Deployment", "deployments"),
    _k("batch", "v1", "Job", "jobs"),
    _k("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    _k("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    _k("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
    _k("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _k("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _k("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _k("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _k("serving.kserve.io", "v1alpha1", "ClusterServingRuntime", "clusterservingruntimes", False, KSERVE),
)  # fmt: skip
_BY_API = {(k.api_version, k.kind): k for k in KNOWN}
_BY_GROUP_KIND = {(k.group, k.kind): k for k in KNOWN}


def guess_plural(kind: str) -> str:
    """Kubernetes' guess of a resource name from a kind (apimachinery's UnsafeGuessKindToResource)."""
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


def kind_of(api_version: str, kind: str, *, namespaced: bool | None = None) -> Kind:
    """The :class:`Kind` of a manifest's ``apiVersion`` and ``kind``."""
    known = _BY_API.get((api_version, kind))
    if known is not None:
        return known
    group, _, version = api_version.rpartition("/")
    same = _BY_GROUP_KIND.get((group, kind))
    if same is not None:
        return Kind(group=group, version=version, kind=kind, plural=same.plural,
                    namespaced=same.namespaced, provider=same.provider)  # fmt: skip
    scoped = True if namespaced is None else namespaced
    return Kind(group=group, version=version, kind=kind, plural=guess_plural(kind), namespaced=scoped)


def by_group_kind(group: str, kind: str, version: str = "") -> Kind:
    """The :class:`Kind` of an Argo CD resource reference (group, kind, version)."""
    same = _BY_GROUP_KIND.get((group, kind))
    if same is not None and (not version or version == same.version):
        return same
    api = f"{group}/{version}" if group else (version or "v1")
    return kind_of(api, kind)
