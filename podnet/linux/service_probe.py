"""Services on the kernel: real connections to ClusterIPs, NodePorts and LoadBalancer IPs,
compared with `podnet trace` connection by connection.

A connection to a Service goes to an endpoint kube-proxy picks at random, so each is tried a few
times. What must hold, for the trace of the same (source, address, port, protocol):
- `rejected` (no endpoints): every attempt is refused;
- `dropped` (kube-proxy's drop, or policy at every endpoint): every attempt times out;
- `delivered` (every endpoint accepts): every attempt reaches an endpoint;
- `partly delivered`: some attempt reaches one (unless ClientIP affinity pins the client to one
  that does not), and never one that policy denies;
- every endpoint reached is one the trace lists as allowed, and the source address it saw is the
  one the trace says (the client's, or the node's when kube-proxy masquerades).

Rendered by `report.service_reach`, beside the model's matrix of the same cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from ipaddress import ip_address

from podnet.ipam.addresses import HostPort
from podnet.linux import probe
from podnet.linux.plan import netns_name
from podnet.linux.realised import Realised
from podnet.model.cluster import Cluster
from podnet.path.trace import Trace, trace

PARTIAL_ATTEMPTS = 64


@dataclass(frozen=True)
class Check:
    """One connection tried `len(outcomes)` times, and its trace."""

    source: str  # ns/pod, a node name or "external"
    target: str  # what was dialled: str(HostPort)/protocol
    service: str  # ns/name:port/protocol, or ""
    trace: Trace
    outcomes: tuple[probe.Outcome, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def reached(self) -> bool:
        return any(o.reached for o in self.outcomes)

    @property
    def outcome(self) -> str:
        statuses = sorted({o.status for o in self.outcomes})
        return "/".join(statuses)


def _netns_of(st: Realised, cluster_name: str, source: str) -> str:
    if source == "external":
        return netns_name(cluster_name, "external")
    if source in st.pods:
        return st.pods[source].netns
    return st.nodes[source]


def _where(st: Realised, target: str) -> str | None:
    """The namespace of a trace delivery's target ("ns/pod" or "node NAME")."""
    if target.startswith("node "):
        return st.nodes.get(target[5:])
    pod = st.pods.get(target)
    return pod.netns if pod else None


def _attempts(t: Trace) -> int:
    """Connections to make: when only some endpoints accept, enough that kube-proxy's random
    choice misses all of them with a chance below one in a million."""
    if t.verdict == "partly delivered":
        share = sum(d.allowed for d in t.deliveries) / len(t.deliveries)
        return min(PARTIAL_ATTEMPTS, math.ceil(math.log(1e-6) / math.log(1 - share)))
    return 2 if t.verdict == "delivered" else 1


def _seen(t: Trace, target: str, source_ip: str) -> str:
    delivery = next(d for d in t.deliveries if d.target == target)
    for hop in delivery.hops:
        if hop.step == "snat":
            return hop.summary.split("-> ")[-1]
    return source_ip


def judge(check: Check, st: Realised, source_ip: str, affinity: bool) -> tuple[str, ...]:
    """What the attempts show that the trace does not say (empty: they agree)."""
    t, outs = check.trace, check.outcomes
    problems = []
    where = f"{check.source} -> {check.target}"
    statuses = {o.status for o in outs}
    if t.verdict == "rejected":
        if statuses != {probe.REFUSED}:
            problems.append(f"{where}: trace rejected, kernel {check.outcome}")
        return tuple(problems)
    if t.verdict not in ("delivered", "partly delivered"):
        if any(o.reached for o in outs):
            problems.append(f"{where}: trace {t.verdict}, kernel {check.outcome}")
        return tuple(problems)
    allowed = {_where(st, d.target): d.target for d in t.deliveries if d.allowed}
    every = {_where(st, d.target) for d in t.deliveries}
    if t.verdict == "delivered" and not all(o.reached for o in outs):
        problems.append(f"{where}: trace delivered, kernel {check.outcome}")
    if t.verdict == "partly delivered" and not affinity and not check.reached:
        problems.append(f"{where}: trace partly delivered, kernel {check.outcome}")
    for o in outs:
        if o.status != probe.OPEN or not o.identity:
            continue
        reached = st.pod_netns.get(o.identity)
        if reached not in every:
            problems.append(f"{where}: reached {o.identity}, not an endpoint of the trace")
        elif reached not in allowed:
            problems.append(f"{where}: reached {o.identity}, which policy should deny")
        elif o.peer and o.peer != (want := _seen(t, allowed[reached], source_ip)):
            problems.append(f"{where}: {o.identity} saw source {o.peer}, the trace says {want}")
    return tuple(dict.fromkeys(problems))


