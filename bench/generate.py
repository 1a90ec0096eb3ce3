"""A deterministic generator of real-looking clusters for the NetworkPolicy benchmark.

`generate(pods, policies, seed)` returns multi-document YAML: a ClusterNetwork with enough nodes,
Namespaces labelled by team and environment, Deployments and StatefulSets with several labels and
named container ports, and exactly `policies` NetworkPolicies written the way teams write them:

- per namespace, a default deny (some ingress only, most both directions), a DNS allowance (UDP
  and TCP 53 to kube-system `k8s-app=kube-dns`) and a Prometheus scrape allowance on `metrics`;
- per app, in turn: ingress from its callers (podSelector, `In` expressions, namespaceSelector
  ANDed with podSelector, OR lists), egress to its dependencies on named ports, egress to the
  internet (`0.0.0.0/0` except the private ranges and the metadata address), ingress from the
  VPC (`10.0.0.0/8` except pod ranges), NodePort and port ranges (`endPort`), and selectors with
  `In`/`NotIn`/`Exists`.

The cluster has exactly `pods` pods (system pods included), about 10 per app (2..20 replicas) and
10..30 apps per namespace. Same arguments, same text.

    python bench/generate.py --pods 1000 --policies 500 > cluster.yaml
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


def generate(pods: int, policies: int, seed: int = 0) -> str:
    """Multi-document YAML of a cluster with `pods` pods and `policies` NetworkPolicies."""
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=None, help="default: pods / 2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    policies = args.policies if args.policies is not None else args.pods // 2
    sys.stdout.write(generate(args.pods, policies, args.seed))


if __name__ == "__main__":
    main()
