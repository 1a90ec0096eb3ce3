"""The renderings of a reachability matrix (`policy.matrix.Reach`), whoever computed it (the model
or real probes): table, json (the contract in docs/contracts.md), csv, md and dot."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from rich.console import Console
from rich.table import Table

from podnet.policy.matrix import Probe, Reach

# Above this many pods the table is summarised by namespace.
TABLE_PODS = 40


def to_json(reach: Reach) -> dict:
    """The shape docs/contracts.md promises to other tools: `allowed[FROM][TO]` per probe, and
    `pending` (pod -> why no node takes it) when the manifests have such pods; `to`, the
    destination pods, when the columns are narrowed to other pods than the rows."""
    doc = {
        "pods": reach.pods,
        **({"to": reach.destinations} if reach.destinations is not None else {}),
        "ips": reach.ips,
        "probes": [
            {
                "port": p.port,
                "protocol": p.protocol,
                "allowed": {
                    src: {dst: bool(p.allowed[i, j]) for j, dst in enumerate(reach.columns)}
                    for i, src in enumerate(reach.pods)
                },
            }
            for p in reach.probes
        ],
    }
    if reach.pending:
        doc["pending"] = dict(reach.pending)
    return doc


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200, force_terminal=False, color_system=None), buf


def render_table(reach: Reach) -> str:
    console, buf = _console()
    if not reach.pods or not reach.columns:
        return "no pods on the pod network\n"
    wide = max(len(reach.pods), len(reach.columns))
    if len(reach.probes) > 1 and wide <= TABLE_PODS:
        console.print(_ports_table(reach))
        console.print(_columns_legend(reach), end="")
        return buf.getvalue()
    for probe in reach.probes:
        allowed = int(probe.allowed.sum())
        total = probe.allowed.size
        title = f"{probe.protocol}/{probe.port}: {allowed} of {total} connections allowed"
        table = (
            _pod_table(reach, probe, title)
            if wide <= TABLE_PODS
            else _namespace_table(reach, probe, title)
        )
        console.print(table)
    if wide <= TABLE_PODS:
        console.print(_columns_legend(reach), end="")
    return buf.getvalue()


def _columns_legend(reach: Reach) -> str:
    """What the numbered columns are, when they are not the rows."""
    if reach.destinations is None:
        return ""
    lines = ["columns (to):"]
    lines += [
        f"  {j + 1:>3} {pod} ({reach.ips.get(pod, '')})" for j, pod in enumerate(reach.columns)
    ]
    return "\n".join(lines) + "\n"


def _pod_table(reach: Reach, probe: Probe, title: str) -> Table:
    table = Table(title=title, title_justify="left", caption="rows: from; columns: to (by number)")
    table.add_column("#", justify="right")
    table.add_column("from \\ to")
    for j in range(len(reach.columns)):
        table.add_column(str(j + 1), justify="center")
    for i, pod in enumerate(reach.pods):
        cells = ["✓" if probe.allowed[i, j] else "·" for j in range(len(reach.columns))]
        table.add_row(str(i + 1), f"{pod} ({reach.ips.get(pod, '')})", *cells)
    return table


def _ports_table(reach: Reach) -> Table:
    """One grid for many ports: each cell lists the destination's declared ports it may reach."""
    table = Table(
        title="allowed connections to each destination's declared ports",
        title_justify="left",
        caption="rows: from; columns: to (by number); · none allowed",
    )
    table.add_column("#", justify="right")
    table.add_column("from \\ to")
    for j in range(len(reach.columns)):
        table.add_column(str(j + 1), justify="center")
    for i, pod in enumerate(reach.pods):
        cells = []
        for j, dst in enumerate(reach.columns):
            ports = [
                f"{p.port}" + ("" if p.protocol == "TCP" else f"/{p.protocol[0].lower()}")
                for p in reach.probes
                if (p.port, p.protocol) in reach.declared.get(dst, set()) and p.allowed[i, j]
            ]
            cells.append(",".join(ports) if ports else "·")
        table.add_row(str(i + 1), f"{pod} ({reach.ips.get(pod, '')})", *cells)
    return table


def _namespace_table(reach: Reach, probe: Probe, title: str) -> Table:
    namespaces = sorted({p.split("/")[0] for p in reach.pods})
    ns_of = np.array([namespaces.index(p.split("/")[0]) for p in reach.pods])
    to_namespaces = sorted({p.split("/")[0] for p in reach.columns})
    to_ns_of = np.array([to_namespaces.index(p.split("/")[0]) for p in reach.columns])
    table = Table(title=title + " (allowed / pairs, by namespace)", title_justify="left")
    table.add_column("from \\ to")
    for ns in to_namespaces:
        table.add_column(ns, justify="right")
    for a, src in enumerate(namespaces):
        rows = probe.allowed[ns_of == a]
        cells = []
        for b in range(len(to_namespaces)):
            block = rows[:, to_ns_of == b]
            cells.append(f"{int(block.sum())}/{block.size}")
        table.add_row(src, *cells)
    return table


def render_csv(reach: Reach) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["from", "to", "port", "protocol", "allowed"])
    for probe in reach.probes:
        for i, src in enumerate(reach.pods):
            for j, dst in enumerate(reach.columns):
                w.writerow(
                    [src, dst, probe.port, probe.protocol, str(bool(probe.allowed[i, j])).lower()]
                )
    return buf.getvalue()


def render_markdown(reach: Reach) -> str:
    out = []
    for probe in reach.probes:
        out.append(f"### {probe.protocol}/{probe.port}\n")
        out.append("| from \\ to | " + " | ".join(reach.columns) + " |")
        out.append("|---|" + "---|" * len(reach.columns))
        for i, src in enumerate(reach.pods):
            cells = ["✓" if probe.allowed[i, j] else "✗" for j in range(len(reach.columns))]
            out.append(f"| {src} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def render_dot(reach: Reach) -> str:
    """Allowed connections between different pods as edges, labelled with their ports."""
    out = ["digraph reach {", "  rankdir=LR;", "  node [shape=box];"]
    by_ns: dict[str, list[str]] = {}
    for pod in dict.fromkeys([*reach.pods, *reach.columns]):
        by_ns.setdefault(pod.split("/")[0], []).append(pod)
    for n, (ns, pods) in enumerate(sorted(by_ns.items())):
        out.append(f'  subgraph cluster_{n} {{ label="{ns}";')
        for pod in pods:
            out.append(f'    "{pod}" [label="{pod.split("/", 1)[1]}\\n{reach.ips.get(pod, "")}"];')
        out.append("  }")
    edges: dict[tuple[int, int], list[str]] = {}
    for probe in reach.probes:
        for i, j in zip(*np.nonzero(probe.allowed), strict=True):
            if reach.pods[i] != reach.columns[j]:
                edges.setdefault((int(i), int(j)), []).append(f"{probe.protocol}/{probe.port}")
    for (i, j), ports in sorted(edges.items()):
        out.append(f'  "{reach.pods[i]}" -> "{reach.columns[j]}" [label="{", ".join(ports)}"];')
    out.append("}")
    return "\n".join(out) + "\n"


# The first format is the default. JSON without a final newline, as it always was.
RENDERERS = {
    Reach: {
        "table": render_table,
        "json": lambda r: json.dumps(to_json(r), indent=2),
        "csv": render_csv,
        "md": render_markdown,
        "dot": render_dot,
    }
}