def check_connections(
    cluster: Cluster,
    st: Realised,
    wanted: list[tuple[str, str, int, str]],
    timeout: float = probe.DEFAULT_TIMEOUT,
) -> list[Check]:
    """Trace and try each (source, IP, port, protocol); each Check with its problems."""
    name = st.cluster
    traces = [trace(cluster, src, ip, port, proto) for src, ip, port, proto in wanted]
    attempts: list[probe.Attempt] = []
    spans = []
    for (src, ip, port, proto), t in zip(wanted, traces, strict=True):
        n = _attempts(t)
        spans.append((len(attempts), n))
        attempts += [probe.Attempt(_netns_of(st, name, src), ip, port, proto)] * n
    outcomes = probe.run(attempts, timeout=timeout)
    out = []
    for (src, ip, port, proto), t, (start, n) in zip(wanted, traces, spans, strict=True):
        service = _service_name(cluster, ip, port, proto)
        dialled = f"{HostPort(ip_address(ip), port)}/{proto}"
        check = Check(src, dialled, service, t, tuple(outcomes[start : start + n]))
        affinity = _affinity(cluster, ip)
        problems = judge(check, st, _source_ip(cluster, st, src), affinity)
        out.append(Check(check.source, check.target, service, t, check.outcomes, problems))
    return out


def _source_ip(cluster: Cluster, st: Realised, source: str) -> str:
    if source == "external":
        return st.external_ip
    if source in st.pods:
        return st.pods[source].ips[0]
    return str(cluster.node(source).ips[0])


def _affinity(cluster: Cluster, ip: str) -> bool:
    for s in cluster.services:
        addrs = {str(a) for a in s.cluster_ips} | {str(i.ip) for i in s.load_balancer if i.ip}
        if ip in addrs:
            return s.session_affinity == "ClientIP"
    return False


def _service_name(cluster: Cluster, ip: str, port: int, proto: str) -> str:
    for s in cluster.services:
        if ip in {str(a) for a in s.cluster_ips}:
            return f"{s.key}:{port}/{proto}"
    return ""


def cluster_ip_targets(cluster: Cluster) -> list[tuple[str, str, int, str]]:
    """(service, ClusterIP, port, protocol) of every Service port, as `reach --services` lists."""
    out = []
    for svc in cluster.services:
        vip = next((ip for ip in svc.cluster_ips if ip.version == 4), None)
        if vip is None:
            continue
        for sp in svc.ports:
            if sp.protocol in ("TCP", "UDP"):
                out.append((f"{svc.key}:{sp.port}/{sp.protocol}", str(vip), sp.port, sp.protocol))
    return out


@dataclass(frozen=True)
class ServiceMatrix:
    pods: list[str]
    services: list[str]
    checks: dict[tuple[str, str], Check]

    @property
    def problems(self) -> list[str]:
        return [p for c in self.checks.values() for p in c.problems]


def measure(
    cluster: Cluster, st: Realised, timeout: float = probe.DEFAULT_TIMEOUT
) -> ServiceMatrix:
    """Every pod to every Service port's ClusterIP."""
    from podnet.linux.verify import probed_pods

    pods = [p.key for p in probed_pods(cluster) if p.key in st.pods]
    targets = cluster_ip_targets(cluster)
    wanted = [(p, ip, port, proto) for p in pods for _, ip, port, proto in targets]
    checks = check_connections(cluster, st, wanted, timeout)
    cells = {}
    for check, (pod, ip, port, proto) in zip(checks, wanted, strict=True):
        name = next(t[0] for t in targets if t[1:] == (ip, port, proto))
        cells[(pod, name)] = check
    return ServiceMatrix(pods, [t[0] for t in targets], cells)


def verify(cluster: Cluster, st: Realised, timeout: float = probe.DEFAULT_TIMEOUT) -> list[str]:
    """The Service cells where the kernel and the traces disagree (each re-tried once, slower)."""
    matrix = measure(cluster, st, timeout)
    failing = [c for c in matrix.checks.values() if c.problems]
    if not failing:
        return []
    wanted = [(c.source, c.trace.target, c.trace.port, c.trace.protocol) for c in failing]
    return [p for c in check_connections(cluster, st, wanted, timeout * 3) for p in c.problems]
