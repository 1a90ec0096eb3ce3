"""One connection followed the way the cluster carries it. Pure; rendered by `report.trace`.

The name is resolved by the client's resolver (cluster DNS, whose own query must get through),
the Service's virtual address is translated by kube-proxy on the client's node, the packet is
routed to the endpoint's node (same node, host-gw or VXLAN), and NetworkPolicy is enforced on the
translated addresses and the *target* port: egress at the client, ingress at the endpoint, which
sees the node's address when kube-proxy masquerades.

podnet's choices, shared with the Linux realisation: an `external` client sits on the nodes'
underlay network (the last address of the node subnet); traffic to a load-balancer address
arrives at the first node that has a local endpoint when externalTrafficPolicy is Local, else at
the first node (as MetalLB's layer-2 mode announces it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import ip_address

from podnet.errors import InvalidValue, PodnetError
from podnet.family import family
from podnet.ipam.addresses import HostPort, split_host_port
from podnet.ipam.allocate import gateway
from podnet.model.cluster import Cluster
from podnet.model.config import Backend
from podnet.model.names import Named, NameKind, resolve
from podnet.model.objects import IPAddress, Pod, PolicyType, Service, ServiceType
from podnet.model.topology import entry_node
from podnet.policy.explain import (
    Reason,
    Tiers,
    endpoint_peers,
    explain,
    peer_of_address,
)
from podnet.policy.semantics import Peer
from podnet.proxy.verdict import ProxyVerdict, Verdict, decide


@dataclass(frozen=True, slots=True)
class Hop:
    step: str  # dns | service | kube-proxy | snat | route | egress | ingress
    summary: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    """The packet's fate at one endpoint kube-proxy may choose (or the one destination)."""

    endpoint: HostPort
    target: str  # ns/pod, "node NAME" or "outside the cluster"
    hops: tuple[Hop, ...]
    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Trace:
    source: str
    target: str
    port: int
    protocol: str
    hops: tuple[Hop, ...]  # up to the fan-out over endpoints
    deliveries: tuple[Delivery, ...]
    verdict: str  # delivered | partly delivered | dropped | rejected | NXDOMAIN | ...
    reason: str


class PortNeeded(PodnetError):
    """No port was given and the target does not settle one: `what` is the target, `why` says
    what it lacks, or `example` shows how to name a port in it (a target with no ports at all)."""

    def __init__(self, what: str, why: str = "", example: str = ""):
        self.what = what
        self.why = why
        self.example = example
        super().__init__(
            f"{what} {why}" if why else f"{what}: no port (name one in the target, e.g. {example})"
        )


@dataclass(frozen=True, slots=True)
class Traces:
    """One trace per source pod (and per destination pod), when a name stands for several."""

    source: str  # the names as podnet prints them: shop/deploy/frontend, shop/app=web, ...
    target: str
    traces: tuple[Trace, ...]

    @property
    def delivered(self) -> int:
        """How many of the connections are delivered."""
        return sum(t.verdict == "delivered" for t in self.traces)


# the two ends -------------------------------------------------------------------------------------


def source_peers(cluster: Cluster, named: Named) -> tuple[Peer, ...]:
    """The clients a name stands for: its pods (a Service's: those it sends to), a node, the
    external client or an address."""
    if named.port is not None:
        why = "the source takes no port"
        raise InvalidValue("source", named.text, why, message=why)
    return endpoint_peers(cluster, named)


def _label(named: Named, peer: Peer) -> str:
    """How the source is called in its trace: its name when the name is that end, else the
    pod's."""
    if named.kind in (NameKind.pod, NameKind.node, NameKind.address, NameKind.external):
        return named.name
    return str(peer)


def _target(named: Named) -> str:
    """How the target is called in its trace: as typed, a pod by its key."""
    if named.kind != NameKind.pod:
        return named.text
    return named.name + (f":{named.port}" if named.port is not None else "")


def _destination_pods(named: Named) -> tuple[Pod, ...] | None:
    """The pods traced one by one: a workload's, a selector's, a headless Service's."""
    if named.kind in (NameKind.workload, NameKind.selector):
        return named.pods
    if named.service is not None and named.service.headless:
        return named.pods
    return None


