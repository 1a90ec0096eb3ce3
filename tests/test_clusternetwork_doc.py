"""docs/clusternetwork.md against the code that reads the configuration: every field podnet reads
has its section (and no section names a field it does not read), the complete example loads and
holds the defaults it claims, and the kind mapping lists exactly the kind fields read."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from podnet.model.cluster import Cluster, cluster_from_text
from podnet.model.config import CONTROL_PLANE_LABEL, ClusterConfig
from podnet.model.fields import Field

DOC = (Path(__file__).resolve().parents[1] / "docs" / "clusternetwork.md").read_text()


def _block(marker: str) -> str:
    """The fenced block or table right after `<!-- marker -->`."""
    after = DOC.split(f"<!-- {marker} -->\n", 1)[1]
    if after.startswith("```"):
        return after.split("\n", 1)[1].split("\n```", 1)[0]
    return after.split("\n\n", 1)[0]


def _loaded_with_reads(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Cluster, set[str]]:
    """The cluster of `text`, and every field path read while loading it (`nodes[].name`)."""
    read: set[str] = set()
    getitem = Field.__getitem__

    def recording(self: Field, key: str) -> Field:
        out = getitem(self, key)
        read.add("".join("[]" if isinstance(p, int) else f".{p}" for p in out.path)[1:])
        return out

    monkeypatch.setattr(Field, "__getitem__", recording)
    cluster = cluster_from_text(text, "cluster.yaml")
    monkeypatch.undo()
    return cluster, read


def _leaves(paths: set[str]) -> set[str]:
    return {p for p in paths if not any(q.startswith((p + ".", p + "[]")) for q in paths)}


def test_every_field_read_has_its_section(monkeypatch):
    _, read = _loaded_with_reads(_block("clusternetwork example"), monkeypatch)
    read = {p for p in read if p.startswith("spec.") or p == "metadata.name"}
    documented = set(re.findall(r"^### `([^`]+)`$", DOC, re.MULTILINE))
    assert _leaves(read) - documented == set(), "fields read but not documented"
    assert documented - read == set(), "sections for fields that are not read"


def test_the_complete_example_loads_and_holds_the_defaults():
    """Each field of the example is at its default except the ones its comments name."""
    cluster = cluster_from_text(_block("clusternetwork example"), "cluster.yaml")
    config, default = cluster.config, ClusterConfig()
    assert config.name == "demo"
    assert [str(n) for n in config.load_balancer_pool] == ["203.0.113.0/28"]
    assert [(n.name, n.labels) for n in config.nodes] == [
        ("node-1", {"topology.kubernetes.io/zone": "a"}),
        ("node-2", {"topology.kubernetes.io/zone": "b"}),
    ]
    assert {n.name: str(n.ips[0]) for n in cluster.nodes} == {
        "node-1": "172.18.0.2",
        "node-2": "172.18.0.3",
    }
    differ = {"name", "load_balancer_pool", "nodes", "origin", "document"}
    for f in fields(ClusterConfig):
        if f.name not in differ:
            assert getattr(config, f.name) == getattr(default, f.name), f.name


def test_the_kind_mapping_lists_the_kind_fields_read(monkeypatch):
    example = DOC.split("## A kind configuration", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    cluster, read = _loaded_with_reads(example, monkeypatch)
    read = {p for p in read if p.split(".")[0] not in ("kind", "apiVersion", "metadata")}
    rows = _block("kind mapping").splitlines()[2:]
    documented = {re.match(r"\| `([^`]+)`", row)[1] for row in rows}
    assert _leaves(read) == documented
    # and the example gives what the page says: kind's node names, the control plane tainted
    assert [n.name for n in cluster.nodes] == ["dev-control-plane", "dev-worker", "dev-worker2"]
    plane = cluster.nodes[0]
    assert plane.labels[CONTROL_PLANE_LABEL] == ""
    assert [(t.key, t.effect) for t in plane.taints] == [(CONTROL_PLANE_LABEL, "NoSchedule")]
    assert [n.version for n in cluster.config.pod_subnets] == [4, 6]
    assert cluster.config.kube_proxy_mode == "nftables"
