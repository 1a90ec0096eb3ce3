"""What a realisation built, as one value: the record `podnet up` keeps in `state.json` and that
`status`, `probe`, `verify` and `exec` read back.

Pure: a frozen value and its JSON form (`from_json`/`to_json`, the format on disk). Reading and
writing the file is `state`'s job; deciding what to build is `plan`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RealisedPod:
    netns: str  # the node's namespace for host-network pods
    node: str
    ips: tuple[str, ...]

    def to_json(self) -> dict:
        return {"netns": self.netns, "node": self.node, "ips": list(self.ips)}

    @classmethod
    def from_json(cls, doc: dict) -> RealisedPod:
        return cls(doc["netns"], doc["node"], tuple(doc["ips"]))


@dataclass(frozen=True, slots=True)
class RealisedProcess:
    name: str  # "agent node-1", "dns kube-system/coredns-..."
    netns: str
    argv: tuple[str, ...]

    def to_json(self) -> dict:
        return {"name": self.name, "netns": self.netns, "argv": list(self.argv)}

    @classmethod
    def from_json(cls, doc: dict) -> RealisedProcess:
        return cls(doc["name"], doc["netns"], tuple(doc["argv"]))


@dataclass(frozen=True, slots=True)
class Realised:
    cluster: str
    backend: str  # host-gw | vxlan
    namespaces: tuple[str, ...]  # in creation order
    nodes: Mapping[str, str]  # node name -> namespace
    pods: Mapping[str, RealisedPod]  # namespace/name -> where it is
    external_netns: str
    external_ip: str
    processes: tuple[RealisedProcess, ...]
    state_dir: str = ""  # empty in a plan's summary, before anything is kept
    # Where the kept manifests' objects that state no namespace are (`up -n`): later commands
    # read the manifests as `up` did.
    default_namespace: str = "default"

    @property
    def pod_netns(self) -> dict[str, str]:
        """Pod key -> the namespace its connections start from."""
        return {key: pod.netns for key, pod in self.pods.items()}

    def to_json(self) -> dict:
        doc = {
            "cluster": self.cluster,
            "backend": self.backend,
            "namespaces": list(self.namespaces),
            "nodes": dict(self.nodes),
            "pods": {key: pod.to_json() for key, pod in self.pods.items()},
            "external": {"netns": self.external_netns, "ip": self.external_ip},
            "processes": [p.to_json() for p in self.processes],
        }
        if self.state_dir:
            doc["state_dir"] = self.state_dir
        if self.default_namespace != "default":
            doc["default_namespace"] = self.default_namespace
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> Realised:
        return cls(
            cluster=doc["cluster"],
            backend=doc["backend"],
            namespaces=tuple(doc["namespaces"]),
            nodes=dict(doc["nodes"]),
            pods={key: RealisedPod.from_json(p) for key, p in doc["pods"].items()},
            external_netns=doc["external"]["netns"],
            external_ip=doc["external"]["ip"],
            processes=tuple(RealisedProcess.from_json(p) for p in doc["processes"]),
            state_dir=doc.get("state_dir", ""),
            default_namespace=doc.get("default_namespace", "default"),
        )
