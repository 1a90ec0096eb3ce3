"""What a change of manifests opens and closes: the connectivity of two clusters compared at the
level people reason about. Pure; rendered by `report.diff`.

The ends of a connection are *units*: a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job, CronJob; its pods as `model.names` finds their owner), a bare pod, a
Service (as a destination: the pods its EndpointSlices name, on their target ports) and an
external range (the address space cut by every ipBlock either side's policies name, each piece
inside some ipBlock; its verdicts are uniform). Generated pod names never appear: they change
with every template edit.

A verdict of (from, to, port, protocol) aggregates the pod pairs of the two units, a pod and
itself excepted: `allowed` when every pair is, `denied` when none is, `partly` otherwise (with
the counts), `absent` when either unit has no running pod on that side. Each side's matrices
come from the vectorised engine (`policy.engine`), one per port, aggregated with NumPy; only
the changed rows are explained (`policy.explain`), on the side that decides them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address, ip_network, summarize_address_range

import numpy as np

from podnet.model.cluster import Cluster
from podnet.model.names import owned_by
from podnet.model.objects import IPAddress, Pod
from podnet.policy.engine import PolicyEngine, pod_ports
from podnet.policy.explain import Explanation, explain
from podnet.policy.semantics import Peer, allowed, pod_peer

POD = "Pod"
SERVICE = "Service"
IP_BLOCK = "ipBlock"


class State(StrEnum):
    allowed = "allowed"
    denied = "denied"
    partly = "partly"
    absent = "absent"


@dataclass(frozen=True, slots=True, order=True)
class Unit:
    """One end of a connection as people name it."""

    namespace: str  # "" for an external range
    kind: str  # a workload kind, "Pod", "Service" or "ipBlock"
    name: str  # an external range: a CIDR, or FIRST-LAST when no single CIDR is it

    @property
    def key(self) -> str:
        """`ns/name`, or the range."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class Verdict:
    """One side's verdict on a (from, to, port, protocol): pod pairs allowed out of `pairs`."""

    present: bool  # both units exist on this side
    allowed: int = 0
    pairs: int = 0

    @property
    def state(self) -> State:
        if not self.present:
            return State.absent
        if self.pairs and self.allowed == self.pairs:
            return State.allowed
        return State.partly if self.allowed else State.denied

    def __str__(self) -> str:
        if self.state == State.partly:
            return f"partly ({self.allowed} of {self.pairs} pod pairs)"
        return self.state.value


@dataclass(frozen=True, slots=True)
class Change:
    source: Unit
    target: Unit
    port: int
    protocol: str
    before: Verdict
    after: Verdict
    reason: str

    @property
    def opened(self) -> bool:
        """More is allowed after than before (else less: closed)."""
        return _share(self.after) > _share(self.before)


def _share(v: Verdict) -> float:
    return v.allowed / v.pairs if v.present and v.pairs else 0.0


@dataclass(frozen=True, slots=True)
class Diff:
    old: str  # the inputs as given
    new: str
    changes: tuple[Change, ...]  # opened first, then by namespace, units, protocol, port

    @property
    def opened(self) -> int:
        return sum(c.opened for c in self.changes)

    @property
    def closed(self) -> int:
        return len(self.changes) - self.opened


# one side ----------------------------------------------------------------------------------------


def unit_of(pod: Pod, workloads: Iterable) -> Unit:  # type: ignore[type-arg]
    """The workload that created `pod` (through its ReplicaSet or Job), else the pod itself."""
    for w in workloads:
        if owned_by(pod, w.kind, w.name):
            return Unit(pod.namespace, w.kind, w.name)
    return Unit(pod.namespace, POD, pod.name)


@dataclass(frozen=True, slots=True)
class _Endpoints:
    """Where one Service port sends: pod indices and each one's target port."""

    pods: np.ndarray
    target_ports: np.ndarray


