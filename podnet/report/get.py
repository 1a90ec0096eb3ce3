"""The renderings of the inventory (`podnet get`): kubectl's plain columns (`table`, and `wide`
with more of them), or JSON (the shape in docs/contracts.md).

The columns are kubectl's where it has them, with its words for nothing there (`<none>`, a
LoadBalancer's `<pending>`) and its formats (`80:30080/TCP`, `10.244.1.2:80,... + 2 more...`);
a NAMESPACE column comes first, as `kubectl get -A` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence

from podnet.model.inventory import (
    Inventory,
    NodeEntry,
    PodEntry,
    PolicyEntry,
    Resource,
    ServiceEntry,
)
from podnet.model.objects import ServicePort, ServiceType, Taint
from podnet.model.selectors import LabelSelector

NONE = "<none>"
# kubectl's tab writer: three spaces between columns, every column but the last at least six wide.
PADDING = 3
MIN_WIDTH = 6
# kubectl shows three endpoints of a Service and counts the rest.
ENDPOINTS_SHOWN = 3
# Past this, kubectl cuts a LoadBalancer's addresses outside -o wide.
LB_WIDTH = 16

# The prefix kubectl gives names when it prints several kinds at once (`kubectl get all`).
KIND_PREFIX = {
    Resource.pods: "pod/",
    Resource.services: "service/",
    Resource.nodes: "node/",
    Resource.policies: "networkpolicy.networking.k8s.io/",
}


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells in left-aligned columns, as kubectl's tab writer sets them."""
    widths = [max(MIN_WIDTH, max(len(r[i]) for r in rows) + PADDING) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)] + [row[-1]]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _joined(items: Iterable[object]) -> str:
    return ",".join(str(i) for i in items) or NONE


