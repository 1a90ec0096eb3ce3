"""The `ptp` plugin in Calico's manner: routed, no bridge.

The pod gets its address as a /32 (/128), `169.254.1.1 dev eth0 scope link` and a default route
via 169.254.1.1; the host end (`cali<hash>`, MAC ee:ee:ee:ee:ee:ee, no address) answers ARP for
that gateway with proxy_arp, and the host routes `<pod IP>/32 dev cali<hash> scope link`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os

from podnet.cni import delegate, spec, wiring
from podnet.cni.spec import CniError
from podnet.family import family
from podnet.kernel import netlink, sysctl

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any

GATEWAY_V4 = "169.254.1.1"
GATEWAY_V6 = "fe80::ecee:eeff:feee:eeee"  # the link-local address of the host end's MAC
GATEWAYS = {4: GATEWAY_V4, 6: GATEWAY_V6}
HOST_MAC = "ee:ee:ee:ee:ee:ee"


def host_veth_name(container_id: str, ifname: str) -> str:
    return "cali" + hashlib.sha1(f"{container_id}.{ifname}".encode()).hexdigest()[:11]


def parse_config(conf: dict[str, Any]) -> tuple[int, spec.DNS]:
    spec.check_name(conf)
    if not delegate.ipam_type(conf):
        raise CniError(spec.INVALID_CONFIG, "ptp needs an ipam section")
    mtu = spec.field_of(conf, "mtu", int, 0) or 1500
    if not 68 <= mtu <= 65535:
        raise CniError(spec.INVALID_CONFIG, f"invalid MTU {mtu}")
    return mtu, spec.parse_dns(conf.get("dns"))


def pod_result(ipam: spec.Result) -> spec.Result:
    """The pod's view: host-width addresses on interface 1, everything routed via the gateway."""
    result = spec.Result()
    families = set()
    for ip in ipam.ips:
        iface = ip.interface_address
        families.add(iface.version)
        width = iface.max_prefixlen
        gw = GATEWAYS[iface.version]
        result.ips.append(spec.IPConfig(address=f"{iface.ip}/{width}", gateway=gw, interface=1))
    for version in sorted(families):
        result.routes.append(spec.Route(dst=str(family(version).any_network), gw=GATEWAYS[version]))
    for route in ipam.routes:
        dst = ipaddress.ip_network(route.dst)
        if dst.prefixlen and dst.version in families:
            result.routes.append(spec.Route(dst=route.dst, gw=GATEWAYS[dst.version]))
    return result


def cmd_add(conf: dict[str, Any], env: spec.Environment, version: str) -> spec.Result:
    mtu, dns = parse_config(conf)
    mac = wiring.requested_mac(conf, env)
    with wiring.Attachment(conf, env) as a:
        host, container, netns_fd = a.host, a.container, a.netns_fd
        name = host_veth_name(env.container_id, env.ifname)
        stale = host.link_get(name)
        if (
            stale is not None
        ):  # left by an ADD that was killed; DEL of that attachment would remove it
            host.link_del(stale.index)
        host_veth, cont = wiring.make_veth(
            host, container, netns_fd, env.ifname, "cali", mtu, mac, host_name=name
        )
        a.host_veth = host_veth
        host.link_set(host_veth.index, mac=HOST_MAC)
        _host_sysctls(name)
        host.link_set(host_veth.index, up=True)
        ipam_result = delegate.run_ipam("ADD", conf, env)
        a.ipam_done = True
        if ipam_result is None or not ipam_result.ips:
            raise CniError(spec.INTERNAL, "IPAM plugin returned missing IP config")
        result = pod_result(ipam_result)
        for ip in result.ips:
            container.addr_add(cont.index, ip.interface_address)
        container.link_set(cont.index, up=True)
        for version_ in sorted({ip.interface_address.version for ip in result.ips}):
            if version_ == 4:
                container.route_add(
                    ipaddress.ip_network(f"{GATEWAY_V4}/32"),
                    oif=cont.index,
                    scope=netlink.RT_SCOPE_LINK,
                )
        for route in result.routes:
            dst = ipaddress.ip_network(route.dst)
            container.route_add(dst, gw=route.gw, oif=cont.index)
        for ip in result.ips:
            host.route_add(
                ipaddress.ip_network(ip.address),
                oif=host_veth.index,
                scope=netlink.RT_SCOPE_LINK,
                replace=True,
            )
        wiring.enable_forwarding({ip.interface_address.version for ip in result.ips})
        host_veth = host.link_by_index(host_veth.index) or host_veth
        cont = container.link_by_index(cont.index) or cont
        result.interfaces = [
            spec.Interface(name=host_veth.name, mac=host_veth.mac),
            spec.Interface(name=cont.name, mac=cont.mac, sandbox=env.netns),
        ]
        result.dns = dns if not dns.is_empty() else ipam_result.dns
        return result


def _host_sysctls(name: str) -> None:
    sysctl.write(f"net/ipv4/conf/{name}/proxy_arp", "1")
    sysctl.write(f"net/ipv4/neigh/{name}/proxy_delay", "0")
    sysctl.write(f"net/ipv4/conf/{name}/forwarding", "1")


def cmd_del(conf: dict[str, Any], env: spec.Environment) -> None:
    parse_config(conf)
    delegate.run_ipam("DEL", conf, env)
    wiring.delete_pod_interface(env.netns, env.ifname)
    with netlink.Rtnl() as host:  # the host end, when the namespace is already gone
        link = host.link_get(host_veth_name(env.container_id, env.ifname))
        if link is not None:
            with contextlib.suppress(netlink.NetlinkError):
                host.link_del(link.index)


def cmd_check(conf: dict[str, Any], env: spec.Environment) -> None:
    parse_config(conf)
    result = spec.prev_result(conf)
    if result is None:
        raise CniError(spec.INVALID_CONFIG, "Required prevResult missing")
    delegate.run_ipam("CHECK", conf, env)
    netns_fd = wiring.open_netns(env.netns)
    try:
        with netlink.open_in(netns_fd) as container:
            wiring.check_container_iface(container, result, env)
    finally:
        os.close(netns_fd)
    with netlink.Rtnl() as host:
        name = host_veth_name(env.container_id, env.ifname)
        link = host.link_get(name)
        if link is None:
            raise CniError(spec.INTERNAL, f"host veth {name} not found")
        routes = host.routes()
        for ip in result.ips:
            dst = ipaddress.ip_network(ip.address)
            if not any(r.dst == dst and r.oif == link.index for r in routes):
                raise CniError(spec.INTERNAL, f"host route {dst} dev {name} missing")


def cmd_gc(conf: dict[str, Any], env: spec.Environment) -> None:
    parse_config(conf)
    delegate.run_ipam("GC", conf, env)


def cmd_status(conf: dict[str, Any], env: spec.Environment) -> None:
    parse_config(conf)
    delegate.run_ipam("STATUS", conf, env)
