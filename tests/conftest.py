"""Small helpers shared by the model tests: manifests as Python data, loaded as the CLI loads them."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pytest
import yaml
from hypothesis import settings

from podnet.errors import ManifestError, Problem
from podnet.model.cluster import Cluster, cluster_from_text
from podnet.model.service_controllers import BUILT_IN

# In CI the property tests replay the same examples every run, so a submission's result does not
# depend on luck; developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")


def manifests(*objects: dict[str, Any]) -> str:
    """Objects as one multi-document YAML text."""
    return yaml.safe_dump_all(objects, sort_keys=False)


def load(*objects: dict[str, Any] | str) -> Cluster:
    """The cluster of the objects (dicts, or YAML texts appended as they are), without the pods
    every cluster has (CoreDNS): those are tested on their own."""
    text = "\n---\n".join(o if isinstance(o, str) else manifests(o) for o in objects)
    return declared_only(cluster_from_text(text, "test.yaml"))


def declared_only(cluster: Cluster) -> Cluster:
    return replace(cluster, pods=tuple(p for p in cluster.pods if p.origin is not BUILT_IN))


def problems_of(*objects: dict[str, Any] | str) -> list[Problem]:
    """The problems loading the objects raises; fails when they load."""
    with pytest.raises(ManifestError) as err:
        load(*objects)
    return err.value.problems


def pod(name: str, ns: str = "default", labels: dict[str, str] | None = None, **spec: Any) -> dict:
    spec.setdefault("containers", [{"name": "c", "image": "nginx"}])
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def node(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": spec}


def policy(spec: dict[str, Any], name: str = "p", ns: str = "x") -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def workload(kind: str, name: str, ns: str = "default", replicas: int | None = None, **spec: Any):
    """An apps/v1 or batch/v1 workload whose template has the labels app=<name>."""
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    body: dict[str, Any] = {"template": template}
    if kind not in ("Job", "CronJob"):
        body["selector"] = {"matchLabels": {"app": name}}
    if replicas is not None:
        body["parallelism" if kind in ("Job", "CronJob") else "replicas"] = replicas
    body.update(spec)
    if kind == "CronJob":
        body = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": body}}
    group = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    return {
        "apiVersion": group,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": body,
    }
