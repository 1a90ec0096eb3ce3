"""The `portmap` plugin (chained, `capabilities.portMappings`), in nftables.

Per attachment one table `inet podnet-portmap-<hash>`: nat chains at prerouting and output send
packets for a local address and a mapped host port to the pod (DNAT), and with `snat` (default
true) hairpin and localhost connections are masqueraded so that replies come back through the
node, as the reference plugin's CNI-HOSTPORT-* chains do.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections import namedtuple

from podnet.cni import nft, spec
from podnet.cni.spec import CniError
from podnet.family import family
from podnet.kernel import nft as kernel_nft
from podnet.kernel import sysctl
from podnet.nftables import Chain, Rule, Table, Transaction, delete_table, replace_table

TYPE_CHECKING = False  # importing typing costs milliseconds at every plugin start
if TYPE_CHECKING:
    from typing import Any

PREFIX = "podnet-portmap"
PROTOCOLS = ("tcp", "udp", "sctp")


class PortMapping(
    namedtuple("PortMapping", "host_port container_port protocol host_ip", defaults=("",))
):
    # host_port: int; container_port: int; protocol: str; host_ip: str = ""
    __slots__ = ()


def parse_mappings(conf: dict[str, Any]) -> list[PortMapping]:
    raw = spec.runtime_config(conf).get("portMappings") or []
    if not isinstance(raw, list):
        raise CniError(spec.INVALID_CONFIG, "runtimeConfig.portMappings must be a list")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise CniError(spec.INVALID_CONFIG, f"portMappings[{i}] must be an object")
        ports = []
        for key in ("hostPort", "containerPort"):
            value = item.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                raise CniError(spec.INVALID_CONFIG, f"Invalid {key} number: {value}")
            ports.append(value)
        protocol = str(item.get("protocol") or "tcp").lower()
        if protocol not in PROTOCOLS:
            raise CniError(
                spec.INVALID_CONFIG,
                f"Invalid protocol {item.get('protocol')!r} in portMappings[{i}]",
            )
        host_ip = item.get("hostIP") or ""
        if host_ip:
            try:
                host_ip = str(ipaddress.ip_address(host_ip))
            except ValueError:
                raise CniError(spec.INVALID_CONFIG, f"Invalid hostIP {host_ip!r}") from None
        out.append(PortMapping(ports[0], ports[1], protocol, host_ip))
    return out


def container_ips(result: spec.Result) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The first address of each family on a sandbox interface (or without an interface)."""
    out: dict[int, Any] = {}
    for ip in result.ips:
        if ip.interface is not None and not result.interfaces[ip.interface].sandbox:
            continue
        addr = ip.interface_address.ip
        out.setdefault(addr.version, addr)
    return [out[v] for v in sorted(out)]


def ruleset(
    name: str, note: str, mappings: list[PortMapping], pod_ips: list[Any], snat: bool
) -> str:
    """The table of one attachment (pure)."""
    tx = Transaction("inet", name)
    tx.add(Table(comment=note))
    tx.add(Chain("prerouting", "nat", "prerouting", "dstnat", "accept"))
    tx.add(Rule("prerouting", "fib daddr type local jump hostports"))
    tx.add(Chain("output", "nat", "output", -100, "accept"))
    tx.add(Rule("output", "fib daddr type local jump hostports"))
    tx.add(Chain("hostports"))
    for ip in pod_ips:
        fam = family(ip).nft
        target = f"{ip}:" if ip.version == 4 else f"[{ip}]:"
        for m in mappings:
            if m.host_ip and ipaddress.ip_address(m.host_ip).version != ip.version:
                continue
            match = (
                f"{fam} daddr {m.host_ip}" if m.host_ip else f"meta nfproto {family(ip).nfproto}"
            )
            tx.add(
                Rule(
                    "hostports",
                    f"{match} {m.protocol} dport {m.host_port} dnat {fam} to {target}{m.container_port}",
                )
            )
    if snat:
        tx.add(Chain("postrouting", "nat", "postrouting", "srcnat", "accept"))
        for ip in pod_ips:
            fam = family(ip).nft
            local = "127.0.0.0/8" if ip.version == 4 else "::1"
            tx.add(
                Rule(
                    "postrouting",
                    f"ct status dnat {fam} daddr {ip} {fam} saddr {{ {local}, {ip} }} masquerade",
                )
            )
    return tx.definition()


def _name(conf: dict[str, Any], env: spec.Environment) -> tuple[str, str]:
    network = spec.check_name(conf)
    return nft.table_name(PREFIX, network, env.container_id, env.ifname), nft.comment(
        network, env.container_id, env.ifname
    )


def cmd_add(conf: dict[str, Any], env: spec.Environment, version: str) -> spec.Result:
    result = spec.prev_result(conf)
    if result is None:
        raise CniError(spec.INVALID_CONFIG, "must be called as chained plugin")
    mappings = parse_mappings(conf)
    snat = spec.field_of(conf, "snat", bool, True)
    if not mappings:
        return result
    pod_ips = container_ips(result)
    if not pod_ips:
        raise CniError(spec.INVALID_CONFIG, "prevResult has no container address to map ports to")
    name, note = _name(conf, env)
    nft.apply(replace_table("inet", name, ruleset(name, note, mappings, pod_ips, snat)))
    if snat and any(family(ip).route_localnet for ip in pod_ips):
        _route_localnet(result)
    return result


def _route_localnet(result: spec.Result) -> None:
    """Localhost connections to a host port must be routable to the pod's side of the node."""
    for itf in result.interfaces:
        if not itf.sandbox:
            with contextlib.suppress(OSError):
                sysctl.write(f"net/ipv4/conf/{itf.name}/route_localnet", "1")
            return


def cmd_del(conf: dict[str, Any], env: spec.Environment) -> None:
    name, _ = _name(conf, env)
    nft.apply(delete_table("inet", name))


def cmd_check(conf: dict[str, Any], env: spec.Environment) -> None:
    if spec.prev_result(conf) is None:
        raise CniError(spec.INVALID_CONFIG, "Required prevResult missing")
    if not parse_mappings(conf):
        return
    name, _ = _name(conf, env)
    if not kernel_nft.has_table("inet", name):
        raise CniError(spec.INTERNAL, f"portmap table {name} missing")


def cmd_gc(conf: dict[str, Any], env: spec.Environment) -> None:
    nft.gc_tables(PREFIX, spec.check_name(conf), spec.valid_attachments(conf))


def cmd_status(conf: dict[str, Any], env: spec.Environment) -> None:
    return None
