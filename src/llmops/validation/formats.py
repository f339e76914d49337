"""Validation reports: a grouped table for people; JSON, JUnit XML, SARIF, GitHub annotations and
``file:line:col:`` lines for CI.

Every format carries, for each finding, the rule id, severity, environment,
resource, location (file:line:column when known), message and fix hint, and marks
suppressed findings with their reason instead of dropping them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict

from llmops.support import junit
from llmops.validation.types import REPOSITORY, Finding, Report, Rule, Severity


def summary(report: Report) -> dict[str, int]:
    return {
        "errors": report.count(Severity.error),
        "warnings": report.count(Severity.warning),
        "info": report.count(Severity.info),
        "suppressed": sum(1 for f in report.findings if f.suppressed is not None),
    }


def summary_line(report: Report) -> str:
    """The one-line verdict that ends the table report."""
    s = summary(report)
    verdict = "FAILED" if report.exit_code else "passed"
    return (
        f"validate {verdict}: {s['errors']} error(s), {s['warnings']} warning(s), {s['info']} note(s), "
        f"{s['suppressed']} suppressed; environments: {', '.join(report.environments) or 'none'}; "
        f"{len(report.rules)} rules"
        + (f"; gate settings from {report.policy_from}" if report.policy_from else "")
    )


def render_json(report: Report, rules: Mapping[str, Rule]) -> str:
    data = {
        "summary": {**summary(report), "passed": report.exit_code == 0},
        "environments": report.environments,
        "disabled": report.disabled,
        "policy_from": report.policy_from,
        "findings": [
            {**asdict(f), "severity": f.severity.value, "location": f.location} for f in report.findings
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True)


def _finding_text(f: Finding) -> str:
    lines = [f"{f.location or f.resource}: {f.message}", f"hint: {f.hint}"]
    if f.resource and f.location:
        lines.insert(1, f"resource: {f.resource}")
    if f.suppressed is not None:
        lines.append(f"suppressed: {f.suppressed}")
    return "\n".join(lines)


def _junit_case(env: str, rule_id: str, findings: list[Finding]) -> junit.Case:
    """One rule in one environment: failed when it has blocking findings; the others are notes."""
    mine = [f for f in findings if f.environment == env and f.rule == rule_id]
    errors = [f for f in mine if f.blocking]
    rest = [f for f in mine if not f.blocking]
    output = "\n\n".join(f"[{f.severity.value}] " + _finding_text(f) for f in rest)
    if not errors:
        return junit.Case(name=rule_id, status="pass", output=output)
    first = errors[0]
    return junit.Case(
        name=rule_id,
        status="fail",
        message=f"{first.location or first.resource}: {first.message}",
        details="\n\n".join(_finding_text(f) for f in errors),
        failure_type=rule_id,
        output=output,
    )


def render_junit(report: Report, rules: Mapping[str, Rule]) -> str:
    """One suite per environment (the repository first), one test case per rule that ran there."""
    suites = []
    for env in [REPOSITORY, *report.environments]:
        scopes = ("files", "repository", "resources") if env == REPOSITORY else ("environment", "resources")
        rule_ids = [r for r in report.rules if r not in rules or rules[r].scope in scopes]
        cases = [_junit_case(env, rule_id, report.findings) for rule_id in rule_ids]
        suites.append(junit.Suite(name=env, cases=cases))
    return junit.render_suites("llmops validate", suites).rstrip("\n")


_SARIF_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}


def render_sarif(report: Report, rules: Mapping[str, Rule]) -> str:
    from llmops import __version__

    used = [r for rid, r in rules.items() if rid in report.rules]
    results = []
    for f in report.findings:
        result: dict[str, object] = {
            "ruleId": f.rule,
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.message}\nhint: {f.hint}"},
            "properties": {"environment": f.environment, "resource": f.resource},
        }
        if f.file:
            region = {k: v for k, v in (("startLine", f.line), ("startColumn", f.column)) if v is not None}
            physical: dict[str, object] = {"artifactLocation": {"uri": f.file}}
            if region:
                physical["region"] = region
            result["locations"] = [{"physicalLocation": physical}]
        if f.suppressed is not None:
            result["suppressions"] = [{"kind": "inSource", "justification": f.suppressed}]
        results.append(result)
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "llmops",
                        "version": __version__,
                        "rules": [
                            {
                                "id": r.id,
                                "shortDescription": {"text": r.rationale},
                                "help": {"text": r.hint},
                                "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
                            }
                            for r in used
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2)


def _escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(report: Report, rules: Mapping[str, Rule]) -> str:
    """GitHub Actions workflow commands: one annotation per finding, then a summary notice."""
    lines = []
    for f in report.findings:
        level = {Severity.error: "error", Severity.warning: "warning", Severity.info: "notice"}[f.severity]
        if f.suppressed is not None:
            level = "notice"
        props = []
        if f.file:
            props.append(f"file={_escape(f.file, prop=True)}")
            if f.line is not None:
                props.append(f"line={f.line}")
            if f.column is not None:
                props.append(f"col={f.column}")
        env = f.environment.strip("()")
        title = f"{f.rule} ({env})" + (" suppressed" if f.suppressed is not None else "")
        props.append(f"title={_escape(title, prop=True)}")
        text = f"{f.resource}: {f.message}\nhint: {f.hint}"
        if f.suppressed is not None:
            text += f"\nsuppressed: {f.suppressed}"
        lines.append(f"::{level} {','.join(props)}::{_escape(text)}")
    lines.append(f"::notice title=llmops validate::{_escape(summary_line(report))}")
    return "\n".join(lines)


def render_lines(report: Report, rules: Mapping[str, Rule]) -> str:
    """One line per finding in the compilers' ``file:line:column: message`` shape, then the verdict.

    CI logs read well this way, and Pipelines-as-Code's error detection (its
    ``error-detection-from-container-logs`` setting) turns such lines into annotations
    on the pull request. Findings without a file start with their resource instead.
    """
    out = []
    for f in report.findings:
        where = f.location or f.resource
        env = f.environment.strip("()")
        state = " (suppressed)" if f.suppressed is not None else ""
        out.append(
            f"{where}: {f.severity.value}{state} {f.rule} [{env}] {f.resource}: "
            f"{' '.join(f.message.split())} (hint: {' '.join(f.hint.split())})"
        )
    out.append(summary_line(report))
    return "\n".join(out)


FORMATS: dict[str, Callable[[Report, Mapping[str, Rule]], str]] = {
    "json": render_json,
    "lines": render_lines,
    "junit": render_junit,
    "sarif": render_sarif,
    "github": render_github,
}
