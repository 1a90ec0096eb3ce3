"""`podnet get`: the resolved inventory in kubectl's columns, wide, and as JSON."""

from __future__ import annotations

import json
from ipaddress import ip_address

import pytest

from podnet.model.inventory import (
    Resource,
    ServiceEntry,
    is_resource_list,
    node_roles,
    parse_resources,
)
from podnet.model.objects import ServicePort, ServiceType
from podnet.report.get import columns, endpoints_text, external_ip_text, port_text
from tests.cli import SHOP, run

MANIFESTS = """
apiVersion: v1
kind: Node
metadata: {name: cp, labels: {node-role.kubernetes.io/control-plane: ""}}
spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
status: {addresses: [{type: InternalIP, address: 172.18.0.5}]}
---
apiVersion: v1
kind: Node
metadata: {name: worker, labels: {disk: hdd}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: stuck, namespace: shop, labels: {app: stuck}}
spec:
  nodeSelector: {disk: ssd}
  containers: [{name: c, image: i}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080}
  - {name: stats, port: 9090, protocol: UDP, nodePort: 30090}
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: shop}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 443, targetPort: 8080, nodePort: 31443}]
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}, {hostname: a-long-name.elb.example.com}]}}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: shop}
spec: {type: ExternalName, externalName: db.example.com}
---
apiVersion: v1
kind: Service
metadata: {name: pinned, namespace: shop}
spec: {selector: {app: web}, externalIPs: [198.51.100.7], ports: [{port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, selector: {app: web}, ports: [{port: 5432}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: web}
    matchExpressions: [{key: tier, operator: In, values: [a, b]}]
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: other}
spec: {podSelector: {}}
"""
PENDING = (
    "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector,"
    " 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }."
)


def get(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return run(capsys, monkeypatch, "get", "-", *args, stdin=MANIFESTS)


def rows(out: str) -> list[list[str]]:
    """The table's cells: kubectl's columns are separated by at least three spaces."""
    return [[c for c in line.split("   ") if c.strip()] for line in out.splitlines() if line]


def cells(out: str) -> list[list[str]]:
    return [[c.strip() for c in row] for row in rows(out)]


def test_pods(capsys, monkeypatch) -> None:
    code, out, err = get(capsys, monkeypatch, "pods", "-n", "shop")
    assert code == 0, err
    table = cells(out)
    assert table[0] == ["NAMESPACE", "NAME", "STATUS", "IP", "NODE"]
    assert table[1] == ["shop", "stuck", "Pending", "<none>", "<none>"]
    web = [r for r in table[1:] if r[1].startswith("web-")]
    assert [(r[2], r[3], r[4]) for r in web] == [
        ("Running", "10.244.1.2", "worker"),
        ("Running", "10.244.1.3", "worker"),
    ]
    assert "1 pod(s) pending" in err  # the warning every command gives


def test_pods_wide_say_why_a_pod_is_pending(capsys, monkeypatch) -> None:
    code, out, _ = get(capsys, monkeypatch, "po", "-n", "shop", "-o", "wide")
    assert code == 0
    table = cells(out)
    assert table[0] == [
        "NAMESPACE", "NAME", "STATUS", "IP", "NODE", "IPS", "OWNER", "REASON"
    ]  # fmt: skip
    assert table[1][2:] == ["Pending", "<none>", "<none>", "<none>", "<none>", PENDING]
    assert table[2][5:] == ["10.244.1.2", "ReplicaSet/web-79d5b698f4", "<none>"]


def test_services_in_kubectl_columns(capsys, monkeypatch) -> None:
    code, out, _ = get(capsys, monkeypatch, "svc", "-n", "shop")
    assert code == 0
    table = {r[1]: r for r in cells(out)}
    assert table["NAME"] == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]
    web = table["web"]
    assert web[2] == "NodePort" and ip_address(web[3])
    assert web[4:] == ["<none>", "80:30080/TCP,9090:30090/UDP"]
    assert table["lb"][2] == "LoadBalancer"
    assert table["lb"][4:] == ["203.0.113.10,...", "443:31443/TCP"]  # cut at 16, as kubectl
    assert table["ext"][2:] == ["ExternalName", "<none>", "db.example.com", "<none>"]
    assert table["pinned"][4:] == ["198.51.100.7", "8080/TCP"]
    assert table["db"][3] == "None"


