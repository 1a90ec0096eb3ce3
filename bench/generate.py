"""A deterministic generator of real-looking clusters for the NetworkPolicy benchmark.

`generate(pods, policies, seed, cluster_policies)` returns multi-document YAML: a ClusterNetwork
with enough nodes, Namespaces labelled by team and environment, Deployments and StatefulSets with
several labels and named container ports, and exactly `policies` NetworkPolicies written the way
teams write them:

- per namespace, a default deny (some ingress only, most both directions), a DNS allowance (UDP
  and TCP 53 to kube-system `k8s-app=kube-dns`) and a Prometheus scrape allowance on `metrics`;
- per app, in turn: ingress from its callers (podSelector, `In` expressions, namespaceSelector
  ANDed with podSelector, OR lists), egress to its dependencies on named ports, egress to the
  internet (`0.0.0.0/0` except the private ranges and the metadata address), ingress from the
  VPC (`10.0.0.0/8` except pod ranges), NodePort and port ranges (`endPort`), and selectors with
  `In`/`NotIn`/`Exists`.

With `cluster_policies`, exactly that many admin-tier policies as a platform team writes them
(`_cluster_policies`): ClusterNetworkPolicies of both tiers, and an AdminNetworkPolicy and the
BaselineAdminNetworkPolicy among them. The pods, the NetworkPolicies and the random choices before
them are the same with or without, so that the two clusters differ only by these policies.

The cluster has exactly `pods` pods (system pods included), about 10 per app (2..20 replicas) and
10..30 apps per namespace. Same arguments, same text.

    python bench/generate.py --pods 1000 --policies 500 [--cluster-policies 20] > cluster.yaml
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from typing import Any

import yaml


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Plain YAML, as a person writes it: no anchors and aliases for shared label maps."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


PODS_PER_NODE = 30
NODE_SUBNET = "172.18.0.0/16"

TEAMS = (
    "payments", "storefront", "identity", "logistics", "data", "search", "growth", "media",
    "billing", "risk", "messaging", "catalog", "ledger", "support", "ads", "mobile",
)  # fmt: skip
ENVS = ("prod", "prod", "prod", "staging", "dev")
BASES = (
    "cart", "checkout", "orders", "users", "auth", "search", "inventory", "shipping", "invoices",
    "notify", "reviews", "recommend", "pricing", "ledger", "fraud", "reports", "media", "profile",
    "session", "coupons", "returns", "tax", "wallet", "gateway", "events", "audit", "export",
    "import", "feeds", "geo", "chat", "email", "sms", "push", "images", "thumbs", "metrics",
    "rating", "wishlist", "stock", "quotes", "refunds", "kyc", "scoring", "ledger-sync", "banner",
)  # fmt: skip

# Container ports per tier: (name, number, protocol).
TIER_PORTS: dict[str, tuple[tuple[str, int, str], ...]] = {
    "web": (("http", 8080, "TCP"), ("https", 8443, "TCP"), ("metrics", 9090, "TCP")),
    "api": (("http", 8080, "TCP"), ("grpc", 50051, "TCP"), ("metrics", 9090, "TCP")),
    "worker": (("grpc", 50051, "TCP"), ("metrics", 9090, "TCP"), ("statsd", 8125, "UDP")),
    "db": (("postgres", 5432, "TCP"), ("metrics", 9187, "TCP")),
    "cache": (("redis", 6379, "TCP"), ("metrics", 9121, "TCP")),
    "queue": (("amqp", 5672, "TCP"), ("metrics", 15692, "TCP")),
}
# Some web and api apps listen elsewhere: the same name, another number.
HTTP_VARIANTS = (8080, 8080, 8080, 8000, 3000, 80)
TIER_WEIGHTS = (("web", 3), ("api", 5), ("worker", 3), ("db", 2), ("cache", 2), ("queue", 1))
STATEFUL_TIERS = ("db", "cache", "queue")
# Which tiers an app of a tier calls.
CALLS = {
    "web": ("api",),
    "api": ("api", "db", "cache", "queue", "worker"),
    "worker": ("db", "cache", "queue", "api"),
    "db": (),
    "cache": (),
    "queue": (),
}
MAIN_PORT = {
    "web": "http",
    "api": "http",
    "worker": "grpc",
    "db": "postgres",
    "cache": "redis",
    "queue": "amqp",
}
PRIVATE_EXCEPT = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.169.254/32")


class _App:
    __slots__ = ("name", "namespace", "tier", "kind", "replicas", "labels", "ports", "deps")

    def __init__(
        self,
        name: str,
        namespace: str,
        tier: str,
        kind: str,
        replicas: int,
        labels: dict[str, str],
        ports: list[tuple[str, int, str]],
    ):
        self.name = name
        self.namespace = namespace
        self.tier = tier
        self.kind = kind
        self.replicas = replicas
        self.labels = labels
        self.ports = ports
        self.deps: list[_App] = []


def _replica_counts(total: int, rng: random.Random) -> list[int]:
    """Replica counts of 2..20 (about 10 on average) that add up to `total` exactly."""
    counts: list[int] = []
    left = total
    while left > 0:
        r = min(20, max(2, round(rng.triangular(2, 20, 7))))
        if left - r < 2:
            r = left if left <= 20 else left - 2
        counts.append(r)
        left -= r
    return counts


def _selector(app: _App) -> dict[str, Any]:
    return {"matchLabels": {"app": app.name}}


def _port_names(app: _App) -> list[str]:
    return [n for n, _, _ in app.ports]


def generate(pods: int, policies: int, seed: int = 0, cluster_policies: int = 0) -> str:
    """Multi-document YAML of a cluster with `pods` pods, `policies` NetworkPolicies and
    `cluster_policies` admin-tier policies."""
    if pods < 10:
        raise ValueError("at least 10 pods")
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    nodes = max(2, math.ceil(pods / PODS_PER_NODE))
    docs.append(
        {
            "apiVersion": "podnet.io/v1alpha1",
            "kind": "ClusterNetwork",
            "metadata": {"name": f"bench-{pods}"},
            "spec": {
                "podSubnet": "10.0.0.0/8",
                "nodeCIDRMaskSize": 24,
                "nodeSubnet": NODE_SUBNET,
                "nodes": [{"name": f"node-{i}"} for i in range(1, nodes + 1)],
            },
        }
    )
    # Pod ranges some policies carve out of 10.0.0.0/8: node podCIDRs are /24s from 10.0.0.0.
    node_blocks = max(1, nodes // 16)
    pod_ranges = sorted(
        {
            f"10.{(b * 16) // 256}.{(b * 16) % 256}.0/20"
            for b in rng.sample(range(node_blocks + 1), min(3, node_blocks + 1))
        }
    )

    # System workloads: CoreDNS, Prometheus, the ingress controller.
    system: list[tuple[str, dict[str, str], str, str, int, list[tuple[str, int, str]]]] = [
        (
            "kube-system",
            {"k8s-app": "kube-dns"},
            "coredns",
            "Deployment",
            2,
            [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")],
        ),
        (
            "monitoring",
            {"app": "prometheus", "app.kubernetes.io/name": "prometheus"},
            "prometheus",
            "StatefulSet",
            2,
            [("web", 9090, "TCP")],
        ),
        (
            "ingress-nginx",
            {
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/component": "controller",
            },
            "ingress-nginx-controller",
            "Deployment",
            2 if pods < 1000 else 4,
            [("http", 80, "TCP"), ("https", 443, "TCP"), ("metrics", 10254, "TCP")],
        ),
    ]
    system_pods = sum(s[4] for s in system)
    for ns, team in (("monitoring", "platform"), ("ingress-nginx", "platform")):
        docs.append(_namespace(ns, {"team": team, "env": "prod"}))
    for ns, labels, name, kind, replicas, ports in system:
        docs.append(_workload(kind, name, ns, labels, replicas, ports))

    # Apps and namespaces.
    counts = _replica_counts(pods - system_pods, rng)
    napps = len(counts)
    nns = max(1, round(napps / 20))
    sizes = [napps // nns + (1 if i < napps % nns else 0) for i in range(nns)]
    tiers = [t for t, w in TIER_WEIGHTS for _ in range(w)]
    apps: list[_App] = []
    by_ns: dict[str, list[_App]] = {}
    ns_labels: dict[str, dict[str, str]] = {}
    used_ns: set[str] = set()
    i = 0
    for n in range(nns):
        team = TEAMS[n % len(TEAMS)]
        env = ENVS[rng.randrange(len(ENVS))] if n else "prod"
        name = f"{team}-{env}" if f"{team}-{env}" not in used_ns else f"{team}-{env}-{n}"
        used_ns.add(name)
        labels = {"team": team, "env": env}
        if rng.random() < 0.5:
            labels["istio-injection"] = "enabled"
        ns_labels[name] = labels
        docs.append(_namespace(name, labels))
        names: set[str] = set()
        mine: list[_App] = []
        for _ in range(sizes[n]):
            tier = tiers[rng.randrange(len(tiers))]
            base = BASES[rng.randrange(len(BASES))]
            app_name = f"{base}-{tier}"
            k = 2
            while app_name in names:
                app_name, k = f"{base}-{tier}-{k}", k + 1
            names.add(app_name)
            replicas = counts[i]
            i += 1
            kind = "StatefulSet" if tier in STATEFUL_TIERS else "Deployment"
            ports = [
                (pn, HTTP_VARIANTS[rng.randrange(len(HTTP_VARIANTS))] if pn == "http" else num, pr)
                for pn, num, pr in TIER_PORTS[tier]
            ]
            labels = {
                "app": app_name,
                "app.kubernetes.io/name": app_name,
                "app.kubernetes.io/part-of": base,
                "tier": tier,
                "version": f"v{rng.randint(1, 3)}",
                "team": team,
            }
            if rng.random() < 0.3:
                labels["canary"] = "true"
            mine.append(_App(app_name, name, tier, kind, replicas, labels, ports))
        for app in mine:
            callees = [a for a in mine if a is not app and a.tier in CALLS[app.tier]]
            app.deps = rng.sample(callees, min(len(callees), rng.randint(1, 3)))
        by_ns[name] = mine
        apps += mine
    # A few calls across namespaces (a client of another team's API).
    apis = [a for a in apps if a.tier == "api"]
    for app in apps:
        if app.tier in ("web", "api", "worker") and apis and rng.random() < 0.25:
            other = apis[rng.randrange(len(apis))]
            if other.namespace != app.namespace:
                app.deps.append(other)
    for app in apps:
        docs.append(
            _workload(app.kind, app.name, app.namespace, app.labels, app.replicas, app.ports)
        )

    docs += _policies(policies, by_ns, ns_labels, pod_ranges, rng)
    # Their own generator, so that the cluster before them is the same with or without.
    docs += _cluster_policies(cluster_policies, by_ns, ns_labels, random.Random(seed + 1))
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _workload(
    kind: str,
    name: str,
    namespace: str,
    labels: dict[str, str],
    replicas: int,
    ports: list[tuple[str, int, str]],
) -> dict[str, Any]:
    match = {k: v for k, v in labels.items() if k in ("app", "k8s-app", "app.kubernetes.io/name")}
    spec: dict[str, Any] = {"replicas": replicas}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    spec["selector"] = {"matchLabels": match}
    spec["template"] = {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [
                {
                    "name": name.split("-")[0] if kind != "StatefulSet" else "main",
                    "image": f"registry.example.com/{name}:1.{len(name) % 7}.0",
                    "ports": [
                        {"name": pn, "containerPort": num, "protocol": pr} for pn, num, pr in ports
                    ],
                }
            ]
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def _policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _ports(app: _App, names: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in names:
        proto = next((pr for pn, _, pr in app.ports if pn == n), "TCP")
        out.append({"protocol": proto, "port": n} if proto != "TCP" else {"port": n})
    return out


def _policies(
    total: int,
    by_ns: dict[str, list[_App]],
    ns_labels: dict[str, dict[str, str]],
    pod_ranges: list[str],
    rng: random.Random,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # Namespace-wide policies first: default deny, DNS, Prometheus scrapes.
    egress_denied: set[str] = set()
    for ns in by_ns:
        both = rng.random() < 0.75
        if both:
            egress_denied.add(ns)
        out.append(
            _policy(
                "default-deny",
                ns,
                {
                    "podSelector": {},
                    "policyTypes": ["Ingress", "Egress"] if both else ["Ingress"],
                },
            )
        )
    for ns in by_ns:
        if ns in egress_denied:
            out.append(
                _policy(
                    "allow-dns",
                    ns,
                    {
                        "podSelector": {},
                        "policyTypes": ["Egress"],
                        "egress": [
                            {
                                "to": [
                                    {
                                        "namespaceSelector": {
                                            "matchLabels": {
                                                "kubernetes.io/metadata.name": "kube-system"
                                            }
                                        },
                                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                                    }
                                ],
                                "ports": [
                                    {"protocol": "UDP", "port": 53},
                                    {"protocol": "TCP", "port": 53},
                                ],
                            }
                        ],
                    },
                )
            )
        out.append(
            _policy(
                "allow-prometheus",
                ns,
                {
                    "podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {"matchLabels": {"team": "platform"}},
                                    "podSelector": {
                                        "matchLabels": {"app.kubernetes.io/name": "prometheus"}
                                    },
                                }
                            ],
                            "ports": [{"port": "metrics"}],
                        }
                    ],
                },
            )
        )
    out = out[:total]

    # Per-app policies, one kind after another, app after app, until the count is reached.
    apps = [a for ns in by_ns.values() for a in ns]
    kinds = (_ingress, _egress, _external, _vpc, _ranges, _expressions)
    taken: set[tuple[str, str]] = set()
    round_ = 0
    while len(out) < total and apps:
        for i, app in enumerate(apps):
            if len(out) >= total:
                break
            kind = kinds[(round_ + i) % len(kinds)] if round_ else _ingress
            name, spec = kind(app, by_ns, ns_labels, pod_ranges, rng)
            base = name = f"{app.name}-{name}"
            k = 2
            while (app.namespace, name) in taken:
                name, k = f"{base}-{k}", k + 1
            taken.add((app.namespace, name))
            out.append(_policy(name, app.namespace, spec))
        round_ += 1
    return out


def _callers(app: _App, by_ns: dict[str, list[_App]]) -> list[_App]:
    return [a for a in by_ns[app.namespace] if app in a.deps]


def _ingress(
    app: _App,
    by_ns: dict[str, list[_App]],
    ns_labels: dict[str, dict[str, str]],
    pod_ranges: list[str],
    rng: random.Random,
) -> tuple[str, dict[str, Any]]:
    """Ingress from the app's callers, by app name, on its main named port."""
    callers = _callers(app, by_ns)
    port = MAIN_PORT[app.tier]
    peers: list[dict[str, Any]] = []
    if app.tier == "web":
        peers.append(
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                },
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
            }
        )
        ports = _ports(app, ["http", "https"])
    else:
        ports = _ports(app, [port])
    if len(callers) > 2:
        peers.append(
            {
                "podSelector": {
                    "matchExpressions": [
                        {"key": "app", "operator": "In", "values": sorted(c.name for c in callers)}
                    ]
                }
            }
        )
    else:
        peers += [{"podSelector": _selector(c)} for c in callers]
    if app.tier == "api" and rng.random() < 0.5:
        team = ns_labels[app.namespace]["team"]
        peers.append(
            {
                "namespaceSelector": {"matchLabels": {"team": team}},
                "podSelector": {"matchLabels": {"tier": "web"}},
            }
        )
    if not peers:
        peers.append({"podSelector": {"matchLabels": {"team": app.labels["team"]}}})
    spec = {
        "podSelector": _selector(app),
        "policyTypes": ["Ingress"],
        "ingress": [{"from": peers, "ports": ports}],
    }
    return "ingress", spec


