"""The renderings of a cluster's address plan check (`ipam.capacity.Report`): a capacity table with
usage bars, coloured by state, and the conflicts, problems, notes and advice; or JSON."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from podnet.ipam.capacity import Conflict, Report, Usage
from podnet.report.subnet import count, dumped, printed

_STATE_STYLE = {"ok": "green", "tight": "yellow", "full": "red", "broken": "red"}


def bar(share: float, width: int = 20) -> str:
    """A text bar for a share of 0..1 (more than 1 fills it)."""
    filled = min(width, round(min(share, 1.0) * width))
    if share > 0 and filled == 0:
        filled = 1
    return "█" * filled + "░" * (width - filled)


def _usage(u: Usage) -> dict[str, object]:
    return {
        "what": u.what,
        "network": u.network,
        "capacity": u.capacity,
        "used": u.used,
        "free": u.free,
        "state": u.state,
    }


def _conflict(c: Conflict) -> dict[str, str]:
    return {
        "range": c.first.name,
        "network": str(c.first.network),
        "with": c.second.name,
        "with_network": str(c.second.network),
        "message": str(c),
    }


def to_json(report: Report) -> dict[str, object]:
    return {
        "cluster": report.name,
        "status": report.status,
        "capacity": [_usage(u) for u in report.usages],
        "conflicts": [_conflict(c) for c in report.conflicts],
        "problems": list(report.problems),
        "notes": list(report.notes),
        "advice": list(report.advice),
        "growth": None
        if report.growth is None
        else {
            "nodes": report.growth.nodes,
            "pods_per_node": report.growth.pods_per_node,
            "fits": report.growth_fits,
        },
    }


def render_table(report: Report) -> str:
    def draw(console: Console) -> None:
        style = _STATE_STYLE[report.status]
        console.print(f"address plan of cluster {report.name}: [{style}]{report.status}[/{style}]")
        table = Table(title_justify="left")
        for col in ("capacity of", "range", "holds", "used", "free", "use", "%"):
            table.add_column(col, justify="right" if col in ("holds", "used", "free") else "left")
        for u in report.usages:
            s = _STATE_STYLE[u.state]
            table.add_row(
                u.what,
                u.network,
                count(u.capacity),
                str(u.used),
                str(u.free),
                f"[{s}]{bar(u.share)}[/{s}]",
                f"{u.share:.0%}",
            )
        console.print(table)
        sections = (
            ("conflicts", [str(c) for c in report.conflicts], "red"),
            ("problems", list(report.problems), "red"),
            ("notes", list(report.notes), "yellow"),
            ("advice", list(report.advice), "cyan"),
        )
        for title, lines, colour in sections:
            if lines:
                console.print(f"[{colour}]{title}:[/{colour}]")
                for line in lines:
                    console.print(f"  - {line}", markup=False)

    return printed(draw)


# The first format is the default.
RENDERERS = {Report: {"table": render_table, "json": lambda r: dumped(to_json(r))}}
