"""NetworkPolicy mistakes users make, found on the resolved cluster. Pure.

Each finding names the policy (its kind too), the field and the line it was written on;
`report.lint` renders them. The admin tiers' checks are in `policy.lint_tiers`. Vectors over pod keys come from the engine, so lint judges selectors exactly as the matrix
does. The engine sees running pods only: a finding that holds only because some pods are pending
(a selector whose pods are all unscheduled) says so, names them, and is `info`, since it is about
the model's cluster rather than the policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from podnet.model.cluster import Cluster
from podnet.model.cluster_policy import ClusterPolicy
from podnet.model.objects import (
    ContainerPort,
    IPBlock,
    IPNetwork,
    NetworkPolicy,
    Pod,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    PolicyType,
)
from podnet.policy import semantics
from podnet.policy.engine import PolicyEngine

SEVERITIES = ("info", "warning", "error")
NETWORK_POLICY = "NetworkPolicy"
DNS_LABELS = {"k8s-app": "kube-dns"}
PENDING_SHOWN = 3  # pending pods named in one finding's message


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str
    code: str
    policy: str  # ns/name
    field: str
    message: str
    file: str = ""  # "<stdin>" for manifests read from stdin, as input errors say
    line: int | None = None  # the line of `field` (or of its nearest written ancestor)
    # The pending pods without which the finding would not hold, by namespace/name.
    pending_pods: tuple[str, ...] = ()
    # NetworkPolicy, or an admin tier's ClusterNetworkPolicy, AdminNetworkPolicy or
    # BaselineAdminNetworkPolicy (cluster-scoped: `policy` is then the name alone).
    kind: str = NETWORK_POLICY

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file else ""
        return f"{where}{self.severity}: {self.kind} {self.policy}: {self.field}: {self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class Findings:
    """What one run of lint found, in `lint`'s order: the result `report.lint` renders."""

    items: tuple[Finding, ...]
    # Pods of the manifests that no node takes, by namespace/name: why (`Cluster.pending`).
    pending: Mapping[str, str] = field(default_factory=dict)

    def at_least(self, severity: str) -> bool:
        """Whether a finding is at least as severe as `severity` (what `--fail-on` asks)."""
        threshold = SEVERITIES.index(severity)
        return any(SEVERITIES.index(f.severity) >= threshold for f in self.items)


def lint(cluster: Cluster) -> list[Finding]:
    engine = PolicyEngine(cluster)
    pending = [p for p in cluster.pods if p.key in cluster.pending]
    out: list[Finding] = []
    for i, pol in enumerate(cluster.policies):
        out += _selectors(engine, i, pol, pending)
        out += _or_and(engine, pol)
        out += _named_ports(engine, i, pol, pending)
        out += _service_ports(engine, cluster, i, pol)
        out += _ip_blocks(cluster, pol)
    out += _dns(cluster)
    out += _shadowed(engine, cluster, pending)
    if cluster.cluster_policies:
        from podnet.policy.lint_tiers import lint_tiers  # it builds on this module's Finding

        out += lint_tiers(cluster)
    return sorted(out, key=lambda f: (f.file, f.line or 0, f.policy, f.field, f.code))


def findings(cluster: Cluster) -> Findings:
    """`lint` with the cluster's pending pods: what the `lint` command renders."""
    return Findings(tuple(lint(cluster)), cluster.pending)


def at_field(
    pol: NetworkPolicy | ClusterPolicy,
    severity: str,
    code: str,
    field: str,
    message: str,
    pending: Iterable[Pod] = (),
    cluster: Cluster | None = None,
) -> Finding:
    """A finding at the line of `field`. With `pending` (the pods whose absence the finding rests
    on) it is `info` and its message names them with kube-scheduler's reason."""
    keys = tuple(p.key for p in pending)
    if keys and cluster is not None:
        shown = ", ".join(f"{k} ({cluster.pending[k]})" for k in keys[:PENDING_SHOWN])
        more = f" and {len(keys) - PENDING_SHOWN} more" if len(keys) > PENDING_SHOWN else ""
        message += f"; it matches only pending pods: {shown}{more}"
        severity = "info"
    line = pol.origin.line_of(field)
    kind = pol.kind if isinstance(pol, ClusterPolicy) else NETWORK_POLICY
    return Finding(severity, code, pol.key, field, message, pol.origin.file, line, keys, kind)