# the trace -----------------------------------------------------------------------------------------


def trace(
    cluster: Cluster,
    source: str,
    target: str,
    port: int | None = None,
    protocol: str = "TCP",
    namespace: str = "default",
) -> Trace:
    """One connection from the client `source` names to what `target` names (see
    `model.names`; `target` may also be a DNS name as the client would type it). A pod's key
    names that pod, even where a workload has the same name: callers pass keys."""
    try:
        src = resolve(cluster, _pod_first(cluster, source), namespace)
    except PodnetError as err:
        why = f"{err}; give namespace/pod, a node, 'external' or an address"
        raise InvalidValue("source", source, why) from None
    dst = resolve(cluster, _pod_first(cluster, target), namespace, dns=True)
    result = traces(cluster, src, dst, port, protocol)
    if len(result.traces) != 1:
        why = f"stand for {len(result.traces)} connections, not one"
        raise InvalidValue("name", f"{source} -> {target}", why)
    return result.traces[0]


def _pod_first(cluster: Cluster, text: str) -> str:
    host, port = split_host_port(text)
    pod = cluster.pod(host)
    if pod is None:
        return text
    return f"{pod.namespace}/pod/{pod.name}" + (f":{port}" if port is not None else "")


def traces(
    cluster: Cluster, src: Named, dst: Named, port: int | None = None, protocol: str = "TCP"
) -> Traces:
    """Every connection from the clients `src` names to what `dst` names: one per source pod,
    and per destination pod of a workload, a selector or a headless Service."""
    if dst.service is not None and dst.service.type == ServiceType.ExternalName:
        why = f"is an ExternalName Service: trace its DNS name to follow the alias to {dst.service.external_name}"
        raise InvalidValue("target", dst.text, why, message=f"{dst.name} {why}")
    pods = _destination_pods(dst)
    if pods == ():
        why = "has no pod with an address"
        raise InvalidValue("target", dst.text, why, message=f"{dst.name} {why}")
    out = []
    for peer in source_peers(cluster, src):
        source = _label(src, peer)
        if pods is None:
            out.append(_trace(cluster, peer, source, _target(dst), dst, None, port, protocol))
        else:
            out += [
                _trace(cluster, peer, source, pod.key, dst, pod, port, protocol) for pod in pods
            ]
    return Traces(src.name, dst.name, tuple(out))


def _service_address(service: Service, src: Peer) -> IPAddress:
    """Where a client sends to reach a Service: its ClusterIP, or, from outside the cluster,
    its load-balancer address, as such a client would."""
    if not src.node:
        outside = [i.ip for i in service.load_balancer if i.ip is not None]
        outside += list(service.external_ips)
        if outside:
            return _same_family(tuple(outside), src.ip.version)
    return _same_family(service.cluster_ips, src.ip.version)


def _same_family(ips: tuple[IPAddress, ...], version: int) -> IPAddress:
    return next((ip for ip in ips if ip.version == version), ips[0])


