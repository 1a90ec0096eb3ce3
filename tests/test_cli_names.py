"""Names as users write them, on the command line: `explain` and `trace` with workloads, Services
and selectors (one verdict per pod, summarised), and `reach` narrowed by --from, --to and -n."""

from __future__ import annotations

import json

import pytest

from podnet.model.cluster import load_cluster
from tests.cli import SHOP, run

AMBIGUOUS = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: x, labels: {app: debug}}
spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: x}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
"""


@pytest.fixture(scope="module")
def shop_pods() -> dict[str, list[str]]:
    """The shop's pods by app label."""
    out: dict[str, list[str]] = {}
    for pod in load_cluster([SHOP]).running_pods:
        out.setdefault(pod.labels.get("app", ""), []).append(pod.key)
    return out


def test_explain_from_a_workload_to_a_service(capsys, monkeypatch, shop_pods) -> None:
    """One explanation per (source pod, destination pod), the Service's port translated to its
    pods' target port, and the summary last."""
    args = ["explain", SHOP, "--from", "shop/deploy/frontend", "--to", "shop/svc/cart"]
    code, out, err = run(capsys, monkeypatch, *args)
    assert code == 0, err
    assert out.count(": ALLOWED\n") == 4
    assert out.endswith(
        "4 of 4 connections from shop/deploy/frontend (2 pods) to shop/svc/cart (2 pods) on"
        " TCP/8080 are allowed\n"
    )
    code, out, err = run(capsys, monkeypatch, *args, "-o", "json")
    doc = json.loads(out)
    assert (doc["from"], doc["to"], doc["allowed"]) == (
        "shop/deploy/frontend",
        "shop/svc/cart",
        True,
    )
    assert doc["summary"]["connections"] == 4 and doc["summary"]["allowed"] == 4
    pairs = [(e["from"]["pod"], e["to"]["pod"], e["port"]) for e in doc["explanations"]]
    assert pairs == [(f, c, 8080) for f in shop_pods["frontend"] for c in shop_pods["cart"]]


def test_explain_several_sources_to_one_pod(capsys, monkeypatch, shop_pods) -> None:
    code, out, err = run(
        capsys, monkeypatch, "explain", SHOP, "--from", "shop/tier in (web,api)", "--to",
        "shop/catalog", "--port", "50051", "-o", "json",
    )  # fmt: skip
    assert code == 0, err  # explain's status does not depend on the verdict
    doc = json.loads(out)
    allowed = {e["from"]["pod"]: e["allowed"] for e in doc["explanations"]}
    assert allowed == {
        **{p: True for p in shop_pods["frontend"]},  # tier=web may reach catalog's grpc
        **{p: False for p in shop_pods["cart"]},  # cart's egress allows db and payments only
        **{p: True for p in shop_pods["catalog"]},  # a pod reaches itself
    }
    assert doc["summary"]["text"] == (
        "3 of 5 pods of shop/tier in (api,web) may connect to shop/deploy/catalog on TCP/50051"
    )
    assert doc["allowed"] is False


