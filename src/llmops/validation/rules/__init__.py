"""The built-in validation rules, one module per family, in one explicit registry.

The ``llmops validate`` command passes :data:`REGISTRY` to
:func:`llmops.validation.runner.run`; tests (and embedders) pass their own mapping.
To add a rule: write a ``FunctionRule`` in its family module and it joins the
registry through that module's ``RULES`` list. Rule modules import
:mod:`llmops.validation.types`, never the runner.
"""

from __future__ import annotations

from llmops.validation.rules import (
    build,
    gitops,
    paths,
    policy,
    project,
    rbac,
    schema,
    security,
    serving,
    yaml_lint,
)
from llmops.validation.types import Rule

FAMILIES = (build, yaml_lint, paths, schema, security, rbac, gitops, project, serving, policy)

REGISTRY: dict[str, Rule] = {rule.id: rule for family in FAMILIES for rule in family.RULES}