def _trace(
    cluster: Cluster,
    src: Peer,
    source: str,
    target: str,
    named: Named,
    to_pod: Pod | None,
    port: int | None,
    protocol: str,
) -> Trace:
    """One connection from `src` to `to_pod`, else to what `named` names."""
    hops: list[Hop] = []
    port = port or named.port
    if to_pod is None and named.kind == NameKind.pod:
        to_pod = named.pods[0]
    if to_pod is not None:
        dst = _same_family(to_pod.ips, src.ip.version)
        port = port or _first_port(to_pod.ports, protocol, to_pod.key)
    elif named.service is not None:
        if not named.service.cluster_ips:
            why = "has no ClusterIP"
            raise InvalidValue("target", named.text, why, message=f"{named.name} {why}")
        dst = _service_address(named.service, src)
    elif named.node is not None and named.kind == NameKind.node:
        dst = _same_family(named.node.ips, src.ip.version)
    elif named.address is not None:
        dst = named.address
    else:
        resolved = _resolve(cluster, src, named.host, hops)
        if isinstance(resolved, Trace):
            return _finish_early(resolved, source, target, port or 0, protocol, hops)
        dst = resolved
    service = _service_of(cluster, dst)
    if service is not None:
        port = port or _service_port(service, protocol)
        hops.append(Hop("service", f"{service.key}: {_service_kind(service, dst)} {dst}"))
    if port is None:
        raise PortNeeded(target, example=f"{named.host}:80")
    node = entry_node(cluster, src, dst, service)
    verdict = decide(cluster, node, src.ip, dst, port, protocol)
    hops.append(_proxy_hop(node, verdict))
    owner = peer_of_address(cluster, dst)
    egress_done = False
    if verdict.verdict == ProxyVerdict.NONE and owner.pod is None and owner.node:
        if owner.node != node:
            # Not a Service on the client's node: routed to the node that owns the address, whose
            # kube-proxy sees it in prerouting (a NodePort of another node). The client's egress
            # policy saw the packet as it left, towards that node.
            first = _first_leg(cluster, src, node, owner, port, protocol, hops)
            if first:
                return Trace(source, target, port, protocol, tuple(hops), (), "dropped", first)
            egress_done = True
            node = owner.node
            verdict = decide(cluster, node, src.ip, dst, port, protocol)
            hops.append(_proxy_hop(node, verdict))
        unserved = _unserved_node_port(cluster, node, dst, port, protocol)
        if verdict.verdict == ProxyVerdict.NONE and unserved:
            return Trace(source, target, port, protocol, tuple(hops), (), "rejected", unserved)
    if verdict.verdict in (ProxyVerdict.DROP, ProxyVerdict.REJECT):
        kind = "rejected" if verdict.verdict == ProxyVerdict.REJECT else "dropped"
        return Trace(
            source,
            target,
            port,
            protocol,
            tuple(hops),
            (),
            kind,
            f"kube-proxy on {node}: {verdict.reason}",
        )
    candidates = (
        verdict.targets if verdict.verdict == ProxyVerdict.ACCEPT else (HostPort(dst, port),)
    )
    deliveries = tuple(
        deliver(cluster, src, node, candidate, protocol, verdict, egress_done=egress_done)
        for candidate in candidates
    )
    allowed = [d for d in deliveries if d.allowed]
    if len(allowed) == len(deliveries):
        outcome, reason = (
            "delivered",
            (
                "every endpoint kube-proxy may choose accepts it"
                if len(deliveries) > 1
                else "policies allow it"
            ),
        )
    elif allowed:
        outcome = "partly delivered"
        reason = (
            f"{len(allowed)} of {len(deliveries)} endpoints accept it: the connection succeeds"
            " only when kube-proxy picks one of those"
        )
    else:
        outcome, reason = "dropped", "; ".join(dict.fromkeys(d.reason for d in deliveries))
    return Trace(source, target, port, protocol, tuple(hops), deliveries, outcome, reason)


def _finish_early(
    t: Trace, source: str, target: str, port: int, protocol: str, hops: list[Hop]
) -> Trace:
    return Trace(source, target, port, protocol, tuple(hops), (), t.verdict, t.reason)


def _first_port(ports, protocol: str, what: str) -> int:  # type: ignore[no-untyped-def]
    for p in ports:
        if p.protocol == protocol:
            return p.container_port
    raise PortNeeded(what, f"declares no {protocol} port")


def _service_port(service: Service, protocol: str) -> int:
    ports = [p for p in service.ports if p.protocol == protocol]
    if len(ports) == 1:
        return ports[0].port
    listed = ", ".join(f"{p.port}/{p.protocol}" for p in service.ports) or "none"
    raise PortNeeded(f"Service {service.key}", f"has several or no {protocol} ports ({listed})")


# DNS -------------------------------------------------------------------------------------------


