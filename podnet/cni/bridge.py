"""The `bridge` plugin, with the reference plugin's options and result.

A veth pair per attachment, the host end on a Linux bridge (created when missing); IPAM by
delegation; the gateway addresses on the bridge with `isGateway`; ipMasq in nftables.
Result interfaces: [bridge, host veth, container interface]; every IP on interface 2.
"""

from __future__ import annotations

import ipaddress
import os
from collections import namedtuple

from podnet.cni import delegate, nft, spec, wiring
from podnet.cni.spec import CniError
from podnet.family import family
from podnet.kernel import netlink

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any

MASQ_PREFIX = "podnet-masq"


class BridgeConfig(
    namedtuple(
        "BridgeConfig",
        "network bridge is_gateway is_default_gateway force_address ip_masq mtu hairpin_mode promisc_mode ipam dns",
    )
):
    # network: str
    # bridge: str
    # is_gateway: bool
    # is_default_gateway: bool
    # force_address: bool
    # ip_masq: bool
    # mtu: int
    # hairpin_mode: bool
    # promisc_mode: bool
    # ipam: bool
    # dns: spec.DNS
    __slots__ = ()


def parse_config(conf: dict[str, Any]) -> BridgeConfig:
    def flag(key: str) -> bool:
        return bool(spec.field_of(conf, key, bool, False))

    bridge = spec.field_of(conf, "bridge", str, "") or "cni0"
    wiring_name_check(bridge)
    mtu = spec.field_of(conf, "mtu", int, 0) or 1500
    if not 68 <= mtu <= 65535:
        raise CniError(spec.INVALID_CONFIG, f"invalid MTU {mtu}")
    is_default_gateway = flag("isDefaultGateway")
    cfg = BridgeConfig(
        network=spec.check_name(conf),
        bridge=bridge,
        is_gateway=flag("isGateway") or is_default_gateway,
        is_default_gateway=is_default_gateway,
        force_address=flag("forceAddress"),
        ip_masq=flag("ipMasq"),
        mtu=mtu,
        hairpin_mode=flag("hairpinMode"),
        promisc_mode=flag("promiscMode"),
        ipam=bool(delegate.ipam_type(conf)),
        dns=spec.parse_dns(conf.get("dns")),
    )
    if cfg.hairpin_mode and cfg.promisc_mode:
        raise CniError(
            spec.INVALID_CONFIG, "cannot set hairpin mode and promiscuous mode at the same time."
        )
    return cfg


def wiring_name_check(name: str) -> None:
    try:
        spec.validate_ifname(name)
    except CniError as err:
        raise CniError(spec.INVALID_CONFIG, f"invalid bridge name {name!r}: {err.msg}") from None


def gateways(
    result: spec.Result, cfg: BridgeConfig
) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    """calcGateways: fill in gateways, add default routes, and the addresses the bridge gets.

    Mutates `result` as the reference does: every IP is on interface 2; with isGateway a missing
    gateway is the subnet's first address; with isDefaultGateway a default route per family
    unless IPAM gave one with a gateway.
    """
    on_bridge = []
    seen_default: set[int] = set()
    for ip in result.ips:
        ip.interface = 2
        iface = ip.interface_address
        if not ip.gateway and cfg.is_gateway:
            ip.gateway = str(iface.network.network_address + 1)
        if cfg.is_default_gateway and iface.version not in seen_default:
            default = str(family(iface).any_network)
            if not any(r.gw and r.dst == default for r in result.routes):
                result.routes.append(spec.Route(dst=default, gw=ip.gateway))
            seen_default.add(iface.version)
        if cfg.is_gateway:
            on_bridge.append(ipaddress.ip_interface(f"{ip.gateway}/{iface.network.prefixlen}"))
    return on_bridge


def ensure_bridge(rtnl: netlink.Rtnl, cfg: BridgeConfig) -> netlink.Link:
    link = rtnl.link_get(cfg.bridge)
    if link is None:
        try:
            rtnl.bridge_add(cfg.bridge, mtu=cfg.mtu)
        except netlink.NetlinkError as err:
            if err.errno != 17:  # EEXIST: another ADD created it first
                raise CniError(
                    spec.INTERNAL, f"could not add {cfg.bridge!r}: {err.strerror}"
                ) from None
        link = rtnl.link_get(cfg.bridge)
        if link is None:
            raise CniError(
                spec.TRY_AGAIN_LATER, f"bridge {cfg.bridge} vanished while being created"
            )
    if link.kind != "bridge":
        raise CniError(spec.INTERNAL, f"{cfg.bridge!r} already exists but is not a bridge")
    wiring.own_routes(cfg.bridge)
    if cfg.promisc_mode and not link.flags & netlink.IFF_PROMISC:
        rtnl.link_set(link.index, promisc=True)
    if not link.up:
        rtnl.link_set(link.index, up=True)
    return link


def ensure_addr(
    rtnl: netlink.Rtnl,
    bridge: netlink.Link,
    gw: ipaddress.IPv4Interface | ipaddress.IPv6Interface,
    force: bool,
) -> None:
    for have in rtnl.addrs(bridge.index):
        a = have.interface
        if a.version != gw.version:
            continue
        if a == gw:
            return
        if gw.version == 4 or gw.ip in a.network or a.ip in gw.network:
            if not force:
                raise CniError(
                    spec.INTERNAL, f'"{bridge.name}" already has an IP address different from {gw}'
                )
            rtnl.addr_del(bridge.index, a)
    try:
        rtnl.addr_add(bridge.index, gw)
    except netlink.NetlinkError as err:
        if err.errno != 17:
            raise CniError(
                spec.INTERNAL, f"could not add IP address to {bridge.name!r}: {err.strerror}"
            ) from None
    # Pin the bridge's MAC: otherwise it follows the lowest port MAC and changes as pods come and go.
    rtnl.link_set(bridge.index, mac=bridge.mac)