def _egress(
    app: _App,
    by_ns: dict[str, list[_App]],
    ns_labels: dict[str, dict[str, str]],
    pod_ranges: list[str],
    rng: random.Random,
) -> tuple[str, dict[str, Any]]:
    """Egress to the app's dependencies on their named ports, across namespaces too."""
    rules = []
    for dep in app.deps:
        peer: dict[str, Any] = {"podSelector": _selector(dep)}
        if dep.namespace != app.namespace:
            peer["namespaceSelector"] = {"matchLabels": {"team": ns_labels[dep.namespace]["team"]}}
        rules.append({"to": [peer], "ports": _ports(dep, [MAIN_PORT[dep.tier]])})
    if app.tier in ("api", "worker"):
        rules.append(
            {
                "to": [{"podSelector": {"matchLabels": {"tier": "queue"}}}],
                "ports": [{"port": "amqp"}, {"port": 5671}],
            }
        )
    if not rules:
        rules.append(
            {"to": [{"podSelector": _selector(app)}], "ports": _ports(app, [MAIN_PORT[app.tier]])}
        )
    return "egress", {"podSelector": _selector(app), "policyTypes": ["Egress"], "egress": rules}


def _external(
    app: _App,
    by_ns: dict[str, list[_App]],
    ns_labels: dict[str, dict[str, str]],
    pod_ranges: list[str],
    rng: random.Random,
) -> tuple[str, dict[str, Any]]:
    """HTTPS to the internet, but not to private ranges or the cloud metadata address."""
    excepts = ["10.0.0.0/8", "169.254.169.254/32"]
    if rng.random() < 0.5:
        excepts = list(PRIVATE_EXCEPT)
    return "internet", {
        "podSelector": _selector(app),
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": excepts}}],
                "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 80}],
            }
        ],
    }


