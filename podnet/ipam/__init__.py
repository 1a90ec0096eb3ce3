"""IP address management: address values, subnet arithmetic, the cluster's allocators (node
podCIDRs and IPs, pod IPs, ClusterIPs, NodePorts, load-balancer addresses) and the address plan.

ipam works on `ipaddress` values and the plain data it is given; it never imports the model
(the model calls down into ipam to resolve a cluster, never the reverse).
"""
