"""The renderings of pods-to-Service-ports matrices: the model's (`path.service_reach`, what
`podnet reach --services` shows) and the kernel's (`linux.service_probe`, `podnet probe
--services`). Both print a table or the same JSON shape: `allowed[pod][service]`, and per cell
what decided it."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from podnet.linux import probe
from podnet.linux.service_probe import Check, ServiceMatrix
from podnet.path.service_reach import ServiceCell, ServiceReach
from podnet.proxy.verdict import ProxyVerdict
from podnet.report import summary
from podnet.report.console import terminal_width


def _table(
    title: str,
    caption: str,
    pods: list[str],
    services: list[str],
    cell: Callable[[str, str], str],
    allowed: Callable[[str, str], bool],
    width: int | None = None,
) -> str:
    """Pods down, Service ports across, `cell(pod, service)` in each, when that fits `width`
    columns (the terminal's by default); else the share `allowed` by namespace, else namespace
    pairs ranked."""
    width = width or terminal_width()
    if summary.may_fit(len(services), width):
        grid = summary.Grid(
            pods, [[cell(p, s) for s in services] for p in pods], [_header(s) for s in services]
        )
        drawn = summary.printed(width, title, grid, caption)
        if drawn is not None:
            return drawn
    sources = summary.Groups.by([p.split("/", 1)[0] for p in pods])
    targets = summary.Groups.by([s.split("/", 1)[0] for s in services])
    ok = np.array([[allowed(p, s) for s in services] for p in pods], dtype=bool)
    ok = ok.reshape(len(pods), len(services))
    counts = np.array(
        [targets.count(ok[sources.rows(a)].sum(axis=0)) for a in range(len(sources.names))],
        dtype=np.int64,
    ).reshape(len(sources.names), len(targets.names))
    pairs = np.outer(sources.sizes, targets.sizes)
    head = (
        f"{title}: {int(counts.sum()):,} of {int(pairs.sum()):,} pod to Service port pairs allowed"
    )
    if summary.may_fit(len(targets.names), width):
        grid = summary.Grid(
            [f"{ns} ({n:,} pods)" for ns, n in zip(sources.names, sources.sizes, strict=True)],
            [
                [summary.share(int(counts[a, b]), int(pairs[a, b])) for b in range(counts.shape[1])]
                for a in range(counts.shape[0])
            ],
            [f"{ns} ({n:,})" for ns, n in zip(targets.names, targets.sizes, strict=True)],
        )
        drawn = summary.printed(
            width,
            f"{head}, by namespace",
            grid,
            "rows: pods' namespaces; columns: Services' namespaces (Service ports);"
            f" {summary.SHARE_LEGEND}",
        )
        if drawn is not None:
            return drawn
    return summary.ranked(
        f"{head}; too many namespaces for {width} columns: namespace pairs, most allowed first",
        "share: of the pod to Service port pairs",
        sources.names,
        targets.names,
        counts,
        pairs,
        width,
    )


def _header(service: str) -> str:
    """ns/name:port/protocol over three lines, so that a column is as wide as its longest part."""
    name, _, port = service.rpartition(":")
    namespace, _, name = name.partition("/")
    return f"{namespace}/\n{name}\n:{port}"


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


def model_table(r: ServiceReach, width: int | None = None) -> str:
    return _table(
        "pods to Service ports",
        "✓ every endpoint accepts, ~ some do, ✗ none does, R rejected (no endpoints), D dropped",
        r.pods,
        r.services,
        lambda pod, s: _model_cell(r.cells[pod][s]),
        lambda pod, s: r.cells[pod][s].allowed,
        width,
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
        "✓ connected, R refused, ✗ timed out",
        m.pods,
        m.services,
        lambda pod, s: _kernel_cell(m.checks[(pod, s)]),
        lambda pod, s: probe.OPEN in {o.status for o in m.checks[(pod, s)].outcomes},
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