def _peer_items(pol: NetworkPolicy):  # type: ignore[no-untyped-def]
    for direction in (PolicyType.Ingress, PolicyType.Egress):
        if direction not in pol.policy_types:
            continue
        key = "from" if direction == PolicyType.Ingress else "to"
        for r, rule in enumerate(pol.rules(direction)):
            base = f"spec.{direction.lower()}[{r}]"
            yield direction, r, rule, base, key


def _selectors(
    engine: PolicyEngine, i: int, pol: NetworkPolicy, pending: list[Pod]
) -> list[Finding]:
    out = []
    cluster = engine.cluster
    if not engine.subjects(i).any():
        out.append(
            at_field(
                pol,
                "warning",
                "no-subjects",
                "spec.podSelector",
                f"selects no pod in namespace {pol.namespace} ({pol.pod_selector})",
                [p for p in pending if semantics.selects(pol, p)],
                cluster,
            )
        )
    for _direction, _r, rule, base, key in _peer_items(pol):
        for p, peer in enumerate(rule.peers):
            if peer.ip_block is None and not engine.peer_vector(pol, peer).any():
                out.append(
                    at_field(
                        pol,
                        "warning",
                        "peer-matches-nothing",
                        f"{base}.{key}[{p}]",
                        f"{peer} matches no pod",
                        _pending_peers(cluster, pol, (peer,), pending),
                        cluster,
                    )
                )
    return out


def _pending_peers(
    cluster: Cluster, pol: NetworkPolicy, peers: Iterable[PolicyPeer], pending: list[Pod]
) -> list[Pod]:
    """The pending pods some of `peers` select."""
    peers = tuple(peers)
    return [p for p in pending if any(semantics.peer_selects(cluster, pol, x, p) for x in peers)]


def _or_and(engine: PolicyEngine, pol: NetworkPolicy) -> list[Finding]:
    out = []
    for _direction, _r, rule, base, key in _peer_items(pol):
        ns_only = [
            p
            for p, peer in enumerate(rule.peers)
            if peer.namespace_selector is not None and peer.pod_selector is None
        ]
        pod_only = [
            p
            for p, peer in enumerate(rule.peers)
            if peer.pod_selector is not None and peer.namespace_selector is None
        ]
        if ns_only and pod_only:
            out.append(
                at_field(
                    pol,
                    "warning",
                    "or-not-and",
                    f"{base}.{key}",
                    f"items {key}[{ns_only[0]}] (namespaceSelector) and {key}[{pod_only[0]}] (podSelector)"
                    " are separate peers, so either one allows (OR); to require both, put"
                    " namespaceSelector and podSelector in one item (AND)",
                )
            )
        for p, peer in enumerate(rule.peers):
            if peer.namespace_selector is None or peer.pod_selector is None:
                continue
            selected = [
                ns
                for ns, obj in engine.cluster.namespaces.items()
                if peer.namespace_selector.matches(obj.labels)
            ]
            if selected == [pol.namespace]:
                out.append(
                    at_field(
                        pol,
                        "info",
                        "and-not-or",
                        f"{base}.{key}[{p}]",
                        f"namespaceSelector and podSelector in one item both apply (AND), and the"
                        f" namespaceSelector matches only the policy's own namespace {pol.namespace}:"
                        " if pods of that namespace OR of other namespaces were meant, use two items",
                    )
                )
    return out


