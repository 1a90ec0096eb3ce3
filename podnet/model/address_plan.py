"""The address plan of a resolved cluster, as the plain values `ipam.capacity.check` works on.

Reads the `Cluster` (the model's side of the boundary) so that `ipam.capacity` never imports the
model. It only counts: the model has already allocated (and checked) every ClusterIP and nodePort.
"""

from __future__ import annotations

from collections import Counter

from podnet.family import FAMILIES
from podnet.ipam.capacity import AddressPlan, NodePorts
from podnet.model.cluster import Cluster
from podnet.model.objects import ServiceType


def plan_from_cluster(cluster: Cluster) -> AddressPlan:
    """The plan of a resolved cluster: its ranges, and how much of each its objects use."""
    config = cluster.config
    pods_by_node = {n.name: 0 for n in cluster.nodes}
    for pod in cluster.pods:
        # A pod pending on its node for want of an address counts: the range must hold it.
        wants = pod.ips or pod.key in cluster.pending
        if wants and not pod.host_network and pod.node_name in pods_by_node:
            pods_by_node[pod.node_name] += 1
    services: Counter[int] = Counter(ip.version for s in cluster.services for ip in s.cluster_ips)
    needed = sum(
        len({p.node_port for p in s.ports})
        for s in cluster.services
        if s.type in (ServiceType.NodePort, ServiceType.LoadBalancer)
    )
    load_balancers = sum(s.type == ServiceType.LoadBalancer for s in cluster.services)
    return AddressPlan(
        name=config.name,
        pod_subnets=tuple(config.pod_subnets),
        node_masks={v: config.node_mask(v) for v in FAMILIES},
        service_subnets=tuple(config.service_subnets),
        node_subnet=config.node_subnet,
        node_port_range=config.service_node_port_range,
        pods_by_node=pods_by_node,
        services_by_family=dict(services),
        node_ports=NodePorts(needed=needed),
        load_balancer_pool=tuple(config.load_balancer_pool),
        load_balancers=load_balancers,
    )