def _resolve(cluster: Cluster, src: Peer, name: str, hops: list[Hop]) -> IPAddress | Trace:
    from podnet.dns.resolver import (
        cluster_dns_servers,
        cluster_lookup,
        node_resolv_conf,
        pod_resolv_conf,
        search,
    )

    conf = pod_resolv_conf(cluster, src.pod) if src.pod is not None else node_resolv_conf(cluster)
    qtypes = (family(src.ip).dns_type,)
    if conf.nameservers and conf.nameservers[0] in cluster_dns_servers(cluster) and src.is_pod:
        blocked = _dns_blocked(cluster, src, ip_address(conf.nameservers[0]))
        if blocked:
            hops.append(Hop("dns", f"query to {conf.nameservers[0]}:53/UDP: {blocked}"))
            return _stop(
                "dropped",
                f"the DNS query cannot reach cluster DNS ({blocked}): {name} does not resolve",
            )
    res = search(name, conf, cluster_lookup(cluster), qtypes)
    tried = ", ".join(f"{q.qname.to_text()} {q.status}" for q in res.queries)
    detail = {"resolution": res.to_dict()}
    if res.outcome != "answer":
        if res.outcome == "upstream":
            hops.append(Hop("dns", f"{name}: outside the cluster ({tried})", detail))
            up = res.upstream_name
            return _stop(
                "unresolved",
                f"{up.to_text() if up else name} is answered by the upstream resolver, which podnet"
                " does not model: give the address instead",
            )
        hops.append(Hop("dns", f"{name}: {res.outcome} ({tried})", detail))
        return _stop(res.outcome, f"{name} does not resolve from {src}")
    if not res.addresses:  # an ExternalName: a CNAME to a name outside the cluster
        up = res.upstream_name
        hops.append(Hop("dns", f"{name}: CNAME {up.to_text() if up else '?'} ({tried})", detail))
        return _stop(
            "unresolved",
            f"{name} is an alias of {up.to_text() if up else 'a name'} outside the cluster, answered"
            " by the upstream resolver, which podnet does not model: give the address instead",
        )
    address = ip_address(res.addresses[0])
    hops.append(Hop("dns", f"{name} -> {address} ({tried})", detail))
    return address


def _stop(verdict: str, reason: str) -> Trace:
    return Trace("", "", 0, "", (), (), verdict, reason)


def _dns_blocked(cluster: Cluster, src: Peer, server: IPAddress) -> str:
    """Why the pod's query to cluster DNS (UDP 53) cannot get through, or ""."""
    assert src.pod is not None
    verdict = decide(cluster, src.pod.node_name, src.ip, server, 53, "UDP")
    if verdict.verdict in (ProxyVerdict.DROP, ProxyVerdict.REJECT):
        return f"kube-proxy {verdict.verdict}: {verdict.reason}"
    candidates = (
        verdict.targets if verdict.verdict == ProxyVerdict.ACCEPT else (HostPort(server, 53),)
    )
    results = [deliver(cluster, src, src.pod.node_name, c, "UDP", verdict) for c in candidates]
    if any(d.allowed for d in results):
        return ""
    return "; ".join(dict.fromkeys(d.reason for d in results))


# kube-proxy and routing ------------------------------------------------------------------------


def _service_of(cluster: Cluster, ip: IPAddress) -> Service | None:
    for s in cluster.services:
        if ip in s.cluster_ips or ip in s.external_ips or any(i.ip == ip for i in s.load_balancer):
            return s
    return None


def _service_kind(service: Service, ip: IPAddress) -> str:
    if ip in service.cluster_ips:
        return "ClusterIP"
    if ip in service.external_ips:
        return "externalIP"
    return "LoadBalancer IP"


def _first_leg(
    cluster: Cluster, src: Peer, node: str, owner: Peer, port: int, protocol: str, hops: list[Hop]
) -> str:
    """The way from the client's node to the node that owns the destination address: a route
    hop and the client's egress policy (added to `hops`); why it is dropped, or ""."""
    hops.append(_route(cluster, node, owner))
    egress = explain(cluster, src, owner, port, protocol)
    e = next(v for v in egress.directions if v.direction == PolicyType.Egress)
    hops.append(_policy_hop(e, egress.reasons[PolicyType.Egress], ""))
    if egress.exempt or e.allowed:
        return ""
    return f"egress of {src} denied by {', '.join(p.key for p in e.selecting)}"


