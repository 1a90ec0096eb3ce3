"""The NetworkPolicy engine: every pod-to-pod verdict of a port at once, with NumPy.

Compiled once per cluster and IP family:
- pods that no policy can tell apart (same namespace, labels, named ports, host networking and
  address atom) share one *key*; the matrix is computed over keys, then expanded to pods;
- ipBlock boundaries cut the address space into atoms, so a key's membership in every ipBlock is
  one lookup;
- selectors are evaluated from label indexes, a vector over keys each;
- each rule is a peer vector; the (subject key, rule) pairs are listed once, and for a port only
  the port test runs per pair before the peers of the surviving pairs are ORed (`reduceat`).

Pure, and exactly `policy.semantics` (the tests compare the two on random clusters).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from ipaddress import ip_network

import numpy as np

from podnet.errors import InvalidValue
from podnet.model.cluster import Cluster
from podnet.model.objects import PROTOCOLS, IPBlock, NetworkPolicy, Pod, PolicyPeer, PolicyType
from podnet.model.selectors import LabelSelector
from podnet.policy.matrix import Probe, Reach

_PROTO = {p: i for i, p in enumerate(PROTOCOLS)}
# The admin tiers (ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy) are not
# compiled yet: up to this many pods, the matrix of a cluster that has them is the reference's
# (`policy.semantics`), pair by pair; beyond, it is refused rather than given without them.
REFERENCE_PODS = 300


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
               for rule in cp.egress for peer in rule.peers):  # fmt: skip
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

    # evaluation ----------------------------------------------------------------------------------

    def _rule_port_ok(self, rules: _Rules, port: int, protocol: str) -> np.ndarray:
        """(R,) bool: the rule's port entries that do not depend on the destination match."""
        ok = rules.all_ports.copy()
        r, proto, low, high = rules.numeric
        hit = (proto == _PROTO[protocol]) & (low <= port) & (port <= high)
        ok[r[hit]] = True
        return ok

    def _direction(self, direction: str, port: int, protocol: str) -> np.ndarray:
        """(K subject, K other) bool: what this direction allows, subject keys as rows."""
        rules = self._rules[direction]
        k = self.keys
        out = np.ones((k, k), dtype=bool)
        out[rules.isolated] = False
        if not len(rules.pair_rule):
            return out
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
        if len(subj):
            starts = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
            rows = np.bitwise_or.reduceat(peers, starts, axis=0)
            out[subj[starts]] = np.unpackbits(rows, axis=1, count=k).astype(bool)
        return out

    def key_matrix(self, port: int, protocol: str = "TCP") -> np.ndarray:
        """(K, K) bool over keys: source key rows, destination key columns."""
        egress = self._direction(PolicyType.Egress, port, protocol)
        ingress = self._direction(PolicyType.Ingress, port, protocol)
        return egress & _transpose(ingress)

    def matrix(self, port: int, protocol: str = "TCP") -> np.ndarray:
        """(N, N) bool over `self.pods`: allowed[src, dst]."""
        if self.cluster.cluster_policies:
            return self._reference_matrix(port, protocol)
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

    def _reference_matrix(self, port: int, protocol: str) -> np.ndarray:
        """The matrix of a cluster with admin tiers, which the engine does not compile yet: the
        reference's verdict for every pair, on clusters small enough for it."""
        from podnet.policy.semantics import Peer, allowed

        n = len(self.pods)
        if n > REFERENCE_PODS:
            why = (
                f"the matrix does not apply cluster-scoped admin policies yet beyond"
                f" {REFERENCE_PODS} pods (this cluster has {n} and"
                f" {len(self.cluster.cluster_policies)} such policies); use explain or trace for"
                " single connections"
            )
            raise InvalidValue("cluster", self.cluster.name, why, message=why)
        ends = [Peer(ip, p, p.node_name) for p, ip in zip(self.pods, self.ips, strict=True)]
        out = np.empty((n, n), dtype=bool)
        for i, src in enumerate(ends):
            for j, dst in enumerate(ends):
                out[i, j] = allowed(self.cluster, src, dst, port, protocol)
        return out


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
