"""The renderings of pods-to-Service-ports matrices: the model's (`path.service_reach`, what
`podnet reach --services` shows) and the kernel's (`linux.service_probe`, `podnet probe
--services`). Both print a table or the same JSON shape: `allowed[pod][service]`, and per cell
what decided it."""

from __future__ import annotations

import io
import json

from rich.console import Console
from rich.table import Table

from podnet.linux import probe
from podnet.linux.service_probe import ServiceMatrix
from podnet.path.service_reach import ServiceReach


def _printed(table: Table) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(table)
    return buf.getvalue()


def _table(title: str, caption: str, pods: list[str], services: list[str]) -> Table:
    table = Table(title=title, title_justify="left", caption=caption)
    table.add_column("from \\ to")
    for s in services:
        table.add_column(s, justify="center")
    return table


def model_json(r: ServiceReach) -> dict:
    return {
        "pods": r.pods,
        "services": r.services,
        "allowed": {p: {s: c.allowed for s, c in row.items()} for p, row in r.cells.items()},
        "endpoints": {
            p: {s: {"kube_proxy": c.verdict, "endpoints": c.endpoints} for s, c in row.items()}
            for p, row in r.cells.items()
        },
    }


def model_table(r: ServiceReach) -> str:
    table = _table(
        "pods to Service ports",
        "✓ every endpoint accepts · ~ some do · ✗ none does · R rejected (no endpoints) · D dropped",
        r.pods,
        r.services,
    )
    for pod in r.pods:
        cells = []
        for s in r.services:
            c = r.cells[pod][s]
            if c.verdict in ("REJECT", "DROP"):
                cells.append(c.verdict[0])
            elif all(c.endpoints.values()):
                cells.append("✓")
            else:
                cells.append("~" if c.allowed else "✗")
        table.add_row(pod, *cells)
    return _printed(table)


def kernel_json(m: ServiceMatrix) -> dict:
    """`podnet reach --services -o json`'s shape: `allowed[pod][service]`, and per cell the
    kernel's outcome and the endpoints reached."""
    return {
        "pods": m.pods,
        "services": m.services,
        "allowed": {p: {s: m.checks[(p, s)].reached for s in m.services} for p in m.pods},
        "endpoints": {
            p: {
                s: {
                    "outcome": m.checks[(p, s)].outcome,
                    "reached": sorted(
                        {o.identity for o in m.checks[(p, s)].outcomes if o.identity}
                    ),
                }
                for s in m.services
            }
            for p in m.pods
        },
    }


def kernel_table(m: ServiceMatrix) -> str:
    table = _table(
        "pods to Service ports (real connections)",
        "✓ connected · R refused · ✗ timed out",
        m.pods,
        m.services,
    )
    for pod in m.pods:
        cells = []
        for s in m.services:
            c = m.checks[(pod, s)]
            statuses = {o.status for o in c.outcomes}
            cells.append("✓" if probe.OPEN in statuses else "R" if c.reached else "✗")
        table.add_row(pod, *cells)
    return _printed(table)


# The first format is the default.
RENDERERS = {
    ServiceReach: {
        "table": model_table,
        "json": lambda r: json.dumps(model_json(r), indent=2) + "\n",
    },
    ServiceMatrix: {
        "table": kernel_table,
        "json": lambda m: json.dumps(kernel_json(m), indent=2) + "\n",
    },
}
