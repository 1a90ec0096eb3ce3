"""Kubernetes' enumerated words as StrEnums: loaded objects carry the members, and a member is
its word wherever text or JSON is written."""

from __future__ import annotations

import json

from podnet.model.config import Backend, ClusterConfig, ProxyMode
from podnet.model.objects import PolicyType, ServiceType, TrafficPolicy
from podnet.proxy.verdict import VERDICTS, ProxyVerdict
from tests.conftest import load, policy

SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "x"},
    "spec": {
        "type": "LoadBalancer",
        "externalTrafficPolicy": "Local",
        "selector": {"app": "web"},
        "ports": [{"port": 80}],
    },
}


def test_loaded_objects_carry_the_members() -> None:
    c = load(SERVICE, policy({"podSelector": {}, "egress": [{}]}))
    svc = next(s for s in c.services if s.name == "web")
    assert svc.type is ServiceType.LoadBalancer
    assert svc.external_traffic_policy is TrafficPolicy.Local
    assert svc.internal_traffic_policy is TrafficPolicy.Cluster
    (pol,) = c.policies
    assert pol.policy_types == (PolicyType.Ingress, PolicyType.Egress)


def test_a_member_is_its_word() -> None:
    assert ServiceType.LoadBalancer == "LoadBalancer"
    assert f"{TrafficPolicy.Local}" == str(TrafficPolicy.Local) == "Local"
    assert json.dumps([Backend.host_gw, ProxyMode.iptables]) == '["host-gw", "iptables"]'
    assert VERDICTS == ("ACCEPT", "DROP", "REJECT", "NONE") == tuple(ProxyVerdict)
    config = ClusterConfig()
    assert (config.backend, config.kube_proxy_mode) == ("host-gw", "nftables")
