"""The renderings of lint findings (`policy.lint.Findings`): one line each, compiler-style
(`file:line: severity: ...`), with a count by severity; or a JSON object (see
docs/contracts.md)."""

from __future__ import annotations

import json
from dataclasses import asdict

from podnet.policy.lint import SEVERITIES, Finding, Findings


def _json(f: Finding) -> dict:
    return asdict(f)  # the fields, in their order, are the JSON keys


def to_json(findings: Findings) -> dict:
    """`{"findings": [...]}`, and `"pending"` (pod -> why) when some pods are pending, as in
    `reach`'s JSON."""
    doc: dict = {"findings": [_json(f) for f in findings.items]}
    if findings.pending:
        doc["pending"] = dict(findings.pending)
    return doc


def to_text(findings: Findings) -> str:
    items = findings.items
    lines = [str(f) for f in items]
    counts = {s: sum(f.severity == s for f in items) for s in SEVERITIES}
    lines.append(
        f"{len(items)} finding(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if items
        else "no findings"
    )
    return "\n".join(lines) + "\n"


# The first format is the default.
RENDERERS = {
    Findings: {
        "text": to_text,
        "json": lambda f: json.dumps(to_json(f), indent=2) + "\n",
    }
}
