"""The Linux realisation: the model's cluster network built with network namespaces, veth pairs,
bridges, VXLAN and nftables on one machine (root), probed with real packets.

`plan` is pure (what to create); `apply`, `teardown`, `agent` and `probe` touch the kernel
through `podnet.kernel`; `state` is the record under /run/podnet/<cluster>/ that makes teardown an enumeration.
"""
