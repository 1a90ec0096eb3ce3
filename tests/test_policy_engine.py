"""The vectorised engine never disagrees with the per-connection semantics, on random clusters."""

from __future__ import annotations

from ipaddress import ip_network

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podnet.model.cluster import resolve
from podnet.model.objects import (
    ContainerPort,
    IPBlock,
    Namespace,
    NetworkPolicy,
    Pod,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
)
from podnet.model.parse import Manifests
from podnet.model.selectors import LabelSelector, Requirement
from podnet.policy import semantics
from podnet.policy.engine import PolicyEngine, declared_ports

KEYS = ("app", "tier", "env")
VALUES = ("a", "b", "c")
NAMESPACES = ("x", "y", "z")
QUERIES = ((80, "TCP"), (81, "TCP"), (53, "UDP"), (80, "UDP"), (82, "SCTP"), (8080, "TCP"))

labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
requirement = st.one_of(
    st.builds(
        Requirement,
        st.sampled_from(KEYS),
        st.sampled_from(("In", "NotIn")),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True).map(tuple),
    ),
    st.builds(Requirement, st.sampled_from(KEYS), st.sampled_from(("Exists", "DoesNotExist"))),
)
selector = st.builds(
    lambda ml, ex: LabelSelector.of(ml, *ex),
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2),
    st.lists(requirement, max_size=2),
)
container_port = st.builds(
    ContainerPort,
    st.sampled_from((53, 80, 81, 82, 8080)),
    st.sampled_from(("TCP", "UDP", "SCTP")),
    st.sampled_from(("", "web", "dns", "alt")),
)
CIDRS = (
    "10.244.0.0/16",
    "10.244.0.0/24",
    "10.244.1.0/24",
    "0.0.0.0/0",
    "10.244.0.0/30",
    "172.18.0.0/16",
)


@st.composite
def ip_blocks(draw: st.DrawFn) -> IPBlock:
    cidr = ip_network(draw(st.sampled_from(CIDRS)))
    excepts = []
    for _ in range(draw(st.integers(0, 2))):
        prefix = draw(st.integers(min(cidr.prefixlen + 1, 32), 32))
        if prefix <= cidr.prefixlen:
            break
        subnets = (
            list(cidr.subnets(new_prefix=prefix))[:64]
            if prefix - cidr.prefixlen <= 6
            else [next(cidr.subnets(new_prefix=prefix))]
        )
        excepts.append(draw(st.sampled_from(subnets)))
    return IPBlock(cidr, tuple(excepts))


peer = st.one_of(
    st.builds(lambda s: PolicyPeer(pod_selector=s), selector),
    st.builds(lambda s: PolicyPeer(namespace_selector=s), selector),
    st.builds(lambda a, b: PolicyPeer(pod_selector=a, namespace_selector=b), selector, selector),
    st.builds(lambda b: PolicyPeer(ip_block=b), ip_blocks()),
)


@st.composite
def policy_port(draw: st.DrawFn) -> PolicyPort:
    proto = draw(st.sampled_from(("TCP", "UDP", "SCTP")))
    kind = draw(st.sampled_from(("none", "number", "range", "name")))
    if kind == "none":
        return PolicyPort(proto)
    if kind == "name":
        return PolicyPort(proto, draw(st.sampled_from(("web", "dns", "alt", "missing"))))
    port = draw(st.sampled_from((53, 80, 81, 82, 8080)))
    end = draw(st.integers(port, port + 5)) if kind == "range" else None
    return PolicyPort(proto, port, end)


rule = st.builds(
    lambda peers, ports: PolicyRule(tuple(peers), tuple(ports)),
    st.lists(peer, max_size=3),
    st.lists(policy_port(), max_size=2),
)


@st.composite
def clusters(draw: st.DrawFn):
    namespaces = [Namespace(ns, draw(labels)) for ns in NAMESPACES]
    pods = []
    for i in range(draw(st.integers(1, 10))):
        ports = draw(st.lists(container_port, max_size=3))
        unique = {p.name: p for p in ports if p.name}  # port names are unique in a pod
        ports = [p for p in ports if not p.name] + list(unique.values())
        pods.append(
            Pod(
                name=f"p{i}",
                namespace=draw(st.sampled_from(NAMESPACES)),
                labels=draw(labels),
                ports=tuple(ports),
                host_network=draw(st.booleans()) and i % 4 == 3,
                node_name=draw(st.sampled_from(("", "node-1", "node-2"))),
            )
        )
    policies = []
    for i in range(draw(st.integers(0, 5))):
        types = draw(st.sampled_from((("Ingress",), ("Egress",), ("Ingress", "Egress"))))
        policies.append(
            NetworkPolicy(
                name=f"np{i}",
                namespace=draw(st.sampled_from(NAMESPACES)),
                pod_selector=draw(selector),
                policy_types=types,
                ingress=tuple(draw(st.lists(rule, max_size=3))),
                egress=tuple(draw(st.lists(rule, max_size=3))),
            )
        )
    return resolve(Manifests(namespaces=namespaces, pods=pods, policies=policies))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_engine_agrees_with_semantics(cluster) -> None:
    engine = PolicyEngine(cluster)
    endpoints = [semantics.pod_peer(p) for p in engine.pods]
    queries = set(QUERIES) | set(declared_ports(engine.pods))
    for port, protocol in sorted(queries):
        matrix = engine.matrix(port, protocol)
        for i, src in enumerate(endpoints):
            for j, dst in enumerate(endpoints):
                want = semantics.allowed(cluster, src, dst, port, protocol)
                assert bool(matrix[i, j]) == want, (src, dst, port, protocol)


def test_keys_group_pods_no_policy_can_tell_apart() -> None:
    pods = [
        Pod(f"web-{i}", "shop", {"app": "web"}, (ContainerPort(80, name="http"),))
        for i in range(20)
    ] + [Pod("db-0", "shop", {"app": "db"})]
    cluster = resolve(Manifests(pods=pods))
    assert PolicyEngine(cluster).keys == 3  # web, db and the cluster's CoreDNS pods


def test_ipblock_boundaries_split_keys() -> None:
    pods = [Pod(f"web-{i}", "shop", {"app": "web"}, node_name="node-1") for i in range(4)]
    block = IPBlock(ip_network("10.244.0.0/24"), (ip_network("10.244.0.4/32"),))
    deny = NetworkPolicy(
        "np", "shop", LabelSelector(), ("Ingress",), (PolicyRule((PolicyPeer(ip_block=block),)),)
    )
    cluster = resolve(Manifests(pods=pods, policies=[deny]))
    engine = PolicyEngine(cluster)
    web = [i for i, p in enumerate(engine.pods) if p.namespace == "shop"]
    ips = [str(engine.ips[i]) for i in web]
    assert ips == ["10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5"]
    assert len({int(engine.pod_key[i]) for i in web}) == 3  # before, inside and after the except
    matrix = engine.matrix(80)
    assert not matrix[web[2], web[0]] and matrix[web[0], web[1]] and matrix[web[3], web[1]]