def _vpc(
    app: _App,
    by_ns: dict[str, list[_App]],
    ns_labels: dict[str, dict[str, str]],
    pod_ranges: list[str],
    rng: random.Random,
) -> tuple[str, dict[str, Any]]:
    """Ingress from the VPC (load balancers, VMs) but not from the listed pod ranges."""
    names = [n for n in _port_names(app) if n != "metrics"][:2]
    return "from-vpc", {
        "podSelector": _selector(app),
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": pod_ranges}}],
                "ports": _ports(app, names),
            },
            {"from": [{"ipBlock": {"cidr": NODE_SUBNET}}], "ports": _ports(app, ["metrics"])},
        ],
    }


def _ranges(
    app: _App,
    by_ns: dict[str, list[_App]],
    ns_labels: dict[str, dict[str, str]],
    pod_ranges: list[str],
    rng: random.Random,
) -> tuple[str, dict[str, Any]]:
    """Port ranges: the NodePort range from the nodes, 8000-8100 from web and api pods."""
    return "ranges", {
        "podSelector": {
            "matchLabels": {"app": app.name},
            "matchExpressions": [{"key": "version", "operator": "In", "values": ["v2", "v3"]}],
        },
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [{"ipBlock": {"cidr": NODE_SUBNET}}],
                "ports": [{"protocol": "TCP", "port": 30000, "endPort": 32767}],
            },
            {
                "from": [
                    {
                        "podSelector": {
                            "matchExpressions": [
                                {"key": "tier", "operator": "In", "values": ["web", "api"]}
                            ]
                        }
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}],
            },
        ],
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"tier": "cache"}}}],
                "ports": [{"protocol": "TCP", "port": 6379, "endPort": 6380}],
            }
        ],
    }


