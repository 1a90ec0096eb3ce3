"""NetworkPolicy on the kernel: the classic x/y/z x a/b/c model of the upstream e2e suite, ports
80 and 81 on TCP and UDP, under a dozen policies, on both backends. For each policy set the
nftables policy table of every node is replaced (as a policy agent does) and `verify`'s
comparison must find no difference between the model's matrix and real connections.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from podnet.linux import apply, teardown
from podnet.linux import verify as v
from podnet.linux.plan import Plan, make_plan
from podnet.model.cluster import Cluster, cluster_from_text
from podnet.policy.engine import reach

from .conftest import assert_no_leftovers

PORTS = [(80, "TCP"), (81, "TCP"), (80, "UDP"), (81, "UDP")]


def base_manifests() -> str:
    docs: list[dict] = [
        {
            "apiVersion": "podnet.io/v1alpha1",
            "kind": "ClusterNetwork",
            "metadata": {"name": "xyz"},
            "spec": {"nodes": [{"name": "node-1"}, {"name": "node-2"}]},
        }
    ]
    for ns in "xyz":
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"ns": ns}},
            }
        )
        for pod in "abc":
            ports = [
                {"name": f"serve-{port}-{proto.lower()}", "containerPort": port, "protocol": proto}
                for port, proto in PORTS
            ]
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": pod, "namespace": ns, "labels": {"pod": pod}},
                    "spec": {"containers": [{"name": "c", "image": "agnhost", "ports": ports}]},
                }
            )
    return yaml.safe_dump_all(docs, sort_keys=False)


def policy(name: str, namespace: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def ip_of(cluster: Cluster, key: str) -> str:
    pod = cluster.pod(key)
    assert pod is not None
    return str(pod.ips[0])


def cases(base: Cluster) -> dict[str, list[dict]]:
    a = {"matchLabels": {"pod": "a"}}
    everything: dict = {}
    return {
        "no policy": [],
        "default deny ingress in x": [
            policy("deny", "x", {"podSelector": everything, "policyTypes": ["Ingress"]})
        ],
        "default deny egress in x": [
            policy("deny", "x", {"podSelector": everything, "policyTypes": ["Egress"]})
        ],
        "default deny both everywhere": [
            policy("deny", ns, {"podSelector": everything, "policyTypes": ["Ingress", "Egress"]})
            for ns in "xyz"
        ],
        "pod selector": [
            policy(
                "a",
                "x",
                {
                    "podSelector": a,
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}],
                },
            )
        ],
        "namespace selector": [
            policy(
                "a",
                "x",
                {
                    "podSelector": a,
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}],
                },
            )
        ],
        "namespace AND pod selector": [
            policy(
                "a",
                "x",
                {
                    "podSelector": a,
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {"matchLabels": {"ns": "y"}},
                                    "podSelector": {"matchLabels": {"pod": "c"}},
                                }
                            ]
                        }
                    ],
                },
            )
        ],
        "namespace OR pod selector": [
            policy(
                "a",
                "x",
                {
                    "podSelector": a,
                    "ingress": [
                        {
                            "from": [
                                {"namespaceSelector": {"matchLabels": {"ns": "y"}}},
                                {"podSelector": {"matchLabels": {"pod": "c"}}},
                            ]
                        }
                    ],
                },
            )
        ],
        "named port": [
            policy(
                "a",
                "x",
                {
                    "podSelector": a,
                    "ingress": [{"ports": [{"port": "serve-81-udp", "protocol": "UDP"}]}],
                },
            )
        ],
        "endPort range, TCP only": [
            policy(
                "all",
                "y",
                {
                    "podSelector": everything,
                    "ingress": [{"ports": [{"protocol": "TCP", "port": 80, "endPort": 81}]}],
                },
            )
        ],
        "ipBlock with except on pod addresses": [
            policy(
                "a",
                "x",
                {
                    "podSelector": a,
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "ipBlock": {
                                        "cidr": "10.244.0.0/16",
                                        "except": [
                                            f"{ip_of(base, 'y/b')}/32",
                                            f"{ip_of(base, 'z/c')}/32",
                                        ],
                                    }
                                }
                            ]
                        }
                    ],
                },
            )
        ],
        "egress named port to a namespace, ingress from all namespaces on one port": [
            policy(
                "egress",
                "z",
                {
                    "podSelector": everything,
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}],
                            "ports": [{"port": "serve-80-tcp"}, {"port": 81, "protocol": "UDP"}],
                        }
                    ],
                },
            ),
            policy(
                "ingress",
                "x",
                {
                    "podSelector": {
                        "matchExpressions": [{"key": "pod", "operator": "In", "values": ["b", "c"]}]
                    },
                    "ingress": [
                        {"from": [{"namespaceSelector": everything}], "ports": [{"port": 80}]}
                    ],
                },
            ),
        ],
        "deny egress, allow to pod b of every namespace": [
            policy(
                "b-only",
                "y",
                {
                    "podSelector": everything,
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [
                                {
                                    "namespaceSelector": everything,
                                    "podSelector": {"matchLabels": {"pod": "b"}},
                                }
                            ]
                        }
                    ],
                },
            )
        ],
    }


@pytest.fixture(scope="module", params=["host-gw", "vxlan"])
def live(request: pytest.FixtureRequest, kernel_ready: None) -> Iterator[tuple[Plan, Cluster, str]]:
    text = base_manifests()
    cluster = cluster_from_text(text, "xyz.yaml")
    name = "xyzhg" if request.param == "host-gw" else "xyzvx"
    plan = make_plan(cluster, name, request.param)
    teardown.down(name)
    try:
        apply.up(plan, [("xyz.yaml", text)])
        yield plan, cluster, text
    finally:
        teardown.down(name)
        assert_no_leftovers(name)


def test_xyz_policies_model_equals_kernel(live: tuple[Plan, Cluster, str]) -> None:
    plan, base, text = live
    netns_of = {p.key: p.netns for p in plan.pods}
    failures = []
    for title, policies in cases(base).items():
        full = text + ("---\n" + yaml.safe_dump_all(policies) if policies else "")
        cluster = cluster_from_text(full, "xyz.yaml")
        assert [p.ips for p in cluster.pods] == [p.ips for p in base.pods]
        apply.reload_policies(cluster, plan.nodes)
        expected = reach(cluster, PORTS)
        measured = v.measure(cluster, netns_of, PORTS, timeout=0.6)
        diffs = v.recheck(measured, netns_of, v.differences(expected, measured), 0.6)
        denied = sum(int((~p.allowed).sum()) for p in expected.probes)
        if title != "no policy":
            assert denied, f"{title}: the case denies nothing"
        failures += [f"{title}: {d}" for d in diffs]
    assert not failures, "\n".join(failures)