def test_services_wide_add_selector_and_endpoints(capsys, monkeypatch) -> None:
    code, out, _ = get(capsys, monkeypatch, "service", "-n", "shop", "-o", "wide")
    assert code == 0
    table = {r[1]: r for r in cells(out)}
    assert table["NAME"][-2:] == ["SELECTOR", "ENDPOINTS"]
    assert table["lb"][4] == "203.0.113.10,a-long-name.elb.example.com"
    assert table["lb"][-2:] == ["app=web", "10.244.1.2:8080,10.244.1.3:8080"]
    # Port by port, three shown and the rest counted, as kubectl prints Endpoints.
    assert table["web"][-1] == "10.244.1.2:8080,10.244.1.3:8080,10.244.1.2:9090 + 1 more..."
    assert table["ext"][-2:] == ["<none>", "<none>"]


def test_nodes(capsys, monkeypatch) -> None:
    code, out, _ = get(capsys, monkeypatch, "nodes")
    assert code == 0
    assert cells(out) == [
        ["NAME", "ROLES", "INTERNAL-IP", "POD-CIDRS"],
        ["cp", "control-plane", "172.18.0.5", "10.244.0.0/24"],
        ["worker", "<none>", "172.18.0.2", "10.244.1.0/24"],
    ]
    code, out, _ = get(capsys, monkeypatch, "no", "-o", "wide")
    table = cells(out)
    assert table[0][-2:] == ["TAINTS", "LABELS"]
    assert table[1][-2:] == [
        "node-role.kubernetes.io/control-plane:NoSchedule",
        "kubernetes.io/arch=amd64,kubernetes.io/hostname=cp,kubernetes.io/os=linux,"
        "node-role.kubernetes.io/control-plane=",
    ]
    assert table[2][-1].startswith("disk=hdd,")


@pytest.mark.parametrize("name", ["policies", "networkpolicy", "netpol", "NetworkPolicies"])
def test_policies(capsys, monkeypatch, name) -> None:
    code, out, _ = get(capsys, monkeypatch, name)
    assert code == 0
    assert cells(out) == [
        ["NAMESPACE", "NAME", "POD-SELECTOR", "POLICY-TYPES"],
        ["other", "deny", "<none>", "Ingress"],
        ["shop", "web-ingress", "app=web,tier in (a,b)", "Ingress"],
    ]


def test_all_prints_every_section_with_kubectl_kind_prefixes(capsys, monkeypatch) -> None:
    code, out, _ = get(capsys, monkeypatch, "-n", "shop")  # all is the default
    assert code == 0
    sections = out.split("\n\n")
    assert [s.split()[0] for s in sections] == ["NAMESPACE", "NAMESPACE", "NAME", "NAMESPACE"]
    assert "pod/stuck" in sections[0] and "service/web" in sections[1]
    assert "node/cp" in sections[2]
    assert "networkpolicy.networking.k8s.io/web-ingress" in sections[3]
    assert "other" not in sections[3]  # -n lists that namespace's objects; nodes have none
    code, again, _ = get(capsys, monkeypatch, "all", "-n", "shop")
    assert again == out


def test_resources_in_the_order_asked_and_kubectl_order(capsys, monkeypatch) -> None:
    code, out, _ = get(capsys, monkeypatch, "svc,po", "-n", "shop")
    assert code == 0
    assert out.index("service/web") < out.index("pod/stuck")
    code, first, _ = run(capsys, monkeypatch, "get", "nodes", "-", stdin=MANIFESTS)
    assert code == 0 and first == get(capsys, monkeypatch, "nodes")[1]


def test_json(capsys, monkeypatch) -> None:
    code, out, _ = get(capsys, monkeypatch, "-n", "shop", "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == ["pods", "services", "nodes", "policies"]
    stuck = doc["pods"][0]
    assert stuck == {
        "namespace": "shop",
        "name": "stuck",
        "phase": "Pending",
        "terminating": False,
        "ready": False,
        "ips": [],
        "node": None,
        "hostNetwork": False,
        "owner": None,
        "reason": PENDING,
        "labels": {"app": "stuck"},
    }
    assert doc["pods"][1]["owner"] == "ReplicaSet/web-79d5b698f4"
    web = next(s for s in doc["services"] if s["name"] == "web")
    assert web["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http", "nodePort": 30080},
        {"name": "stats", "port": 9090, "protocol": "UDP", "targetPort": 9090, "nodePort": 30090},
    ]
    assert web["selector"] == {"app": "web"} and len(web["endpoints"]) == 4
    lb = next(s for s in doc["services"] if s["name"] == "lb")
    assert lb["loadBalancer"] == ["203.0.113.10", "a-long-name.elb.example.com"]
    ext = next(s for s in doc["services"] if s["name"] == "ext")
    assert ext["externalName"] == "db.example.com" and ext["clusterIPs"] == []
    assert ext["selector"] is None
    db = next(s for s in doc["services"] if s["name"] == "db")
    assert db["headless"] is True and db["clusterIPs"] == []
    assert doc["nodes"][0] == {
        "name": "cp",
        "roles": ["control-plane"],
        "internalIPs": ["172.18.0.5"],
        "podCIDRs": ["10.244.0.0/24"],
        "taints": ["node-role.kubernetes.io/control-plane:NoSchedule"],
        "labels": {
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": "cp",
            "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": "",
        },
    }
    assert doc["policies"] == [
        {
            "kind": "NetworkPolicy",
            "namespace": "shop",
            "name": "web-ingress",
            "podSelector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
            },
            "policyTypes": ["Ingress"],
        }
    ]
    code, out, _ = get(capsys, monkeypatch, "pods", "-o", "json", "-n", "none")
    assert json.loads(out) == {"pods": []}


