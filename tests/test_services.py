"""Services as the control plane completes them: built-in objects, ClusterIPs, nodePorts,
load-balancer addresses, EndpointSlices, and the API server's Service validation."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from podnet.errors import ManifestError
from podnet.model.cluster import Cluster, cluster_from_text
from podnet.model.objects import Service


def svc(name: str, spec: str, ns: str = "default", status: str = "") -> str:
    out = f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}\n"
    if status:
        out += f"status:\n{status}\n"
    return out + "---\n"


def pod(
    name: str,
    labels: str = "{app: web}",
    extra: str = "",
    ports: str = "[{name: http, containerPort: 8080}]",
    ns: str = "default",
) -> str:
    return (
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}{extra}}}\n"
        f"spec:\n  containers: [{{name: c, image: i, ports: {ports}}}]\n"
    )


def load(*docs: str) -> Cluster:
    return cluster_from_text("---\n".join(docs), "svc.yaml")


def service(cluster: Cluster, key: str) -> Service:
    return next(s for s in cluster.services if s.key == key)


def slices(cluster: Cluster, name: str, ns: str = "default"):
    return [s for s in cluster.endpoint_slices if s.namespace == ns and s.service_name == name]


WEB = svc("web", "  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]")


def test_builtin_kubernetes_and_kube_dns() -> None:
    cluster = load(pod("a"))
    k8s = service(cluster, "default/kubernetes")
    dns = service(cluster, "kube-system/kube-dns")
    assert k8s.cluster_ips == (ip_address("10.96.0.1"),)
    assert dns.cluster_ips == (ip_address("10.96.0.10"),)
    assert [(p.name, p.port, p.protocol) for p in dns.ports] == [
        ("dns", 53, "UDP"),
        ("dns-tcp", 53, "TCP"),
        ("metrics", 9153, "TCP"),
    ]
    coredns = [p for p in cluster.pods if p.namespace == "kube-system"]
    assert len(coredns) == 2 and all(p.labels["k8s-app"] == "kube-dns" for p in coredns)
    dns_eps = [e for s in slices(cluster, "kube-dns", "kube-system") for e in s.endpoints]
    assert sorted(e.target for e in dns_eps) == sorted(p.key for p in coredns)
    (api,) = slices(cluster, "kubernetes")
    assert api.endpoints[0].addresses == ("172.18.0.2",) and api.ports[0].port == 6443
    # CoreDNS pods are addressed after the declared pods: they move nobody.
    assert cluster.pod("default/a").ips == (ip_address("10.244.0.2"),)


def test_declared_kube_dns_replaces_the_builtin() -> None:
    own = svc(
        "kube-dns",
        "  clusterIP: 10.96.0.10\n  selector: {app: my-dns}\n  ports: [{name: dns, port: 53, protocol: UDP}]",
        "kube-system",
    )
    cluster = load(own, pod("dns-0", "{app: my-dns}", ns="kube-system"))
    assert [p.key for p in cluster.pods] == ["kube-system/dns-0"]
    assert service(cluster, "kube-system/kube-dns").selector == {"app": "my-dns"}


def test_cluster_ips_are_stable_and_in_the_dynamic_band() -> None:
    one = load(WEB, pod("a"))
    two = load(WEB, svc("other", "  selector: {app: x}\n  ports: [{port: 80}]"), pod("a"))
    ip = service(one, "default/web").cluster_ips[0]
    assert service(two, "default/web").cluster_ips[0] == ip  # adding a Service moves nobody
    # 10.96.0.0/12: the lower band of 256 addresses is kept for static allocation.
    assert int(ip) - int(ip_address("10.96.0.0")) > 256


def test_given_cluster_ip_is_kept() -> None:
    cluster = load(
        svc("web", "  clusterIP: 10.96.5.5\n  selector: {app: web}\n  ports: [{port: 80}]")
    )
    assert service(cluster, "default/web").cluster_ips == (ip_address("10.96.5.5"),)


def test_dual_stack_families() -> None:
    net = "apiVersion: podnet.io/v1alpha1\nkind: ClusterNetwork\nmetadata: {name: ds}\nspec:\n  podSubnet: 10.244.0.0/16,fd00:10:244::/56\n  serviceSubnet: 10.96.0.0/16,fd00:10:96::/112\n"
    cluster = load(
        net,
        svc("single", "  selector: {app: web}\n  ports: [{port: 80}]"),
        svc(
            "both",
            "  ipFamilyPolicy: PreferDualStack\n  selector: {app: web}\n  ports: [{port: 80}]",
        ),
        svc("six", "  ipFamilies: [IPv6]\n  selector: {app: web}\n  ports: [{port: 80}]"),
        pod("a"),
    )
    assert service(cluster, "default/single").ip_families == (4,)
    assert service(cluster, "default/both").ip_families == (4, 6)
    assert service(cluster, "default/six").ip_families == (6,)
    assert {s.address_type for s in slices(cluster, "both")} == {"IPv4", "IPv6"}
    assert {s.address_type for s in slices(cluster, "six")} == {"IPv6"}


def test_node_ports_allocated_and_shared_by_protocols_of_one_port() -> None:
    dns = svc(
        "dns",
        "  type: NodePort\n  selector: {app: web}\n  ports: [{name: u, port: 53, protocol: UDP}, {name: t, port: 53, protocol: TCP}, {name: m, port: 9153}]",
    )
    cluster = load(
        dns,
        svc(
            "fixed",
            "  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, nodePort: 30080}]",
        ),
    )
    u, t, m = service(cluster, "default/dns").ports
    assert u.node_port == t.node_port != m.node_port
    assert all(30000 <= p.node_port <= 32767 for p in (u, m))
    assert service(cluster, "default/fixed").ports[0].node_port == 30080
    # the lower band of the range is kept for static nodePorts
    assert u.node_port >= 30000 + 86


def test_load_balancer_without_node_ports() -> None:
    cluster = load(
        svc(
            "lb",
            "  type: LoadBalancer\n  allocateLoadBalancerNodePorts: false\n  selector: {app: web}\n  ports: [{port: 80}]",
        )
    )
    assert service(cluster, "default/lb").ports[0].node_port is None
    with pytest.raises(ManifestError, match="may only be used when `type` is 'LoadBalancer'"):
        load(
            svc(
                "np",
                "  type: NodePort\n  allocateLoadBalancerNodePorts: false\n  ports: [{port: 80}]",
            )
        )


def test_load_balancer_addresses() -> None:
    pool = "apiVersion: podnet.io/v1alpha1\nkind: ClusterNetwork\nmetadata: {name: lb}\nspec:\n  loadBalancerPool: [203.0.113.0/29]\n"
    cluster = load(
        pool,
        svc(
            "given",
            "  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80}]",
            status="  loadBalancer: {ingress: [{ip: 203.0.113.1}]}",
        ),
        svc(
            "a",
            "  type: LoadBalancer\n  externalTrafficPolicy: Local\n  selector: {app: web}\n  ports: [{port: 80}]",
        ),
        svc("b", "  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80}]"),
    )
    assert service(cluster, "default/given").load_balancer[0].ip == ip_address("203.0.113.1")
    assert service(cluster, "default/a").load_balancer[0].ip == ip_address("203.0.113.2")
    assert service(cluster, "default/b").load_balancer[0].ip == ip_address("203.0.113.3")
    a = service(cluster, "default/a")
    assert a.external_traffic_policy == "Local" and a.health_check_node_port is not None
    assert service(cluster, "default/b").external_traffic_policy == "Cluster"
    no_pool = load(svc("p", "  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80}]"))
    # Without a pool, the default one on the node network (see tests/test_load_balancer_pool.py).
    assert service(no_pool, "default/p").load_balancer[0].ip == ip_address("172.18.255.253")


def test_endpoint_conditions_named_ports_and_hostnames() -> None:
    cluster = load(
        WEB,
        svc("db", "  clusterIP: None\n  selector: {app: db}\n  ports: [{name: pg, port: 5432}]"),
        pod("ready"),
        pod("other-port", ports="[{name: http, containerPort: 9000}]"),
        pod("no-port", ports="[{name: grpc, containerPort: 9000}]"),
        pod("unready") + "status: {conditions: [{type: Ready, status: 'False'}]}\n",
        pod("leaving", extra=", deletionTimestamp: '2026-01-01T00:00:00Z'"),
        pod("done") + "status: {phase: Succeeded}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: db-0, namespace: default, labels: {app: db}}\n"
        "spec: {hostname: db-0, subdomain: db, containers: [{name: c, image: i}]}\n",
    )
    by_target = {}
    for s in slices(cluster, "web"):
        for e in s.endpoints:
            by_target[e.target] = (e, s.ports[0].port if s.ports else None)
    assert set(by_target) == {
        "default/ready",
        "default/other-port",
        "default/no-port",
        "default/unready",
        "default/leaving",
    }
    assert by_target["default/ready"][1] == 8080 and by_target["default/other-port"][1] == 9000
    assert by_target["default/no-port"][1] is None  # the named port does not resolve on it
    unready, leaving = by_target["default/unready"][0], by_target["default/leaving"][0]
    assert (unready.is_ready, unready.is_serving, unready.is_terminating) == (False, False, False)
    assert (leaving.is_ready, leaving.is_serving, leaving.is_terminating) == (False, True, True)
    (db,) = [e for s in slices(cluster, "db") for e in s.endpoints]
    assert db.hostname == "db-0"
    assert not any(e.hostname for e, _ in by_target.values())


def test_slices_of_a_cluster_dump_are_not_doubled() -> None:
    dumped = (
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abcde\n  namespace: default\n"
        "  labels: {kubernetes.io/service-name: web, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}\n"
        "addressType: IPv4\nendpoints: [{addresses: [10.244.1.9], conditions: {ready: true}}]\nports: [{name: http, port: 8080}]\n"
    )
    cluster = load(WEB, pod("a"), dumped)
    assert [s.name for s in slices(cluster, "web")] == ["web-abcde"]


ERRORS = [
    (
        "type",
        "  type: Internal\n  ports: [{port: 80}]",
        "spec.type",
        'Unsupported value: "Internal"',
    ),
    ("no ports", "  selector: {app: web}", "spec.ports", "Required value"),
    ("unnamed ports", "  ports: [{port: 80}, {port: 81}]", "spec.ports[0].name", "Required value"),
    (
        "duplicate port",
        "  ports: [{name: a, port: 80}, {name: b, port: 80}]",
        "spec.ports[1]",
        "Duplicate value",
    ),
    ("port 0", "  ports: [{port: 0}]", "spec.ports[0].port", "between 1 and 65535"),
    (
        "bad targetPort name",
        "  ports: [{port: 80, targetPort: Web_Port}]",
        "spec.ports[0].targetPort",
        "Invalid value",
    ),
    (
        "nodePort on ClusterIP",
        "  ports: [{port: 80, nodePort: 30001}]",
        "spec.ports[0].nodePort",
        "may not be used when `type` is 'ClusterIP'",
    ),
    (
        "nodePort out of range",
        "  type: NodePort\n  ports: [{port: 80, nodePort: 29999}]",
        "spec.ports",
        "not in the valid range",
    ),
    (
        "clusterIP outside the range",
        "  clusterIP: 10.200.0.1\n  ports: [{port: 80}]",
        "spec.clusterIPs",
        "not in the valid range",
    ),
    (
        "clusterIP not an address",
        "  clusterIP: 10.96.0.300\n  ports: [{port: 80}]",
        "spec.clusterIP",
        "must be a valid IP address",
    ),
    (
        "headless NodePort",
        "  type: NodePort\n  clusterIP: None\n  ports: [{port: 80}]",
        "spec.clusterIP",
        "may not be set to 'None'",
    ),
    ("ExternalName without a name", "  type: ExternalName", "spec.externalName", "Required value"),
    (
        "eTP on ClusterIP",
        "  externalTrafficPolicy: Local\n  ports: [{port: 80}]",
        "spec.externalTrafficPolicy",
        "externally-accessible",
    ),
    (
        "sourceRanges on NodePort",
        "  type: NodePort\n  loadBalancerSourceRanges: [10.0.0.0/8]\n  ports: [{port: 80}]",
        "spec.loadBalancerSourceRanges",
        "LoadBalancer",
    ),
    (
        "affinity timeout",
        "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n  ports: [{port: 80}]",
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
        "greater than 0",
    ),
    (
        "RequireDualStack on a single-stack cluster",
        "  ipFamilyPolicy: RequireDualStack\n  ports: [{port: 80}]",
        "spec.ipFamilyPolicy",
        "dual-stack",
    ),
    (
        "duplicate clusterIP",
        "  clusterIP: 10.96.0.10\n  ports: [{port: 80}]",
        "spec.clusterIPs",
        "already allocated",
    ),
]


@pytest.mark.parametrize(("name", "spec", "field", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_service_validation(name: str, spec: str, field: str, message: str) -> None:
    with pytest.raises(ManifestError) as err:
        load(svc("bad", spec))
    found = [(p.field, p.message) for p in err.value.problems]
    assert any(f == field and message in m for f, m in found), found
    assert all(p.obj == "Service default/bad" and p.line for p in err.value.problems)
