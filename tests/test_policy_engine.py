"""The vectorised engine never disagrees with the per-connection semantics, on random clusters:
NetworkPolicies alone, and with random admin tiers around them."""

from __future__ import annotations

from ipaddress import ip_network

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podnet.model.cluster import resolve
from podnet.model.cluster_policy import (
    ADMIN_NETWORK_POLICY,
    BASELINE_ADMIN_NETWORK_POLICY,
    CLUSTER_NETWORK_POLICY,
    Action,
    ClusterPolicy,
    ClusterPolicyPeer,
    ClusterPolicyProtocol,
    ClusterPolicyRule,
    ClusterPolicySubject,
    NamespacedPod,
    Tier,
)
from podnet.model.objects import (
    ContainerPort,
    IPBlock,
    Namespace,
    NetworkPolicy,
    Node,
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
# Few distinct labels: pods that selectors cannot tell apart, but their named ports can.
few_labels = st.dictionaries(st.just("app"), st.sampled_from(VALUES[:2]), max_size=1)
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


# Admin tiers -------------------------------------------------------------------------------------

NODES = (Node("node-1", {"role": "a"}), Node("node-2", {"role": "b"}))
# Pod addresses are in 10.244.0.0/16 (node-1 10.244.0.0/24), node addresses in 172.18.0.0/16
# (node-1 172.18.0.2, node-2 172.18.0.3), so these cut through both.
NETWORKS = (
    "10.244.0.0/16",
    "10.244.0.0/24",
    "10.244.1.0/24",
    "10.244.0.2/31",
    "10.244.1.3/32",
    "0.0.0.0/0",
    "172.18.0.3/32",
    "172.18.0.0/16",
    "fd00::/8",
)
node_selector = st.one_of(
    st.just(LabelSelector()),
    st.builds(lambda r: LabelSelector.of({"role": r}), st.sampled_from(("a", "b", "c"))),
    st.builds(
        lambda n: LabelSelector.of({"kubernetes.io/hostname": n}),
        st.sampled_from(("node-1", "node-2")),
    ),
)
namespaced_pod = st.builds(NamespacedPod, selector, selector)
cluster_peer = st.one_of(
    st.builds(lambda s: ClusterPolicyPeer(namespaces=s), selector),
    st.builds(lambda p: ClusterPolicyPeer(pods=p), namespaced_pod),
    st.builds(lambda s: ClusterPolicyPeer(nodes=s), node_selector),
    st.builds(
        lambda n: ClusterPolicyPeer(networks=tuple(ip_network(x) for x in n)),
        st.lists(st.sampled_from(NETWORKS), min_size=1, max_size=3, unique=True),
    ),
    st.just(ClusterPolicyPeer(domain_names=("*.example.com",))),
    st.just(ClusterPolicyPeer(unknown=("futurePeer",))),
)


@st.composite
def cluster_protocol(draw: st.DrawFn) -> ClusterPolicyProtocol:
    kind = draw(st.sampled_from(("number", "range", "name")))
    if kind == "name":
        return ClusterPolicyProtocol(named_port=draw(st.sampled_from(("web", "dns", "alt", "no"))))
    proto = draw(st.sampled_from(("TCP", "UDP", "SCTP")))
    port = draw(st.sampled_from((53, 80, 81, 82, 8080)))
    if kind == "range":
        return ClusterPolicyProtocol(proto, port, port + draw(st.integers(1, 5)))
    return ClusterPolicyProtocol(proto, port)


def cluster_rules(actions: tuple[Action, ...]) -> st.SearchStrategy[tuple[ClusterPolicyRule, ...]]:
    rule = st.builds(
        lambda a, peers, protocols: ClusterPolicyRule(a, tuple(peers), tuple(protocols)),
        st.sampled_from(actions),
        st.lists(cluster_peer, min_size=1, max_size=3),
        st.lists(cluster_protocol(), max_size=2),
    )
    return st.lists(rule, max_size=3).map(tuple)


@st.composite
def cluster_policy(draw: st.DrawFn, index: int) -> ClusterPolicy:
    kind = draw(st.sampled_from((CLUSTER_NETWORK_POLICY, ADMIN_NETWORK_POLICY, "baseline")))
    tier = Tier.Admin if kind == ADMIN_NETWORK_POLICY else draw(st.sampled_from(tuple(Tier)))
    actions = tuple(Action)
    if kind == "baseline":  # the singleton BaselineAdminNetworkPolicy: no Pass
        kind, tier, actions = (
            BASELINE_ADMIN_NETWORK_POLICY,
            Tier.Baseline,
            (Action.Accept, Action.Deny),
        )
    subject = draw(
        st.one_of(
            st.builds(lambda s: ClusterPolicySubject(namespaces=s), selector),
            st.builds(lambda p: ClusterPolicySubject(pods=p), namespaced_pod),
        )
    )
    return ClusterPolicy(
        name=f"cp{index}",
        tier=tier,
        priority=draw(st.integers(0, 2)),  # equal priorities often: the tie-break decides
        subject=subject,
        ingress=draw(cluster_rules(actions)),
        egress=draw(cluster_rules(actions)),
        kind=kind,
    )


@st.composite
def clusters(draw: st.DrawFn, tiers: bool = False):
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
                labels=draw(few_labels if tiers and i % 2 else labels),
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
    if not tiers:
        return resolve(Manifests(namespaces=namespaces, pods=pods, policies=policies))
    cluster_policies = [draw(cluster_policy(i)) for i in range(draw(st.integers(1, 5)))]
    return resolve(
        Manifests(
            namespaces=namespaces,
            nodes=list(NODES),
            pods=pods,
            policies=policies,
            cluster_policies=cluster_policies,
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_engine_agrees_with_semantics(cluster) -> None:
    agree(cluster)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(tiers=True))
def test_engine_agrees_with_semantics_with_admin_tiers(cluster) -> None:
    agree(cluster)


def agree(cluster) -> None:  # type: ignore[no-untyped-def]
    """Every cell of every port's matrix is the reference's verdict."""
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


# Admin tiers: how keys and classes are formed ------------------------------------------------------

EVERY_NAMESPACE = ClusterPolicyPeer(namespaces=LabelSelector())


def named_port_pods() -> list[Pod]:
    """Two pods no selector tells apart whose `web` port differs, and one without it."""
    return [
        Pod("a", "x", {"app": "w"}, (ContainerPort(80, name="web"),), node_name="node-1"),
        Pod("b", "x", {"app": "w"}, (ContainerPort(8080, name="web"),), node_name="node-1"),
        Pod("c", "x", {}, node_name="node-1"),
    ]


def deny_web(direction: str) -> ClusterPolicy:
    rule = ClusterPolicyRule(
        Action.Deny, (EVERY_NAMESPACE,), (ClusterPolicyProtocol(named_port="web"),)
    )
    return ClusterPolicy(
        "deny-web",
        Tier.Admin,
        1,
        ClusterPolicySubject(namespaces=LabelSelector()),
        ingress=(rule,) if direction == "Ingress" else (),
        egress=(rule,) if direction == "Egress" else (),
    )


def cells(cluster, port: int) -> dict[tuple[str, str], bool]:  # type: ignore[no-untyped-def]
    engine = PolicyEngine(cluster)
    matrix = engine.matrix(port, "TCP")
    names = [p.key for p in engine.pods]
    return {(a, b): bool(matrix[i, j]) for i, a in enumerate(names) for j, b in enumerate(names)}


def test_egress_named_ports_resolve_on_each_peer_pod() -> None:
    """The peers of the rule take both pods alike; the named port still tells them apart."""
    cluster = resolve(Manifests(pods=named_port_pods(), cluster_policies=[deny_web("Egress")]))
    at_80, at_8080 = cells(cluster, 80), cells(cluster, 8080)
    assert not at_80["x/c", "x/a"] and at_80["x/c", "x/b"]
    assert at_8080["x/c", "x/a"] and not at_8080["x/c", "x/b"]
    agree(cluster)


def test_ingress_named_ports_resolve_on_each_subject_pod() -> None:
    cluster = resolve(Manifests(pods=named_port_pods(), cluster_policies=[deny_web("Ingress")]))
    at_80, at_8080 = cells(cluster, 80), cells(cluster, 8080)
    assert not at_80["x/c", "x/a"] and at_80["x/c", "x/b"]
    assert at_8080["x/c", "x/a"] and not at_8080["x/c", "x/b"]
    agree(cluster)


def test_cluster_policy_subjects_and_networks_split_keys() -> None:
    """Pods a cluster policy's subject or `networks` tell apart never share a key."""
    pods = [Pod(f"web-{i}", "shop", {"app": "web"}, node_name="node-1") for i in range(4)]
    pods.append(Pod("web-canary", "shop", {"app": "web", "track": "canary"}, node_name="node-1"))
    canary = ClusterPolicySubject(
        pods=NamespacedPod(LabelSelector(), LabelSelector.of({"track": "canary"}))
    )
    deny_one = ClusterPolicyRule(
        Action.Deny, (ClusterPolicyPeer(networks=(ip_network("10.244.0.3/32"),)),)
    )
    policy = ClusterPolicy("canary", Tier.Admin, 1, canary, egress=(deny_one,))
    cluster = resolve(Manifests(pods=pods, cluster_policies=[policy]))
    engine = PolicyEngine(cluster)
    shop = {
        p.name: int(engine.pod_key[i]) for i, p in enumerate(engine.pods) if p.namespace == "shop"
    }
    ips = {p.name: str(p.ips[0]) for p in engine.pods if p.namespace == "shop"}
    assert ips["web-1"] == "10.244.0.3"
    assert len(set(shop.values())) == 4  # the canary; before, at and after 10.244.0.3
    got = cells(cluster, 80)
    assert not got["shop/web-canary", "shop/web-1"] and got["shop/web-canary", "shop/web-2"]
    assert got["shop/web-0", "shop/web-1"]
    agree(cluster)


def test_nodes_peers_take_host_network_pods_by_their_node_address() -> None:
    pods = [
        Pod("web", "app", {"app": "web"}, node_name="node-1"),
        Pod("agent", "app", {"app": "agent"}, host_network=True, node_name="node-2"),
        Pod("db", "app", {"app": "db"}, node_name="node-2"),
    ]
    infra = ClusterPolicyPeer(nodes=LabelSelector.of({"role": "b"}))
    policy = ClusterPolicy(
        "no-infra",
        Tier.Admin,
        1,
        ClusterPolicySubject(namespaces=LabelSelector()),
        egress=(ClusterPolicyRule(Action.Deny, (infra,)),),
    )
    cluster = resolve(Manifests(nodes=list(NODES), pods=pods, cluster_policies=[policy]))
    got = cells(cluster, 80)
    assert not got["app/web", "app/agent"] and got["app/web", "app/db"]
    assert got["app/agent", "app/web"]  # a host-network pod is never a subject
    agree(cluster)
