"""Whether this kernel has IPVS, the load balancer of kube-proxy's ipvs mode.

Standard library only. It only looks: it never loads a module (podnet does not drive IPVS; it
says so when asked to build a cluster in the ipvs mode).
"""

from __future__ import annotations

import os
from enum import StrEnum

PROC = "/proc/net/ip_vs"  # present once ip_vs is loaded (or built in)
MODULES = "/lib/modules"


class IPVSSupport(StrEnum):
    loaded = "loaded"  # /proc/net/ip_vs exists
    module = "module"  # ip_vs.ko is installed for this kernel, not loaded
    absent = "absent"


def ipvs_support(proc: str = PROC, modules: str = MODULES) -> IPVSSupport:
    """What this kernel offers of IPVS, from /proc and the module index of its release."""
    if os.path.exists(proc):
        return IPVSSupport.loaded
    index = os.path.join(modules, os.uname().release)
    for name in ("modules.builtin", "modules.dep"):
        try:
            with open(os.path.join(index, name)) as f:
                if any(_is_ip_vs(line) for line in f):
                    return IPVSSupport.module
        except OSError:
            continue
    return IPVSSupport.absent


def _is_ip_vs(line: str) -> bool:
    """A line of modules.dep (`kernel/.../ip_vs.ko.xz: deps`) or modules.builtin naming ip_vs."""
    path = line.split(":", 1)[0].strip()
    return os.path.basename(path).split(".", 1)[0] == "ip_vs"
