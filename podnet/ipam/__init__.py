"""IP address management: subnet arithmetic and the cluster address plan."""