def _expressions(
    app: _App,
    by_ns: dict[str, list[_App]],
    ns_labels: dict[str, dict[str, str]],
    pod_ranges: list[str],
    rng: random.Random,
) -> tuple[str, dict[str, Any]]:
    """Selectors with In / NotIn / Exists: metrics to the statsd of the team's other pods."""
    env = ns_labels[app.namespace]["env"]
    return "telemetry", {
        "podSelector": {
            "matchLabels": {"app": app.name},
            "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}],
        },
        "policyTypes": ["Egress", "Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [
                                {"key": "env", "operator": "In", "values": [env, "staging"]}
                            ]
                        },
                        "podSelector": {
                            "matchExpressions": [
                                {"key": "tier", "operator": "NotIn", "values": ["db", "cache"]},
                                {"key": "version", "operator": "Exists"},
                            ]
                        },
                    },
                    {"podSelector": {"matchLabels": {"team": app.labels["team"]}}},
                ],
                "ports": _ports(app, [MAIN_PORT[app.tier]]),
            }
        ],
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"tier": "worker"}}}],
                "ports": [{"protocol": "UDP", "port": "statsd"}, {"protocol": "UDP", "port": 8125}],
            }
        ],
    }


# Admin tiers ------------------------------------------------------------------------------------

CNP = "policy.networking.k8s.io/v1alpha2"
SENSITIVE_TEAMS = ("payments", "identity", "billing", "risk", "ledger")
NAME_LABEL = "kubernetes.io/metadata.name"
SYSTEM_NAMESPACES = ["kube-system", "monitoring", "ingress-nginx"]


