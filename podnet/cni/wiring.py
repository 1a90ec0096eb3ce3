"""Kernel steps the interface plugins share: namespaces, veth pairs, addresses, routes, sysctls.

Thin: each function is a handful of netlink requests through `netlink.Rtnl`; the decisions
(which addresses, which routes) are made by the plugins from the IPAM result.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os

from podnet.cni import delegate, spec
from podnet.cni.spec import CniError
from podnet.kernel import netlink, netns, sysctl

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any


def open_netns(path: str) -> int:
    """A descriptor of the namespace at `path` (code 4, naming CNI_NETNS, when there is none)."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise CniError(
            spec.INVALID_ENVIRONMENT, f'CNI_NETNS: failed to open netns "{path}": {err.strerror}'
        ) from None


class Attachment:
    """The sockets of one ADD (the node's and the pod's namespace) and what it must undo when it
    fails: the host end of the veth pair, and the IPAM reservation (the spec's rule that the
    plugin itself releases an address it obtained). Closed either way."""

    def __init__(self, conf: dict[str, Any], env: spec.Environment):
        self.conf, self.env = conf, env
        self.netns_fd = open_netns(env.netns)
        self.host = netlink.Rtnl()
        self.container = netlink.open_in(self.netns_fd)
        self.host_veth: netlink.Link | None = None
        self.ipam_done = False

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is not None:
                if self.host_veth is not None:
                    with contextlib.suppress(OSError):
                        self.host.link_del(self.host_veth.index)
                if self.ipam_done:
                    with contextlib.suppress(CniError):
                        delegate.run_ipam("DEL", self.conf, self.env)
        finally:
            self.container.close()
            self.host.close()
            os.close(self.netns_fd)


def try_open_netns(path: str) -> int | None:
    """For DEL: a namespace that is gone is not an error."""
    if not path:
        return None
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def requested_mac(conf: dict[str, Any], env: spec.Environment) -> str:
    """MAC asked for by `CNI_ARGS MAC=`, `args.cni.mac` or `runtimeConfig.mac` (last wins)."""
    mac = env.arg("MAC") or ""
    args = conf.get("args")
    if (
        isinstance(args, dict)
        and isinstance(args.get("cni"), dict)
        and isinstance(args["cni"].get("mac"), str)
    ):
        mac = args["cni"]["mac"]
    runtime = spec.runtime_config(conf)
    if isinstance(runtime.get("mac"), str):
        mac = runtime["mac"]
    if mac:
        parts = mac.split(":")
        if len(parts) != 6 or not all(
            len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts
        ):
            raise CniError(spec.INVALID_CONFIG, f"invalid MAC address {mac!r}")
    return mac.lower()


def make_veth(
    host: netlink.Rtnl,
    container: netlink.Rtnl,
    netns_fd: int,
    ifname: str,
    prefix: str,
    mtu: int,
    mac: str = "",
    host_name: str = "",
) -> tuple[netlink.Link, netlink.Link]:
    """A veth pair: the host end (`prefix` + random hex, unless named) and `ifname` in the container."""
    if container.link_get(ifname) is not None:
        raise CniError(spec.INTERNAL, f"container veth name provided ({ifname}) already exists")
    for _attempt in range(10):
        name = host_name or prefix + os.urandom(4).hex()
        try:
            host.veth_add(name, ifname, mtu=mtu, peer_netns_fd=netns_fd, peer_mac=mac)
            break
        except netlink.NetlinkError as err:
            if err.errno != errno.EEXIST or host_name:
                raise CniError(
                    spec.INTERNAL, f"failed to create veth {name}: {err.strerror}"
                ) from None
            if container.link_get(ifname) is not None:
                raise CniError(
                    spec.INTERNAL, f"container veth name provided ({ifname}) already exists"
                ) from None
    else:
        raise CniError(spec.TRY_AGAIN_LATER, "could not find a free name for the host veth")
    host_link = host.link_get(name)
    cont_link = container.link_get(ifname)
    if host_link is None or cont_link is None:
        raise CniError(spec.INTERNAL, f"veth {name} vanished while being set up")
    own_routes(name)
    return host_link, cont_link


def try_sysctl(path: str, value: str) -> None:
    """Set a sysctl when it exists (the ipv6 tree does not with IPv6 disabled), as the reference does."""
    with contextlib.suppress(OSError):
        sysctl.write(path, value)


def own_routes(name: str) -> None:
    """No router advertisements on a node-side link: the plugin owns its routes."""
    try_sysctl(f"net/ipv6/conf/{name}/accept_ra", "0")


