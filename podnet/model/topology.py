"""Where traffic from outside the cluster comes from and where it enters: conventions of podnet's
topology that the model's tracer and the Linux realisation must share. Pure.

- the `external` client sits on the nodes' underlay network, on the one-before-last address of
  the node subnet (below the IPv4 broadcast; the same place in IPv6);
- a packet enters at the node it is addressed to; a packet for a load-balancer address arrives at
  the first node with a ready local endpoint when externalTrafficPolicy is Local, else at the
  first node (as MetalLB's layer-2 mode announces it).

It reads the resolved `Cluster` and never imports the analyses (policy, proxy, path) above it.
"""

from __future__ import annotations

from typing import Protocol

from podnet.ipam.allocate import outside_address
from podnet.model.cluster import Cluster
from podnet.model.objects import IPAddress, Service, TrafficPolicy

# What a user types for the client outside the cluster.
EXTERNAL = "external"


class Source(Protocol):
    """One end of a connection, as far as its entry node depends on it."""

    @property
    def node(self) -> str:
        """The node the address lives on (pods and nodes), or "" for an outside address."""
        ...


def external_client(cluster: Cluster) -> IPAddress:
    """The address of the client outside the cluster."""
    return outside_address(cluster.config.node_subnet)


def entry_node(cluster: Cluster, src: Source, dst: IPAddress, service: Service | None) -> str:
    """The node whose kube-proxy sees the packet first."""
    if src.node:
        return src.node
    for n in cluster.nodes:
        if dst in n.ips:
            return n.name
    if service is not None and service.external_traffic_policy == TrafficPolicy.Local:
        local = {
            e.node_name
            for s in cluster.endpoint_slices
            if (s.namespace, s.service_name) == (service.namespace, service.name)
            for e in s.endpoints
            if e.is_ready
        }
        for n in cluster.nodes:
            if n.name in local:
                return n.name
    return cluster.nodes[0].name
