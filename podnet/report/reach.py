"""The renderings of a reachability matrix (`policy.matrix.Reach`), whoever computed it (the model
or real probes): table, json (the contract in docs/contracts.md), csv, md and dot."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import numpy as np

from podnet.policy.matrix import Reach
from podnet.report import summary
from podnet.report.console import terminal_width
from podnet.report.summary import ALLOWED, DENIED, NO_PORT


def to_json(reach: Reach) -> dict:
    """The shape docs/contracts.md promises to other tools: `allowed[FROM][TO]` per probe, each
    probe's `undeclared` destinations, `pending` (pod -> why no node takes it) when the manifests
    have such pods, and `to`, the destination pods, when the columns are narrowed to other pods
    than the rows."""
    # What the pods declare, even when the ports were asked for by number.
    declares = dataclasses.replace(reach, requested=False).declares()
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
                "undeclared": [reach.columns[j] for j in np.flatnonzero(~declares[k])],
            }
            for k, p in enumerate(reach.probes)
        ],
    }
    if reach.pending:
        doc["pending"] = reach.pending
    return doc


def render_table(reach: Reach, width: int | None = None) -> str:
    """The matrix in `width` columns (the terminal's by default, `console.terminal_width`): pod by
    pod when that fits, else namespace by namespace, else namespace pairs ranked. Columns that are
    other pods than the rows (`reach --from/--to`) are listed under the table by number."""
    if not reach.pods or not reach.columns:
        return "no pods on the pod network\n"
    if not reach.probes:
        return "no pod declares a port: ask for one with --port N\n"
    width = width or terminal_width()
    declares = reach.declares()
    for view in (_pods_view, _namespaces_view):
        drawn = view(reach, declares, width)
        if drawn is not None:
            return drawn + (_columns_legend(reach) if view is _pods_view else "")
    return _ranked_view(reach, declares, width)


def _columns_legend(reach: Reach) -> str:
    """What the numbered columns are, when they are not the rows."""
    if reach.destinations is None:
        return ""
    lines = ["columns (to):"]
    lines += [
        f"  {j + 1:>3} {pod} ({reach.ips.get(pod, '')})" for j, pod in enumerate(reach.columns)
    ]
    return "\n".join(lines) + "\n"


def _port_label(port: int, protocol: str) -> str:
    return f"{port}" + ("" if protocol == "TCP" else f"/{protocol[0].lower()}")


def _pods_view(reach: Reach, declares: np.ndarray, width: int) -> str | None:
    """Every pod a row and a column: a cell lists the destination's declared ports that are open
    (one port: whether it is open)."""
    n, m = len(reach.pods), len(reach.columns)
    if not summary.may_fit(m, width):
        return None
    listed = declares.any(axis=0)
    if len(reach.probes) > 1:
        labels = [_port_label(p.port, p.protocol) for p in reach.probes]
        # (probe, source, destination): open on a port the destination declares.
        open_ = np.stack([p.allowed for p in reach.probes]) & declares[:, None, :]
        cells = [
            [
                (" ".join(labels[k] for k in np.flatnonzero(open_[:, i, j])) or DENIED)
                if listed[j]
                else NO_PORT
                for j in range(m)
            ]
            for i in range(n)
        ]
        title = "allowed connections to each destination's declared ports"
        legend = f"{DENIED} denied on every port it declares"
    else:
        allowed = reach.probes[0].allowed
        cells = [
            [(ALLOWED if allowed[i, j] else DENIED) if listed[j] else NO_PORT for j in range(m)]
            for i in range(n)
        ]
        title = _single_title(reach, declares)
        legend = f"{ALLOWED} allowed, {DENIED} denied"
    if not listed.all():
        legend += f", {NO_PORT} the destination declares no such port (ask with --port N)"
    grid = summary.Grid([f"{pod} ({reach.ips.get(pod, '')})" for pod in reach.pods], cells)
    return summary.printed(width, title, grid, f"rows: from; columns: to (by number); {legend}")


def _single_title(reach: Reach, declares: np.ndarray) -> str:
    probe = reach.probes[0]
    head = f"{probe.protocol}/{probe.port}"
    if declares.all():
        allowed, pairs = int(probe.allowed.sum()), probe.allowed.size
        return f"{head}: {allowed:,} of {pairs:,} connections allowed"
    to = declares[0]
    allowed, pairs = int(probe.allowed[:, to].sum()), len(reach.pods) * int(to.sum())
    return (
        f"{head}: {allowed:,} of {pairs:,} connections allowed to the {int(to.sum()):,} pod(s)"
        " that declare it"
    )


def _namespace_counts(
    reach: Reach, declares: np.ndarray
) -> tuple[summary.Groups, summary.Groups, np.ndarray, np.ndarray]:
    """Per (source namespace, destination namespace): the pod pairs open on some port the
    destination declares, and the pairs whose destination declares one. Namespace by namespace
    over rows, so memory stays at one namespace's rows and no cell is visited in Python."""
    groups = summary.Groups.by([pod.split("/", 1)[0] for pod in reach.pods])
    to = (
        groups
        if reach.destinations is None
        else summary.Groups.by([pod.split("/", 1)[0] for pod in reach.columns])
    )
    allowed = np.zeros((len(groups.names), len(to.names)), dtype=np.int64)
    for a in range(len(groups.names)):
        rows = groups.rows(a)
        block = np.zeros((int(groups.sizes[a]), len(reach.columns)), dtype=bool)
        for k, probe in enumerate(reach.probes):
            block |= probe.allowed[rows] & declares[k]
        allowed[a] = to.count(block.sum(axis=0))
    pairs = np.outer(groups.sizes, to.count(declares.any(axis=0).astype(np.int64)))
    return groups, to, allowed, pairs


def _summary_title(reach: Reach, allowed: np.ndarray, pairs: np.ndarray) -> str:
    if len(reach.probes) == 1:
        p = reach.probes[0]
        return f"{p.protocol}/{p.port}: {int(allowed.sum()):,} of {int(pairs.sum()):,} pod pairs allowed"
    return (
        f"{len(reach.probes)} ports (one at a time: --port N): {int(allowed.sum()):,} of"
        f" {int(pairs.sum()):,} pod pairs allowed on some port the destination declares"
    )


def _share_legend(declares: np.ndarray, pairs: np.ndarray) -> str:
    legend = summary.SHARE_LEGEND
    if (pairs == 0).any():
        legend += f", {NO_PORT} no pod there declares a port"
    if not declares.any(axis=0).all():
        legend += "; pairs toward pods that declare no port are not counted (ask with --port N)"
    return legend


def _namespaces_view(reach: Reach, declares: np.ndarray, width: int) -> str | None:
    """Namespace by namespace: a cell is the share of the pod pairs allowed."""
    if not summary.may_fit(len({pod.split("/", 1)[0] for pod in reach.columns}), width):
        return None
    groups, to, allowed, pairs = _namespace_counts(reach, declares)
    grid = summary.Grid(
        [f"{ns} ({size:,} pods)" for ns, size in zip(groups.names, groups.sizes, strict=True)],
        [
            [summary.share(int(allowed[a, b]), int(pairs[a, b])) for b in range(len(to.names))]
            for a in range(len(groups.names))
        ],
        # Numbered columns are the rows' namespaces; other namespaces are named.
        headers=None if to is groups else list(to.names),
    )
    columns = "columns: to (by number)" if to is groups else "columns: to"
    return summary.printed(
        width,
        f"{_summary_title(reach, allowed, pairs)}, by namespace",
        grid,
        f"rows: from; {columns}; {_share_legend(declares, pairs)}",
    )


def _ranked_view(reach: Reach, declares: np.ndarray, width: int) -> str:
    """Namespace pairs, most pod pairs allowed first."""
    groups, to, allowed, pairs = _namespace_counts(reach, declares)
    many = len(set(groups.names) | set(to.names))
    title = (
        f"{_summary_title(reach, allowed, pairs)}; {many:,} namespaces are too many"
        f" for {width} columns: namespace pairs, most allowed first"
    )
    legend = "share: of the pod pairs" + (
        "" if declares.any(axis=0).all() else " whose destination declares a port"
    )
    return summary.ranked(title, legend, groups.names, to.names, allowed, pairs, width)


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
