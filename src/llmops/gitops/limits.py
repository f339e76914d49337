"""The limits in force in this process, from the repository's ``limits`` in llmops.yaml.

What untrusted repository content may cost is bounded in the module that reads it: the
YAML budget in :mod:`llmops.gitops.manifests`, the kustomize limits in
:mod:`llmops.gitops.kustomize`. :func:`apply` sets both from one ``limits`` section;
:meth:`llmops.gitops.repo.Repository.discover` applies the repository's own, and
``llmops validate --policy-from BASE`` the base branch's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from llmops.gitops import kustomize, manifests
from llmops.gitops.config import Limits
from llmops.support.files import MiB


def yaml_budget(limits: Limits) -> manifests.YamlBudget:
    return manifests.YamlBudget(
        max_bytes=int(limits.yaml_file_mib * MiB), max_alias_nodes=limits.yaml_alias_nodes
    )


def kustomize_limits(limits: Limits) -> kustomize.Limits:
    return kustomize.Limits(
        memory_mib=limits.kustomize_memory_mib,
        cpu_s=limits.kustomize_cpu_s,
        timeout_s=limits.kustomize_timeout_s,
        remote_timeout_s=limits.remote_timeout_s,
    )


def apply(limits: Limits) -> None:
    """Make ``limits`` the ones every YAML load and kustomize build of this process obeys."""
    manifests.set_budget(yaml_budget(limits))
    kustomize.set_limits(kustomize_limits(limits))


@contextlib.contextmanager
def preserved() -> Iterator[None]:
    """Whatever the ``with`` block applies, the limits in force before it are back after it."""
    before = (manifests.budget(), kustomize.limits())
    try:
        yield
    finally:
        manifests.set_budget(before[0])
        kustomize.set_limits(before[1])


@contextlib.contextmanager
def applied(limits: Limits) -> Iterator[None]:
    """``limits`` in force for the ``with`` block; the previous ones afterwards."""
    with preserved():
        apply(limits)
        yield
