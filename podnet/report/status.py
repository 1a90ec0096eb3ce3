"""The renderings of what is up on this machine (`podnet status`): a line per cluster, or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Statuses:
    """One row per cluster: `cluster`, `complete`, `namespaces`, `processes`, and for a complete
    one `backend`, `nodes` and `pods` (the JSON keys, in this order)."""

    rows: tuple[dict, ...]


def _line(r: dict) -> str:
    if r["complete"]:
        return (
            f"{r['cluster']}: up, backend {r['backend']}, {r['nodes']} node(s),"
            f" {r['pods']} pod(s), {r['namespaces']} namespace(s),"
            f" {r['processes']} process(es) running"
        )
    return (
        f"{r['cluster']}: incomplete (an interrupted `up`?), {r['namespaces']}"
        f" namespace(s): run `podnet down --name {r['cluster']}`"
    )


def to_text(s: Statuses) -> str:
    lines = [_line(r) for r in s.rows] if s.rows else ["no cluster is up"]
    return "\n".join(lines) + "\n"


# The first format is the default.
RENDERERS = {
    Statuses: {
        "table": to_text,
        "json": lambda s: json.dumps(list(s.rows), indent=2) + "\n",
    }
}