def _cnp(name: str, tier: str, priority: int, subject: dict[str, Any], **rules: Any) -> dict:
    return {
        "apiVersion": CNP,
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"tier": tier, "priority": priority, "subject": subject, **rules},
    }


def _in(namespace: str) -> dict[str, Any]:
    return {"matchLabels": {NAME_LABEL: namespace}}


def _pods_peer(namespaces: dict[str, Any], pods: dict[str, Any]) -> dict[str, Any]:
    return {"pods": {"namespaceSelector": namespaces, "podSelector": pods}}


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"tcp": {"destinationPort": {"number": p}}} for p in ports]


DNS = [
    {"udp": {"destinationPort": {"number": 53}}},
    {"tcp": {"destinationPort": {"number": 53}}},
]
KUBE_DNS = _pods_peer(_in("kube-system"), {"matchLabels": {"k8s-app": "kube-dns"}})
PROMETHEUS = _pods_peer(
    _in("monitoring"), {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}
)
INGRESS = _pods_peer(
    _in("ingress-nginx"), {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}
)
EVERY_NAMESPACE: dict[str, Any] = {"namespaces": {}}


def _cluster_policies(
    total: int,
    by_ns: dict[str, list[_App]],
    ns_labels: dict[str, dict[str, str]],
    rng: random.Random,
) -> list[dict[str, Any]]:
    """`total` admin-tier policies: the platform's cluster-wide guardrails (metadata service
    denied, DNS and monitoring always allowed, a baseline default deny of every application
    namespace with the ingress controller and the team's own namespaces let in), then per
    namespace and per app, in turn until the count is reached: a sensitive namespace closed but
    to its team (Pass to the namespace's NetworkPolicies) and the ingress controller; a dev
    namespace's egress kept inside the cluster and off the nodes; an app quarantined from canary
    pods and dev namespaces; an app's admin port opened to its team only. Some priorities are
    equal (podnet breaks ties by name)."""
    if total <= 0:
        return []
    app_namespaces = {"matchExpressions": [
        {"key": NAME_LABEL, "operator": "NotIn", "values": SYSTEM_NAMESPACES}]}  # fmt: skip
    out: list[dict[str, Any]] = [
        _cnp("deny-metadata", "Admin", 1, {"namespaces": {}}, egress=[
            {"name": "metadata", "action": "Deny",
             "to": [{"networks": ["169.254.169.254/32", "fd00:ec2::254/128"]}]}]),
        _cnp("allow-dns", "Admin", 2, {"namespaces": {}}, egress=[
            {"name": "dns", "action": "Accept", "to": [KUBE_DNS], "protocols": DNS}]),
        _cnp("monitoring-always", "Admin", 3, {"namespaces": app_namespaces}, ingress=[
            {"name": "scrape", "action": "Accept", "from": [PROMETHEUS],
             "protocols": [{"destinationNamedPort": "metrics"}]}]),
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "AdminNetworkPolicy",
            "metadata": {"name": "ingress-controller"},
            "spec": {"priority": 4, "subject": {"namespaces": app_namespaces}, "ingress": [
                {"name": "http", "action": "Allow", "from": [INGRESS],
                 "ports": [{"namedPort": "http"}, {"namedPort": "https"}]}]},
        },
        _cnp("baseline-default-deny", "Baseline", 1000, {"namespaces": app_namespaces},
             ingress=[{"name": "deny", "action": "Deny", "from": [EVERY_NAMESPACE]}]),
        {
            "apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "BaselineAdminNetworkPolicy",
            "metadata": {"name": "default"},
            "spec": {"subject": {"namespaces": app_namespaces}, "egress": [
                {"name": "in-cluster", "action": "Allow", "to": [EVERY_NAMESPACE]},
                {"name": "vpc", "action": "Deny", "to": [{"networks": ["10.0.0.0/8"]}]}]},
        },
    ]  # fmt: skip
    teams = sorted({labels["team"] for labels in ns_labels.values()})
    for team in teams:
        out.append(_cnp(f"baseline-team-{team}", "Baseline", 100, {"namespaces": {
            "matchLabels": {"team": team}}}, ingress=[
            {"name": "team", "action": "Accept", "from": [
                {"namespaces": {"matchLabels": {"team": team}}}]}]))  # fmt: skip
    out = out[:total]

    # Per namespace first, then per app (in an order that goes through the namespaces): every
    # other app quarantined, the others' main port closed to all but their team; then the
    # other way round.
    for ns, labels in ns_labels.items():
        for make in (_protect_namespace, _dev_egress):
            policy = make(ns, labels, rng)
            if policy is not None:
                out.append(policy)
    apps = [a for mine in by_ns.values() for a in mine]
    rng.shuffle(apps)
    makers = (_quarantine, _admin_port)
    for turn in (0, 1):
        out += [makers[(j + turn) % 2](a, ns_labels[a.namespace], rng) for j, a in enumerate(apps)]
    return out[:total]