def _destinations(
    engine: PolicyEngine, i: int, pol: NetworkPolicy, direction: str, rule: PolicyRule
) -> np.ndarray:
    """Keys a rule's ports are tested against: the subjects (ingress) or the peers (egress)."""
    if direction == PolicyType.Ingress:
        return engine.subjects(i)
    if not rule.peers:
        return engine.pod_network.copy()
    v = np.zeros(engine.keys, dtype=bool)
    for peer in rule.peers:
        v |= engine.peer_vector(pol, peer)
    return v & engine.pod_network


def _named_ports(
    engine: PolicyEngine, i: int, pol: NetworkPolicy, pending: list[Pod]
) -> list[Finding]:
    out = []
    cluster = engine.cluster
    for direction, _r, rule, base, _key in _peer_items(pol):
        dests = [
            engine.reps[k] for k in np.flatnonzero(_destinations(engine, i, pol, direction, rule))
        ]
        for j, entry in enumerate(rule.ports):
            if isinstance(entry.port, str) and not any(
                d.named_port(entry.port, entry.protocol) is not None for d in dests
            ):
                who = "selected pod" if direction == PolicyType.Ingress else "destination pod"
                out.append(
                    at_field(
                        pol,
                        "warning",
                        "unknown-named-port",
                        f"{base}.ports[{j}].port",
                        f"no {who} declares a container port named {entry.port!r} ({entry.protocol}),"
                        " so this entry matches nothing",
                        [
                            p
                            for p in _pending_destinations(cluster, pol, direction, rule, pending)
                            if p.named_port(entry.port, entry.protocol) is not None
                        ],
                        cluster,
                    )
                )
    return out


def _pending_destinations(
    cluster: Cluster, pol: NetworkPolicy, direction: str, rule: PolicyRule, pending: list[Pod]
) -> list[Pod]:
    """The pending pods a rule's ports would be tested against (see `_destinations`)."""
    if direction == PolicyType.Ingress:
        return [p for p in pending if semantics.selects(pol, p)]
    if not rule.peers:
        return [p for p in pending if not p.host_network]
    return _pending_peers(cluster, pol, rule.peers, pending)


def _service_ports(
    engine: PolicyEngine, cluster: Cluster, i: int, pol: NetworkPolicy
) -> list[Finding]:
    out = []
    for direction, _r, rule, base, _key in _peer_items(pol):
        dests = [
            engine.reps[k] for k in np.flatnonzero(_destinations(engine, i, pol, direction, rule))
        ]
        for j, entry in enumerate(rule.ports):
            if not isinstance(entry.port, int) or entry.end_port is not None:
                continue
            if any(_declares(d, entry.port, entry.protocol) for d in dests):
                continue
            for svc in cluster.services:
                if svc.selector is None:
                    continue
                backends = [
                    d
                    for d in dests
                    if d.namespace == svc.namespace
                    and all(d.labels.get(k) == v for k, v in svc.selector.items())
                ]
                for sp in svc.ports:
                    if (
                        backends
                        and sp.port == entry.port
                        and sp.protocol == entry.protocol
                        and sp.target != entry.port
                    ):
                        target = (
                            sp.target
                            if isinstance(sp.target, int)
                            else backends[0].named_port(sp.target, sp.protocol)
                        )
                        out.append(
                            at_field(
                                pol,
                                "warning",
                                "service-port",
                                f"{base}.ports[{j}].port",
                                f"{entry.port} is the port of Service {svc.key}; policies see the"
                                f" pod's target port ({sp.target}{f' = {target}' if isinstance(sp.target, str) and target else ''}),"
                                " because kube-proxy translates before policy applies",
                            )
                        )
    return _unique(out)


def _declares(pod: Pod, port: int, protocol: str) -> bool:
    return any(p.container_port == port and p.protocol == protocol for p in pod.ports)