def _unserved_node_port(
    cluster: Cluster, node: str, dst: IPAddress, port: int, protocol: str
) -> str:
    """Why a NodePort sent to an address of `node` that kube-proxy does not serve NodePorts on
    (see nodePortAddresses) is refused, or "" when `port` is no NodePort there."""
    from podnet.proxy.node import node_proxy

    np = node_proxy(cluster, node, dst.version)
    st = np.node_ports.get((protocol, port))
    if st is None or np.node_port_ips is None or dst in np.node_port_ips:
        return ""
    served = ", ".join(map(str, np.node_port_ips)) or "no address"
    config = cluster.config
    if config.node_port_primary or not config.node_port_addresses:
        why = "nodePortAddresses: primary" + (
            "" if config.node_port_primary else f", the {np.mode} mode's default"
        )
    else:
        why = "nodePortAddresses: " + ", ".join(map(str, config.node_port_addresses))
    svc = f"{st.info.name.namespace}/{st.info.name.name}"
    return (
        f"kube-proxy on {node} serves NodePort {port}/{protocol} of {svc} on {served} only"
        f" ({why}); nothing listens on {dst}:{port}, the connection is refused"
    )


def _proxy_hop(node: str, v: Verdict) -> Hop:
    if v.verdict == ProxyVerdict.NONE:
        return Hop("kube-proxy", f"on {node}: no Service rule applies ({v.reason})")
    if v.verdict == ProxyVerdict.ACCEPT:
        masq = ", masquerade (SNAT to the node)" if v.masquerade else ", source kept"
        return Hop(
            "kube-proxy",
            f"on {node}: DNAT to one of {', '.join(v.endpoints)}{masq}; {v.reason}",
            {
                "verdict": v.verdict,
                "endpoints": list(v.endpoints),
                "masquerade": v.masquerade,
                "service": v.service,
            },
        )
    return Hop("kube-proxy", f"on {node}: {v.verdict}: {v.reason}", {"verdict": v.verdict})


def _route(cluster: Cluster, from_node: str, to: Peer) -> Hop:
    if not to.node:
        return Hop(
            "route",
            f"leaves the cluster from {from_node} (source masqueraded to the node's address)",
        )
    if to.node == from_node:
        how = "the node itself" if to.pod is None else "cni0 bridge on the same node"
        return Hop("route", f"{from_node}: {how}")
    peer = cluster.node(to.node)
    if cluster.config.backend == Backend.vxlan:
        return Hop("route", f"{from_node} -> {to.node}: VXLAN (flannel.1, VNI 1) to {peer.ips[0]}")
    return Hop("route", f"{from_node} -> {to.node}: host-gw via {peer.ips[0]}")


def _seen_source(cluster: Cluster, src: Peer, node: str, to: Peer, masquerade: bool) -> Peer:
    """The source address the destination sees: the node's when kube-proxy masquerades (its
    bridge address towards a pod on the same node, its own address towards another node)."""
    if not masquerade:
        return src
    here = cluster.node(node)
    if to.node == node and to.pod is not None:
        cidr = next(c for c in here.pod_cidrs if c.version == to.ip.version)
        return Peer(gateway(cidr), None, node)
    return Peer(next(ip for ip in here.ips if ip.version == to.ip.version), None, node)