def container_sysctls(netns_fd: int, ifname: str) -> None:
    """Before the pod interface gets its addresses, as the reference bridge: no duplicate address
    detection (IPv6 addresses usable at once, and none lost to a hairpin echo) and a gratuitous
    ARP when the link comes up (`arp_notify`)."""
    with netns.entered(netns_fd):
        try_sysctl(f"net/ipv6/conf/{ifname}/accept_dad", "0")
        try_sysctl(f"net/ipv4/conf/{ifname}/arp_notify", "1")


def family_gateways(ips: list[spec.IPConfig]) -> dict[int, str]:
    """The first gateway of each address family, for routes given without one."""
    out: dict[int, str] = {}
    for ip in ips:
        if ip.gateway:
            out.setdefault(ipaddress.ip_address(ip.gateway).version, ip.gateway)
    return out


def configure_iface(
    rtnl: netlink.Rtnl, link: netlink.Link, result: spec.Result, index: int
) -> None:
    """Addresses of `result` meant for interface `index`, then its routes, as ipam.ConfigureIface."""
    for ip in result.ips:
        if ip.interface == index:
            rtnl.addr_add(link.index, ip.interface_address)
    rtnl.link_set(link.index, up=True)
    gateways = family_gateways([ip for ip in result.ips if ip.interface == index])
    for route in result.routes:
        dst = ipaddress.ip_network(route.dst)
        gw = route.gw or gateways.get(dst.version, "")
        try:
            rtnl.route_add(
                dst,
                gw=gw,
                oif=link.index,
                mtu=route.mtu,
                advmss=route.advmss,
                priority=route.priority,
                table=route.table,
            )
        except netlink.NetlinkError as err:
            if err.errno != errno.EEXIST:  # the first of duplicate routes wins
                raise CniError(
                    spec.INTERNAL,
                    f"failed to add route '{dst} via {gw or '<nil>'} dev {link.name}': {err.strerror}",
                ) from None


def enable_forwarding(versions: set[int]) -> None:
    if 4 in versions:
        _write_if_different("net/ipv4/ip_forward", "1")
    if 6 in versions:
        _write_if_different("net/ipv6/conf/all/forwarding", "1")


def _write_if_different(path: str, value: str) -> None:
    if sysctl.read(path).strip() != value:
        sysctl.write(path, value)


def delete_pod_interface(netns: str, ifname: str) -> None:
    """For DEL: delete `ifname` in the namespace at path `netns`; either being gone already is not
    an error."""
    netns_fd = try_open_netns(netns)
    if netns_fd is None:
        return
    try:
        with netlink.open_in(netns_fd) as rtnl:
            link = rtnl.link_get(ifname)
            if link is None:
                return
            try:
                rtnl.link_del(link.index)
            except netlink.NetlinkError as err:
                if err.errno not in (errno.ENODEV, errno.ENOENT):
                    raise
    finally:
        os.close(netns_fd)


def check_container_iface(
    rtnl: netlink.Rtnl, result: spec.Result, env: spec.Environment
) -> netlink.Link:
    """CHECK: the container interface of `result` exists with its MAC, addresses and routes."""
    index = next(
        (i for i, itf in enumerate(result.interfaces) if itf.name == env.ifname and itf.sandbox),
        None,
    )
    if index is None:
        raise CniError(spec.INTERNAL, f"interface {env.ifname} not found in prevResult")
    expected = result.interfaces[index]
    link = rtnl.link_get(env.ifname)
    if link is None:
        raise CniError(spec.INTERNAL, f"interface {env.ifname} not found in {env.netns}")
    if expected.mac and link.mac != expected.mac.lower():
        raise CniError(
            spec.INTERNAL,
            f"interface {env.ifname} has MAC {link.mac}, prevResult says {expected.mac}",
        )
    have = {a.interface for a in rtnl.addrs(link.index)}
    for ip in result.ips:
        if ip.interface == index and ip.interface_address not in have:
            raise CniError(spec.INTERNAL, f"address {ip.address} missing from {env.ifname}")
    routes = rtnl.routes()
    for route in result.routes:
        dst = ipaddress.ip_network(route.dst)
        if not any(r.dst == dst and (not route.gw or r.gw == route.gw) for r in routes):
            raise CniError(
                spec.INTERNAL, f"route {route.dst} via {route.gw or '<nil>'} missing in {env.netns}"
            )
    return link