def test_nothing_found_is_said_on_stderr(capsys, monkeypatch) -> None:
    code, out, err = get(capsys, monkeypatch, "pods", "-n", "empty")
    assert (code, out) == (0, "")
    assert "No resources found in empty namespace." in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["get", "-", "deployments"], 'unknown resource type "deployments": valid names are pods'),
        (["get", "-", "pods,bogus"], 'unknown resource type "bogus"'),
        (["get", "pods"], "give manifest paths: podnet get PATH... [RESOURCE]"),
        (["get", "-", "-o", "yaml"], "'yaml' is not one of"),
    ],
)
def test_bad_usage_exits_2(capsys, monkeypatch, args, message) -> None:
    code, out, err = run(capsys, monkeypatch, *args, stdin=MANIFESTS)
    assert code == 2 and out == ""
    assert message in err
    assert "Traceback" not in err


def test_unknown_resource_lists_the_valid_names(capsys, monkeypatch) -> None:
    _, _, err = get(capsys, monkeypatch, "ingress")
    for name in ("pods", "po", "services", "svc", "nodes", "no", "policies", "netpol", "all"):
        assert name in err


def test_a_missing_manifest_is_not_taken_for_a_resource(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, monkeypatch, "get", SHOP, "shop.yaml")
    assert code == 2
    assert "shop.yaml: no such file or directory" in err


def test_the_bundled_example(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "get", SHOP, "svc", "-n", "shop")
    assert code == 0
    assert "80:30080/TCP" in out and "None" in out  # frontend's NodePort, db's headless


# the pieces --------------------------------------------------------------------------------------


def test_resource_names() -> None:
    assert parse_resources("PO,svc,pods") == (Resource.pods, Resource.services)
    assert parse_resources("all") == tuple(Resource)
    assert is_resource_list("svc,no") and not is_resource_list("shop")


def test_node_roles() -> None:
    assert node_roles({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "x"}) == (
        "control-plane",
        "x",
    )
    assert node_roles({"kubernetes.io/hostname": "a"}) == ()


def service(type_: ServiceType, load_balancer: tuple[str, ...] = (), external=()) -> ServiceEntry:
    return ServiceEntry(
        "x", "s", type_, (), False, "", tuple(ip_address(i) for i in external), load_balancer,
        (), None, (),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "wide", "expected"),
    [
        (service(ServiceType.LoadBalancer), False, "<pending>"),
        (service(ServiceType.LoadBalancer, external=["192.0.2.9"]), False, "192.0.2.9"),
        (service(ServiceType.LoadBalancer, ("203.0.113.1",), ["192.0.2.9"]), False,
         "203.0.113.1,192.0.2.9"),
        (service(ServiceType.LoadBalancer, ("a" * 20,)), False, "a" * 13 + "..."),
        (service(ServiceType.LoadBalancer, ("a" * 20,)), True, "a" * 20),
        (service(ServiceType.ClusterIP), False, "<none>"),
        (service(ServiceType.NodePort, external=["192.0.2.9", "192.0.2.10"]), False,
         "192.0.2.9,192.0.2.10"),
    ],
)  # fmt: skip
def test_external_ip_column(entry, wide, expected) -> None:
    assert external_ip_text(entry, wide) == expected


def test_port_and_endpoint_columns() -> None:
    assert port_text([]) == "<none>"
    assert port_text([ServicePort(53, "UDP"), ServicePort(80, node_port=30080)]) == (
        "53/UDP,80:30080/TCP"
    )
    assert endpoints_text([]) == "<none>"
    assert endpoints_text(["a:1", "b:1", "c:1"]) == "a:1,b:1,c:1"
    assert endpoints_text(["a:1", "b:1", "c:1", "d:1", "e:1"]) == "a:1,b:1,c:1 + 2 more..."


def test_columns_are_set_as_kubectl_sets_them() -> None:
    """Three spaces after the widest cell, at least six columns each, the last unpadded."""
    assert columns([["NAME", "IP"], ["a", "10.0.0.1"]]) == "NAME   IP\na      10.0.0.1\n"
    assert columns([["A", "B"], ["b", "c"]]) == "A     B\nb     c\n"