def cmd_add(conf: dict[str, Any], env: spec.Environment, version: str) -> spec.Result:
    cfg = parse_config(conf)
    mac = wiring.requested_mac(conf, env)
    with wiring.Attachment(conf, env) as a:
        host, container, netns_fd = a.host, a.container, a.netns_fd
        bridge = ensure_bridge(host, cfg)
        host_veth, cont = wiring.make_veth(
            host, container, netns_fd, env.ifname, "veth", cfg.mtu, mac
        )
        a.host_veth = host_veth
        host.link_set(host_veth.index, up=True, master=bridge.index)
        if cfg.hairpin_mode:
            host.brport_set(host_veth.index, hairpin=True)
        result = spec.Result()
        if cfg.ipam:
            ipam_result = delegate.run_ipam("ADD", conf, env)
            a.ipam_done = True
            if ipam_result is None or not ipam_result.ips:
                raise CniError(spec.INTERNAL, "IPAM plugin returned missing IP config")
            result.ips, result.routes = ipam_result.ips, ipam_result.routes
            on_bridge = gateways(result, cfg)
            wiring.container_sysctls(netns_fd, env.ifname)
            wiring.configure_iface(container, cont, _as_indexed(result, env.ifname), 2)
            for gw in on_bridge:
                ensure_addr(host, bridge, gw, cfg.force_address)
            if on_bridge:
                wiring.enable_forwarding({gw.version for gw in on_bridge})
            if cfg.ip_masq:
                from podnet.nftables import replace_table  # only when ipMasq is on

                name = nft.table_name(MASQ_PREFIX, cfg.network, env.container_id, env.ifname)
                body = nft.masq_table(
                    name,
                    nft.comment(cfg.network, env.container_id, env.ifname),
                    [ip.interface_address for ip in result.ips],
                )
                nft.apply(replace_table("inet", name, body))
        else:
            container.link_set(cont.index, up=True)
        bridge = (
            host.link_by_index(bridge.index) or bridge
        )  # its MAC may have changed with the new port
        cont = container.link_by_index(cont.index) or cont
        result.interfaces = [
            spec.Interface(name=bridge.name, mac=bridge.mac),
            spec.Interface(name=host_veth.name, mac=host_veth.mac),
            spec.Interface(name=cont.name, mac=cont.mac, sandbox=env.netns),
        ]
        result.dns = cfg.dns
        return result


def _as_indexed(result: spec.Result, ifname: str) -> spec.Result:
    interfaces = [spec.Interface(""), spec.Interface(""), spec.Interface(ifname)]
    return spec.Result(interfaces=interfaces, ips=result.ips, routes=result.routes)


def cmd_del(conf: dict[str, Any], env: spec.Environment) -> None:
    cfg = parse_config(conf)
    if cfg.ipam:
        delegate.run_ipam("DEL", conf, env)
    wiring.delete_pod_interface(env.netns, env.ifname)
    if cfg.ip_masq:
        from podnet.nftables import delete_table  # only when ipMasq is on

        name = nft.table_name(MASQ_PREFIX, cfg.network, env.container_id, env.ifname)
        nft.apply(delete_table("inet", name))


def cmd_check(conf: dict[str, Any], env: spec.Environment) -> None:
    cfg = parse_config(conf)
    result = spec.prev_result(conf)
    if result is None:
        raise CniError(spec.INVALID_CONFIG, "Required prevResult missing")
    if cfg.ipam:
        delegate.run_ipam("CHECK", conf, env)
    netns_fd = wiring.open_netns(env.netns)
    try:
        with netlink.open_in(netns_fd) as container:
            cont = wiring.check_container_iface(container, result, env)
    finally:
        os.close(netns_fd)
    with netlink.Rtnl() as host:
        bridge = host.link_get(cfg.bridge)
        if bridge is None or bridge.kind != "bridge":
            raise CniError(spec.INTERNAL, f"bridge {cfg.bridge} not found")
        veths = [itf for itf in result.interfaces if not itf.sandbox and itf.name != cfg.bridge]
        for itf in veths:
            link = host.link_get(itf.name)
            if link is None:
                raise CniError(spec.INTERNAL, f"host veth {itf.name} not found")
            if link.master != bridge.index:
                raise CniError(spec.INTERNAL, f"host veth {itf.name} is not a port of {cfg.bridge}")
    del cont


def cmd_gc(conf: dict[str, Any], env: spec.Environment) -> None:
    cfg = parse_config(conf)
    if cfg.ipam:
        delegate.run_ipam("GC", conf, env)
    if cfg.ip_masq:
        nft.gc_tables(MASQ_PREFIX, cfg.network, spec.valid_attachments(conf))


def cmd_status(conf: dict[str, Any], env: spec.Environment) -> None:
    cfg = parse_config(conf)
    if cfg.ipam:
        delegate.run_ipam("STATUS", conf, env)
