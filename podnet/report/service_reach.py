"""The renderings of pods-to-Service-ports matrices: the model's (`path.service_reach`, what
`podnet reach --services` shows) and the kernel's (`linux.service_probe`, `podnet probe
--services`). Both print a table or the same JSON shape: `allowed[pod][service]`, and per cell
what decided it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from podnet.linux import probe
from podnet.linux.service_probe import Check, ServiceMatrix
from podnet.path.service_reach import ServiceCell, ServiceReach
from podnet.proxy.verdict import ProxyVerdict


def _table(
    title: str, caption: str, pods: list[str], services: list[str], cell: Callable[[str, str], str]
) -> str:
    """Pods down, Service ports across, `cell(pod, service)` in each."""
    table = Table(title=title, title_justify="left", caption=caption)
    table.add_column("from \\ to")
    for s in services:
        table.add_column(s, justify="center")
    for pod in pods:
        table.add_row(pod, *(cell(pod, s) for s in services))
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(table)
    return buf.getvalue()


def _json(
    pods: list[str],
    services: list[str],
    allowed: Callable[[str, str], bool],
    detail: Callable[[str, str], dict],
) -> dict:
    """`allowed[pod][service]`, and per cell what decided it."""
    return {
        "pods": pods,
        "services": services,
        "allowed": {p: {s: allowed(p, s) for s in services} for p in pods},
        "endpoints": {p: {s: detail(p, s) for s in services} for p in pods},
    }


def model_json(r: ServiceReach) -> dict:
    """Per cell, kube-proxy's verdict and whether policy lets each endpoint accept."""
    return _json(
        r.pods,
        r.services,
        lambda p, s: r.cells[p][s].allowed,
        lambda p, s: {
            "kube_proxy": r.cells[p][s].verdict,
            "endpoints": {str(e): ok for e, ok in r.cells[p][s].endpoints.items()},
        },
    )


def _model_cell(c: ServiceCell) -> str:
    if c.verdict in (ProxyVerdict.REJECT, ProxyVerdict.DROP):
        return c.verdict[0]
    if all(c.endpoints.values()):
        return "✓"
    return "~" if c.allowed else "✗"


def model_table(r: ServiceReach) -> str:
    return _table(
        "pods to Service ports",
        "✓ every endpoint accepts · ~ some do · ✗ none does · R rejected (no endpoints) · D dropped",
        r.pods,
        r.services,
        lambda pod, s: _model_cell(r.cells[pod][s]),
    )


def kernel_json(m: ServiceMatrix) -> dict:
    """Per cell, the kernel's outcome and the endpoints reached."""

    def detail(p: str, s: str) -> dict:
        c = m.checks[(p, s)]
        return {
            "outcome": c.outcome,
            "reached": sorted({o.identity for o in c.outcomes if o.identity}),
        }

    return _json(m.pods, m.services, lambda p, s: m.checks[(p, s)].reached, detail)


def _kernel_cell(c: Check) -> str:
    if probe.OPEN in {o.status for o in c.outcomes}:
        return "✓"
    return "R" if c.reached else "✗"


def kernel_table(m: ServiceMatrix) -> str:
    return _table(
        "pods to Service ports (real connections)",
        "✓ connected · R refused · ✗ timed out",
        m.pods,
        m.services,
        lambda pod, s: _kernel_cell(m.checks[(pod, s)]),
    )


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