def _ip_blocks(cluster: Cluster, pol: NetworkPolicy) -> list[Finding]:
    out = []
    cfg = cluster.config
    for _direction, _r, rule, base, key in _peer_items(pol):
        for p, peer in enumerate(rule.peers):
            block = peer.ip_block
            if block is None:
                continue
            field = f"{base}.{key}[{p}].ipBlock"
            for what, nets in (("pod", cfg.pod_subnets), ("service", cfg.service_subnets)):
                for net in nets:
                    if _uncovered_overlap(block, net):
                        severity = "info" if block.cidr.prefixlen == 0 else "warning"
                        hint = (
                            (
                                "pod addresses are matched by ipBlocks too: use selectors for pods, or"
                                " except the pod network"
                            )
                            if what == "pod"
                            else (
                                "policies see addresses after kube-proxy's DNAT, never a Service IP"
                            )
                        )
                        out.append(
                            at_field(
                                pol,
                                severity,
                                f"ipblock-covers-{what}-cidr",
                                field,
                                f"{block} covers the {what} network {net}: {hint}",
                            )
                        )
    return out


def _uncovered_overlap(block: IPBlock, net: IPNetwork) -> bool:
    if block.cidr.version != net.version or not block.cidr.overlaps(net):  # type: ignore[arg-type]
        return False
    overlap = net if net.subnet_of(block.cidr) else block.cidr  # type: ignore[arg-type]
    return not any(overlap.subnet_of(e) for e in block.except_)  # type: ignore[arg-type]


def _dns_pods(cluster: Cluster) -> list[Pod]:
    """The cluster DNS pods, or a stand-in CoreDNS pod with the standard labels and ports."""
    found = [
        p
        for p in cluster.running_pods
        if p.namespace == "kube-system" and p.labels.get("k8s-app") == "kube-dns"
    ]
    if found:
        return found
    net = cluster.config.pod_subnets[0]
    return [
        Pod(
            "coredns",
            "kube-system",
            DNS_LABELS,
            (
                ContainerPort(53, "UDP", "dns"),
                ContainerPort(53, "TCP", "dns-tcp"),
                ContainerPort(9153, "TCP", "metrics"),
            ),
            node_name="",
            ips=(net.broadcast_address - 1,),
        )
    ]


def _dns(cluster: Cluster) -> list[Finding]:
    """Pods isolated for egress that can reach no cluster DNS pod on UDP 53 (or TCP 53)."""
    dns = [semantics.pod_peer(p) for p in _dns_pods(cluster)]
    out = []
    blocked: dict[str, list[str]] = {}
    for pod in cluster.running_pods:
        if pod.host_network:
            continue
        src = semantics.pod_peer(pod)
        missing = [
            proto
            for proto in ("UDP", "TCP")
            if not any(
                semantics.direction_verdict(cluster, PolicyType.Egress, src, d, 53, proto).allowed
                for d in dns
            )
        ]
        if missing:
            blocked.setdefault("/".join(missing), []).append(pod.key)
    for pol in cluster.policies:
        if PolicyType.Egress not in pol.policy_types:
            continue
        for protos, pods in blocked.items():
            mine = [
                k
                for k in pods
                if k.split("/")[0] == pol.namespace
                and pol.pod_selector.matches(cluster.pod(k).labels)
            ]  # type: ignore[union-attr]
            if mine:
                shown = ", ".join(mine[:3]) + (
                    f" and {len(mine) - 3} more" if len(mine) > 3 else ""
                )
                severity = "warning" if "UDP" in protos else "info"
                out.append(
                    at_field(
                        pol,
                        severity,
                        "egress-without-dns",
                        "spec.policyTypes",
                        f"isolates {shown} for egress, and no policy lets them reach cluster DNS"
                        f" on {protos} port 53 (kube-system pods with k8s-app=kube-dns)",
                    )
                )
    return out


def _port_covers(big: tuple[PolicyPort, ...], small: tuple[PolicyPort, ...]) -> bool:
    if not big:
        return True
    if not small:
        return False
    return all(any(_entry_covers(b, s) for b in big) for s in small)


