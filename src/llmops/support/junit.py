"""JUnit XML for CI systems (Tekton, GitLab, Jenkins) that show test reports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Case:
    name: str
    status: Literal["pass", "fail", "skip"]
    message: str
    seconds: float = 0.0
    details: str = ""


def render(suite: str, cases: Sequence[Case], *, properties: dict[str, str] | None = None) -> str:
    failures = sum(c.status == "fail" for c in cases)
    skipped = sum(c.status == "skip" for c in cases)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{sum(c.seconds for c in cases):.3f}",
    )
    if properties:
        props = ET.SubElement(root, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=value)
    for c in cases:
        case = ET.SubElement(root, "testcase", classname=suite, name=c.name, time=f"{c.seconds:.3f}")
        if c.status == "fail":
            ET.SubElement(case, "failure", message=c.message).text = c.details or c.message
        elif c.status == "skip":
            ET.SubElement(case, "skipped", message=c.message)
        else:
            ET.SubElement(case, "system-out").text = c.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