def test_explain_of_one_pair_keeps_its_shape(capsys, monkeypatch) -> None:
    """A workload of one pod, to a StatefulSet's pod by workload-less name: one connection."""
    code, out, err = run(
        capsys, monkeypatch, "explain", SHOP, "--from", "shop/deploy/catalog", "--to",
        "shop/db-0", "--port", "5432", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["from"]["pod"].startswith("shop/catalog-") and doc["to"]["pod"] == "shop/db-0"
    assert doc["allowed"] is False and "explanations" not in doc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "x/web", "--to", "x/web"],
            "error: --from 'x/web': 'x/web' is ambiguous: it names x/web, x/deploy/web; give one"
            " of those",
        ),
        (
            ["--from", "x/deploy/api", "--to", "x/web"],
            "error: --from 'x/deploy/api': no Deployment 'api' in namespace x (Deployments: web)",
        ),
        (
            ["--from", "x/pod/web", "--to", "svc/nope"],
            "error: --to 'svc/nope': no Service 'nope' in namespace default (Services:"
            " kubernetes)",
        ),
        (["--from", "x/pod/web", "--to", "x/app=none"], "error: --to 'x/app=none': x/app=none"
         " selects no pod with an address in namespace x"),
        (["--from", "x/pod/web", "--to", "svc/kubernetes"], "error: --to 'svc/kubernetes':"
         " default/svc/kubernetes sends to no pod with an address"),
    ],
)  # fmt: skip
def test_explain_name_errors(capsys, monkeypatch, args, message) -> None:
    code, _, err = run(capsys, monkeypatch, "explain", "-", *args, stdin=AMBIGUOUS)
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_explain_to_a_service_port(capsys, monkeypatch) -> None:
    """The Service's port, not the pod's: 443 reaches payments-api's https (8443)."""
    code, out, err = run(
        capsys, monkeypatch, "explain", SHOP, "--from", "shop/deploy/cart", "--to",
        "payments/svc/payments-api:443", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert {e["port"] for e in doc["explanations"]} == {8443}
    assert doc["summary"]["allowed"] == 4
    code, _, err = run(
        capsys, monkeypatch, "explain", SHOP, "--from", "shop/deploy/cart", "--to",
        "payments/svc/payments-api:8443",
    )  # fmt: skip
    assert code == 2
    assert "Service payments/payments-api has no port 8443/TCP (443/TCP): give --port" in err


def test_trace_one_trace_per_source_pod(capsys, monkeypatch, shop_pods) -> None:
    code, out, err = run(
        capsys, monkeypatch, "trace", SHOP, "--from", "shop/frontend", "--to", "catalog"
    )
    assert code == 0, err  # every trace delivered
    assert out.count("verdict    DELIVERED") == 2
    for pod in shop_pods["frontend"]:
        assert f"{pod} -> catalog TCP/50051\n" in out
    assert out.endswith("2 of 2 connections from shop/deploy/frontend to catalog are delivered\n")


def test_trace_exits_1_unless_every_trace_is_delivered(capsys, monkeypatch) -> None:
    args = ["trace", SHOP, "--from", "shop/tier in (web,api)", "--to", "shop/svc/catalog"]
    code, out, err = run(capsys, monkeypatch, *args, "-o", "json")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["summary"] == {
        "traces": 5,
        "delivered": 2,
        "text": "2 of 5 connections from shop/tier in (api,web) to shop/svc/catalog are"
        " delivered (dropped: 3)",
    }
    assert doc["delivered"] is False
    # each trace in the shape of one, through the Service's ClusterIP
    assert all([h["step"] for h in t["hops"]] == ["service", "kube-proxy"] for t in doc["traces"])


def test_trace_to_a_workload_traces_each_pod(capsys, monkeypatch, shop_pods) -> None:
    code, out, err = run(
        capsys, monkeypatch, "trace", SHOP, "--from", "shop/deploy/frontend", "--to",
        "shop/deploy/cart", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert [(t["from"], t["to"], t["port"]) for t in doc["traces"]] == [
        (f, c, 8080) for f in shop_pods["frontend"] for c in shop_pods["cart"]
    ]


def test_trace_of_one_pod_keeps_its_shape(capsys, monkeypatch) -> None:
    code, out, err = run(
        capsys, monkeypatch, "trace", SHOP, "--from", "shop/deploy/catalog", "--to",
        "shop/svc/cart", "-o", "json",
    )  # fmt: skip
    assert code == 1, err
    doc = json.loads(out)
    assert "traces" not in doc and doc["verdict"] == "dropped"
    # the pod the workload stands for, to the Service as named
    assert doc["from"].startswith("shop/catalog-") and doc["to"] == "shop/svc/cart"


def test_reach_narrowed_by_from_and_to(capsys, monkeypatch, shop_pods) -> None:
    code, out, err = run(
        capsys, monkeypatch, "reach", SHOP, "--from", "shop/deploy/frontend", "--to",
        "shop/svc/cart", "--port", "8080", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["pods"] == shop_pods["frontend"] and doc["to"] == shop_pods["cart"]
    assert set(doc["ips"]) == set(shop_pods["frontend"] + shop_pods["cart"])
    allowed = doc["probes"][0]["allowed"]
    assert allowed == {f: {c: True for c in shop_pods["cart"]} for f in shop_pods["frontend"]}
    code, out, _ = run(
        capsys, monkeypatch, "reach", SHOP, "--from", "shop/deploy/frontend", "--to",
        "shop/svc/cart", "--port", "8080",
    )  # fmt: skip
    assert "TCP/8080: 4 of 4 connections allowed" in out
    assert f"columns (to):\n    1 {shop_pods['cart'][0]}" in out


def test_reach_narrowed_by_namespace(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, "reach", SHOP, "-n", "payments", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["pods"] and all(p.startswith("payments/") for p in doc["pods"])
    assert "to" not in doc  # the same pods as rows and columns
    # the ports the remaining destinations declare
    assert [(p["port"], p["protocol"]) for p in doc["probes"]] == [(8443, "TCP"), (9090, "TCP")]
    # -n is also the namespace of names without one; --from narrows the rows only
    code, out, err = run(
        capsys, monkeypatch, "reach", SHOP, "-n", "shop", "--from", "frontend", "-o", "json"
    )
    doc = json.loads(out)
    assert len(doc["pods"]) == 2 and all(p.startswith("shop/frontend-") for p in doc["pods"])
    assert doc["to"] and all(p.startswith("shop/") for p in doc["to"])


def test_reach_from_a_node_is_the_pods_on_it(capsys, monkeypatch) -> None:
    code, out, err = run(
        capsys, monkeypatch, "reach", SHOP, "--from", "node-1", "--port", "80", "-o", "json"
    )
    assert code == 0, err
    cluster = load_cluster([SHOP])
    on_node = sorted(p.key for p in cluster.running_pods if p.node_name == "node-1")
    assert json.loads(out)["pods"] == on_node


def test_reach_name_errors(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, monkeypatch, "reach", SHOP, "--from", "shop/deploy/nope")
    assert code == 2
    assert "error: --from 'shop/deploy/nope': no Deployment 'nope' in namespace shop" in err
    code, _, err = run(capsys, monkeypatch, "reach", SHOP, "--to", "203.0.113.9")
    assert code == 2 and "error: --to '203.0.113.9': 203.0.113.9 selects no pod" in err


def test_a_pod_key_passed_by_code_names_the_pod() -> None:
    """`path.trace.trace` takes pod keys from code (the kernel's service probe, the demo): a
    workload of the same name does not make them ambiguous there."""
    from podnet.model.cluster import cluster_from_text
    from podnet.path.trace import trace

    t = trace(cluster_from_text(AMBIGUOUS), "x/web", "x/web:80")
    assert (t.source, t.target, t.verdict) == ("x/web", "x/web:80", "delivered")


def test_trace_target_errors_name_the_option(capsys, monkeypatch) -> None:
    code, _, err = run(
        capsys, monkeypatch, "trace", "-", "--from", "x/pod/web", "--to", "x/web", stdin=AMBIGUOUS
    )
    assert code == 2
    assert "error: --to 'x/web': 'x/web' is ambiguous: it names x/web, x/deploy/web" in err


def test_a_service_is_reached_as_its_client_would() -> None:
    """From a pod, through the ClusterIP; from outside, through the load-balancer address."""
    from podnet.model.cluster import cluster_from_text
    from podnet.model.names import resolve
    from podnet.path.trace import traces
    from tests.test_trace import CLUSTER

    cluster = cluster_from_text(CLUSTER)
    service = resolve(cluster, "app/svc/web-local", dns=True)
    inside = traces(cluster, resolve(cluster, "app/client"), service).traces[0]
    outside = traces(cluster, resolve(cluster, "external"), service).traces[0]
    assert inside.hops[0].summary.startswith("app/web-local: ClusterIP 10.")
    assert outside.hops[0].summary == "app/web-local: LoadBalancer IP 203.0.113.1"


def test_reach_services_is_not_narrowed_silently(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, monkeypatch, "reach", SHOP, "--services", "--from", "shop/cart")
    assert code == 2 and "error: --services does not take --from or --to" in err


def test_reach_names_take_no_port(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, monkeypatch, "reach", SHOP, "--to", "shop/svc/cart:80")
    assert code == 2
    assert "error: --to 'shop/svc/cart:80': reach takes the port from --port" in err


def test_the_engine_narrows_rows_and_columns() -> None:
    """`policy.engine.reach`: the same verdicts as the whole matrix, on the rows and columns
    asked for; policies still see every pod."""
    from podnet.policy.engine import reach

    cluster = load_cluster([SHOP])
    whole = reach(cluster, [(8080, "TCP")])
    cell = {
        (a, b): bool(whole.probes[0].allowed[i, j])
        for i, a in enumerate(whole.pods)
        for j, b in enumerate(whole.pods)
    }
    rows = [p for p in whole.pods if p.startswith("shop/frontend-")]
    columns = [p for p in whole.pods if p.startswith(("shop/cart-", "payments/"))]
    narrowed = reach(cluster, [(8080, "TCP")], sources=set(rows), destinations=columns)
    assert (narrowed.pods, narrowed.columns, narrowed.destinations) == (rows, columns, columns)
    assert narrowed.probes[0].allowed.shape == (len(rows), len(columns))
    assert all(
        narrowed.probes[0].allowed[i, j] == cell[(a, b)]
        for i, a in enumerate(rows)
        for j, b in enumerate(columns)
    )
    shop = reach(cluster, namespace="shop")
    assert shop.destinations is None and all(p.startswith("shop/") for p in shop.pods)
    assert {pp for p in shop.pods for pp in shop.declared[p]} == {
        (p.port, p.protocol) for p in shop.probes
    }
    # -n with --from: the namespace narrows the side not named
    mixed = reach(cluster, [(443, "TCP")], namespace="payments", sources=rows)
    assert mixed.pods == rows and all(p.startswith("payments/") for p in mixed.columns)
