"""The renderings of a connectivity diff (`policy.diff.Diff`): text grouped by namespace (`+`
opened, `-` closed; green and red on a terminal), a Markdown table for a pull request comment
(opened first), and JSON (see docs/contracts.md)."""

from __future__ import annotations

import json
import sys

from podnet.model.names import WORKLOAD_NAMES
from podnet.policy.diff import IP_BLOCK, POD, SERVICE, Change, Diff, Verdict

_GREEN, _RED, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[0m"


def _pairs(v: Verdict) -> dict | None:
    return {"allowed": v.allowed, "total": v.pairs} if v.present else None


def to_json(diff: Diff) -> dict:
    return {
        "changes": [
            {
                "from": c.source.key,
                "from_kind": c.source.kind,
                "to": c.target.key,
                "to_kind": c.target.kind,
                "port": c.port,
                "protocol": c.protocol,
                "before": c.before.state.value,
                "after": c.after.state.value,
                "before_pairs": _pairs(c.before),
                "after_pairs": _pairs(c.after),
                "change": "opened" if c.opened else "closed",
                "reason": c.reason,
            }
            for c in diff.changes
        ],
        "opened": diff.opened,
        "closed": diff.closed,
    }


def name(unit) -> str:  # type: ignore[no-untyped-def]
    """A unit as `podnet explain --from` takes it: ns/deploy/x, ns/pod/x, ns/svc/x, a range."""
    if unit.kind == IP_BLOCK:
        return unit.name
    if unit.kind == POD:
        return f"{unit.namespace}/pod/{unit.name}"
    if unit.kind == SERVICE:
        return f"{unit.namespace}/svc/{unit.name}"
    return f"{unit.namespace}/{WORKLOAD_NAMES[unit.kind][0]}/{unit.name}"


def _summary(diff: Diff) -> str:
    if not diff.changes:
        return f"no change in connectivity between {diff.old} and {diff.new}"
    return f"{len(diff.changes)} change(s): {diff.opened} opened, {diff.closed} closed"


def _line(c: Change) -> str:
    return f"{name(c.source)} -> {name(c.target)} {c.protocol}/{c.port}: {c.before} -> {c.after}"


def to_text(diff: Diff, colour: bool | None = None) -> str:
    colour = sys.stdout.isatty() if colour is None else colour
    groups: dict[str, list[Change]] = {}
    for c in diff.changes:
        groups.setdefault(c.target.namespace or c.source.namespace, []).append(c)
    lines = []
    for ns in sorted(groups):
        lines.append(f"{ns}:")
        for c in groups[ns]:
            mark, hue = ("+", _GREEN) if c.opened else ("-", _RED)
            text = f"  {mark} {_line(c)}"
            lines.append(f"{hue}{text}{_RESET}" if colour else text)
            if c.reason:
                lines.append(f"      {c.reason}")
    lines.append(_summary(diff))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(diff: Diff) -> str:
    if not diff.changes:
        return f"{_summary(diff)}\n"
    lines = [
        f"**{_summary(diff)}** ({diff.old} → {diff.new})",
        "",
        "| | from | to | port | before | after | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in diff.changes:  # opened first: the order of `Diff.changes`
        mark = "➕ opened" if c.opened else "➖ closed"
        lines.append(
            f"| {mark} | `{name(c.source)}` | `{name(c.target)}` | {c.protocol}/{c.port}"
            f" | {c.before} | {c.after} | {_cell(c.reason)} |"
        )
    return "\n".join(lines) + "\n"


# The first format is the default.
RENDERERS = {
    Diff: {
        "text": to_text,
        "json": lambda d: json.dumps(to_json(d), indent=2) + "\n",
        "md": to_markdown,
    }
}