def _protect_namespace(ns: str, labels: dict[str, str], rng: random.Random) -> dict | None:
    """A sensitive team's namespace: its team's traffic passes to its NetworkPolicies, the
    ingress controller reaches its web ports, everything else is denied."""
    team = labels["team"]
    if team not in SENSITIVE_TEAMS:
        return None
    return _cnp(f"protect-{ns}", "Admin", 10 + rng.randrange(5), {"namespaces": _in(ns)},
                ingress=[
        {"name": "team", "action": "Pass", "from": [
            {"namespaces": {"matchLabels": {"team": team}}}]},
        {"name": "ingress", "action": "Accept", "from": [INGRESS],
         "protocols": _tcp(80, 443) + [
             {"tcp": {"destinationPort": {"range": {"start": 8000, "end": 8100}}}}]},
        {"name": "others", "action": "Deny", "from": [EVERY_NAMESPACE]},
    ])  # fmt: skip


def _dev_egress(ns: str, labels: dict[str, str], rng: random.Random) -> dict | None:
    """A dev or staging namespace: pod traffic goes to the tiers below, the kubelets' ports on
    the nodes are closed, HTTPS to the VPC is allowed, nothing else leaves the cluster."""
    if labels["env"] == "prod":
        return None
    return _cnp(f"contain-{ns}", "Admin", 30 + rng.randrange(3), {"namespaces": _in(ns)},
                egress=[
        {"name": "pods", "action": "Pass", "to": [EVERY_NAMESPACE]},
        {"name": "kubelet", "action": "Deny", "to": [{"nodes": {}}],
         "protocols": _tcp(10250, 10255)},
        {"name": "vpc-https", "action": "Accept", "to": [{"networks": ["10.0.0.0/8"]}],
         "protocols": _tcp(443)},
        {"name": "outside", "action": "Deny", "to": [{"networks": ["0.0.0.0/0", "::/0"]}]},
    ])  # fmt: skip


