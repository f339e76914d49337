"""Render a :class:`~llmops.diff.DiffReport` as text, Markdown (a PR comment) or JSON.

Manifest values may hold control characters (terminal escapes): text and Markdown show
them as visible escapes (:func:`llmops.support.text.printable`); JSON escapes them itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llmops.delivery.diff import ABSENT, AppDiff, DiffReport, FieldChange, ResourceChange
from llmops.support.text import printable

PR_COMMENT_LIMIT = 65_536  # GitHub's maximum comment body, in characters
MAX_FIELDS_SHOWN = 25  # per resource, in summaries
_SIGN = {"added": "+", "changed": "~", "removed": "-"}


def show_value(value: Any, width: int = 80) -> str:
    if value is ABSENT:
        return "(none)"
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    text = text.replace("\n", "\\n")
    if len(text) <= width:
        return text
    # Keep both ends: image digests and hashes differ at the end, names at the start.
    half = (width - 1) // 2
    return text[:half] + "…" + text[-half:]


def field_line(change: ResourceChange, f: FieldChange) -> str:
    return f"{change.ref}: {f.path} {show_value(f.old)} -> {show_value(f.new)}"


def _counts(app: AppDiff) -> str:
    return f"{app.count('added')} added, {app.count('changed')} changed, {app.count('removed')} removed"


def _status(app: AppDiff) -> str:
    if app.error:
        return "error"
    if not app.rendered:
        return "unchanged (no file it depends on changed)"
    return _counts(app) if app.changes else "no changes"


def _header(report: DiffReport) -> tuple[str, str]:
    base = report.base_ref + (f" ({report.base_sha[:8]})" if report.base_sha else "")
    head = report.head_ref + (f" ({report.head_sha[:8]})" if report.head_sha else "")
    return base, head


def _summary_lines(app: AppDiff) -> list[str]:
    lines: list[str] = []
    for change in app.changes:
        sign = _SIGN[change.action]
        if change.action != "changed":
            lines.append(f"{sign} {change.ref}")
            continue
        for f in change.fields[:MAX_FIELDS_SHOWN]:
            lines.append(f"{sign} {field_line(change, f)}")
        if len(change.fields) > MAX_FIELDS_SHOWN:
            lines.append(f"  ... and {len(change.fields) - MAX_FIELDS_SHOWN} more fields of {change.ref}")
        if change.note:
            lines.append(f"  ({change.ref}: {change.note})")
    return lines


# -- text ------------------------------------------------------------------------------------


def to_text(report: DiffReport, *, show_diff: bool = True) -> str:
    base, head = _header(report)
    out = [f"llmops diff: base {base} -> head {head}"]
    if report.base_sha:  # a diff of two revisions (not desired against live)
        out.append(f"changed files: {len(report.changed_files)}")
        out.extend(f"  {p}" for p in report.changed_files[:50])
        if len(report.changed_files) > 50:
            out.append(f"  ... and {len(report.changed_files) - 50} more")
    out.append("affected environments: " + (", ".join(report.affected) or "none"))
    out.append("")
    for app in report.apps:
        out.append(f"{app.environment} / {app.app} ({app.overlay}): {_status(app)}")
        out.extend(f"  note: {n}" for n in app.notes)
        if app.error:
            out.append(f"  error: {app.error}")
        out.extend(f"  {line}" for line in _summary_lines(app))
    out.extend(f"note: {n}" for n in report.notes)
    if show_diff:
        for app in report.apps:
            for change in app.changes:
                if change.diff:
                    out.append("")
                    out.append(f"# {app.environment}: {_SIGN[change.action]} {change.ref}")
                    out.append(change.diff.rstrip("\n"))
    return printable("\n".join(out) + "\n")


# -- markdown --------------------------------------------------------------------------------


def _code(text: str) -> str:
    if "`" not in text:
        return f"`{text}`"
    return f"`` {text} ``"


def _fence(body: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}diff\n{body.rstrip()}\n{fence}"


def _md_field(change: ResourceChange, f: FieldChange) -> str:
    return (
        f"- `~` {_code(change.ref)}: {_code(f.path)} {_code(show_value(f.old))} → {_code(show_value(f.new))}"
    )


def _md_app_lines(app: AppDiff) -> list[str]:
    lines = [f"#### {app.environment}: {_code(app.app)} ({_status(app)})"]
    lines.extend(f"> {n}" for n in app.notes)
    if app.error:
        lines.append(f"> **error:** {app.error}")
    for change in app.changes:
        if change.action != "changed":
            lines.append(f"- `{_SIGN[change.action]}` {_code(change.ref)} {change.action}")
            continue
        lines.extend(_md_field(change, f) for f in change.fields[:MAX_FIELDS_SHOWN])
        if len(change.fields) > MAX_FIELDS_SHOWN:
            lines.append(
                f"- … and {len(change.fields) - MAX_FIELDS_SHOWN} more fields of {_code(change.ref)}"
            )
        if change.note:
            lines.append(f"  - {change.note}")
    return lines


_MD_RESERVE = 400  # characters kept free for the truncation note


def _md_overview(report: DiffReport) -> str:
    """Title, affected environments and one table row per Application (always shown in full)."""
    head_md = _code(report.head_ref) + (f" ({_code(report.head_sha[:8])})" if report.head_sha else "")
    parts = [f"### llmops diff: {_code(report.base_ref)} ({_code(report.base_sha[:8])}) → {head_md}", ""]
    parts.append("**Affected environments:** " + (", ".join(report.affected) or "none"))
    parts += [
        "",
        "| environment | application | added | changed | removed | status |",
        "|---|---|--:|--:|--:|---|",
    ]
    parts += [_md_row(app) for app in report.apps]
    if not report.has_changes and not report.errors:
        parts += ["", "No rendered resource changes in any environment."]
    parts.extend(f"\n> note: {n}" for n in report.notes)
    return "\n".join(parts)


def _md_row(app: AppDiff) -> str:
    status = "error" if app.error else ("changed" if app.changes else "unchanged")
    nums = [str(app.count(a)) for a in ("added", "changed", "removed")] if app.rendered else ["–"] * 3
    return f"| {app.environment} | {_code(app.app)} | {' | '.join(nums)} | {status} |"


def _md_summaries(report: DiffReport, body: str, limit: int) -> tuple[str, int]:
    """The body with each Application's summary lines added while they fit; (body, lines left out)."""
    omitted = 0
    lines = [
        line
        for app in report.apps
        if app.changes or app.error or app.notes
        for line in ["", *_md_app_lines(app)]
    ]
    for line in lines:
        if omitted or len(body) + len(line) + 1 + _MD_RESERVE > limit:
            omitted += 1  # once one line does not fit, leave out the rest: no gaps
            continue
        body += "\n" + line
    return body, omitted