def _labels(labels: Mapping[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or NONE


def selector_text(selector: LabelSelector) -> str:
    """metav1.FormatLabelSelector: `app=web,tier in (a,b)`, `<none>` for the empty selector."""
    return NONE if selector.is_empty else str(selector)


def port_text(ports: Sequence[ServicePort]) -> str:
    """kubectl's PORT(S): `80/TCP`, `80:30080/TCP` with a node port, comma-separated."""
    return _joined(
        f"{p.port}:{p.node_port}/{p.protocol}" if p.node_port else f"{p.port}/{p.protocol}"
        for p in ports
    )


def external_ip_text(s: ServiceEntry, wide: bool) -> str:
    """kubectl's EXTERNAL-IP: externalIPs, a LoadBalancer's ingress (`<pending>` while it has
    none) or an ExternalName's name."""
    if s.type == ServiceType.ExternalName:
        return s.external_name
    external = [str(ip) for ip in s.external_ips]
    if s.type != ServiceType.LoadBalancer:
        return _joined(external)
    ingress = ",".join(s.load_balancer)
    if not wide and len(ingress) > LB_WIDTH:
        ingress = ingress[: LB_WIDTH - 3] + "..."
    return ",".join([*([ingress] if ingress else []), *external]) or "<pending>"


def cluster_ip_text(s: ServiceEntry, wide: bool) -> str:
    if s.headless:
        return "None"
    return _joined(s.cluster_ips if wide else s.cluster_ips[:1])


def endpoints_text(endpoints: Sequence[str]) -> str:
    shown = ",".join(endpoints[:ENDPOINTS_SHOWN]) or NONE
    more = len(endpoints) - ENDPOINTS_SHOWN
    return f"{shown} + {more} more..." if more > 0 else shown


def taint_text(t: Taint) -> str:
    return f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"


# the sections -------------------------------------------------------------------------------------


def _pods(pods: Sequence[PodEntry], wide: bool, prefix: str) -> list[list[str]]:
    head = ["NAMESPACE", "NAME", "STATUS", "IP", "NODE"]
    if wide:
        head += ["IPS", "OWNER", "REASON"]
    rows = [head]
    for p in pods:
        row = [p.namespace, prefix + p.name, p.status, str(p.ips[0]) if p.ips else NONE]
        row.append(p.node or NONE)
        if wide:
            row += [_joined(p.ips), p.owner or NONE, p.reason or NONE]
        rows.append(row)
    return rows


def _services(services: Sequence[ServiceEntry], wide: bool, prefix: str) -> list[list[str]]:
    head = ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]
    if wide:
        head += ["SELECTOR", "ENDPOINTS"]
    rows = [head]
    for s in services:
        row = [s.namespace, prefix + s.name, str(s.type), cluster_ip_text(s, wide)]
        row += [external_ip_text(s, wide), port_text(s.ports)]
        if wide:
            row += [_labels(s.selector), endpoints_text(s.endpoints)]
        rows.append(row)
    return rows


def _nodes(nodes: Sequence[NodeEntry], wide: bool, prefix: str) -> list[list[str]]:
    head = ["NAME", "ROLES", "INTERNAL-IP", "POD-CIDRS"]
    if wide:
        head += ["TAINTS", "LABELS"]
    rows = [head]
    for n in nodes:
        ips = n.ips if wide else n.ips[:1]
        row = [prefix + n.name, _joined(n.roles), _joined(ips), _joined(n.pod_cidrs)]
        if wide:
            row += [_joined(taint_text(t) for t in n.taints), _labels(n.labels)]
        rows.append(row)
    return rows


def _policies(policies: Sequence[PolicyEntry], wide: bool, prefix: str) -> list[list[str]]:
    rows = [["NAMESPACE", "NAME", "POD-SELECTOR", "POLICY-TYPES"]]
    for p in policies:
        types = _joined(p.policy_types)
        rows.append([p.namespace, prefix + p.name, selector_text(p.pod_selector), types])
    return rows


Section = Callable[[Sequence, bool, str], list[list[str]]]
SECTIONS: dict[Resource, Section] = {
    Resource.pods: _pods,
    Resource.services: _services,
    Resource.nodes: _nodes,
    Resource.policies: _policies,
}


def to_table(inv: Inventory, wide: bool = False) -> str:
    """One table per resource asked for that has objects, a blank line between; names carry
    their kind (`pod/web-0`) when several resources are asked for, as `kubectl get all` does."""
    tables = []
    for resource in inv.resources:
        entries = getattr(inv, resource.value)
        if entries:
            prefix = KIND_PREFIX[resource] if len(inv.resources) > 1 else ""
            tables.append(columns(SECTIONS[resource](entries, wide, prefix)))
    return "\n".join(tables)


# JSON ---------------------------------------------------------------------------------------------


def _selector_json(s: LabelSelector) -> dict:
    out: dict = {}
    if s.match_labels:
        out["matchLabels"] = dict(s.match_labels)
    if s.match_expressions:
        out["matchExpressions"] = [
            {"key": r.key, "operator": r.operator, "values": list(r.values)}
            for r in s.match_expressions
        ]
    return out


def pod_json(p: PodEntry) -> dict:
    return {
        "namespace": p.namespace,
        "name": p.name,
        "phase": p.phase,
        "terminating": p.terminating,
        "ready": p.ready,
        "ips": [str(ip) for ip in p.ips],
        "node": p.node or None,
        "hostNetwork": p.host_network,
        "owner": p.owner or None,
        "reason": p.reason or None,
        "labels": dict(p.labels),
    }


def service_json(s: ServiceEntry) -> dict:
    return {
        "namespace": s.namespace,
        "name": s.name,
        "type": str(s.type),
        "clusterIPs": [str(ip) for ip in s.cluster_ips],
        "headless": s.headless,
        "externalName": s.external_name or None,
        "externalIPs": [str(ip) for ip in s.external_ips],
        "loadBalancer": list(s.load_balancer),
        "ports": [
            {
                "name": p.name,
                "port": p.port,
                "protocol": p.protocol,
                "targetPort": p.target,
                "nodePort": p.node_port,
            }
            for p in s.ports
        ],
        "selector": None if s.selector is None else dict(s.selector),
        "endpoints": list(s.endpoints),
    }


def node_json(n: NodeEntry) -> dict:
    return {
        "name": n.name,
        "roles": list(n.roles),
        "internalIPs": [str(ip) for ip in n.ips],
        "podCIDRs": [str(c) for c in n.pod_cidrs],
        "taints": [taint_text(t) for t in n.taints],
        "labels": dict(n.labels),
    }


def policy_json(p: PolicyEntry) -> dict:
    return {
        "kind": p.kind,
        "namespace": p.namespace,
        "name": p.name,
        "podSelector": _selector_json(p.pod_selector),
        "policyTypes": [str(t) for t in p.policy_types],
    }


_JSON: dict[Resource, Callable] = {
    Resource.pods: pod_json,
    Resource.services: service_json,
    Resource.nodes: node_json,
    Resource.policies: policy_json,
}


def to_json(inv: Inventory) -> str:
    """One key per resource asked for (`pods`, `services`, `nodes`, `policies`), each a list."""
    doc = {r.value: [_JSON[r](e) for e in getattr(inv, r.value)] for r in inv.resources}
    return json.dumps(doc, indent=2) + "\n"


# The first format is the default.
RENDERERS = {
    Inventory: {
        "table": to_table,
        "wide": lambda inv: to_table(inv, wide=True),
        "json": to_json,
    }
}
