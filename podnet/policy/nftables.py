"""NetworkPolicy as nftables rules for one node, in the manner of Calico's Felix: a chain per
local pod and direction, dispatched by address from the node's forward hook. Pure text.

Compiled from the engine: the pods a rule's selectors match are the engine's peer vectors and
named ports resolve through the engine's table, so the kernel enforces what the model computes.

- `forward` (filter, priority 0, after kube-proxy's DNAT): established and related traffic is
  accepted first (replies are always allowed); a packet from a local pod jumps to that pod's
  egress chain (map `egress-v4`/`-v6`), whose allowing rules `return`; then a packet to a local
  pod jumps to its ingress chain (map `ingress-v4`/`-v6`), whose allowing rules `accept`. A chain
  ends in `drop` when the pod is isolated in that direction, and does not exist when it is not.
- A packet kube-proxy marked for masquerading skips the ingress chains of this node's pods: it
  will reach them from the node's address (`path.trace` says the same).
- `input`: a local pod's packets to the node's own addresses (and host-network pods) pass its
  egress chain too.
- Peers are interval sets of addresses: the matched pods' IPs and each ipBlock's CIDR minus its
  excepts, collapsed; an empty `from`/`to` matches every address.
- Ports: numbers, ranges and protocol-only entries as written; named ports resolved on the
  destination pod (for egress, one rule per number the destinations resolve it to).
Traffic a node sends to its own pods leaves through the output hook and is not filtered; a pod's
traffic to itself never leaves its namespace: both as `policy.semantics` says.
"""

from __future__ import annotations

from collections import defaultdict
from ipaddress import collapse_addresses, ip_network

import numpy as np

from podnet.errors import InvalidValue
from podnet.family import family
from podnet.model.cluster import Cluster
from podnet.model.config import MASQUERADE_MARK
from podnet.model.objects import IPNetwork, NetworkPolicy, Pod, PolicyPort, PolicyRule, PolicyType
from podnet.nftables import Chain, Element, Map, Rule, Transaction
from podnet.policy.engine import PolicyEngine

TABLE = "podnet-policy"
_L4 = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


def chain_name(direction: str, pod: Pod) -> str:
    return f"{direction.lower()}-{pod.namespace}/{pod.name}"


def render_node(cluster: Cluster, node: str, table: str = TABLE) -> str:
    """The `nft -f` text of the policy table for `node`, every IP family of the cluster."""
    if cluster.cluster_policies:
        # Realised without them, the kernel would allow what the model denies (and the reverse).
        why = (
            "the realisation does not apply cluster-scoped admin policies yet"
            f" ({', '.join(p.kind + ' ' + p.name for p in cluster.cluster_policies[:3])}"
            f"{', ...' if len(cluster.cluster_policies) > 3 else ''}); the model does"
            " (reach, explain, trace)"
        )
        raise InvalidValue("cluster", cluster.name, why, message=why)
    engines = [PolicyEngine(cluster, version) for version in cluster.config.families]
    local = [p for p in cluster.running_pods if p.node_name == node and not p.host_network]
    chains: list[tuple[str, list[str]]] = []
    dispatch: dict[tuple[int, str], list[Element]] = defaultdict(list)
    for pod in local:
        for direction in (PolicyType.Egress, PolicyType.Ingress):
            policies = [
                (i, pol)
                for i, pol in enumerate(cluster.policies)
                if direction in pol.policy_types and _selects(engines[0], i, pod)
            ]
            if not policies:
                continue  # not isolated in this direction
            name = chain_name(direction, pod)
            rules = []
            for engine in engines:
                for _i, pol in policies:
                    for r, rule in enumerate(pol.rules(direction)):
                        rules += _rules(engine, pol, direction, r, rule, pod)
            rules.append(f'drop comment "isolated by {", ".join(p.key for _, p in policies)}"')
            chains.append((name, rules))
            for ip in pod.ips:
                vmap = f"{direction.lower()}-v{ip.version}"
                dispatch[(ip.version, direction)].append(Element(vmap, str(ip), f"jump {name}"))
    tx = Transaction("inet", table)
    egress, ingress = [], []
    for version in cluster.config.families:
        fam, kind = family(version).nft, family(version).nft_addr_type
        for direction, field, rules in (
            (PolicyType.Egress, "saddr", egress),
            (PolicyType.Ingress, "daddr", ingress),
        ):
            name = f"{direction.lower()}-v{version}"
            tx.add(Map(name, f"{kind} : verdict"))
            for element in dispatch.get((version, direction), []):
                tx.add(element)
            rules.append(f"{fam} {field} vmap @{name}")
    established = ["ct state established,related accept", "ct state invalid drop"]
    # The forward hook runs before kube-proxy's masquerade (postrouting): a packet kube-proxy
    # marked for it, headed for a pod of this node, will arrive from the node's address, which is
    # always allowed to reach its own pods (other nodes see it masqueraded already).
    masqueraded = (
        f"meta mark & {MASQUERADE_MARK:#x} == {MASQUERADE_MARK:#x} accept"
        ' comment "masqueraded by kube-proxy: from the node"'
    )
    # From a local pod to another host or pod: its egress, then the destination's ingress.
    forward = [*established, *egress, masqueraded, *ingress]
    # From a local pod to this node's own addresses: its egress only.
    into_node = [*established, *egress]
    for name, hook, rules in (("forward", "forward", forward), ("input", "input", into_node)):
        tx.add(Chain(name, "filter", hook, "filter", "accept"))
        for rule in rules:
            tx.add(Rule(name, rule))
    for name, rules in chains:
        tx.add(Chain(name))
        for rule in rules:
            tx.add(Rule(name, rule))
    return tx.definition()