def _md_diffs(report: DiffReport, body: str, limit: int) -> tuple[str, int, int]:
    """The body with each resource's diff block added while it fits; (body, left out, total)."""
    diffs = [(app, c) for app in report.apps for c in app.changes if c.diff]
    omitted = 0
    for app, change in diffs:
        block = (
            f"\n\n<details><summary>{app.environment}: {_SIGN[change.action]} {change.ref}</summary>\n\n"
            + _fence(change.diff)
            + "\n\n</details>"
        )
        if len(body) + len(block) + _MD_RESERVE > limit:
            omitted += 1
            continue
        body += block
    return body, omitted, len(diffs)


def _md_truncation(report: DiffReport, limit: int, lines: int, diffs: int, total_diffs: int) -> str:
    what = []
    if lines:
        what.append(f"{lines} summary lines")
    if diffs:
        what.append(f"{diffs} of {total_diffs} resource diffs")
    if not what:
        return ""
    return (
        f"\n\n> **Truncated:** {' and '.join(what)} left out to fit a PR comment "
        f"({limit:,} characters). Run `llmops diff --base {report.base_ref}` for the full diff."
    )


def to_markdown(report: DiffReport, *, limit: int = PR_COMMENT_LIMIT) -> str:
    """A PR comment: summary first, then diffs while they fit in ``limit`` characters."""
    body, omitted_lines = _md_summaries(report, _md_overview(report), limit)
    body, omitted_diffs, total_diffs = _md_diffs(report, body, limit)
    return printable(body + _md_truncation(report, limit, omitted_lines, omitted_diffs, total_diffs) + "\n")


# -- json ------------------------------------------------------------------------------------


def _field_json(f: FieldChange) -> dict[str, Any]:
    out: dict[str, Any] = {"path": f.path}
    if f.old is not ABSENT:
        out["old"] = f.old
    if f.new is not ABSENT:
        out["new"] = f.new
    return out


def to_json(report: DiffReport) -> str:
    data = {
        "base": {"ref": report.base_ref, "commit": report.base_sha},
        "head": {"ref": report.head_ref, "commit": report.head_sha},
        "changed_files": list(report.changed_files),
        "affected_environments": list(report.affected),
        "notes": list(report.notes),
        "applications": [
            {
                "name": app.app,
                "environment": app.environment,
                "overlay": app.overlay,
                "rendered": app.rendered,
                "error": app.error or None,
                "notes": list(app.notes),
                "affected_by": list(report.impacts[app.app].files) if app.app in report.impacts else [],
                "summary": {a: app.count(a) for a in ("added", "changed", "removed")},
                "changes": [
                    {
                        "action": c.action,
                        "kind": c.kind,
                        "name": c.name,
                        "namespace": c.namespace,
                        "fields": [_field_json(f) for f in c.fields],
                        "note": c.note or None,
                        "diff": c.diff,
                    }
                    for c in app.changes
                ],
            }
            for app in report.apps
        ],
    }
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