class _Side:
    """One cluster: its pods grouped by unit, and the allowed counts between units per port."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.engine = PolicyEngine(cluster)
        self.version = self.engine.version
        pods = self.engine.pods
        by_ns: dict[str, list] = {}
        for w in cluster.workloads:
            by_ns.setdefault(w.namespace, []).append(w)
        units = [unit_of(p, by_ns.get(p.namespace, ())) for p in pods]
        self.units = sorted(set(units))
        index = {u: i for i, u in enumerate(self.units)}
        self.pod_unit = np.array([index[u] for u in units], dtype=np.int64)
        self.onehot = np.zeros((len(pods), len(self.units)), dtype=np.float64)
        self.onehot[np.arange(len(pods)), self.pod_unit] = 1.0
        self.sizes = self.onehot.sum(axis=0)
        self.index = index
        self.pod_index = {p.key: i for i, p in enumerate(pods)}
        self.ports: dict[Unit, set[tuple[int, str]]] = {}
        for key, declared in pod_ports(pods, cluster).items():
            self.ports.setdefault(units[self.pod_index[key]], set()).update(declared)
        self.services = self._services()
        self._matrices: dict[tuple[int, str], np.ndarray] = {}

    def _services(self) -> dict[Unit, dict[tuple[int, str], _Endpoints]]:
        out: dict[Unit, dict[tuple[int, str], _Endpoints]] = {}
        for svc in self.cluster.services:
            unit = Unit(svc.namespace, SERVICE, svc.name)
            ports: dict[tuple[int, str], _Endpoints] = {}
            slices = [
                s
                for s in self.cluster.endpoint_slices
                if (s.namespace, s.service_name) == (svc.namespace, svc.name)
            ]
            for sp in svc.ports:
                pods, targets = [], []
                for s in slices:
                    ep = next(
                        (p for p in s.ports if p.name == sp.name and p.protocol == sp.protocol),
                        None,
                    )
                    if ep is None or ep.port is None:
                        continue
                    for e in s.endpoints:
                        i = self.pod_index.get(e.target)
                        if i is not None and i not in pods:
                            pods.append(i)
                            targets.append(ep.port)
                ports[(sp.port, sp.protocol)] = _Endpoints(
                    np.array(pods, dtype=np.int64), np.array(targets, dtype=np.int64)
                )
            out[unit] = ports
        return out

    def matrix(self, port: int, protocol: str) -> np.ndarray:
        """(N, N) bool, a pod and itself left out (it always reaches itself)."""
        m = self._matrices.get((port, protocol))
        if m is None:
            m = self.engine.matrix(port, protocol)
            np.fill_diagonal(m, False)
            self._matrices[(port, protocol)] = m
        return m

    def unit_counts(self, port: int, protocol: str) -> tuple[np.ndarray, np.ndarray]:
        """(U, U) allowed pod pairs and all pod pairs between units, a pod and itself left out."""
        m = self.matrix(port, protocol).astype(np.float64)
        allowed_pairs = self.onehot.T @ m @ self.onehot
        pairs = np.outer(self.sizes, self.sizes) - np.diag(self.sizes)
        return allowed_pairs, pairs

    def service_counts(self, endpoints: _Endpoints, protocol: str) -> tuple[np.ndarray, np.ndarray]:
        """(U,) allowed pod pairs and all pairs from each unit to a Service port's endpoints."""
        n = len(self.engine.pods)
        per_pod = np.zeros(n)
        total = np.full(n, float(len(endpoints.pods)))
        total[endpoints.pods] -= 1  # an endpoint does not count itself
        for tp in np.unique(endpoints.target_ports):
            cols = endpoints.pods[endpoints.target_ports == tp]
            per_pod += self.matrix(int(tp), protocol)[:, cols].sum(axis=1)
        return per_pod @ self.onehot, total @ self.onehot

    def external_counts(
        self, ip: IPAddress, port: int, protocol: str, outbound: bool
    ) -> np.ndarray:
        """(U,) pods of each unit allowed to reach `ip` (outbound) or to be reached from it."""
        outside = Peer(ip)
        per_key = np.array(
            [
                allowed(self.cluster, pod_peer(rep, self.version), outside, port, protocol)
                if outbound
                else allowed(self.cluster, outside, pod_peer(rep, self.version), port, protocol)
                for rep in self.engine.reps
            ],
            dtype=np.float64,
        )
        if not len(per_key):
            return np.zeros(len(self.units))
        return per_key[self.engine.pod_key] @ self.onehot

    def blocks(self) -> list[tuple[int, int]]:
        """Every ipBlock of the policies, of this side's family, as [first, last] integers, with
        the boundaries of its excepts."""
        out = []
        for pol in self.cluster.policies:
            for rule in pol.ingress + pol.egress:
                for peer in rule.peers:
                    block = peer.ip_block
                    if block is not None and block.cidr.version == self.version:
                        for net in (block.cidr, *block.except_):
                            out.append((int(net.network_address), int(net.broadcast_address)))
        return out

    def rule_ports(self) -> set[tuple[int, str]]:
        """The numeric ports the policies' rules write."""
        return {
            (e.port, e.protocol)
            for pol in self.cluster.policies
            for rule in pol.ingress + pol.egress
            for e in rule.ports
            if isinstance(e.port, int)
        }


