"""JUnit XML for CI systems (Tekton, GitLab, Jenkins) that show test reports: the one writer.

One suite (:func:`render`, ``llmops smoke``) or several under ``<testsuites>``
(:func:`render_suites`, ``llmops validate``: one suite per environment). Every text is
made printable first: XML 1.0 cannot hold most control characters, and names and
messages may come from hostile manifests or endpoints.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from llmops.support.text import printable

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True, kw_only=True)
class Case:
    """One test case: passed, failed (with the failure's message and details) or skipped."""

    name: str
    status: Literal["pass", "fail", "skip"]
    message: str = ""  # the failure or skip message
    seconds: float = 0.0
    details: str = ""  # the failure's body (default: the message)
    failure_type: str = ""  # the failure's ``type`` attribute, when it helps (e.g. a rule id)
    output: str = ""  # ``<system-out>``: notes on a case, whatever its status


@dataclass(frozen=True, kw_only=True)
class Suite:
    name: str
    cases: Sequence[Case]
    properties: Mapping[str, str] = field(default_factory=dict)


def _case(parent: ET.Element, suite: str, c: Case) -> None:
    case = ET.SubElement(
        parent, "testcase", classname=printable(suite), name=printable(c.name), time=f"{c.seconds:.3f}"
    )
    if c.status == "fail":
        failure = ET.SubElement(case, "failure", message=printable(c.message))
        if c.failure_type:
            failure.set("type", printable(c.failure_type))
        failure.text = printable(c.details or c.message)
    elif c.status == "skip":
        ET.SubElement(case, "skipped", message=printable(c.message))
    if c.output:
        ET.SubElement(case, "system-out").text = printable(c.output)


def _suite(suite: Suite, parent: ET.Element | None = None) -> ET.Element:
    cases = suite.cases
    attrs = {
        "name": printable(suite.name),
        "tests": str(len(cases)),
        "failures": str(sum(c.status == "fail" for c in cases)),
        "errors": "0",
        "skipped": str(sum(c.status == "skip" for c in cases)),
        "time": f"{sum(c.seconds for c in cases):.3f}",
    }
    element = ET.Element("testsuite", attrs) if parent is None else ET.SubElement(parent, "testsuite", attrs)
    if suite.properties:
        props = ET.SubElement(element, "properties")
        for key, value in suite.properties.items():
            ET.SubElement(props, "property", name=printable(key), value=printable(value))
    for c in cases:
        _case(element, suite.name, c)
    return element


def _document(root: ET.Element) -> str:
    ET.indent(root)
    return _DECLARATION + ET.tostring(root, encoding="unicode") + "\n"


def render(suite: str, cases: Sequence[Case], *, properties: Mapping[str, str] | None = None) -> str:
    """A document holding one ``<testsuite>``."""
    return _document(_suite(Suite(name=suite, cases=cases, properties=properties or {})))


def render_suites(name: str, suites: Sequence[Suite]) -> str:
    """A ``<testsuites>`` document: several suites with the totals on the root."""
    root = ET.Element("testsuites", name=name)
    for suite in suites:
        _suite(suite, root)
    cases = [c for s in suites for c in s.cases]
    root.set("tests", str(len(cases)))
    root.set("failures", str(sum(c.status == "fail" for c in cases)))
    root.set("errors", "0")
    root.set("skipped", str(sum(c.status == "skip" for c in cases)))
    return _document(root)
