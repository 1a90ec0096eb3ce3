"""The policy engine: every pod-to-pod verdict of a port at once, with NumPy.

Compiled once per cluster and IP family:
- pods that no policy can tell apart (same namespace, labels, named ports, host networking and
  address atom) share one *key*; the matrix is computed over keys, then expanded to pods;
- ipBlock boundaries, and the admin tiers' `networks` and node addresses, cut the address space
  into atoms, so a key's membership in every ipBlock or network is one lookup;
- selectors are evaluated from label indexes, a vector over keys each;
- each NetworkPolicy rule is a peer vector; the (subject key, rule) pairs are listed once, and for
  a port only the port test runs per pair before the peers of the surviving pairs are ORed
  (`reduceat`);
- the admin tiers (ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy) group
  keys once more, into *subject classes* (keys the same cluster policies select, with the same
  named ports where ingress rules name one) and *peer classes* (keys every admin rule's peers
  take alike, with the same named ports where egress rules name one). A rule is then a rectangle
  of subject classes by peer classes; for a port, the tier's first match is found by writing the
  rules' actions into a small (classes, classes) table from the last rule to the first, and the
  verdicts reach the keys' rows as bit-packed planes.

Pure, and exactly `policy.semantics` (the tests compare the two on random clusters, admin tiers
included).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from ipaddress import ip_network

import numpy as np

from podnet.model.cluster import Cluster
from podnet.model.cluster_policy import (
    Action,
    ClusterPolicy,
    ClusterPolicyPeer,
    ClusterPolicyRule,
    Tier,
)
from podnet.model.objects import PROTOCOLS, IPBlock, NetworkPolicy, Pod, PolicyPeer, PolicyType
from podnet.model.selectors import LabelSelector
from podnet.policy.matrix import Probe, Reach

_PROTO = {p: i for i, p in enumerate(PROTOCOLS)}
# What an admin-tier rule does where it matches first; 0 in a tier's table: no rule matched.
_ACCEPT, _DENY, _PASS = 1, 2, 3
_ACTION = {Action.Accept: _ACCEPT, Action.Deny: _DENY, Action.Pass: _PASS}


def pod_ports(
    pods: Iterable[Pod], cluster: Cluster | None = None
) -> dict[str, set[tuple[int, str]]]:
    """What each pod declares, by namespace/name: its containers' (port, protocol) pairs and, with
    `cluster`, the ports its Services target on it (the EndpointSlice ports of the endpoints that
    are the pod, a named targetPort resolved on the pod as the EndpointSlice controller does): the
    Service sends traffic there whether or not a container lists the port."""
    found = {pod.key: {(p.container_port, p.protocol) for p in pod.ports} for pod in pods}
    for s in cluster.endpoint_slices if cluster is not None else ():
        ports = {(p.port, p.protocol) for p in s.ports if p.port is not None}
        for e in s.endpoints:
            if e.target in found:
                found[e.target] |= ports
    return found


def declared_ports(pods: Iterable[Pod], cluster: Cluster | None = None) -> list[tuple[int, str]]:
    """Every (port, protocol) some pod declares (`pod_ports`), sorted by protocol then port."""
    found = set().union(*pod_ports(pods, cluster).values())
    return sorted(found, key=lambda pp: (pp[1], pp[0]))


@dataclass(frozen=True)
class _Rules:
    """The rules of one direction, compiled."""

    peers: np.ndarray  # (R, ceil(K/8)) uint8, bit-packed: rule r's peers include key k
    all_ports: np.ndarray  # (R,) bool: the rule has no `ports`
    numeric: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # rule, proto, low, high
    named: tuple[np.ndarray, np.ndarray, np.ndarray]  # rule, name id, proto
    pair_subject: np.ndarray  # (M,) subject key of each (subject, rule) pair, sorted
    pair_rule: np.ndarray  # (M,) the rule
    named_pairs: tuple[np.ndarray, np.ndarray, np.ndarray]  # pair, name id, proto
    isolated: np.ndarray  # (K,) bool: some policy of this direction selects the key


@dataclass(frozen=True)
class _TierRule:
    """An admin-tier rule, compiled: the rectangle of subject classes by peer classes it takes
    (every peer class when it fails closed) and the ports it asks for."""

    rows: np.ndarray  # subject classes its policy selects
    cols: np.ndarray  # peer classes its peers take
    action: int  # _ACCEPT, _DENY or _PASS; _DENY for a Deny or Pass rule that fails closed
    all_ports: bool  # no protocols (or fails closed): every port and protocol
    numeric: tuple[tuple[str, int, int], ...]  # (protocol, first, last port)
    names: tuple[str, ...]  # named ports, resolved on the destination


class PolicyEngine:
    def __init__(self, cluster: Cluster, version: int | None = None):
        self.cluster = cluster
        self.version = version or cluster.config.families[0]
        self.pods = [
            p for p in cluster.running_pods if any(ip.version == self.version for ip in p.ips)
        ]
        self.ips = [next(ip for ip in p.ips if ip.version == self.version) for p in self.pods]
        self._group_keys()
        self._selector_cache: dict[LabelSelector, np.ndarray] = {}
        self._block_cache: dict[IPBlock, np.ndarray] = {}
        self._namespace_cache: dict[LabelSelector, np.ndarray] = {}
        policies = cluster.policies
        self._subjects = [self._subject_vector(p) for p in policies]
        self._rules = {
            d: self._compile(policies, d) for d in (PolicyType.Ingress, PolicyType.Egress)
        }
        self._cluster_peer_cache: dict[ClusterPolicyPeer, np.ndarray] = {}
        # Per direction: the Admin tier's rules, then the Baseline tier's, in evaluation order.
        self._tiers: dict[str, tuple[tuple[_TierRule, ...], tuple[_TierRule, ...]]] = {}
        if cluster.cluster_policies and self.keys:
            self._compile_tiers(cluster.cluster_policies)

    # grouping ------------------------------------------------------------------------------------

    def _group_keys(self) -> None:
        bounds: set[int] = set()
        for pol in self.cluster.policies:
            for rule in pol.ingress + pol.egress:
                for peer in rule.peers:
                    if peer.ip_block is not None and peer.ip_block.cidr.version == self.version:
                        for net in (peer.ip_block.cidr, *peer.ip_block.except_):
                            bounds.add(int(net.network_address))
                            bounds.add(int(net.broadcast_address) + 1)
        # Pods that the admin tiers' `networks` and `nodes` peers tell apart never share a key.
        nets = [
            net
            for cp in self.cluster.cluster_policies
            for rule in cp.ingress + cp.egress
            for peer in rule.peers
            for net in peer.networks
        ]
        if any(peer.nodes is not None for cp in self.cluster.cluster_policies
               for rule in cp.ingress + cp.egress for peer in rule.peers):  # fmt: skip
            nets += [ip_network(ip) for node in self.cluster.nodes for ip in node.ips]
        for net in nets:
            if net.version == self.version:
                bounds.add(int(net.network_address))
                bounds.add(int(net.broadcast_address) + 1)
        boundaries = sorted(bounds)
        index: dict[tuple, int] = {}
        pod_key = np.empty(len(self.pods), dtype=np.int64)
        reps: list[int] = []
        for i, (pod, ip) in enumerate(zip(self.pods, self.ips, strict=True)):
            key = (
                pod.namespace,
                frozenset(pod.labels.items()),
                frozenset((p.name, p.protocol, p.container_port) for p in pod.ports if p.name),
                pod.host_network,
                bisect_right(boundaries, int(ip)),
            )
            k = index.setdefault(key, len(index))
            if k == len(reps):
                reps.append(i)
            pod_key[i] = k
        self.pod_key = pod_key
        self.reps = [self.pods[i] for i in reps]
        self.rep_ips = [self.ips[i] for i in reps]
        # IPv6 addresses do not fit in int64: compare them as Python integers.
        self._rep_int = np.array(
            [int(ip) for ip in self.rep_ips], dtype=np.int64 if self.version == 4 else object
        )
        n = len(reps)
        self.pod_network = np.array([not p.host_network for p in self.reps], dtype=bool)
        names = sorted({p.namespace for p in self.reps})
        self._ns_names = names  # sorted
        ns_index = {ns: i for i, ns in enumerate(names)}
        self.key_ns = np.array([ns_index[p.namespace] for p in self.reps], dtype=np.int64)
        self._pairs: dict[tuple[str, str], list[int]] = {}
        self._has: dict[str, list[int]] = {}
        for k, p in enumerate(self.reps):
            for label, value in p.labels.items():
                self._pairs.setdefault((label, value), []).append(k)
                self._has.setdefault(label, []).append(k)
        named = sorted({(p.name, p.protocol) for r in self.reps for p in r.ports if p.name})
        self.named_id = {nm: i for i, nm in enumerate(named)}
        self.named_port = np.full((max(len(named), 1), n), -1, dtype=np.int32)
        for k, pod in enumerate(self.reps):
            if pod.host_network:
                continue  # named ports resolve on pod-network destinations only (semantics)
            for p in pod.ports:
                if p.name:
                    self.named_port[self.named_id[(p.name, p.protocol)], k] = p.container_port

    @property
    def keys(self) -> int:
        return len(self.reps)

    # selectors -----------------------------------------------------------------------------------

    def _index_vector(self, members: list[int] | None) -> np.ndarray:
        v = np.zeros(self.keys, dtype=bool)
        if members:
            v[members] = True
        return v

    def _labels_vector(self, sel: LabelSelector) -> np.ndarray:
        cached = self._selector_cache.get(sel)
        if cached is not None:
            return cached
        v = np.ones(self.keys, dtype=bool)
        for label, value in sel.match_labels:
            v &= self._index_vector(self._pairs.get((label, value)))
        for r in sel.match_expressions:
            if r.operator in ("In", "NotIn"):
                hit = self._index_vector(
                    [k for x in r.values for k in self._pairs.get((r.key, x), ())]
                )
                v &= hit if r.operator == "In" else ~hit
            elif r.operator == "Exists":
                v &= self._index_vector(self._has.get(r.key))
            else:
                v &= ~self._index_vector(self._has.get(r.key))
        self._selector_cache[sel] = v
        return v

    def _namespaces_vector(self, sel: LabelSelector) -> np.ndarray:
        cached = self._namespace_cache.get(sel)
        if cached is None:
            ns_ok = np.array(
                [sel.matches(self.cluster.namespace_labels(ns)) for ns in self._ns_names],
                dtype=bool,
            )
            cached = ns_ok[self.key_ns] if len(ns_ok) else np.zeros(self.keys, dtype=bool)
            self._namespace_cache[sel] = cached
        return cached

    def _in_namespace(self, namespace: str) -> np.ndarray:
        if namespace not in self._ns_names:
            return np.zeros(self.keys, dtype=bool)
        return self.key_ns == self._ns_names.index(namespace)

    def block_vector(self, block: IPBlock) -> np.ndarray:
        cached = self._block_cache.get(block)
        if cached is None:
            # Keys of one atom agree on every block; evaluate each distinct atom once.
            cached = np.array([block.contains(ip) for ip in self.rep_ips], dtype=bool)
            self._block_cache[block] = cached
        return cached

    def _subject_vector(self, policy: NetworkPolicy) -> np.ndarray:
        return (
            self._in_namespace(policy.namespace)
            & self._labels_vector(policy.pod_selector)
            & self.pod_network
        )

    def subjects(self, index: int) -> np.ndarray:
        """(K,) bool: the keys policy number `index` of the cluster selects."""
        return self._subjects[index]

    def peer_vector(self, policy: NetworkPolicy, peer: PolicyPeer) -> np.ndarray:
        """(K,) bool: the keys one `from`/`to` item of `policy` matches."""
        if peer.ip_block is not None:
            return self.block_vector(peer.ip_block)
        if peer.namespace_selector is None:
            v = self._in_namespace(policy.namespace)
        else:
            v = self._namespaces_vector(peer.namespace_selector)
        if peer.pod_selector is not None:
            v = v & self._labels_vector(peer.pod_selector)
        return v & self.pod_network

    # compilation ---------------------------------------------------------------------------------

    def _compile(self, policies: tuple[NetworkPolicy, ...], direction: str) -> _Rules:
        peers, all_ports, rule_policy = [], [], []
        numeric: list[tuple[int, int, int, int]] = []
        named: list[tuple[int, int, int]] = []
        isolated = np.zeros(self.keys, dtype=bool)
        for pi, pol in enumerate(policies):
            if direction not in pol.policy_types:
                continue
            isolated |= self._subjects[pi]
            for rule in pol.rules(direction):
                r = len(peers)
                if rule.peers:
                    v = np.zeros(self.keys, dtype=bool)
                    for peer in rule.peers:
                        v |= self.peer_vector(pol, peer)
                else:
                    v = np.ones(self.keys, dtype=bool)
                peers.append(v)
                rule_policy.append(pi)
                all_ports.append(not rule.ports)
                for e in rule.ports:
                    proto = _PROTO[e.protocol]
                    if isinstance(e.port, str):
                        nid = self.named_id.get((e.port, e.protocol))
                        if nid is not None:
                            named.append((r, nid, proto))
                    elif e.port is None:
                        numeric.append((r, proto, 0, 65535))
                    else:
                        end = e.end_port if e.end_port is not None else e.port
                        numeric.append((r, proto, e.port, end))
        pair_subject, pair_rule = [], []
        for r, pi in enumerate(rule_policy):
            ks = np.flatnonzero(self._subjects[pi])
            pair_subject.append(ks)
            pair_rule.append(np.full(len(ks), r, dtype=np.int64))
        subj = np.concatenate(pair_subject) if pair_subject else np.zeros(0, dtype=np.int64)
        rules = np.concatenate(pair_rule) if pair_rule else np.zeros(0, dtype=np.int64)
        order = np.argsort(subj, kind="stable")
        subj, rules = subj[order], rules[order]
        by_rule = np.argsort(rules, kind="stable")
        bounds = np.searchsorted(rules[by_rule], np.arange(len(peers) + 1))
        named_pairs = [(by_rule[bounds[r] : bounds[r + 1]], nid, proto) for r, nid, proto in named]
        return _Rules(
            peers=np.packbits(np.array(peers, dtype=bool).reshape(len(peers), self.keys), axis=1),
            all_ports=np.array(all_ports, dtype=bool),
            numeric=tuple(np.array(c, dtype=np.int64) for c in zip(*numeric, strict=True))
            if numeric
            else tuple(np.zeros(0, dtype=np.int64) for _ in range(4)),  # type: ignore[arg-type]
            named=tuple(np.array(c, dtype=np.int64) for c in zip(*named, strict=True))
            if named
            else tuple(np.zeros(0, dtype=np.int64) for _ in range(3)),  # type: ignore[arg-type]
            pair_subject=subj,
            pair_rule=rules,
            named_pairs=(
                np.concatenate([p for p, _, _ in named_pairs] or [np.zeros(0, np.int64)]),
                np.concatenate(
                    [np.full(len(p), n) for p, n, _ in named_pairs] or [np.zeros(0, np.int64)]
                ).astype(np.int64),
                np.concatenate(
                    [np.full(len(p), q) for p, _, q in named_pairs] or [np.zeros(0, np.int64)]
                ).astype(np.int64),
            ),
            isolated=isolated,
        )

    # the admin tiers -----------------------------------------------------------------------------

    def cluster_subject_vector(self, policy: ClusterPolicy) -> np.ndarray:
        """(K,) bool: the keys an admin-tier policy's subject takes (never host-network ones)."""
        subject = policy.subject
        if subject.pods is not None:
            v = self._namespaces_vector(subject.pods.namespace_selector) & self._labels_vector(
                subject.pods.pod_selector
            )
        else:
            assert subject.namespaces is not None
            v = self._namespaces_vector(subject.namespaces)
        return v & self.pod_network

    def cluster_peer_vector(self, peer: ClusterPolicyPeer) -> np.ndarray:
        """(K,) bool: the keys one `from`/`to` item of an admin-tier policy takes: pods on the pod
        network for `namespaces` and `pods`, addresses for `nodes` and `networks` (pod and node
        addresses alike), nothing for `domainNames` and unknown peers (`policy.semantics`)."""
        cached = self._cluster_peer_cache.get(peer)
        if cached is not None:
            return cached
        if peer.namespaces is not None:
            v = self._namespaces_vector(peer.namespaces) & self.pod_network
        elif peer.pods is not None:
            v = (
                self._namespaces_vector(peer.pods.namespace_selector)
                & self._labels_vector(peer.pods.pod_selector)
                & self.pod_network
            )
        elif peer.nodes is not None:
            sel = peer.nodes
            ips = {ip for n in self.cluster.nodes if sel.matches(n.labels) for ip in n.ips}
            v = np.array([ip in ips for ip in self.rep_ips], dtype=bool).reshape(self.keys)
        else:
            v = np.zeros(self.keys, dtype=bool)
            for net in peer.networks:
                if net.version == self.version:
                    low, high = int(net.network_address), int(net.broadcast_address)
                    v |= (self._rep_int >= low) & (self._rep_int <= high)
        self._cluster_peer_cache[peer] = v
        return v

    def _rule_peers(self, rule: ClusterPolicyRule) -> np.ndarray | None:
        """(K,) bool: the keys a rule's peers take; None when the rule takes every connection
        (a Deny or Pass rule that fails closed)."""
        if rule.fails_closed and rule.action != Action.Accept:
            return None
        v = np.zeros(self.keys, dtype=bool)
        for peer in rule.peers:
            v |= self.cluster_peer_vector(peer)
        return v

    def _compile_tiers(self, policies: tuple[ClusterPolicy, ...]) -> None:
        k = self.keys
        directions = (PolicyType.Ingress, PolicyType.Egress)
        subjects = np.array([self.cluster_subject_vector(p) for p in policies]).reshape(-1, k)

        def named_ids(direction: str) -> list[int]:
            """The named ports (of any protocol) the direction's rules ask for."""
            used = {
                e.named_port
                for p in policies
                for r in p.rules(direction)
                for e in r.protocols
                if e.named_port
            }
            return sorted(i for (name, _), i in self.named_id.items() if name in used)

        # A named port resolves on the destination: the subject for ingress, the peer for egress.
        # Keys that resolve one differently never share a class.
        subject_sig = np.concatenate(
            [subjects.T.astype(np.int32), self.named_port[named_ids(PolicyType.Ingress)].T], axis=1
        )
        self._subject_class, subject_reps = _classes(subject_sig)
        peers = {
            (pi, d, ri): self._rule_peers(rule)
            for pi, pol in enumerate(policies)
            for d in directions
            for ri, rule in enumerate(pol.rules(d))
        }
        distinct = {v.tobytes(): v for v in peers.values() if v is not None}
        peer_bits = np.array(list(distinct.values()), dtype=bool).reshape(-1, k).T
        peer_sig = np.concatenate(
            [
                np.packbits(peer_bits, axis=1).view(np.uint8).astype(np.int32),
                self.named_port[named_ids(PolicyType.Egress)].T,
            ],
            axis=1,
        )
        self._peer_class, peer_reps = _classes(peer_sig)
        self._subject_named = self.named_port[:, subject_reps].T  # (subject classes, names)
        self._peer_named = self.named_port[:, peer_reps].T  # (peer classes, names)
        every_peer = np.arange(len(peer_reps))
        for d in directions:
            tiers: dict[Tier, list[_TierRule]] = {Tier.Admin: [], Tier.Baseline: []}
            for pi, pol in enumerate(policies):
                rows = np.flatnonzero(subjects[pi][subject_reps])
                if not len(rows):
                    continue
                for ri, rule in enumerate(pol.rules(d)):
                    v = peers[(pi, d, ri)]
                    cols = every_peer if v is None else np.flatnonzero(v[peer_reps])
                    if not len(cols):
                        continue  # it matches nothing: the rules after it decide
                    numeric = tuple(
                        (e.protocol, e.port, e.end_port if e.end_port is not None else e.port)
                        for e in rule.protocols
                        if not e.named_port and e.port is not None
                    )
                    tiers[pol.tier].append(
                        _TierRule(
                            rows=rows,
                            cols=cols,
                            action=_DENY if v is None else _ACTION[rule.action],
                            all_ports=v is None or not rule.protocols,
                            numeric=numeric,
                            names=tuple(e.named_port for e in rule.protocols if e.named_port),
                        )
                    )
            if tiers[Tier.Admin] or tiers[Tier.Baseline]:
                self._tiers[d] = (tuple(tiers[Tier.Admin]), tuple(tiers[Tier.Baseline]))

    def _tier_table(
        self, rules: tuple[_TierRule, ...], direction: str, port: int, protocol: str
    ) -> np.ndarray:
        """(subject classes, peer classes) int8: the action of the first of `rules` that matches
        the port, 0 where none does. Written from the last rule to the first, so that the first
        one that matches is the one left."""
        table = np.zeros((len(self._subject_named), len(self._peer_named)), dtype=np.int8)
        ingress = direction == PolicyType.Ingress
        for rule in reversed(rules):
            rows, cols = rule.rows, rule.cols
            if not rule.all_ports and not any(
                q == protocol and low <= port <= high for q, low, high in rule.numeric
            ):
                ids = [
                    self.named_id[n, protocol] for n in rule.names if (n, protocol) in self.named_id
                ]
                if not ids:
                    continue
                if ingress:
                    rows = rows[(self._subject_named[np.ix_(rows, ids)] == port).any(axis=1)]
                else:
                    cols = cols[(self._peer_named[np.ix_(cols, ids)] == port).any(axis=1)]
            table[np.ix_(rows, cols)] = rule.action
        return table

    def _apply_tiers(
        self, direction: str, lower: np.ndarray, isolated: np.ndarray, port: int, protocol: str
    ) -> np.ndarray:
        """The verdicts of a direction with the admin tiers around NetworkPolicy's: bit-packed
        (K subject, ceil(K/8)) rows; `lower` holds NetworkPolicy's verdicts for the `isolated`
        keys and ones elsewhere. An Admin Accept or Deny decides; else (no match, or Pass) the
        NetworkPolicies that select the key decide; else a Baseline Deny denies; else allowed."""
        admin, baseline = self._tiers[direction]
        rows, columns = self._subject_class, self._peer_class

        def plane(table: np.ndarray, action: int) -> np.ndarray:
            return np.packbits((table == action)[:, columns], axis=1)

        if baseline:
            deny = plane(self._tier_table(baseline, direction, port, protocol), _DENY)
            free = np.flatnonzero(~isolated)
            lower[free] &= ~deny[rows[free]]
        if admin:
            table = self._tier_table(admin, direction, port, protocol)
            accept, deny = plane(table, _ACCEPT), plane(table, _DENY)
            lower = accept[rows] | (lower & ~deny[rows])
        return lower

    # evaluation ----------------------------------------------------------------------------------

    def _rule_port_ok(self, rules: _Rules, port: int, protocol: str) -> np.ndarray:
        """(R,) bool: the rule's port entries that do not depend on the destination match."""
        ok = rules.all_ports.copy()
        r, proto, low, high = rules.numeric
        hit = (proto == _PROTO[protocol]) & (low <= port) & (port <= high)
        ok[r[hit]] = True
        return ok

    def _allowing(
        self, rules: _Rules, direction: str, port: int, protocol: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The subject keys some NetworkPolicy rule of this direction takes, and, bit-packed, the
        other keys their rules allow on the port."""
        k = self.keys
        if not len(rules.pair_rule):
            return np.zeros(0, dtype=np.int64), np.zeros((0, (k + 7) // 8), dtype=np.uint8)
        rule_ok = self._rule_port_ok(rules, port, protocol)
        subj, rule = rules.pair_subject, rules.pair_rule
        q = _PROTO[protocol]
        if direction == PolicyType.Ingress:
            # The port is tested against the subject (the destination): per pair.
            ok = rule_ok[rule]
            pair, nid, proto = rules.named_pairs
            hit = (proto == q) & (self.named_port[nid, subj[pair]] == port)
            ok[pair[hit]] = True
            subj, peers = subj[ok], rules.peers[rule[ok]]
        else:
            # The port is tested against the peer (the destination): per rule and key.
            masked = rules.peers * rule_ok[:, None].astype(np.uint8)
            r, nid, proto = rules.named
            live = proto == q
            if live.any():
                resolved = np.unpackbits(rules.peers[r[live]], axis=1, count=k).astype(bool)
                resolved &= self.named_port[nid[live]] == port
                np.bitwise_or.at(masked, r[live], np.packbits(resolved, axis=1))
            peers = masked[rule]
        if not len(subj):
            return np.zeros(0, dtype=np.int64), np.zeros((0, (k + 7) // 8), dtype=np.uint8)
        starts = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
        return subj[starts], np.bitwise_or.reduceat(peers, starts, axis=0)

    def _direction(self, direction: str, port: int, protocol: str) -> np.ndarray:
        """(K subject, K other) bool: what this direction allows, subject keys as rows."""
        rules = self._rules[direction]
        k = self.keys
        subjects, allowing = self._allowing(rules, direction, port, protocol)
        if direction not in self._tiers:
            out = np.ones((k, k), dtype=bool)
            out[rules.isolated] = False
            if len(subjects):
                out[subjects] = np.unpackbits(allowing, axis=1, count=k).astype(bool)
            return out
        packed = np.full((k, (k + 7) // 8), 0xFF, dtype=np.uint8)
        packed[rules.isolated] = 0
        packed[subjects] = allowing
        packed = self._apply_tiers(direction, packed, rules.isolated, port, protocol)
        return np.unpackbits(packed, axis=1, count=k).view(bool)

    def key_matrix(self, port: int, protocol: str = "TCP") -> np.ndarray:
        """(K, K) bool over keys: source key rows, destination key columns."""
        egress = self._direction(PolicyType.Egress, port, protocol)
        ingress = self._direction(PolicyType.Ingress, port, protocol)
        return egress & _transpose(ingress)

    def matrix(self, port: int, protocol: str = "TCP") -> np.ndarray:
        """(N, N) bool over `self.pods`: allowed[src, dst]."""
        km = self.key_matrix(port, protocol)
        # Pods of one key share their row: expand the columns once per key, then copy rows.
        allowed = np.take(np.take(km, self.pod_key, axis=1), self.pod_key, axis=0)
        np.fill_diagonal(allowed, True)
        host = np.flatnonzero([p.host_network for p in self.pods])
        if len(host):
            nodes = np.array([p.node_name for p in self.pods])
            pod_net = np.array([not p.host_network for p in self.pods])
            allowed[host] |= (nodes[host][:, None] == nodes[None, :]) & pod_net[None, :]
        return allowed


def _classes(signatures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the class of each row, the first row of each class): rows with equal signatures share a
    class, numbered in order of first appearance."""
    index: dict[bytes, int] = {}
    classes = np.empty(len(signatures), dtype=np.int64)
    firsts: list[int] = []
    for i, row in enumerate(np.ascontiguousarray(signatures)):
        c = index.setdefault(row.tobytes(), len(index))
        if c == len(firsts):
            firsts.append(i)
        classes[i] = c
    return classes, np.array(firsts, dtype=np.int64)


def _transpose(m: np.ndarray, block: int = 256) -> np.ndarray:
    """A contiguous transpose, block by block: several times faster than `m.T` for large bools."""
    out = np.empty((m.shape[1], m.shape[0]), dtype=m.dtype)
    for i in range(0, m.shape[0], block):
        for j in range(0, m.shape[1], block):
            out[j : j + block, i : i + block] = m[i : i + block, j : j + block].T
    return out


def reach(
    cluster: Cluster,
    ports: list[tuple[int, str]] | None = None,
    version: int | None = None,
    *,
    namespace: str | None = None,
    sources: Collection[str] | None = None,
    destinations: Collection[str] | None = None,
) -> Reach:
    """The model's reachability matrix: every pod to every pod, for each (port, protocol), over
    the addresses of one IP family (the cluster's primary one unless `version`).

    Without `ports`, every (port, protocol) some destination pod declares, a Service's target
    ports included (`pod_ports`). The rows are the pods `sources` names (by namespace/name), else
    those of `namespace`, else every pod; the columns likewise with `destinations`. Policies are
    evaluated over the whole cluster.
    """
    engine = PolicyEngine(cluster, version)
    names = [p.key for p in engine.pods]
    order = sorted(range(len(names)), key=names.__getitem__)

    def kept(wanted: Collection[str] | None) -> list[int]:
        if wanted is not None:
            chosen = set(wanted)
            return [i for i in order if names[i] in chosen]
        return [i for i in order if namespace is None or engine.pods[i].namespace == namespace]

    rows, columns = kept(sources), kept(destinations)
    wanted = (
        ports if ports is not None else declared_ports([engine.pods[i] for i in columns], cluster)
    )
    probes = [
        Probe(port, proto, engine.matrix(port, proto)[np.ix_(rows, columns)])
        for port, proto in wanted
    ]
    shown = sorted(set(rows) | set(columns), key=names.__getitem__)
    return Reach(
        pods=[names[i] for i in rows],
        ips={names[i]: str(engine.ips[i]) for i in shown},
        probes=probes,
        declared=pod_ports([engine.pods[i] for i in shown], cluster),
        pending={
            k: why
            for k, why in cluster.pending.items()
            if namespace is None or k.startswith(f"{namespace}/")
        },
        destinations=None if columns == rows else [names[i] for i in columns],
    )