# the comparison ----------------------------------------------------------------------------------


def external_units(version: int, *blocks: list[tuple[int, int]], within: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    """The pieces the boundaries of `blocks` cut the address space into, those inside a range of
    `within` (the ipBlocks' cidrs), each as (Unit, first address)."""
    bounds = sorted({b for bl in blocks for first, last in bl for b in (first, last + 1)})
    out = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        if not any(first <= lo and hi - 1 <= last for first, last in within):
            continue
        a, b = ip_address(lo), ip_address(hi - 1)
        if version != a.version:
            continue
        nets = list(summarize_address_range(a, b))
        name = str(nets[0]) if len(nets) == 1 else f"{a}-{b}"
        out.append((Unit("", IP_BLOCK, name), a))
    return out


def _cidrs(side: _Side) -> list[tuple[int, int]]:
    return [
        (int(peer.ip_block.cidr.network_address), int(peer.ip_block.cidr.broadcast_address))
        for pol in side.cluster.policies
        for rule in pol.ingress + pol.egress
        for peer in rule.peers
        if peer.ip_block is not None and peer.ip_block.cidr.version == side.version
    ]


def compare(
    old: Cluster,
    new: Cluster,
    ports: list[tuple[int, str]] | None = None,
    *,
    protocol: str | None = None,
    old_name: str = "OLD",
    new_name: str = "NEW",
) -> Diff:
    """Every (from, to, port, protocol) whose verdict differs between `old` and `new`.

    Ports: `ports` toward every destination; else, toward a workload or pod, those it declares
    on either side (container ports and the ports Services target on it), toward a Service its
    ports, and toward an external range the numeric ports the policies of either side write.
    A pair absent on one side and denied on the other is no change: nothing connected before or
    after. Within one unit, pairs of distinct pods count (a one-pod unit has none: no row).
    `protocol` keeps only the ports of that protocol.
    """
    a, b = _Side(old), _Side(new)
    units = sorted(set(a.units) | set(b.units))
    rows: list[tuple[Unit, Unit, int, str, Verdict, Verdict]] = []
    # workloads and pods to workloads and pods
    wanted: dict[tuple[int, str], set[Unit]] = {}
    for u in units:
        for pp in ports if ports is not None else a.ports.get(u, set()) | b.ports.get(u, set()):
            wanted.setdefault(pp, set()).add(u)
    common = {u: i for i, u in enumerate(units)}
    for (port, proto), targets in sorted(wanted.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        counts = [_spread(side, side.unit_counts(port, proto), common) for side in (a, b)]
        present = [_present(side, common) for side in (a, b)]
        cols = np.array(sorted(common[u] for u in targets), dtype=np.int64)
        sides = []
        for (allowed_pairs, pairs), here in zip(counts, present, strict=True):
            sides.append((allowed_pairs[:, cols], pairs[:, cols], np.outer(here, here[cols])))
        for i, j in _changed(sides):
            before, after = (
                Verdict(bool(p[i, j]), int(al[i, j]), int(pa[i, j])) for al, pa, p in sides
            )
            rows.append((units[i], units[cols[j]], port, proto, before, after))
    rows += _service_rows(a, b, units, common, ports)
    rows += _external_rows(a, b, units, common, ports)
    rows = [r for r in rows if protocol is None or r[3] == protocol]
    changes = [_explained(a, b, *row) for row in rows]
    changes.sort(
        key=lambda c: (
            not c.opened,
            c.target.namespace or c.source.namespace,
            c.source,
            c.target,
            c.protocol,
            c.port,
        )
    )
    return Diff(old_name, new_name, tuple(changes))


def _spread(
    side: _Side, counts: tuple[np.ndarray, np.ndarray], common: dict[Unit, int]
) -> tuple[np.ndarray, np.ndarray]:
    """A side's (U, U) counts over the units of both sides (zero where the side lacks one)."""
    where = np.array([common[u] for u in side.units], dtype=np.int64)
    out = []
    for m in counts:
        full = np.zeros((len(common), len(common)))
        full[np.ix_(where, where)] = m
        out.append(full)
    return out[0], out[1]


def _present(side: _Side, common: dict[Unit, int]) -> np.ndarray:
    here = np.zeros(len(common), dtype=bool)
    here[[common[u] for u in side.units]] = True
    return here


def _codes(allowed_pairs: np.ndarray, pairs: np.ndarray, present: np.ndarray) -> np.ndarray:
    """0 absent, 1 denied, 2 partly, 3 allowed; -1 a present pair of units with no pod pair."""
    code = np.where(allowed_pairs == 0, 1, np.where(allowed_pairs == pairs, 3, 2))
    code = np.where(pairs == 0, -1, code)
    return np.where(present, code, 0)


def _changed(sides: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[tuple[int, int]]:
    (a_al, a_pa, a_here), (b_al, b_pa, b_here) = sides
    ca, cb = _codes(a_al, a_pa, a_here), _codes(b_al, b_pa, b_here)
    with np.errstate(invalid="ignore", divide="ignore"):
        share_differs = (ca == 2) & (cb == 2) & (a_al * b_pa != b_al * a_pa)
    differs = (ca != cb) | share_differs
    differs &= (ca != -1) & (cb != -1)
    nothing = ((ca == 0) & (cb == 1)) | ((ca == 1) & (cb == 0))
    return [(int(i), int(j)) for i, j in np.argwhere(differs & ~nothing)]


def _service_rows(
    a: _Side,
    b: _Side,
    units: list[Unit],
    common: dict[Unit, int],
    ports: list[tuple[int, str]] | None,
) -> list[tuple[Unit, Unit, int, str, Verdict, Verdict]]:
    rows = []
    here = [_present(side, common) for side in (a, b)]
    for svc in sorted(set(a.services) | set(b.services)):
        keys = set(a.services.get(svc, {})) | set(b.services.get(svc, {}))
        for port, proto in sorted(keys, key=lambda pp: (pp[1], pp[0])):
            if ports is not None and (port, proto) not in ports:
                continue
            per_side = []
            for side, present in zip((a, b), here, strict=True):
                endpoints = side.services.get(svc, {}).get((port, proto))
                if endpoints is None:
                    per_side.append(None)
                    continue
                al, pa = side.service_counts(endpoints, proto)
                where = np.array([common[u] for u in side.units], dtype=np.int64)
                full_al, full_pa = np.zeros(len(units)), np.zeros(len(units))
                full_al[where], full_pa[where] = al, pa
                per_side.append((full_al, full_pa, present))
            for i, unit in enumerate(units):
                if any(_only_itself(s, i) for s in per_side):
                    continue
                before, after = (
                    Verdict(False)
                    if s is None or not s[2][i]
                    else Verdict(True, int(s[0][i]), int(s[1][i]))
                    for s in per_side
                )
                if _differs(before, after):
                    rows.append((unit, svc, port, proto, before, after))
    return rows


def _only_itself(side: tuple[np.ndarray, np.ndarray, np.ndarray] | None, i: int) -> bool:
    """Unit `i` exists on this side, the Service has endpoints, and each is a pod of the unit
    reaching itself (no verdict: a pod always reaches itself)."""
    if side is None or not side[2][i]:
        return False
    return side[1][i] == 0 and side[1].any()


def _differs(before: Verdict, after: Verdict) -> bool:
    x, y = before.state, after.state
    if {x, y} == {State.absent, State.denied}:
        return False
    if x == y == State.partly:
        return before.allowed * after.pairs != after.allowed * before.pairs
    return x != y


def _external_rows(
    a: _Side,
    b: _Side,
    units: list[Unit],
    common: dict[Unit, int],
    ports: list[tuple[int, str]] | None,
) -> list[tuple[Unit, Unit, int, str, Verdict, Verdict]]:
    if a.version != b.version:
        return []
    pieces = external_units(a.version, a.blocks(), b.blocks(), within=_cidrs(a) + _cidrs(b))
    if not pieces:
        return []
    out_ports = ports if ports is not None else sorted(a.rule_ports() | b.rule_ports())
    rows = []
    sides = (a, b)
    for ext, ip in pieces:
        # outbound: each unit to the range, on the ports the policies write
        for port, proto in out_ports:
            counts = []
            for side in sides:
                full = np.zeros(len(units))
                where = np.array([common[u] for u in side.units], dtype=np.int64)
                full[where] = side.external_counts(ip, port, proto, outbound=True)
                sizes = np.zeros(len(units))
                sizes[where] = side.sizes
                counts.append((full, sizes, _present(side, common)))
            rows += _unit_rows(units, counts, lambda u, e=ext: (u, e), port, proto)
        # inbound: the range to each unit, on the ports it declares
        for u in units:
            for port, proto in sorted(
                ports if ports is not None else a.ports.get(u, set()) | b.ports.get(u, set())
            ):
                vs = []
                for side in sides:
                    k = side.index.get(u)
                    if k is None:
                        vs.append(Verdict(False))
                        continue
                    n = side.external_counts(ip, port, proto, outbound=False)[k]
                    vs.append(Verdict(True, int(n), int(side.sizes[k])))
                if _differs(*vs):
                    rows.append((ext, u, port, proto, vs[0], vs[1]))
    return rows


def _unit_rows(units, counts, ends, port, proto):  # type: ignore[no-untyped-def]
    rows = []
    for i, unit in enumerate(units):
        before, after = (
            Verdict(bool(here[i]), int(al[i]), int(sz[i])) if here[i] else Verdict(False)
            for al, sz, here in counts
        )
        if _differs(before, after):
            rows.append((*ends(unit), port, proto, before, after))
    return rows


# reasons -----------------------------------------------------------------------------------------


def _ends(side: _Side, source: Unit, target: Unit, port: int, proto: str, want: bool):  # type: ignore[no-untyped-def]
    """A (source peer, target peer, target port) of the units whose verdict is `want`, or None."""
    pods = side.engine.pods

    def members(u: Unit) -> list[int]:
        k = side.index.get(u)
        return [] if k is None else list(np.flatnonzero(side.pod_unit == k))

    if source.kind == IP_BLOCK:
        srcs = [(Peer(_first(source)), None)]
    else:
        srcs = [(pod_peer(pods[i], side.version), i) for i in members(source)]
    if target.kind == IP_BLOCK:
        dsts = [(Peer(_first(target)), None, port)]
    elif target.kind == SERVICE:
        ep = side.services.get(target, {}).get((port, proto))
        if ep is None:
            return None
        dsts = [
            (pod_peer(pods[j], side.version), j, int(tp))
            for j, tp in zip(ep.pods, ep.target_ports, strict=True)
        ]
    else:
        dsts = [(pod_peer(pods[j], side.version), j, port) for j in members(target)]
    for s, i in srcs:
        for t, j, tp in dsts:
            if i is not None and i == j:
                continue
            if i is not None and j is not None:
                ok = bool(side.matrix(tp, proto)[i, j])
            else:
                ok = allowed(side.cluster, s, t, tp, proto)
            if ok == want:
                return s, t, tp
    return None


def _first(unit: Unit) -> IPAddress:
    text = unit.name.split("-")[0]
    return ip_network(text, strict=False).network_address


def _explained(
    a: _Side, b: _Side, source: Unit, target: Unit, port: int, proto: str, before, after
) -> Change:  # type: ignore[no-untyped-def]
    change = Change(source, target, port, proto, before, after, "")
    parts = []
    if target.kind == SERVICE:
        parts += _service_note(a, b, target, port, proto)
    if change.opened:
        if before.state == State.absent:
            parts.append(_presence(a, source, target, "new"))
        ends = _ends(b, source, target, port, proto, True)
        old = _ends(a, source, target, port, proto, False) if before.present else None
        if ends is not None:
            parts.append(
                _why_allowed(
                    b,
                    explain(b.cluster, ends[0], ends[1], ends[2], proto),
                    old and explain(a.cluster, old[0], old[1], old[2], proto),
                )
            )
    else:
        if after.state == State.absent:
            parts.append(_presence(b, source, target, "gone"))
        else:
            ends = _ends(b, source, target, port, proto, False)
            old = _ends(a, source, target, port, proto, True) if before.present else None
            if ends is not None:
                was = old and explain(a.cluster, old[0], old[1], old[2], proto)
                parts.append(_why_denied(explain(b.cluster, ends[0], ends[1], ends[2], proto), was))
    reason = "; ".join(p for p in parts if p)
    return Change(source, target, port, proto, before, after, reason)


def _presence(side: _Side, source: Unit, target: Unit, word: str) -> str:
    missing = [u for u in (source, target) if u.kind != IP_BLOCK and u not in side.index]
    missing = [u for u in missing if u.kind != SERVICE or u not in side.services]
    names = " and ".join(f"{u.kind} {u.key}" for u in missing)
    if not names:
        return ""
    return f"{names} {'is new' if word == 'new' else 'is gone'}"


def _service_note(a: _Side, b: _Side, svc: Unit, port: int, proto: str) -> str | list[str]:
    def backends(side: _Side) -> set[str]:
        ep = side.services.get(svc, {}).get((port, proto))
        if ep is None:
            return set()
        return {
            f"{side.units[side.pod_unit[j]].kind} {side.units[side.pod_unit[j]].key}"
            for j in ep.pods
        }

    before, after = backends(a), backends(b)
    if before == after or svc not in a.services or svc not in b.services:
        return []
    now = ", ".join(sorted(after)) or "no pod"
    was = ", ".join(sorted(before)) or "no pod"
    return [f"Service {svc.key} now sends to {now} (was {was})"]


def _rule_text(e: Explanation, direction: str) -> str:
    rs = e.reasons.get(direction, ())
    return ", ".join(f"{r.policy} {r.rule} ({r.peer}; {r.port})" for r in rs)


def _why_allowed(side: _Side, e: Explanation, was: Explanation | None) -> str:
    """The rule (per direction) that opened it: on the NEW side, where OLD denied."""
    if e.exempt:
        return e.exempt
    out = []
    for v in e.directions:
        old_v = (
            None if was is None else next(d for d in was.directions if d.direction == v.direction)
        )
        if old_v is not None and old_v.allowed:
            continue  # this direction did not change
        d = v.direction.lower()
        if not v.applies:
            continue
        if not v.isolated:
            if old_v is not None and old_v.isolated:
                names = ", ".join(p.key for p in old_v.selecting)
                out.append(f"{d}: no policy isolates {v.subject} any more (was {names})")
            else:
                out.append(f"{d}: {v.subject} is not isolated")
        else:
            out.append(f"{d} allowed by {_rule_text(e, v.direction)}")
    return "; ".join(out)


def _why_denied(e: Explanation, was: Explanation | None) -> str:
    """Why it closed: per direction NEW denies, the new policy that isolates or the rule that
    allowed it on the OLD side and no longer does."""
    out = []
    for v in e.directions:
        if v.allowed:
            continue
        d = v.direction.lower()
        old_v = (
            None if was is None else next(x for x in was.directions if x.direction == v.direction)
        )
        names = ", ".join(p.key for p in v.selecting)
        if old_v is None:
            out.append(f"{d}: isolated by {names}, no rule allows it")
        elif not old_v.isolated:
            out.append(f"{d}: now isolated by {names}, no rule allows it")
        elif old_v.allowed:
            rule = _rule_text(was, v.direction) if was is not None else ""
            out.append(f"{d}: {rule} no longer matches (isolated by {names})")
        else:
            out.append(f"{d}: isolated by {names}, no rule allows it")
    return "; ".join(out)