def _entry_covers(b: PolicyPort, s: PolicyPort) -> bool:
    if b.protocol != s.protocol:
        return False
    if b.port is None:
        return True
    if isinstance(b.port, str) or isinstance(s.port, str) or s.port is None:
        return b.port == s.port
    b_end = b.end_port if b.end_port is not None else b.port
    s_end = s.end_port if s.end_port is not None else s.port
    return b.port <= s.port and s_end <= b_end


def _peers_cover(
    engine: PolicyEngine, bp: NetworkPolicy, big: PolicyRule, sp: NetworkPolicy, small: PolicyRule
) -> bool:
    if not big.peers:
        return True
    if not small.peers:
        return False
    for peer in small.peers:
        if peer.ip_block is not None:
            if not any(
                b.ip_block is not None and _block_within(peer.ip_block, b.ip_block)
                for b in big.peers
            ):
                return False
        else:
            v = engine.peer_vector(sp, peer)
            cover = np.zeros(engine.keys, dtype=bool)
            for b in big.peers:
                cover |= engine.peer_vector(bp, b)
            if (v & ~cover).any():
                return False
    return True


def _block_within(small: IPBlock, big: IPBlock) -> bool:
    if small.cidr.version != big.cidr.version or not small.cidr.subnet_of(big.cidr):  # type: ignore[arg-type]
        return False
    # Every address big excepts must be excepted by small as well.
    return all(
        not e.overlaps(small.cidr) or any(e.subnet_of(x) for x in small.except_)  # type: ignore[arg-type]
        for e in big.except_
    )


def _shadowed(engine: PolicyEngine, cluster: Cluster, pending: list[Pod]) -> list[Finding]:
    """A rule that allows nothing another rule of the same direction does not already allow."""
    out = []
    rules = []
    for i, pol in enumerate(cluster.policies):
        for direction, r, rule, base, _key in _peer_items(pol):
            rules.append((i, pol, direction, r, rule, base))
    for a, (i, pol, direction, _r, rule, base) in enumerate(rules):
        subjects = engine.subjects(i)
        if not subjects.any():
            continue
        for b, (j, other, odir, _or, orule, obase) in enumerate(rules):
            if a == b or odir != direction or other.namespace != pol.namespace:
                continue
            same = rule == orule and (subjects == engine.subjects(j)).all()
            if same and b > a:
                continue  # identical rules: report the later one only
            if (subjects & ~engine.subjects(j)).any():
                continue
            if _port_covers(orule.ports, rule.ports) and _peers_cover(
                engine, other, orule, pol, rule
            ):
                where = obase if other is pol else f"{other.key} {obase}"
                out.append(
                    at_field(
                        pol,
                        "info",
                        "redundant-rule",
                        base,
                        f"allows nothing that {where} does not already allow to the same pods",
                        _pending_uncovered(cluster, pol, rule, other, orule, pending),
                        cluster,
                    )
                )
                break
    return out


def _pending_uncovered(
    cluster: Cluster,
    pol: NetworkPolicy,
    rule: PolicyRule,
    other: NetworkPolicy,
    orule: PolicyRule,
    pending: list[Pod],
) -> list[Pod]:
    """The pending pods that `rule` would reach beyond `orule`: subjects of `pol` that `other`
    does not select, or peers of `rule` that no peer of `orule` selects."""
    beyond = {
        p.key: p for p in pending if semantics.selects(pol, p) and not semantics.selects(other, p)
    }
    if orule.peers:
        mine = _pending_peers(cluster, pol, rule.peers, pending) if rule.peers else pending
        theirs = {p.key for p in _pending_peers(cluster, other, orule.peers, pending)}
        beyond |= {p.key: p for p in mine if p.key not in theirs and not p.host_network}
    return sorted(beyond.values(), key=lambda p: p.key)


def _unique(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))
