"""End-to-end packet walks over the model: DNS, kube-proxy, routing and policy."""
