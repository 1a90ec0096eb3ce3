"""Workloads expanded into the pods their controllers would create, with deterministic names.

- Deployment: a ReplicaSet `name-<pod-template-hash>`, pods `name-<hash>-<suffix>`;
- ReplicaSet, ReplicationController, DaemonSet (one pod per eligible node), Job: pods
  `name-<suffix>`;
- StatefulSet: pods `name-0` .. `name-<N-1>`, hostname the pod name, subdomain its serviceName;
- CronJob: the pods of one Job `name-<n>`.
The hash is FNV-1a over the template, encoded like Kubernetes' SafeEncodeString; suffixes are
derived from the owner's name and the pod's index, so they are stable across runs. Pure.
"""

from __future__ import annotations

import json
from dataclasses import replace

from podnet.model.objects import Node, Pod
from podnet.model.parse import Manifests, Workload
from podnet.model.scheduling import eligible

_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in text)


def template_hash(template: object) -> str:
    canonical = json.dumps(
        _string_keys(template), sort_keys=True, separators=(",", ":"), default=str
    )
    return safe_encode(str(fnv32a(canonical.encode())))


def _string_keys(value: object) -> object:
    """YAML allows keys of any type; the hash, like the JSON the API server stores, has strings."""
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def suffix(owner: str, index: int, attempt: int = 0) -> str:
    """Five characters of the alphabet Kubernetes uses for generated names."""
    h = fnv32a((f"{owner}#{index}" + (f"#{attempt}" if attempt else "")).encode())
    out = ""
    for _ in range(5):
        h, r = divmod(h, len(_ALPHANUMS))
        out += _ALPHANUMS[r]
    return out


def expand(manifests: Manifests, nodes: list[Node]) -> list[Pod]:
    """Pods of every workload that the manifests do not already show children of."""
    pods: list[Pod] = []
    taken = {p.key for p in manifests.pods}
    for w in manifests.workloads:
        if (w.kind, w.namespace, w.name) in manifests.owned:
            continue  # a dump of a live cluster: its ReplicaSets, Jobs or Pods are there already
        pods += _pods_of(w, nodes, taken)
    return pods


def _generate_name(base: str, seed: str, index: int, namespace: str, taken: set[str]) -> str:
    """`base-<suffix>`, unique in its namespace. Five characters collide among a few thousand
    pods; like the API server's generateName, a taken name is drawn again (here, deterministically)."""
    attempt = 0
    while True:
        name = f"{base}-{suffix(seed, index, attempt)}"
        if f"{namespace}/{name}" not in taken:
            taken.add(f"{namespace}/{name}")
            return name
        attempt += 1


def _pods_of(w: Workload, nodes: list[Node], taken: set[str]) -> list[Pod]:
    """The pods `w`'s controller creates."""
    if w.kind == "Deployment":
        return _deployment_pods(w, taken)
    if w.kind in ("ReplicaSet", "ReplicationController"):
        return _replica_set_pods(w, taken)
    if w.kind == "StatefulSet":
        return _stateful_set_pods(w)
    if w.kind == "DaemonSet":
        return _daemon_set_pods(w, nodes, taken)
    return _job_pods(w, taken)  # a Job, or the one Job of a CronJob


def _deployment_pods(w: Workload, taken: set[str]) -> list[Pod]:
    """The pods of the Deployment's ReplicaSet, named after the template's hash."""
    h = template_hash(w.raw_template)
    rs = f"{w.name}-{h}"
    labels = {**w.template.labels, "pod-template-hash": h}
    return [
        replace(
            w.template,
            name=_generate_name(rs, rs, i, w.namespace, taken),
            labels=labels,
            owner=f"ReplicaSet/{rs}",
        )
        for i in range(w.replicas)
    ]


def _replica_set_pods(w: Workload, taken: set[str]) -> list[Pod]:
    return [
        replace(
            w.template,
            name=_generate_name(w.name, w.name, i, w.namespace, taken),
            owner=f"{w.kind}/{w.name}",
        )
        for i in range(w.replicas)
    ]


def _stateful_set_pods(w: Workload) -> list[Pod]:
    """Pods `name-0` .. `name-<N-1>`, each its own hostname under the governing Service."""
    h = template_hash(w.raw_template)
    t = w.template
    out = []
    for i in range(w.replicas):
        name = f"{w.name}-{i}"
        labels = {
            **t.labels,
            "controller-revision-hash": f"{w.name}-{h}",
            "statefulset.kubernetes.io/pod-name": name,
            "apps.kubernetes.io/pod-index": str(i),
        }
        out.append(
            replace(
                t,
                name=name,
                labels=labels,
                hostname=name,
                subdomain=w.service_name or t.subdomain,
                owner=f"{w.kind}/{w.name}",
            )
        )
    return out


def _daemon_set_pods(w: Workload, nodes: list[Node], taken: set[str]) -> list[Pod]:
    """One pod on every node the template may run on."""
    h = template_hash(w.raw_template)
    t = w.template
    labels = {
        **t.labels,
        "controller-revision-hash": h,
        "pod-template-generation": "1",
    }
    return [
        replace(
            t,
            name=_generate_name(w.name, f"{w.name}@{n.name}", 0, w.namespace, taken),
            labels=labels,
            node_name=n.name,
            owner=f"{w.kind}/{w.name}",
        )
        for n in nodes
        if eligible(t, n, daemon=True)
    ]


def _job_pods(w: Workload, taken: set[str]) -> list[Pod]:
    """The pods of a Job, or of the one Job a CronJob has created."""
    uid = w.uid or f"{fnv32a(f'{w.kind}/{w.namespace}/{w.name}'.encode()):08x}"
    job, owner = w.name, f"{w.kind}/{w.name}"
    if w.kind == "CronJob":
        job = f"{w.name}-{fnv32a(w.name.encode()) % 10**8:08d}"
        owner = f"Job/{job}"
    labels = {
        **w.template.labels,
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": job,
        "controller-uid": uid,
        "job-name": job,
    }
    return [
        replace(
            w.template,
            name=_generate_name(job, job, i, w.namespace, taken),
            labels=labels,
            owner=owner,
        )
        for i in range(w.replicas)
    ]
