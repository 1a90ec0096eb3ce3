"""The `loopback` plugin: `lo` up in the container, as the reference plugin does.

CNI_IFNAME is ignored for the link (it is always `lo`) but named in the result; a prevResult
is passed through unchanged.
"""

from __future__ import annotations

import os

from podnet.cni import spec, wiring
from podnet.cni.spec import CniError
from podnet.kernel import netlink

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any


def cmd_add(conf: dict[str, Any], env: spec.Environment, version: str) -> spec.Result:
    prev = spec.prev_result(conf)
    fd = wiring.open_netns(env.netns)
    try:
        with netlink.open_in(fd) as rtnl:
            lo = rtnl.link_get("lo")
            if lo is None:
                raise CniError(spec.INTERNAL, "no loopback interface in the namespace")
            rtnl.link_set(lo.index, up=True)
            addrs = [a.interface for a in rtnl.addrs(lo.index)]
    finally:
        os.close(fd)
    if prev is not None:
        return prev
    result = spec.Result(
        interfaces=[spec.Interface(name=env.ifname, mac="00:00:00:00:00:00", sandbox=env.netns)]
    )
    for version_wanted in (4, 6):
        found = next((a for a in addrs if a.version == version_wanted), None)
        if found is not None:
            result.ips.append(spec.IPConfig(address=str(found), interface=0))
    return result


def cmd_del(conf: dict[str, Any], env: spec.Environment) -> None:
    fd = wiring.try_open_netns(env.netns)
    if fd is None:
        return
    try:
        with netlink.open_in(fd) as rtnl:
            lo = rtnl.link_get("lo")
            if lo is not None:
                rtnl.link_set(lo.index, up=False)
    finally:
        os.close(fd)


def cmd_check(conf: dict[str, Any], env: spec.Environment) -> None:
    fd = wiring.open_netns(env.netns)
    try:
        with netlink.open_in(fd) as rtnl:
            lo = rtnl.link_get("lo")
            if lo is None or not lo.up:
                raise CniError(spec.INTERNAL, "loopback interface is down")
    finally:
        os.close(fd)


def cmd_gc(conf: dict[str, Any], env: spec.Environment) -> None:
    return None


def cmd_status(conf: dict[str, Any], env: spec.Environment) -> None:
    return None
