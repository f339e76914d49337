"""The built-in validation rules, one module per family, in one explicit registry.

Tests (and embedders) pass their own mapping to :func:`llmops.validate.run`.
To add a rule: write a ``FunctionRule`` in its family module and it joins the
registry through that module's ``RULES`` list.
"""

from __future__ import annotations

from llmops.validation.rules import build, gitops, schema, security, serving
from llmops.validation.rules import yamllint as yaml_rules
from llmops.validation.runner import Rule

FAMILIES = (build, yaml_rules, schema, security, gitops, serving)

REGISTRY: dict[str, Rule] = {rule.id: rule for family in FAMILIES for rule in family.RULES}