def _selects(engine: PolicyEngine, index: int, pod: Pod) -> bool:
    k = engine.pod_key[engine.pods.index(pod)]
    return bool(engine.subjects(index)[k])


def _rules(
    engine: PolicyEngine, pol: NetworkPolicy, direction: str, r: int, rule: PolicyRule, pod: Pod
) -> list[str]:
    fam = family(engine.version).nft
    verdict = "return" if direction == PolicyType.Egress else "accept"
    field = "daddr" if direction == PolicyType.Egress else "saddr"
    comment = f'comment "{pol.key} {direction.lower()}[{r}]"'
    peers = _peer_pods(engine, pol, rule)  # None: every address
    blocks = _blocks(engine, rule)
    entries = rule.ports or (None,)
    out = []
    for entry in entries:
        if direction == PolicyType.Ingress or not (entry and isinstance(entry.port, str)):
            port = _port_match(entry, pod if direction == PolicyType.Ingress else None)
            if port is None:
                continue  # a named port the destination does not declare: matches nothing
            addrs = None if peers is None else _addresses(engine, peers, blocks)
            if addrs is not None and not addrs:
                continue
            out.append(_rule(fam, field, addrs, port, verdict, comment))
            continue
        # Egress to a named port: resolve it on each destination pod.
        assert entry is not None and isinstance(entry.port, str)
        candidates = engine.pod_network.copy() if peers is None else peers & engine.pod_network
        if peers is not None and blocks:
            candidates |= _in_blocks(engine, rule) & engine.pod_network
        by_number: dict[int, np.ndarray] = {}
        nid = engine.named_id.get((entry.port, entry.protocol))
        if nid is None:
            continue
        numbers = engine.named_port[nid]
        for number in sorted({int(n) for n in numbers[candidates] if n > 0}):
            by_number[number] = candidates & (numbers == number)
        for number, keys in by_number.items():
            addrs = _addresses(engine, keys, [])
            out.append(
                _rule(fam, field, addrs, f"{_L4[entry.protocol]} dport {number}", verdict, comment)
            )
    return out


def _rule(
    fam: str, field: str, addrs: list[IPNetwork] | None, port: str, verdict: str, comment: str
) -> str:
    parts = []
    if addrs is not None:
        parts.append(f"{fam} {field} {{ {', '.join(map(str, addrs))} }}")
    if port:
        parts.append(port)
    parts += [verdict, comment]
    return " ".join(parts)


def _port_match(entry: PolicyPort | None, pod: Pod | None) -> str | None:
    """The nft match of one `ports` entry ("" for every port), or None when it matches nothing."""
    if entry is None:
        return ""
    l4 = _L4[entry.protocol]
    if entry.port is None:
        return f"meta l4proto {l4}"
    if isinstance(entry.port, str):
        assert pod is not None
        number = pod.named_port(entry.port, entry.protocol)
        return None if number is None else f"{l4} dport {number}"
    if entry.end_port is not None and entry.end_port != entry.port:
        return f"{l4} dport {entry.port}-{entry.end_port}"
    return f"{l4} dport {entry.port}"


def _peer_pods(engine: PolicyEngine, pol: NetworkPolicy, rule: PolicyRule) -> np.ndarray | None:
    """Keys matched by the rule's selector peers; None when `from`/`to` is empty (everything)."""
    if not rule.peers:
        return None
    v = np.zeros(engine.keys, dtype=bool)
    for peer in rule.peers:
        if peer.ip_block is None:
            v |= engine.peer_vector(pol, peer)
    return v


def _blocks(engine: PolicyEngine, rule: PolicyRule) -> list[IPNetwork]:
    """Every ipBlock of the engine's family as CIDRs minus their excepts."""
    out: list[IPNetwork] = []
    for peer in rule.peers:
        block = peer.ip_block
        if block is None or block.cidr.version != engine.version:
            continue
        nets = [block.cidr]
        for e in block.except_:
            nets = [piece for n in nets for piece in _minus(n, e)]
        out += nets
    return out


def _minus(net: IPNetwork, cut: IPNetwork) -> list[IPNetwork]:
    """`net` without the addresses of `cut` (excepts may overlap one another)."""
    if net.subnet_of(cut):  # type: ignore[arg-type]
        return []
    if cut.subnet_of(net):  # type: ignore[arg-type]
        return list(net.address_exclude(cut))  # type: ignore[arg-type]
    return [net]


def _in_blocks(engine: PolicyEngine, rule: PolicyRule) -> np.ndarray:
    v = np.zeros(engine.keys, dtype=bool)
    for peer in rule.peers:
        if peer.ip_block is not None:
            v |= engine.block_vector(peer.ip_block)
    return v


def _addresses(engine: PolicyEngine, keys: np.ndarray, blocks: list[IPNetwork]) -> list[IPNetwork]:
    """The pods of `keys` (by address) and the blocks, as a minimal list of disjoint CIDRs."""
    width = family(engine.version).bits
    pods = [
        ip_network(f"{ip}/{width}")
        for ip, k in zip(engine.ips, engine.pod_key, strict=True)
        if keys[k]
    ]
    return list(collapse_addresses([*pods, *blocks]))
