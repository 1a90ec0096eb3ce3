"""The classic NetworkPolicy test model of the upstream e2e suite (test/e2e/network/netpol):
namespaces x, y, z with pods a, b, c, each serving ports 80 and 81 on TCP, UDP and SCTP, and a
`Reachability` table that starts from "everything allowed" and is refined by expectations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from podnet.model.cluster import Cluster, cluster_from_text

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
PORTS = (80, 81)
PROTOCOLS = ("TCP", "UDP", "SCTP")


def model_manifests() -> str:
    docs = []
    for ns in NAMESPACES:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"ns": ns}},
            }
        )
        for pod in PODS:
            ports = [
                {"name": f"serve-{port}-{proto.lower()}", "containerPort": port, "protocol": proto}
                for port in PORTS
                for proto in PROTOCOLS
            ]
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": pod, "namespace": ns, "labels": {"pod": pod}},
                    "spec": {"containers": [{"name": "cont", "image": "agnhost", "ports": ports}]},
                }
            )
    return yaml.safe_dump_all(docs)


def model_cluster(policies: str = "") -> Cluster:
    return cluster_from_text(model_manifests() + "\n---\n" + policies, "model.yaml")


def all_pods() -> list[str]:
    return [f"{ns}/{p}" for ns in NAMESPACES for p in PODS]


@dataclass
class Reachability:
    """Expected verdicts: every pair allowed unless an expectation says otherwise."""

    expected: dict[tuple[str, str], bool] = field(
        default_factory=lambda: {(s, d): True for s in all_pods() for d in all_pods()}
    )

    def expect(self, frm: str = "", to: str = "", allowed: bool = False) -> Reachability:
        """`frm`/`to` are "ns/pod", "ns/" (a namespace), "/pod" (a pod name) or "" (any)."""
        for s, d in self.expected:
            if _matches(frm, s) and _matches(to, d):
                self.expected[(s, d)] = allowed
        return self

    def loopback(self) -> Reachability:
        for p in all_pods():
            self.expected[(p, p)] = True
        return self


def _matches(pattern: str, pod: str) -> bool:
    if not pattern:
        return True
    ns, _, name = pattern.partition("/")
    pns, _, pname = pod.partition("/")
    return (not ns or ns == pns) and (not name or name == pname)