def deliver(
    cluster: Cluster,
    src: Peer,
    node: str,
    endpoint: HostPort,
    protocol: str,
    verdict: Verdict,
    *,
    egress_done: bool = False,
) -> Delivery:
    """The packet at one endpoint (kube-proxy's choice when `verdict` is ACCEPT, else the
    destination as it is): route, source NAT, egress and ingress policy. `egress_done`: the
    client's egress policy was met before `node` translated the packet (see `_first_leg`)."""
    ip, port = endpoint.ip, endpoint.port
    translated = verdict.verdict == ProxyVerdict.ACCEPT
    masquerade = translated and verdict.masquerades(ip, src.ip)
    to = peer_of_address(cluster, ip)
    hops = [_route(cluster, node, to)]
    seen = _seen_source(cluster, src, node, to, masquerade)
    if seen is not src:
        hops.insert(0, Hop("snat", f"source {src.ip} -> {seen.ip}"))
    egress = explain(cluster, src, to, port, protocol)
    ingress = explain(cluster, seen, to, port, protocol)
    e = next(v for v in egress.directions if v.direction == PolicyType.Egress)
    i = next(v for v in ingress.directions if v.direction == PolicyType.Ingress)
    # A pod reaching itself through a Service leaves its namespace (hairpin): only traffic to its
    # own address directly is exempt from its egress policy.
    hairpin = translated and to.pod is not None and src.pod is not None
    self_exempt = bool(egress.exempt) and not hairpin
    if not egress_done:
        hops.append(
            _policy_hop(
                e,
                egress.reasons[PolicyType.Egress],
                egress.exempt if self_exempt else "",
                egress.tiers.get(PolicyType.Egress),
            )
        )
    ingress_tiers = ingress.tiers.get(PolicyType.Ingress)
    hops.append(_policy_hop(i, ingress.reasons[PolicyType.Ingress], ingress.exempt, ingress_tiers))
    egress_ok = egress_done or self_exempt or e.allowed
    ingress_ok = bool(ingress.exempt) or i.allowed
    what = (
        to.pod.key
        if to.pod is not None
        else (f"node {to.node}" if to.node else "outside the cluster")
    )
    if egress_ok and ingress_ok:
        reason = "allowed"
    elif not egress_ok:
        reason = f"egress of {src} denied by {_denier(e, egress.tiers.get(PolicyType.Egress))}"
    else:
        reason = f"ingress of {what} denied by {_denier(i, ingress_tiers)}"
    return Delivery(endpoint, what, tuple(hops), egress_ok and ingress_ok, reason)


def _denier(v, tiers: Tiers | None) -> str:  # type: ignore[no-untyped-def]
    """What denied a direction: the admin or baseline policy that decided, else the
    NetworkPolicies that isolate the pod."""
    decided = _tier_decision(tiers)
    if decided is not None:
        return decided.title
    return ", ".join(p.key for p in v.selecting)


def _tier_decision(tiers: Tiers | None):  # type: ignore[no-untyped-def]
    """The admin or baseline rule that decided the direction, or None."""
    if tiers is None:
        return None
    return {"admin": tiers.admin, "baseline": tiers.baseline}.get(tiers.decided_by)


_TIER_VERBS = {"Accept": "allowed", "Deny": "DENIED"}


def _policy_hop(v, reasons: tuple[Reason, ...], exempt: str, tiers: Tiers | None = None) -> Hop:  # type: ignore[no-untyped-def]
    step = v.direction.lower()
    where = f"at {v.subject}"
    if exempt and (step == "ingress" or v.subject.pod is not None and exempt.startswith("a pod")):
        return Hop(step, f"{where}: allowed ({exempt})")
    if not v.applies:
        return Hop(step, f"{where}: not subject to NetworkPolicy")
    decided = _tier_decision(tiers)
    if decided is not None and tiers is not None:
        return Hop(
            step,
            f"{where}: {_TIER_VERBS[decided.action]} by the {tiers.decided_by} tier:"
            f" {decided.title} {decided.rule} ({decided.peer}; {decided.port})",
            {"policies": [decided.policy]},
        )
    if not v.isolated:
        return Hop(step, f"{where}: allowed (no policy selects it for {v.direction})")
    names = ", ".join(p.key for p in v.selecting)
    if reasons:
        r = reasons[0]
        return Hop(
            step,
            f"{where}: allowed by {r.policy} {r.rule} ({r.peer}; {r.port})",
            {"policies": [p.key for p in v.selecting]},
        )
    return Hop(
        step,
        f"{where}: DENIED: isolated by {names}, and no rule allows it",
        {"policies": [p.key for p in v.selecting]},
    )
