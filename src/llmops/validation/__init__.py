"""The pre-merge gate: rule types, the rule runner, report formats, the CRD schema catalog, rules/."""
