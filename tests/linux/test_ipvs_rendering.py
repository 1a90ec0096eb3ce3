"""The IPVS mode's rendering against the real parsers, in a fresh network namespace: the
`# ipset` section through `ipset restore` (this kernel has ip_set, so the sets are really made),
then the `# iptables` section through `iptables-restore --test` (its `-m set` matches need the
sets to exist). The `# ipvsadm` section cannot be checked here: this kernel has no IPVS, and
ipvsadm parses nothing without it; neither can the `-m ipvs` rule of KUBE-IPVS-OUT-FILTER be
loaded for real (no xt_ipvs), which `--test` does not ask of the kernel.

`make test` installs `ipset` (the userspace tool) with the other Debian packages the tests need.
"""

from __future__ import annotations

import pytest

from podnet.proxy.ipvs import render_ipvs
from tests.linux.conftest import NetNS, require_binary
from tests.test_proxy_flows import base_cluster, dual_stack_cluster


def sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# "):
            current = line[2:]
            out[current] = []
        else:
            out[current].append(line)
    return {k: "\n".join(v) + "\n" for k, v in out.items()}


@pytest.mark.parametrize("variant", ["base", "masquerade-all, no detector", "dual-stack"])
def test_ipset_and_iptables_accept_the_rendering(netns: NetNS, variant: str) -> None:
    require_binary("ipset")
    require_binary("iptables-restore")
    c = {
        "base": base_cluster,
        "masquerade-all, no detector": lambda: base_cluster(
            detect_local_mode="None", masquerade_all=True
        ),
        "dual-stack": dual_stack_cluster,
    }[variant]()
    for node in ("node-1", "node-2"):
        parts = sections(render_ipvs(c, node))
        netns.run("ipset", "flush")
        netns.run("ipset", "destroy")
        done = netns.run("ipset", "restore", input=parts["ipset"].encode(), check=False)
        assert done.returncode == 0, done.stderr.decode()
        for tool in ("iptables", "ip6tables"):
            if tool in parts:
                done = netns.run(
                    f"{tool}-restore", "--test", input=parts[tool].encode(), check=False
                )
                assert done.returncode == 0, done.stderr.decode()