def _quarantine(app: _App, labels: dict[str, str], rng: random.Random) -> dict:
    """An app no canary pod and no dev namespace may reach."""
    subject = _pods_peer(_in(app.namespace), {"matchLabels": {"app": app.name}})
    return _cnp(f"quarantine-{app.namespace}-{app.name}", "Admin", 50 + rng.randrange(10),
                subject, ingress=[
        {"name": "canary", "action": "Deny", "from": [
            _pods_peer({}, {"matchLabels": {"canary": "true"}})]},
        {"name": "dev", "action": "Deny", "from": [
            {"namespaces": {"matchLabels": {"env": "dev"}}}]},
    ])  # fmt: skip


def _admin_port(app: _App, labels: dict[str, str], rng: random.Random) -> dict:
    """An app's main port open to its own team's web and api pods, closed to the rest of the
    cluster; the other ports are left to the namespace."""
    port = MAIN_PORT[app.tier]
    subject = _pods_peer(_in(app.namespace), {"matchLabels": {"app": app.name}})
    callers = _pods_peer({"matchLabels": {"team": labels["team"]}},
                         {"matchExpressions": [{"key": "tier", "operator": "In",
                                                "values": ["web", "api"]}]})  # fmt: skip
    return _cnp(f"port-{app.namespace}-{app.name}", "Admin", 70 + rng.randrange(10), subject,
                ingress=[
        {"name": "team", "action": "Accept", "from": [callers],
         "protocols": [{"destinationNamedPort": port}]},
        {"name": "others", "action": "Deny", "from": [EVERY_NAMESPACE],
         "protocols": [{"destinationNamedPort": port}]},
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=None, help="default: pods / 2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cluster-policies", type=int, default=0, help="admin-tier policies")
    args = parser.parse_args(argv)
    policies = args.policies if args.policies is not None else args.pods // 2
    sys.stdout.write(generate(args.pods, policies, args.seed, args.cluster_policies))


if __name__ == "__main__":
    main()
